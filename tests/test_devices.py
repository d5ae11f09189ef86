"""The device TensorFlow computes on: chosen once, said in words, and the GPU
requirements that give TensorFlow its CUDA libraries kept in step with the CPU ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnnvis.models import devices
from cnnvis.errors import CnnvisError, ParameterError

from .app_helpers import is_one_sentence

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh(monkeypatch):
    """As in a new process: nothing chosen yet (restored afterwards)."""
    monkeypatch.setattr(devices, "_CHOSEN", None)


def gpus() -> list:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def test_auto_takes_what_tensorflow_finds_and_the_first_answer_stays(fresh):
    chosen = devices.configure("auto")
    assert chosen.is_gpu == bool(gpus())
    assert str(chosen) == ("CPU" if not gpus() else str(chosen))
    assert devices.configure("cpu") is chosen  # later calls return the first answer
    assert devices.current() is chosen


def test_asking_for_a_gpu_without_one_is_one_sentence(fresh):
    if gpus():
        assert devices.configure("gpu").is_gpu and devices.configure().memory_growth
        return
    with pytest.raises(CnnvisError) as caught:
        devices.configure("gpu")
    assert is_one_sentence(str(caught.value)) and "requirements-gpu.txt" in str(caught.value)
    assert devices.current() is None


def test_an_unknown_device_is_refused(fresh):
    with pytest.raises(ParameterError):
        devices.configure("tpu")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[a-z-]+\])?==(\S+)", line.strip())
        if match:
            found[match.group(1).lower() + (match.group(2) or "")] = match.group(3)
    return found


def test_the_gpu_requirements_add_only_tensorflows_cuda_libraries_at_the_same_version():
    cpu, gpu = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-gpu.txt")
    assert "-r requirements.txt" in (ROOT / "requirements-gpu.txt").read_text()
    assert gpu == {"tensorflow[and-cuda]": cpu["tensorflow"]}
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'gpu = ["tensorflow[and-cuda]' in pyproject
