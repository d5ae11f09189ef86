"""Shared test set-up: quiet TensorFlow, never download, find the real weights."""

from __future__ import annotations

import os
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


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the groups into node ids
def pytest_collection_modifyitems(config, items):
    """With xdist's loadgroup: every test of a module on one worker (module-scoped servers
    start once), but the slow per-model tests spread over the workers."""
    for item in items:
        if item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
