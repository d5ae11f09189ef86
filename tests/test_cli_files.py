"""The command line survives any folder (issue 21): pipes, devices, huge and sparse files,
names that are not UTF-8 or hold control characters, damaged part files on --resume, and
an output folder inside the input folder. SECURITY.md lists each case with its test.

Commands run in this process (`cnnvis.cli.main(argv)`) on the tiny model of
tests/dataset_helpers.py, like tests/test_cli.py.
"""

from __future__ import annotations

import csv
import os
import resource
import shutil
import stat

import pyarrow.parquet as pq
import pytest

from cnnvis import cli
from cnnvis.datasets import read_results
from cnnvis.datasets.files import MAX_PHOTO_BYTES, UnreadableFileError, read_regular, shown_name, stored_name
from cnnvis.datasets.parquet import ERRORS, RESULTS

from .conftest import EXAMPLES
from .dataset_helpers import example_photos, save_tiny_model

NOT_UTF8 = b"caf\xe9.jpg"  # Latin-1 "café.jpg": not valid UTF-8
NOT_UTF8_STORED = "caf\\xe9.jpg"  # as SECURITY.md says it is stored


@pytest.fixture(scope="module")
def tiny_args(tmp_path_factory):
    return ["--model", str(save_tiny_model(tmp_path_factory.getbasetemp())), "--preprocessing", "none"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def two_photos(folder) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    photos = example_photos()[:2]
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    return [folder / photo.name for photo in photos]


def error_rows(out) -> dict[str, tuple[str, str]]:
    table = pq.read_table(out / ERRORS)
    return {os.path.basename(r["path"]): (r["kind"], r["error"]) for r in table.to_pylist()}


# ----- only regular files are opened ------------------------------------------------------
@pytest.mark.timeout(300)  # before the fix: blocked forever in open()
@pytest.mark.parametrize("command", ["explain", "classify"])
def test_a_fifo_named_like_a_photo_does_not_block(capsys, tiny_args, tmp_path, command):
    folder = tmp_path / "photos"
    two_photos(folder)
    os.mkfifo(folder / "y.png")
    extra = ["--out", tmp_path / "out"] if command == "explain" else ["--top", 1]
    status, stdout, stderr = run_cli(capsys, command, *tiny_args, "--quiet", *extra, folder)
    assert status == 0, stderr
    sentence = "The path 'y.png' is a pipe (FIFO), not a regular file; it was not read."
    if command == "explain":
        assert "Explained 2 images" in stdout
        assert error_rows(tmp_path / "out")["y.png"] == ("UnreadableFileError", sentence)
    else:
        assert len(stdout.splitlines()) == 2 and sentence in stderr


@pytest.mark.timeout(300)
def test_a_fifo_named_directly_or_as_a_list_is_never_opened(capsys, tiny_args, tmp_path):
    [photo, _] = two_photos(tmp_path / "photos")
    os.mkfifo(tmp_path / "y.png")
    os.mkfifo(tmp_path / "photos.txt")  # would block reading the list
    status, stdout, stderr = run_cli(capsys, "classify", *tiny_args, "--top", 1, photo, tmp_path / "y.png", tmp_path / "photos.txt")
    assert status == 0, stderr
    assert len(stdout.splitlines()) == 1
    assert "'y.png' is a pipe (FIFO)" in stderr and "'photos.txt' is a pipe (FIFO)" in stderr


def test_a_link_to_dev_zero_is_refused_unread(capsys, tiny_args, tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("this system has no /dev/zero")
    folder = tmp_path / "photos"
    two_photos(folder)
    os.symlink("/dev/zero", folder / "z.png")
    status, stdout, stderr = run_cli(capsys, "explain", *tiny_args, "--quiet", "--out", tmp_path / "out", folder)
    assert status == 0, stderr
    kind, error = error_rows(tmp_path / "out")["z.png"]
    assert kind == "UnreadableFileError" and error == "The path 'z.png' is a device, not a regular file; it was not read."


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def test_a_huge_sparse_file_is_refused_from_its_size_before_any_read(capsys, tiny_args, tmp_path):
    folder = tmp_path / "photos"
    two_photos(folder)
    huge = folder / "huge.png"
    with open(huge, "wb") as handle:
        handle.truncate(6 * 2**30)  # 6 GB of holes: costs no disk, but 6 GB if read whole
    before = peak_rss_bytes()
    status, stdout, stderr = run_cli(capsys, "explain", *tiny_args, "--quiet", "--out", tmp_path / "out", folder)
    assert status == 0, stderr
    kind, error = error_rows(tmp_path / "out")["huge.png"]
    assert kind == "UnreadableFileError"
    assert error == f"The file 'huge.png' is larger than 128 MB ({6 * 2**30:,} bytes); it was not read."
    assert peak_rss_bytes() - before < 2**30  # the peak never came near the file's 6 GB


def test_a_read_is_bounded_even_when_the_size_said_otherwise(tmp_path):
    """The bound holds on the bytes read, not only on the size looked up first: a regular
    file is read at most one byte past it (here a file that is larger than the bound)."""
    path = tmp_path / "grown.jpg"
    path.write_bytes(b"x" * 1001)
    assert read_regular(str(path), 1001) == b"x" * 1001
    with pytest.raises(UnreadableFileError, match=r"'grown.jpg' is larger than"):
        read_regular(str(path), 1000)
    assert MAX_PHOTO_BYTES == 128 * 2**20


def test_an_unreadable_file_is_an_error_row_not_the_end(capsys, tiny_args, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file whatever its permissions")
    folder = tmp_path / "photos"
    [photo, _] = two_photos(folder)
    os.chmod(photo, 0)
    try:
        status, stdout, _ = run_cli(capsys, "explain", *tiny_args, "--quiet", "--out", tmp_path / "out", folder)
    finally:
        os.chmod(photo, stat.S_IRUSR | stat.S_IWUSR)
    assert status == 0 and "Explained 1 images" in stdout
    assert "permission is denied" in error_rows(tmp_path / "out")[photo.name][1]


# ----- names that are not UTF-8 -------------------------------------------------------------
def test_names_that_are_not_utf8_are_kept_escaped_in_rows_and_error_rows(capsys, tiny_args, tmp_path):
    folder = tmp_path / "photos"
    two_photos(folder)
    raw = os.fsencode(folder)
    shutil.copy(EXAMPLES / "cat.jpg", os.path.join(raw, NOT_UTF8))
    with open(os.path.join(raw, b"\xff\xfe notes.jpg"), "w") as handle:
        handle.write("not a photo")
    out = tmp_path / "out"
    status, stdout, stderr = run_cli(capsys, "explain", *tiny_args, "--methods", "grad_cam,eigen_cam", "--quiet", "--out", out, folder)
    assert status == 0, stderr
    assert "Explained 3 images with 2 method(s): 6 rows" in stdout
    paths = read_results(out).column("path").to_pylist()
    assert [os.path.basename(p) for p in paths].count(NOT_UTF8_STORED) == 2
    assert error_rows(out)["\\xff\\xfe notes.jpg"][0] == "NotAnImageError"
    # --resume recognises the escaped names: nothing is done twice
    status, stdout, _ = run_cli(capsys, "explain", *tiny_args, "--methods", "grad_cam,eigen_cam", "--quiet", "--resume", "--out", out, folder)
    assert status == 0 and "Explained 0 images" in stdout and "4 already done" in stdout
    assert read_results(out).num_rows == 6


def test_evaluate_writes_every_row_of_a_folder_with_such_names(capsys, tiny_args, tmp_path):
    folder = tmp_path / "photos"
    two_photos(folder)
    shutil.copy(EXAMPLES / "cat.jpg", os.path.join(os.fsencode(folder), NOT_UTF8))
    with open(os.path.join(os.fsencode(folder), b"bad\xff.jpg"), "w") as handle:
        handle.write("not a photo")
    out = tmp_path / "eval"
    status, stdout, stderr = run_cli(
        capsys, "evaluate", *tiny_args, "--steps", 4, "--random-maps", 1, "--metrics", "deletion_insertion",
        "--quiet", "--out", out, folder,
    )
    assert status == 0, stderr
    with open(out / "evaluation_images.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 2  # every image, grad_cam and the random baseline
    assert sum(os.path.basename(r["path"]) == NOT_UTF8_STORED for r in rows) == 2
    with open(out / "evaluation_errors.csv", newline="", encoding="utf-8") as handle:
        assert [os.path.basename(r["path"]) for r in csv.DictReader(handle)] == ["bad\\xff.jpg"]


def test_classify_prints_and_writes_such_names_escaped(capsys, tiny_args, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(EXAMPLES / "cat.jpg", os.path.join(os.fsencode(folder), NOT_UTF8))
    status, stdout, stderr = run_cli(capsys, "classify", *tiny_args, "--top", 1, "--out", tmp_path / "c", folder)
    assert status == 0, stderr
    assert stdout.split("\t")[0].endswith(NOT_UTF8_STORED)
    with open(tmp_path / "c" / "classes.csv", newline="", encoding="utf-8") as handle:
        assert os.path.basename(next(csv.DictReader(handle))["path"]) == NOT_UTF8_STORED


def test_stored_and_shown_names_follow_the_documented_escaping():
    assert stored_name("plain/été.jpg") == "plain/été.jpg"  # valid UTF-8: unchanged
    assert stored_name(os.fsdecode(b"a/\xe9\xff.jpg")) == "a/\\xe9\\xff.jpg"
    assert shown_name("a\nb.jpg") == "a\\nb.jpg"
    assert shown_name("\x1b]0;owned\x07\x1b[2J.jpg") == "\\x1b]0;owned\\x07\\x1b[2J.jpg"
    assert shown_name("x\u202egpj.exe") == "x\\u202egpj.exe"  # a right-to-left override
    assert shown_name("\x9b31m.jpg") == "\\x9b31m.jpg"  # the one-character CSI (C1)


# ----- control characters in printed names --------------------------------------------------
def test_names_with_newlines_and_escape_sequences_print_escaped(capsys, tiny_args, tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(EXAMPLES / "cat.jpg", folder / "two\nlines.jpg")
    (folder / "\x1b[31mred\x1b]0;title\x07.jpg").write_text("not a photo")
    status, stdout, stderr = run_cli(capsys, "classify", *tiny_args, "--top", 1, folder)
    assert status == 0
    assert "\x1b" not in stdout + stderr and "\x07" not in stdout + stderr
    [line] = stdout.splitlines()
    assert line.split("\t")[0].endswith("two\\nlines.jpg")
    assert "\\x1b[31mred\\x1b]0;title\\x07.jpg" in stderr
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(capsys, "classify", *tiny_args, "--top", 1, "no\x1bcsuch.jpg")  # ESC c: reset
    assert status == 2 and "\x1b" not in stderr and "'no\\x1bcsuch.jpg'" in stderr


# ----- --resume reads every part it keeps -----------------------------------------------------
def damage_data_pages(part) -> None:
    """Flip bytes in the middle of the file: the maps' pages, far from the footer."""
    data = bytearray(part.read_bytes())
    middle = len(data) // 3
    for offset in range(middle, middle + 64):
        data[offset] ^= 0xFF
    part.write_bytes(bytes(data))
    pq.read_metadata(part)  # the footer is intact: the damage is in the pages only


def test_resume_sets_aside_a_part_with_damaged_pages_and_redoes_its_photos(capsys, tiny_args, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in example_photos():
        shutil.copy(photo, folder / photo.name)
    out = tmp_path / "out"
    status, _, _ = run_cli(capsys, "explain", *tiny_args, "--quiet", "--out", out, folder)
    assert status == 0
    part = sorted((out / RESULTS).glob("part-*.parquet"))[-1]  # the first part holds the first photo only
    lost = pq.read_table(part).num_rows
    damage_data_pages(part)
    status, stdout, stderr = run_cli(capsys, "explain", *tiny_args, "--quiet", "--resume", "--out", out, folder)
    assert status == 0, stderr
    assert stderr.splitlines() == [
        f"A part file of an earlier run that could not be read whole, {part.name}, was set aside "
        f"(renamed .incomplete-{part.name}); its photos were done again."
    ]
    assert f"Explained {lost} images" in stdout and f"{8 - lost} already done" in stdout and lost > 1
    table = read_results(out)  # every page of the dataset reads again
    assert table.num_rows == 8 and sorted(table.column("path").to_pylist()) == sorted(str(p) for p in folder.iterdir())
    assert (out / RESULTS / f".incomplete-{part.name}").exists()


# ----- the output folder is never an input ----------------------------------------------------
def test_an_output_folder_inside_the_input_folder_is_never_an_input(capsys, tiny_args, tmp_path):
    folder = tmp_path / "photos"
    two_photos(folder)
    out = folder / "run"  # inside the input folder, with overlays (PNG) in it
    status, stdout, stderr = run_cli(capsys, "explain", *tiny_args, "--png", "--quiet", "--out", out, folder)
    assert status == 0 and "Explained 2 images" in stdout, stderr
    assert len(list((out / "png").rglob("*.png"))) == 2
    status, stdout, stderr = run_cli(capsys, "explain", *tiny_args, "--png", "--quiet", "--resume", "--out", out, folder)
    assert status == 0, stderr
    assert "Explained 0 images" in stdout and "2 already done" in stdout
    assert "2 input file(s) inside the output folder were left out" in stderr
    assert read_results(out).num_rows == 2
    # also through a link to the output folder, and with the overlays named one by one
    os.symlink(out, tmp_path / "link")
    overlays = sorted((tmp_path / "link" / "png").rglob("*.png"))
    status, stdout, stderr = run_cli(capsys, "explain", *tiny_args, "--png", "--quiet", "--resume", "--out", out, folder, *overlays)
    assert status == 0 and "Explained 0 images" in stdout and "4 input file(s)" in stderr


def test_the_ray_engine_is_given_only_regular_files_with_utf8_names(tmp_path):
    """Ray's reader reads whole files itself: the driver screens them first (looked up,
    never opened) and writes the refused ones to the errors table."""
    from cnnvis.datasets.ray_engine import _screened

    folder = tmp_path / "photos"
    [photo, _] = two_photos(folder)
    os.mkfifo(folder / "y.png")
    with open(folder / "huge.png", "wb") as handle:
        handle.truncate(MAX_PHOTO_BYTES + 1)
    latin = os.path.join(os.fsencode(folder), NOT_UTF8)
    shutil.copy(photo, latin)
    paths = [str(photo), str(folder / "y.png"), str(folder / "huge.png"), os.fsdecode(latin)]
    assert _screened(paths, str(tmp_path / "out"), "test") == [str(photo)]
    errors = error_rows(tmp_path / "out")
    assert sorted(errors) == sorted(["y.png", "huge.png", NOT_UTF8_STORED])
    assert "not UTF-8 text" in errors[NOT_UTF8_STORED][1] and "pipe (FIFO)" in errors["y.png"][1]
