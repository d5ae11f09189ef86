"""How the app gets its models and serves requests: the environment, then the command line.

Read once at import (:data:`SETTINGS`), replaced by :func:`configure` (``main`` does it
with the command line, tests with their own weights). Every later request reads the
current settings through :func:`current`.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..models import devices
from ..models.devices import DEVICES, Device
from ..serving.native_log import quiet_native_start

log = logging.getLogger("cnnvis.app")

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"  # the repository's photos
DEFAULT_EXAMPLE = EXAMPLES_DIR / "cat.jpg"
DEFAULT_MODEL = "MobileNetV2"


MAX_QUEUE = 100  # quick requests waiting at most: a class of 60 pressing Run at once fits
# Quick computations at once by default, by device kind: on a CPU a second computation
# would only halve each one's cores; on a GPU a small job overlaps another's transfers.
QUICK_SLOTS = {"CPU": 1, "GPU": 2}
LONG_QUEUE = 3  # long requests waiting at most beside the running ones; more are refused


@dataclass(frozen=True)
class Settings:
    """How the app gets its models and serves requests."""

    weights: str = "imagenet"  # "imagenet" or "random" (demos and tests without weights)
    weights_dir: str | None = None  # None: cnnvis reads $CNNVIS_WEIGHTS_DIR itself
    # Quick computations at once; None: what suits the device (1 on a CPU, 2 on a GPU).
    concurrency: int | None = None
    max_queue: int = MAX_QUEUE  # requests waiting in the queue; more are refused ("queue full")
    long_concurrency: int = 1  # long computations at once, beside the quick ones
    long_queue: int = LONG_QUEUE  # long computations waiting at most; more: "busy, try in N s"
    device: str = "auto"  # "auto", "cpu" or "gpu" (cnnvis.models.devices)
    # The long tabs whose results for the example photo are computed in the background
    # after the warm-up, so that they open on results: "all", "none" or tab keys.
    precompute: str = "all"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        quick = env.get("CNNVIS_CONCURRENCY", "").strip()
        return cls(
            weights=env.get("CNNVIS_APP_WEIGHTS", "imagenet").strip().lower() or "imagenet",
            weights_dir=env.get("CNNVIS_WEIGHTS_DIR") or None,
            concurrency=int(quick) if quick else None,
            max_queue=int(env.get("CNNVIS_MAX_QUEUE", str(MAX_QUEUE))),
            long_concurrency=int(env.get("CNNVIS_LONG_CONCURRENCY", "1")),
            long_queue=int(env.get("CNNVIS_LONG_QUEUE", str(LONG_QUEUE))),
            device=env.get("CNNVIS_DEVICE", "auto").strip().lower() or "auto",
            precompute=env.get("CNNVIS_PRECOMPUTE", "all").strip().lower() or "all",
        )

    def __post_init__(self) -> None:
        if self.weights not in ("imagenet", "random"):
            raise ValueError(f"weights must be 'imagenet' or 'random', not {self.weights!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        quick = 1 if self.concurrency is None else self.concurrency
        if min(quick, self.max_queue, self.long_concurrency) < 1 or self.long_queue < 0:
            raise ValueError("concurrency, long_concurrency and max_queue must be at least 1")

    @property
    def lane_limits(self) -> dict[str, int]:
        """How many computations of each lane (a technique's cost) run at once: quick work
        as asked, else as suits the device (QUICK_SLOTS); long work as asked."""
        quick = self.concurrency
        if quick is None:
            quick = QUICK_SLOTS[expected_device_kind(self.device)]
        return {"quick": quick, "long": self.long_concurrency}


SETTINGS = Settings.from_env()


def configure(settings: Settings) -> None:
    """Use ``settings`` for every later request (models already loaded stay cached)."""
    global SETTINGS
    SETTINGS = settings


def current() -> Settings:
    return SETTINGS


def expected_device_kind(device: str) -> str:
    """"GPU" or "CPU", as :func:`compute_device` will choose, without choosing yet (the
    demo is built before ``python app.py`` has read ``--device``)."""
    with quiet_native_start():
        return devices.expected_kind(device)


def compute_device() -> Device:
    """The device TensorFlow computes on (cnnvis.models.devices: chosen once per process, GPU
    memory growth on), as the settings ask; the first call logs it (and keeps TensorFlow's
    harmless CUDA start-up lines out of the log: :mod:`.native_log`)."""
    if devices.current() is not None:
        return devices.current()
    with quiet_native_start():
        return devices.configure(current().device)


# ----- the command line -----------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = Settings.from_env()
    parser = argparse.ArgumentParser(
        description="cnnvis: see what ImageNet CNNs see, in the browser."
    )
    parser.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)"
    )
    parser.add_argument(
        "--weights-dir",
        default=env.weights_dir,
        help="folder of <Model>.weights.h5 files, searched before any download "
        "(default: $CNNVIS_WEIGHTS_DIR)",
    )
    parser.add_argument(
        "--weights",
        choices=["imagenet", "random"],
        default=env.weights,
        help="'random' runs without any weights, for demos and tests "
        "(default: $CNNVIS_APP_WEIGHTS or imagenet)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=env.concurrency,
        help="quick model computations at once (default: $CNNVIS_CONCURRENCY, else 1 on a "
        "CPU and 2 on a GPU)",
    )
    parser.add_argument(
        "--long-concurrency",
        type=_positive,
        default=env.long_concurrency,
        help="long computations (Deep Dream, Compare, Score-CAM...) at once, beside the quick "
        "ones (default: $CNNVIS_LONG_CONCURRENCY or 1)",
    )
    parser.add_argument(
        "--long-queue",
        type=int,
        default=env.long_queue,
        help="long computations that may wait beside the running ones; more are refused with "
        f"'busy, try again in about N s' (default: $CNNVIS_LONG_QUEUE or {LONG_QUEUE})",
    )
    parser.add_argument(
        "--max-queue",
        type=_positive,
        default=env.max_queue,
        help=f"requests that may wait in the queue (default: $CNNVIS_MAX_QUEUE or {MAX_QUEUE})",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=env.device,
        help="auto: the GPU if TensorFlow finds one; cpu: never a GPU; gpu: refuse to start "
        "without one (default: $CNNVIS_DEVICE or auto)",
    )
    parser.add_argument(
        "--precompute",
        default=env.precompute,
        help="the long tabs (Deep Dream, SmoothGrad, the checks...) whose results for the "
        "example photo are computed in the background after the warm-up, so that they open "
        "on results: all, none, or tab ids such as attributions,deep_dream "
        "(default: $CNNVIS_PRECOMPUTE or all)",
    )
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings a parsed command line asks for."""
    return Settings(
        weights=args.weights,
        weights_dir=args.weights_dir,
        concurrency=args.concurrency,
        max_queue=args.max_queue,
        long_concurrency=args.long_concurrency,
        long_queue=args.long_queue,
        device=args.device,
        precompute=args.precompute,
    )
