"""The app's log on a CPU-only machine: TensorFlow's harmless CUDA start-up lines are
kept out, anything else written meanwhile is kept, and the device is chosen only once
the command line has said which."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnvis.serving import native_log

ROOT = Path(__file__).resolve().parents[1]
CPU_ONLY_START = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796178050.667397   19444 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
    "E0000 00:00:1796178051.949775   19444 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1796178047.920813   19444 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.",
]


def test_harmless_lines_are_recognised_and_cuinit_only_without_a_gpu():
    assert all(native_log.harmless(line, gpu_machine=False) for line in CPU_ONLY_START)
    cuinit = CPU_ONLY_START[2]
    assert not native_log.harmless(cuinit, gpu_machine=True)  # a GPU machine should see it
    assert not native_log.harmless("Traceback (most recent call last):", gpu_machine=False)
    assert not native_log.harmless("E0000 something else failed", gpu_machine=False)


def run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_lines_written_natively_inside_the_block_are_filtered_not_lost():
    code = (
        "import os\n"
        "from cnnvis.serving.native_log import quiet_native_start\n"
        "with quiet_native_start():\n"
        f"    os.write(2, {CPU_ONLY_START[1]!r}.encode() + b'\\n')\n"
        "    os.write(2, b'a real problem\\n')\n"
        "os.write(2, b'after the block\\n')\n"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert "Could not find cuda drivers" not in result.stderr
    assert "a real problem" in result.stderr and "after the block" in result.stderr


@pytest.mark.skipif(native_log.has_nvidia_device(), reason="this machine has an NVIDIA device")
def test_building_the_app_logs_no_alarming_line_and_chooses_no_device():
    result = run("import app\nfrom cnnvis.models import devices\nprint('device chosen:', devices.current())")
    assert result.returncode == 0, result.stderr
    assert "device chosen: None" in result.stdout  # python app.py --device decides later
    for alarming in ("cuInit", "cuda drivers", "absl::InitializeLog", "oneDNN"):
        assert alarming not in result.stderr, result.stderr
