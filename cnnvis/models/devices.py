"""Which device TensorFlow computes on, set once per process, and said in words.

``configure("auto")`` (the default) uses the GPU when TensorFlow finds one and turns its
memory growth on (TensorFlow would otherwise take the whole card at the first model, and
several processes could not share it); ``"cpu"`` hides every GPU; ``"gpu"`` refuses to
start without one. It must run before the first model is built, and runs once: later
calls return the first answer. The app logs the answer and shows it on the page; the
command line and the benchmark take ``--device``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from ..errors import CnnvisError, ParameterError

DEVICES = ("auto", "cpu", "gpu")

log = logging.getLogger("cnnvis")
_LOCK = threading.Lock()
_CHOSEN: "Device | None" = None


@dataclass(frozen=True)
class Device:
    """The device computations run on."""

    kind: str  # "GPU" or "CPU"
    name: str  # the GPU's name ("NVIDIA H200"), or "CPU"
    count: int  # GPUs visible to TensorFlow (0 on the CPU)
    memory_growth: bool

    @property
    def is_gpu(self) -> bool:
        return self.kind == "GPU"

    def __str__(self) -> str:
        if not self.is_gpu:
            return "CPU"
        more = f" (1 of {self.count} GPUs)" if self.count > 1 else ""
        return f"GPU: {self.name}{more}"


def _gpu_name(gpu) -> str:
    import tensorflow as tf

    try:
        details = tf.config.experimental.get_device_details(gpu)
    except (RuntimeError, ValueError):
        details = {}
    return str(details.get("device_name") or gpu.name)


def configure(device: str = "auto") -> Device:
    """Choose the device (see the module docstring) and return it; the first call in a
    process decides, later ones return its answer."""
    global _CHOSEN
    if device not in DEVICES:
        raise ParameterError(f"The device must be one of {', '.join(DEVICES)}; got {device!r}.")
    with _LOCK:
        if _CHOSEN is not None:
            return _CHOSEN
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if device == "gpu" and not gpus:
            raise CnnvisError(
                "No GPU is visible to TensorFlow; on Linux install the GPU build "
                "(pip install -r requirements-gpu.txt), or use --device cpu."
            )
        if device == "cpu" and gpus:
            tf.config.set_visible_devices([], "GPU")
            gpus = []
        growth = True
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError as error:  # TensorFlow was initialised before us
                growth = False
                log.warning("Could not turn GPU memory growth on: %s", error)
        _CHOSEN = (
            Device("GPU", _gpu_name(gpus[0]), len(gpus), growth)
            if gpus
            else Device("CPU", "CPU", 0, False)
        )
        log.info("TensorFlow computes on the %s", _CHOSEN)
        return _CHOSEN


def expected_kind(device: str = "auto") -> str:
    """"GPU" or "CPU": what :func:`configure` with ``device`` chooses (or chose), without
    choosing (listing physical devices starts no GPU runtime), so that settings which
    depend on the device can be made before the command line has said which."""
    if _CHOSEN is not None:
        return _CHOSEN.kind
    if device == "cpu":
        return "CPU"
    import tensorflow as tf

    return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"


def current() -> Device | None:
    """The device chosen so far in this process, if any."""
    return _CHOSEN


__all__ = ["DEVICES", "Device", "configure", "current", "expected_kind"]
