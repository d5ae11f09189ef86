"""Shared test set-up: quiet TensorFlow, never download, find the real weights."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CNNVIS_OFFLINE", "1")  # tests never try to download weights
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Uploads and results of this test run (each xdist worker its own) in a folder of their
# own, before Gradio is imported: the cache bound's eviction never touches another run's
# files, nor a running app's.
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(
    prefix=f"cnnvis-tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-"
)

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def find_weights_dir() -> Path | None:
    """$CNNVIS_WEIGHTS_DIR, else the workspace's ../shared/weights, if it holds MobileNetV2."""
    candidates = [os.environ.get("CNNVIS_WEIGHTS_DIR"), ROOT.parent / "shared" / "weights"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "MobileNetV2.weights.h5").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    directory = find_weights_dir()
    if directory is None:
        pytest.skip(
            "real ImageNet weights not found: set CNNVIS_WEIGHTS_DIR to a folder holding "
            "MobileNetV2.weights.h5 to run the real-weights checks"
        )
    return directory


@pytest.fixture(scope="session")
def mobilenet_v2(weights_dir):
    import cnnvis

    return cnnvis.load_model("MobileNetV2", weights_dir=weights_dir)


@pytest.fixture(scope="session")
def cat_image():
    import cnnvis

    return cnnvis.load_image(EXAMPLES / "cat.jpg")


# The everyday loop (``pytest --quick``) leaves out what takes minutes: full-size models
# (the registry's or the real weights), app servers and the browser.
QUICK_LEAVES_OUT = ("slow", "fullsize", "server", "browser")
# Tests that ask for these fixtures build a full-size model, or start the app's server.
FULLSIZE_FIXTURES = {"weights_dir", "mobilenet_v2"}
SERVER_FIXTURES = {"server", "client"}


def pytest_addoption(parser):
    parser.addoption(
        "--quick",
        action="store_true",
        help="the everyday loop: no full-size model, no app server, no browser (markers "
        + ", ".join(QUICK_LEAVES_OUT)
        + ")",
    )


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the groups into node ids
def pytest_collection_modifyitems(config, items):
    """With xdist's loadgroup: every test of a module on one worker (module-scoped servers
    start once), but the slow per-model tests spread over the workers. With --quick: only
    the tests that build no full-size model and start no server or browser."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if FULLSIZE_FIXTURES & fixtures:
            item.add_marker(pytest.mark.fullsize)
        if SERVER_FIXTURES & fixtures:
            item.add_marker(pytest.mark.server)
        if item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    if config.getoption("--quick"):
        kept = [i for i in items if not any(i.get_closest_marker(m) for m in QUICK_LEAVES_OUT)]
        left_out = [i for i in items if i not in kept]
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.fixture(autouse=True)
def _quick_builds_no_full_size_model(request, monkeypatch):
    """In the quick loop, building a registry model or starting a server fails the test at
    once: a test that needs one must say so (``@pytest.mark.fullsize`` / ``server``), so
    the loop stays quick."""
    if not request.config.getoption("--quick"):
        return
    from cnnvis.models.specs import ModelSpec

    def refuse_model(spec, *args, **kwargs):
        raise AssertionError(f"the quick loop built {spec.name}: mark the test fullsize")

    def refuse_server(*args, **kwargs):
        raise AssertionError("the quick loop started a server: mark the test server")

    monkeypatch.setattr(ModelSpec, "build", refuse_model)
    gradio = sys.modules.get("gradio")
    if gradio is not None:
        monkeypatch.setattr(gradio.Blocks, "launch", refuse_server)
