"""The command line's start (issue 24): help and mistakes before TensorFlow loads, no
start-up noise unless --verbose, progress photo by photo, the first results at once.

No test here depends on the machine's speed: "before TensorFlow loads" is checked by
asking a fresh interpreter whether ``tensorflow`` was imported; the seconds are measured
by benchmarks/bench_cli.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from cnnvis import cli
from cnnvis.datasets import choices, explain_dataset
from cnnvis.datasets.decode import batch_sizes, batches, decode_file
from cnnvis.datasets.parquet import MANIFEST, RESULTS
from cnnvis.datasets.source import ModelSource
from cnnvis.errors import CnnvisError

from .conftest import EXAMPLES, ROOT
from .dataset_helpers import example_photos, photo_folder, save_tiny_model


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def tiny(tiny_path):
    return ModelSource.parse(str(tiny_path), preprocessing="none").load()


# ----- the light name lists are the registries' ---------------------------------------------
def test_the_method_list_is_the_registrys_map_methods_with_their_run_options():
    from cnnvis.datasets.explain import implementation_of, map_methods

    table = {name: tuple(implementation_of(name).options) for name in map_methods()}
    assert choices.MAP_METHODS == table, f"update cnnvis/datasets/choices.py MAP_METHODS to {table!r}"
    assert list(choices.MAP_METHODS) == list(table)  # the registry's order, in --help too


def test_the_metric_and_model_lists_are_the_registries():
    from cnnvis.datasets.evaluation import METRICS
    from cnnvis.models.specs import REGISTRY

    assert choices.METRICS == tuple(METRICS)
    assert choices.model_names() == sorted(REGISTRY)
    assert cli.RUN_MANIFEST == MANIFEST


@pytest.mark.parametrize("name", ["MobileNetv2", "mobilenetv2", "NoSuchNet", "resnet"])
def test_an_unknown_model_gets_the_registrys_own_sentence(name):
    from cnnvis.models.specs import get_spec

    with pytest.raises(CnnvisError) as late:
        get_spec(name)
    with pytest.raises(CnnvisError) as early:
        choices.check_model(name)
    assert str(early.value) == str(late.value) and type(early.value) is type(late.value)


@pytest.mark.parametrize(
    "methods, options",
    [
        (["grad_cam", "deep_dream"], {}),
        (["grad_cam", "grad_cam"], {}),
        ([], {}),
        (["grad_cam"] * 17, {}),
        (["grad_cam"], {"smoothgrad": {"samples": 3}}),
        (["smoothgrad"], {"smoothgrad": {"sample": 3}}),
        (["grad_cam"], {"grad_cam": {"layer": "x"}}),
    ],
)
def test_early_and_late_method_checks_say_the_same_sentence(methods, options):
    from cnnvis.datasets.explain import ExplainSettings

    with pytest.raises(CnnvisError) as late:
        ExplainSettings(source=None, methods=tuple(methods), options=options).checked()
    with pytest.raises(CnnvisError) as early:
        choices.check_names(methods, options, choices.MAP_METHODS)
    assert str(early.value) == str(late.value)


# ----- before TensorFlow loads ------------------------------------------------------------------
def fresh_cli(*argv, cwd=None) -> tuple[int, str, str, bool]:
    """Run cli.main(argv) in a fresh interpreter; returns (status, stdout, stderr, whether
    TensorFlow was imported)."""
    code = (
        "import sys\n"
        "from cnnvis import cli\n"
        "try:\n"
        f"    status = cli.main({[str(a) for a in argv]!r})\n"
        "except SystemExit as exit:\n"
        "    status = exit.code\n"
        "print('TENSORFLOW', 'tensorflow' in sys.modules, status, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=600)
    *lines, last = done.stderr.rstrip("\n").split("\n")
    _, imported, status = last.split()
    return int(status), done.stdout, "\n".join(lines), imported == "True"


@pytest.mark.parametrize("command", [[], ["explain"], ["evaluate"], ["classify"], ["models"]])
def test_help_answers_without_tensorflow(command):
    status, stdout, _, imported = fresh_cli(*command, "--help")
    assert status == 0 and stdout.startswith("usage: cnnvis") and not imported
    if command == ["explain"]:
        assert all(name in stdout for name in choices.MAP_METHODS) and "smoothgrad: samples" in stdout


@pytest.mark.parametrize(
    "argv, words",
    [
        (["classify", "--model", "MobileNetV2", "photos.txt"], "There is no file or folder called 'photos.txt'."),
        (["explain", "--model", "MobileNetv2", "--out", "o", "cat.jpg"], "Did you mean 'MobileNetV2'?"),
        (["explain", "--model", "MobileNetV2", "--methods", "grad_cam,gradcam", "--out", "o", "cat.jpg"], "no heatmap or attribution method called 'gradcam'"),
        (["explain", "--model", "MobileNetV2", "--methods", "smoothgrad", "--option", "smoothgrad.sample=2", "--out", "o", "cat.jpg"], "its options: samples"),
        (["evaluate", "--model", "MobileNetV2", "--metrics", "shapley", "cat.jpg"], "no metric called 'shapley'"),
        (["classify", "--model", "mine.keras", "--preprocessing", "tf", "cat.jpg"], "The model file 'mine.keras' does not exist."),
        (["classify", "--model", "MobileNetV2", "--weights", "missing.h5", "cat.jpg"], "'missing.h5' does not exist"),
    ],
)
def test_a_mistake_is_reported_before_tensorflow_loads(tmp_path, argv, words):
    (tmp_path / "cat.jpg").write_bytes((EXAMPLES / "cat.jpg").read_bytes())
    status, stdout, stderr, imported = fresh_cli(*argv, cwd=tmp_path)
    assert status == 2 and words in stderr and stderr.count("\n") == 0 and not imported, stderr


def test_an_output_folder_that_holds_a_run_is_refused_before_tensorflow_loads(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / MANIFEST).write_text(json.dumps({"settings": {}}))
    (tmp_path / "cat.jpg").write_bytes((EXAMPLES / "cat.jpg").read_bytes())
    status, _, stderr, imported = fresh_cli("explain", "--model", "MobileNetV2", "--out", "out", "cat.jpg", cwd=tmp_path)
    assert status == 2 and "already holds a run; add --resume" in stderr and not imported


# ----- no start-up noise unless --verbose -------------------------------------------------------
def native_start_lines() -> list[str]:
    """What importing TensorFlow prints on this machine, before its log level is read."""
    from cnnvis.serving.native_log import harmless, has_nvidia_device

    done = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, timeout=600)
    return [line for line in done.stderr.splitlines() if harmless(line, gpu_machine=has_nvidia_device())]


def test_tensorflows_start_up_lines_show_only_with_verbose(tiny_path, tmp_path):
    noise = native_start_lines()
    argv = ["classify", "--model", tiny_path, "--preprocessing", "none", "--top", 1, EXAMPLES / "cat.jpg"]
    status, stdout, stderr, imported = fresh_cli(*argv)
    assert status == 0 and imported and len(stdout.splitlines()) == 1
    assert stderr == "", stderr  # not one line of TensorFlow's
    if not noise:
        pytest.skip("TensorFlow prints no start-up lines on this machine: nothing to show with --verbose")
    status, _, stderr, _ = fresh_cli(*argv, "--verbose")
    assert status == 0 and noise[0] in stderr.splitlines()


# ----- progress photo by photo, first results at once -------------------------------------------
def test_batches_ramp_up_to_the_batch_size():
    assert [size for size, _ in zip(batch_sizes(16), range(7))] == [1, 2, 4, 8, 16, 16, 16]
    assert [size for size, _ in zip(batch_sizes(3), range(4))] == [1, 2, 3, 3]
    photos = [decode_file(str(p), (16, 16), 0) for p in example_photos()]  # 8 photos
    assert [len(decoded) for decoded, _ in batches(photos, 16)] == [1, 2, 4, 1]


def test_each_photo_steps_the_progress_once_when_its_last_row_is_made(tiny):
    run = explain_dataset(tiny, example_photos()[:3], ["grad_cam", "eigen_cam"])
    items = [decode_file(str(p), run.explainer.input_size, 0) for p in example_photos()[:3]]
    events = []
    rows = run.explainer.explain(items, [{"grad_cam", "eigen_cam"}, {"eigen_cam"}, {"grad_cam"}], on_image=lambda: events.append(len(events)))
    assert len(rows) == 4 and events == [0, 1, 2]  # once per photo, whatever it still needed


def test_the_bar_counts_every_file_once_photo_by_photo(tiny, tmp_path, monkeypatch):
    from cnnvis.datasets import run as run_module

    steps = []

    class Recorder:
        def update(self, count=1):
            steps.append(count)

        def set_postfix(self, **values):
            pass

        def close(self):
            pass

    monkeypatch.setattr(run_module, "progress_bar", lambda total, enabled: Recorder())
    photos = photo_folder(tmp_path)  # 8 photos and 3 files that cannot be read
    summary = explain_dataset(tiny, photos, ["grad_cam"], batch_size=4).write(tmp_path / "out", progress=True)
    assert summary.images == 8 and summary.errors == 3
    assert sum(steps) == 11 and steps.count(1) >= 8  # each photo its own step


def test_the_first_batch_is_readable_as_soon_as_it_is_written(tiny, tmp_path):
    """The first batch (one photo) is a part of its own, published at once; the rest of
    the run goes on in the next part."""
    photos = photo_folder(tmp_path, bad=False)
    run = explain_dataset(tiny, photos, ["grad_cam"], batch_size=16)
    parts = []
    real = run._stream

    def stream(*args, **kwargs):
        for index, batch in enumerate(real(*args, **kwargs)):
            if index == 2:  # the loop waited for the first batch's write before the second
                parts.extend(sorted((tmp_path / "out" / RESULTS).glob("part-*.parquet")))
            yield batch

    run._stream = stream
    run.write(tmp_path / "out")
    assert [p.name for p in parts] == ["part-00000.parquet"]
    assert pq.read_table(parts[0]).num_rows == 1
