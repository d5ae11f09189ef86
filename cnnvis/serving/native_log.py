"""TensorFlow's start-up lines that look like failures on a machine without a GPU.

TensorFlow's native code logs through Abseil before Abseil's logging is initialised, and
such lines go to stderr whatever ``TF_CPP_MIN_LOG_LEVEL`` says (an upstream limitation:
abseil-cpp #1718/#1957, tensorflow #102212). On a CPU-only machine they include
"failed call to cuInit: ... UNKNOWN ERROR (303)" and "Could not find cuda drivers",
which read as failures. :func:`quiet_native_start` captures the process' stderr while
TensorFlow starts, then writes back every line except the known harmless ones below, so
a real error still reaches the log. The cuInit line is dropped only where the machine
has no NVIDIA device at all; where it has one, a failed cuInit is worth seeing.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

HARMLESS = (
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine, GPU will not be used",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions: .* rebuild TensorFlow",
)
NO_GPU_ONLY = (r"failed call to cuInit",)


def has_nvidia_device() -> bool:
    """Whether the machine has an NVIDIA device node (a GPU, with or without a driver)."""
    return os.path.exists("/dev/nvidia0") or os.path.exists("/dev/nvidiactl")


def harmless(line: str, *, gpu_machine: bool) -> bool:
    patterns = HARMLESS if gpu_machine else HARMLESS + NO_GPU_ONLY
    return any(re.search(pattern, line) for pattern in patterns)


@contextlib.contextmanager
def quiet_native_start() -> Iterator[None]:
    """Capture file descriptor 2 inside the block; afterwards write back what is not
    harmless. Does nothing where stderr has no file descriptor (some test runners)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            captured.seek(0)
            gpu_machine = has_nvidia_device()
            lines = captured.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = [line for line in lines if not harmless(line, gpu_machine=gpu_machine)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
