"""How the app gets its models and serves requests: the environment, then the command line.

Read once at import (:data:`SETTINGS`), replaced by :func:`configure` (``main`` does it
with the command line, tests with their own weights). Every later request reads the
current settings through :func:`current`.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("cnnvis.app")

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"  # the repository's photos
DEFAULT_EXAMPLE = EXAMPLES_DIR / "cat.jpg"
DEFAULT_MODEL = "MobileNetV2"


@dataclass(frozen=True)
class Settings:
    """How the app gets its models and serves requests."""

    weights: str = "imagenet"  # "imagenet" or "random" (demos and tests without weights)
    weights_dir: str | None = None  # None: cnnvis reads $CNNVIS_WEIGHTS_DIR itself
    concurrency: int = 1  # quick computations at once (1 suits one GPU or a small CPU)
    max_queue: int = 20  # requests waiting at most; more are refused with "queue full"
    long_concurrency: int = 1  # long computations at once, beside the quick ones

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            weights=env.get("CNNVIS_APP_WEIGHTS", "imagenet").strip().lower() or "imagenet",
            weights_dir=env.get("CNNVIS_WEIGHTS_DIR") or None,
            concurrency=int(env.get("CNNVIS_CONCURRENCY", "1")),
            max_queue=int(env.get("CNNVIS_MAX_QUEUE", "20")),
            long_concurrency=int(env.get("CNNVIS_LONG_CONCURRENCY", "1")),
        )

    def __post_init__(self) -> None:
        if self.weights not in ("imagenet", "random"):
            raise ValueError(f"weights must be 'imagenet' or 'random', not {self.weights!r}")
        if min(self.concurrency, self.max_queue, self.long_concurrency) < 1:
            raise ValueError("concurrency, long_concurrency and max_queue must be at least 1")

    @property
    def lane_limits(self) -> dict[str, int]:
        """How many computations of each lane (a technique's cost) run at once."""
        return {"quick": self.concurrency, "long": self.long_concurrency}


SETTINGS = Settings.from_env()


def configure(settings: Settings) -> None:
    """Use ``settings`` for every later request (models already loaded stay cached)."""
    global SETTINGS
    SETTINGS = settings


def current() -> Settings:
    return SETTINGS


_DEVICE_LOCK = threading.Lock()


@functools.cache
def _configure_device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:  # TensorFlow was initialised before us
            log.warning("Could not enable GPU memory growth: %s", error)
    device = f"GPU ({len(gpus)} found)" if gpus else "CPU"
    log.info("TensorFlow computes on the %s", device)
    return device


def compute_device() -> str:
    """Let TensorFlow grow GPU memory as needed (several processes can share a GPU), once,
    before the first model is built; returns and logs the device in words."""
    with _DEVICE_LOCK:  # the warm-up thread and a first request may arrive together
        return _configure_device()


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
        help="quick model computations at once (default: $CNNVIS_CONCURRENCY or 1)",
    )
    parser.add_argument(
        "--long-concurrency",
        type=_positive,
        default=env.long_concurrency,
        help="long computations (Deep Dream, Compare, Score-CAM...) at once, beside the quick "
        "ones (default: $CNNVIS_LONG_CONCURRENCY or 1)",
    )
    parser.add_argument(
        "--max-queue",
        type=_positive,
        default=env.max_queue,
        help="requests that may wait in the queue (default: $CNNVIS_MAX_QUEUE or 20)",
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
    )
