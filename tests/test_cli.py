"""The `cnnvis` command line: every command, every registry method, mistakes, the README.

Commands run in this process (`cnnvis.cli.main(argv)`), so the tiny model is loaded and
traced once (and shared with tests/test_datasets.py through the model cache).
"""

from __future__ import annotations

import csv
import os
import re
import runpy
import shlex
import sys
import tomllib

import numpy as np
import pyarrow.parquet as pq
import pytest

import cnnvis
from cnnvis import cli
from cnnvis.datasets import read_results, table_rows
from cnnvis.datasets.parquet import ERRORS

from .conftest import EXAMPLES, ROOT
from .dataset_helpers import example_photos, option_arguments, photo_folder, save_tiny_model

# Every heatmap and attribution technique of the registry.
# Map methods that run on every model (attention rollout needs a transformer: tests/test_hub_models.py).
MAP_TECHNIQUES = {
    n: t for n, t in cnnvis.TECHNIQUES.items() if t.output in ("heatmap", "attribution") and t.needs is None
}
METHODS = list(MAP_TECHNIQUES)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def tiny_args(tiny_model):
    return ["--model", str(tiny_model), "--preprocessing", "none"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ----- help -----------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["explain"], ["evaluate"], ["classify"], ["models"]])
def test_help_of_every_command(capsys, command):
    with pytest.raises(SystemExit) as caught:
        cli.main([*command, "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: cnnvis")
    if command in (["explain"], ["evaluate"]):
        for name in METHODS:  # the choices come from the registry
            assert name in text
        assert "--resume" in text if command == ["explain"] else "deletion_insertion" in text


def test_the_entry_point_runs_as_a_module_and_a_console_script(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["cnnvis", "models"])  # as `python -m cnnvis models` sets it
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("cnnvis", run_name="__main__")
    assert caught.value.code == 0 and "MobileNetV2" in capsys.readouterr().out
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["cnnvis"].partition(":")
    assert (module, function) == ("cnnvis.cli", "main")
    setuptools_table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    import setuptools

    found = setuptools.find_packages(ROOT, **setuptools_table["packages"]["find"])
    assert {"cnnvis", "cnnvis.datasets", "cnnvis.models", "cnnvis.serving"} <= set(found)
    # the public names are read from the stubs at run time: they are installed
    assert {"__init__.pyi", "datasets/__init__.pyi"} <= set(setuptools_table["package-data"]["cnnvis"])


# ----- explain --------------------------------------------------------------------------
def test_explain_on_the_examples_with_every_registry_method(capsys, tiny_args, folder):
    out = folder / "every"
    status, stdout, stderr = run_cli(
        capsys, "explain", *tiny_args, "--methods", ",".join(METHODS), *option_arguments(),
        "--batch-size", 5, "--quiet", "--out", out, EXAMPLES,
    )
    assert status == 0, stderr
    assert f"Explained 8 images with {len(METHODS)} method(s): {8 * len(METHODS)} rows" in stdout
    rows = table_rows(read_results(out))
    assert sorted({r.method for r in rows}) == sorted(METHODS)
    assert len(rows) == 8 * len(METHODS)
    for row in rows:
        assert row.map.shape == (16, 16) and np.isfinite(row.map).all()
        assert 0.0 <= row.map.min() and row.map.max() <= 1.0
        assert row.output == MAP_TECHNIQUES[row.method].output
    assert pq.read_table(out / ERRORS).num_rows == 0


def test_explain_keeps_going_past_bad_files_and_resumes(capsys, tiny_args, folder):
    photos = photo_folder(folder / "bad")
    out = folder / "bad-out"
    listing = folder / "first.txt"
    listing.write_text("\n".join(str(p) for p in sorted(photos.glob("c*.jpg"))) + "\n")  # cat, cut
    status, stdout, _ = run_cli(capsys, "explain", *tiny_args, "--methods", "grad_cam", "--quiet", "--out", out, listing)
    assert status == 0 and "Explained 2 images" in stdout and "1 file(s) could not be read" in stdout
    status, _, stderr = run_cli(capsys, "explain", *tiny_args, "--quiet", "--out", out, photos)
    assert status == 2 and "--resume" in stderr
    status, stdout, _ = run_cli(capsys, "explain", *tiny_args, "--quiet", "--resume", "--out", out, str(photos / "*"), photos / "more")
    assert status == 0 and "Explained 6 images" in stdout and "3 already done" in stdout
    assert "2 file(s) could not be read" in stdout
    assert read_results(out).num_rows == 8 and pq.read_table(out / ERRORS).num_rows == 3


def test_explain_on_mobilenet_v2_real_weights_gives_the_package_grad_cam(capsys, weights_dir, folder):
    out = folder / "real"
    status, _, stderr = run_cli(
        capsys, "explain", "--model", "MobileNetV2", "--weights-dir", weights_dir, "--methods", "grad_cam",
        "--quiet", "--out", out, EXAMPLES / "cat.jpg", EXAMPLES / "espresso.jpg",
    )
    assert status == 0, stderr
    rows = {os.path.basename(r.path): r for r in table_rows(read_results(out))}
    cat = rows["cat.jpg"]
    assert (cat.class_index, cat.label) == (285, "Egyptian cat") and cat.probability > 0.5
    assert cat.weights.startswith("imagenet") and cat.layer == "out_relu"
    model = cnnvis.load_model("MobileNetV2", weights_dir=weights_dir)
    photo = cnnvis.load_image(EXAMPLES / "cat.jpg")
    expected = cnnvis.grad_cam(model, cnnvis.images.resize_image(photo, (224, 224))).heatmap
    assert float(np.abs(cat.map - expected).max()) <= 1e-5


# ----- mistakes -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "arguments, words",
    [
        (["--methods", "grad_cam,deep_dream"], "no heatmap or attribution method called 'deep_dream'"),
        (["--option", "smoothgrad.samples=4"], "not among the methods"),
        (["--methods", "smoothgrad", "--option", "smoothgrad.sample=4"], "its options: samples"),
        (["--methods", "smoothgrad", "--option", "smoothgrad.samples=9999"], "samples must be from 1 to 256"),
        (["--class", "tabby"], "class"),
        (["--layer", "nope"], "no layer called 'nope'"),
        (["--map-size", "2"], "map_size must be from 4"),
        (["--batch-size", "0"], "batch_size must be from 1"),
        (["--weights-dir", "/no/such/folder"], "does not exist"),
        (["--weights", "random"], "a model file holds its own weights"),
    ],
)
def test_a_mistake_is_one_sentence_and_exit_status_2(capsys, tiny_args, folder, arguments, words):
    status, _, stderr = run_cli(capsys, "explain", *tiny_args, *arguments, "--quiet", "--out", folder / "mistake", EXAMPLES / "cat.jpg")
    assert status == 2
    assert stderr.startswith("cnnvis explain: error: ") and words in stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


@pytest.mark.parametrize(
    "argv, words",
    [
        (["explain", "--model", "MobileNetv2", "--out", "x", "cat.jpg"], "Did you mean 'MobileNetV2'"),
        (["explain", "--model", "MobileNetV2", "--weights", "missing.h5", "--out", "x", "cat.jpg"], "'missing.h5' does not exist"),
        (["explain", "--model", "tiny.keras", "--out", "x", "cat.jpg"], "does not exist"),
        (["classify", "--model", "MobileNetV2", "--weights", "random", "no-such-photo.jpg"], "no file or folder called"),
        (["evaluate", "--model", "MobileNetV2", "--weights", "random", "--metrics", "shapley", "cat.jpg"], "no metric called 'shapley'"),
    ],
)
def test_mistakes_of_the_model_and_inputs(capsys, folder, monkeypatch, argv, words):
    monkeypatch.chdir(folder)
    status, _, stderr = run_cli(capsys, *argv)
    assert status == 2 and words in stderr and "Traceback" not in stderr


def test_argument_mistakes_are_argparse_errors(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["explain", "--model", "MobileNetV2", "--option", "samples", "--out", "x", "a.jpg"])
    assert caught.value.code == 2 and "METHOD.NAME=VALUE" in capsys.readouterr().err


# ----- evaluate, classify, models ---------------------------------------------------------
def test_evaluate_prints_the_table_and_writes_the_csv_files(capsys, tiny_args, folder):
    out = folder / "evaluation"
    status, stdout, stderr = run_cli(
        capsys, "evaluate", *tiny_args, "--methods", "grad_cam,eigen_cam", "--steps", 4, "--random-maps", 1,
        "--quiet", "--out", out, EXAMPLES,
    )
    assert status == 0, stderr
    assert re.search(r"Grad-CAM\s+\d\.\d{4} ± \d\.\d{4}\s+\d\.\d{4} ± \d\.\d{4}", stdout)
    assert "random map (blobs)" in stdout and "8 images" in stdout
    with open(out / "evaluation.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert [row["method"] for row in summary] == ["grad_cam", "eigen_cam", "random"]
    assert {"deletion_mean", "deletion_std", "insertion_mean", "insertion_std"} <= set(summary[0])
    with open(out / "evaluation_images.csv", newline="") as handle:
        per_image = list(csv.DictReader(handle))
    assert len(per_image) == 8 * 3
    deletions = [float(r["deletion"]) for r in per_image if r["method"] == "grad_cam"]
    assert float(summary[0]["deletion_mean"]) == pytest.approx(np.mean(deletions))


def test_classify_prints_and_writes_the_top_classes(capsys, tiny_args, folder, tiny_model):
    status, stdout, stderr = run_cli(capsys, "classify", *tiny_args, "--top", 2, "--out", folder / "classes", *example_photos()[:3])
    assert status == 0, stderr
    assert len(stdout.strip().splitlines()) == 3
    with open(folder / "classes" / "classes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and [r["rank"] for r in rows[:2]] == ["1", "2"]
    model = cnnvis.datasets.source.ModelSource.parse(str(tiny_model), preprocessing="none").load()
    expected = cnnvis.classify(model, example_photos()[0], top=2)
    assert [int(r["index"]) for r in rows[:2]] == [p.index for p in expected]
    assert float(rows[0]["probability"]) == pytest.approx(expected[0].probability, abs=1e-6)


def test_models_lists_the_registry_and_where_weights_are(capsys, weights_dir):
    status, stdout, _ = run_cli(capsys, "models", "--weights-dir", weights_dir)
    assert status == 0
    lines = {line.split()[0]: line for line in stdout.splitlines()[1:-1]}
    assert sorted(lines) == cnnvis.list_models()
    columns = {name: re.split(r"\s{2,}", line) for name, line in lines.items()}
    assert columns["MobileNetV2"][:4] == ["MobileNetV2", "224 x 224", "tf", "ready"]
    assert columns["ResNet50"][3] == cnnvis.weights_status("ResNet50", weights_dir).label


# ----- the documentation -----------------------------------------------------------------------
def doc_page(name: str) -> str:
    """A page of docs/ (the command line's and the datasets' examples moved there from the
    README; tests/test_doc_examples.py runs them all with real weights)."""
    return (ROOT / "docs" / name).read_text()


def test_every_readme_command_line_parses():
    commands = []
    for page in ("command-line.md", "datasets.md"):
        for block in re.findall(r"```bash\n(.*?)```", doc_page(page), re.S):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                line = line.split(" #")[0].strip()
                if " cnnvis " in f" {line} ":
                    commands.append(shlex.split(line[line.index("cnnvis ") :]))
    assert len(commands) >= 6
    parser = cli.build_parser()
    for argv in commands:
        parser.parse_args(argv[1:])  # exits (fails the test) on an option that does not exist


def test_the_readme_reads_results_back(tiny_model, folder, capsys, monkeypatch):
    """The command line page's read-back snippet, run on a real output folder."""
    [block] = re.findall(r"```python\n(.*?)```", doc_page("command-line.md"), re.S)
    monkeypatch.chdir(folder)
    argv = ["explain", "--model", tiny_model, "--preprocessing", "none", "--quiet", "--out", "runs/cats", EXAMPLES]
    status, _, stderr = run_cli(capsys, *argv)
    assert status == 0, stderr
    namespace: dict = {}
    exec(compile(block, "docs/command-line.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["maps"].shape == (8, 16, 16) and namespace["maps"].dtype == np.float32
    np.testing.assert_array_equal(namespace["same"], namespace["maps"])
    assert len(namespace["rows"]) == 8 and len(namespace["errors"]) == 0
