"""Which registry models can run here, before anyone waits for a download.

For each model of the registry: **ready** (its weights are in the weights folder or in
Keras' download cache), **downloadable** (from Keras' address, with the size of the
file), or **unavailable** (offline, or a download failed a moment ago). The file name
Keras uses and the weights' size come from ``cnnvis/models/data/weights.tsv``, written by
``scripts/make_weights_table.py`` and checked against Keras by the slow registry test.

A failed download is remembered for :data:`FAILURE_MEMORY` seconds, so that a page that
asks again and again does not wait for the network each time; the message says when the
next attempt will be made.
"""

from __future__ import annotations

import contextlib
import csv
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

OFFLINE_ENV = "CNNVIS_OFFLINE"
FAILURE_MEMORY = 600.0  # seconds a failed download is remembered before trying again
_TABLE = "data/weights.tsv"
_MADE_WITH = "# scripts/make_weights_table.py with Keras "

_FAILURES: dict[str, tuple[float, str]] = {}  # model -> (when, "failed" or "downloading")
_FAILURES_LOCK = threading.Lock()


@dataclass(frozen=True)
class WeightsFile:
    """Where Keras keeps a model's ImageNet weights, and how large they are."""

    model: str
    keras_file: str  # the name in Keras' cache, ~/.keras/models/<keras_file>
    parameters: int

    @property
    def megabytes(self) -> float:
        """The size of the float32 weights, in MB (the download is about this size)."""
        return self.parameters * 4 / 1e6


@dataclass(frozen=True)
class WeightsStatus:
    """Whether a model's ImageNet weights can be had here, in words for the page."""

    model: str
    state: str  # "ready", "downloadable" or "unavailable"
    detail: str  # where the weights are, how large the download is, or why not
    megabytes: float | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def label(self) -> str:
        """A short tag for a model picker: "ready", "download 14 MB", "unavailable"."""
        if self.state == "downloadable" and self.megabytes is not None:
            return f"download {self.megabytes:,.0f} MB"
        return self.state


@lru_cache(maxsize=1)
def weights_table() -> dict[str, WeightsFile]:
    """The table of cnnvis/models/data/weights.tsv, by model name."""
    text = resources.files(__package__).joinpath(_TABLE).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    rows = csv.reader(lines, delimiter="\t")
    next(rows)  # the header
    return {r[0]: WeightsFile(r[0], r[1], int(r[2])) for r in rows if r}


def weights_table_keras() -> str:
    """The Keras version the table was derived from (its first line)."""
    text = resources.files(__package__).joinpath(_TABLE).read_text(encoding="utf-8")
    first = text.splitlines()[0]
    return first.removeprefix(_MADE_WITH) if first.startswith(_MADE_WITH) else "unknown"


def write_table(rows: Iterable[tuple[str, str, int]], keras_version: str) -> Path:
    """Write the table (for scripts/make_weights_table.py)."""
    path = Path(__file__).resolve().parent / _TABLE
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(f"{_MADE_WITH}{keras_version}\n")
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["model", "keras_file", "parameters"])
        writer.writerows(sorted(rows))
    weights_table.cache_clear()
    return path


def keras_cache_dirs() -> list[Path]:
    """Where Keras puts downloaded weights: ``$KERAS_HOME/models`` (default ``~/.keras``),
    or ``/tmp/.keras/models`` when the home folder cannot be written."""
    from keras.src.backend.config import keras_home  # Keras' own answer (reads KERAS_HOME)

    return [Path(keras_home()).expanduser() / "models", Path("/tmp/.keras/models")]


def in_keras_cache(model: str) -> bool:
    """Whether Keras' download cache holds ``model``'s ImageNet weights file."""
    known = weights_table().get(model)
    return known is not None and any((d / known.keras_file).is_file() for d in keras_cache_dirs())


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


FAILED, DOWNLOADING = "failed", "downloading"


def remember_failure(model: str, kind: str = FAILED) -> None:
    """Remember that downloading ``model`` just failed (``"failed"``), or is taking so
    long that requests stopped waiting for it (``"downloading"``: it goes on in the
    background, and its end replaces this)."""
    with _FAILURES_LOCK:
        _FAILURES[model] = (time.monotonic(), kind)


def forget_failure(model: str) -> None:
    with _FAILURES_LOCK:
        _FAILURES.pop(model, None)


def recent_failure(model: str) -> tuple[str, float] | None:
    """(kind, seconds until the next attempt) if a download of ``model`` failed, or
    was left running, within :data:`FAILURE_MEMORY` seconds; else None."""
    with _FAILURES_LOCK:
        entry = _FAILURES.get(model)
        if entry is None:
            return None
        age = time.monotonic() - entry[0]
        if age >= FAILURE_MEMORY:
            del _FAILURES[model]
            return None
        return entry[1], FAILURE_MEMORY - age


def status(model: str, weights_dir: Path | None) -> WeightsStatus:
    """Whether ``model``'s ImageNet weights are ready, downloadable or unavailable here."""
    if weights_dir is not None and (weights_dir / f"{model}.weights.h5").is_file():
        return WeightsStatus(model, "ready", "in the weights folder")
    known = weights_table().get(model)
    size = known.megabytes if known is not None else None
    failure = recent_failure(model)
    if failure is not None and failure[0] == DOWNLOADING:  # its file is not whole yet
        return WeightsStatus(model, "unavailable", "downloading in the background", size)
    if in_keras_cache(model):
        return WeightsStatus(model, "ready", "in Keras' download cache")
    if offline():
        return WeightsStatus(model, "unavailable", "offline, and not in the weights folder", size)
    if failure is not None:
        minutes = max(1, round(failure[1] / 60))
        return WeightsStatus(
            model, "unavailable", f"the download failed; next try in {minutes} min", size
        )
    return WeightsStatus(model, "downloadable", "from storage.googleapis.com", size)


class _Asked(Exception):
    """Raised by the stand-in for Keras' get_file with the name it was asked for."""


@contextlib.contextmanager
def _asking_keras_for_files():
    """Keras' ``get_file`` replaced, for the duration, by one that raises the file name
    it is asked for instead of downloading (used only to read the names off Keras)."""
    from keras.src.utils import file_utils

    original = file_utils.get_file

    def ask(fname=None, origin=None, *args, **kwargs):
        raise _Asked(fname or os.path.basename(str(origin)))

    file_utils.get_file = ask
    try:
        yield
    finally:
        file_utils.get_file = original


def keras_weights_file(spec) -> str:
    """The file name Keras would download ``spec``'s ImageNet weights into, read off
    Keras itself without downloading (the model is built, then the build stops)."""
    with _asking_keras_for_files():
        try:
            spec.build("imagenet")
        except _Asked as asked:
            return str(asked)
    raise RuntimeError(f"Keras built {spec.name} without asking for a weights file")


__all__ = [
    "FAILURE_MEMORY",
    "WeightsFile",
    "WeightsStatus",
    "keras_weights_file",
    "recent_failure",
    "remember_failure",
    "status",
    "weights_table",
]
