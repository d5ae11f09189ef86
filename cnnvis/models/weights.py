"""ImageNet weights for the registry's models: the local weights folder first, then
Keras' own download and cache, bounded in time, with every failure in one sentence.

A file in the weights folder (``$CNNVIS_WEIGHTS_DIR`` or ``weights_dir=``) named
``<Model>.weights.h5`` is loaded as it is and never changed. Otherwise Keras downloads the
weights into its cache on first use (see the note above :class:`_Download`); a failed
download is remembered for a while (:mod:`cnnvis.models.availability`).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from . import availability
from ..errors import WeightsUnavailableError

if TYPE_CHECKING:
    from .specs import ModelSpec

WEIGHTS_DIR_ENV = "CNNVIS_WEIGHTS_DIR"
DOWNLOAD_TIMEOUT_ENV = "CNNVIS_DOWNLOAD_TIMEOUT"


def resolve_weights_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The local weights directory: the argument, else ``$CNNVIS_WEIGHTS_DIR``."""
    value = explicit if explicit is not None else os.environ.get(WEIGHTS_DIR_ENV)
    return Path(value).expanduser() if value else None


def _remedy(name: str) -> str:
    return (
        f"put {name}.weights.h5 in the weights folder ({WEIGHTS_DIR_ENV}, --weights-dir), "
        "allow downloads from storage.googleapis.com, or use random weights (--weights random)"
    )


def _load_file(model: keras.Model, name: str, path: Path) -> None:
    """Load a local weights file into ``model``; the file is only ever read, never changed.

    Messages name the file, never its folder: they may be shown to the users of an app.
    """
    if not path.is_file():
        raise WeightsUnavailableError(f"The weights file {path.name} for {name} does not exist.")
    try:
        # Keras only warns when parts of a file do not match ("Skipping ... freshly
        # initialised"): a partly loaded model would look fine and explain nonsense.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(str(path))
        partial = [w for w in caught if "Skipping" in str(w.message) or "could not be loaded" in str(w.message)]
        if partial:
            raise ValueError(str(partial[0].message))
    except Exception as error:  # noqa: BLE001 - any failure means "this file does not fit"
        raise WeightsUnavailableError(
            f"The weights file {path.name} could not be loaded into {name} ({_reason(error)}); "
            f"replace it with the {name} ImageNet weights, or remove it so that they are downloaded."
        ) from error


def _reason(error: BaseException) -> str:
    """Why a weights file did not load, in a few words (never the error's own text, which
    may hold server paths or several sentences)."""
    text = str(error).lower()
    if isinstance(error, OSError) or any(
        word in text for word in ("unable to", "truncated", "signature", "not an hdf5", "file format")
    ):
        return "the file is damaged or is not a Keras weights file"
    if any(word in text for word in ("skipping", "mismatch", "shape", "expected", "layer")):
        return "the file holds the weights of a different model"
    return "the file is damaged or does not fit the model"


# ----- downloads ---------------------------------------------------------------------------
# Keras downloads ImageNet weights into its cache (~/.keras/models) on first use. Two
# things can go wrong there that cnnvis handles: a download that hangs (urllib has no
# timeout), and a damaged file left in the cache (a download cut off when the process was
# killed, or a server that sent a bad file): Keras checks no hash for most models, so it
# would load that file again and fail on every later request. A hanging download goes on
# in the background, at most one per model: a later request waits for it instead of
# starting another. A damaged file in Keras' cache is renamed to <file>.damaged, so that
# the next attempt downloads it again (at once, if it was damaged before this attempt).


class _Download:
    """One background download-and-build of a registry model's ImageNet weights."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.done = threading.Event()
        self.model: keras.Model | None = None
        self.error: BaseException | None = None
        self.waiters = 0
        self.thread = threading.Thread(target=self._run, name=f"download-{spec.name}", daemon=True)

    def _run(self) -> None:
        try:
            model = _build_from_keras_cache(self.spec)
        except BaseException as error:  # noqa: BLE001 - reported to the waiting request
            model, self.error = None, error
        with _DOWNLOADS_LOCK:
            if self.error is None:
                availability.forget_failure(self.spec.name)  # also a slow one that ended late
            else:
                availability.remember_failure(self.spec.name, availability.FAILED)
            # Nobody waits any more (they timed out): do not hold a whole model for a
            # request that may never come; the weights are in Keras' cache now.
            self.model = model if self.waiters else None
            self.done.set()


_DOWNLOADS: dict[str, _Download] = {}
_DOWNLOADS_LOCK = threading.Lock()
_FETCHED = threading.local()  # the files Keras' get_file returned, per thread


def _record_fetched_files() -> None:
    """Wrap Keras' ``get_file`` (once, see :func:`.keras_compat.wrap_get_file`) so that
    a build thread can tell which cached file Keras used; calls are passed through."""
    from .keras_compat import wrap_get_file

    wrap_get_file(lambda path: getattr(_FETCHED, "paths", []).append(path), "records fetched files")


def _build_from_keras_cache(spec: ModelSpec) -> keras.Model:
    """``spec.build("imagenet")``. A file that Keras fetched but that could not be loaded is
    set aside (so that the next attempt downloads it again); if it was in the cache
    before this attempt, the download is tried once more right away."""
    _record_fetched_files()
    for attempt in (1, 2):
        _FETCHED.paths = []
        started = time.time_ns()
        try:
            return spec.build("imagenet")
        except Exception:
            fetched = [Path(p) for p in _FETCHED.paths if p and Path(p).is_file()]
            if not fetched:
                raise  # nothing was fetched: a network failure, not a damaged file
            stale = any(path.stat().st_mtime_ns < started for path in fetched)
            for path in fetched:
                path.replace(path.with_name(path.name + ".damaged"))
            if not stale or attempt == 2:
                raise  # just downloaded, and damaged: the next request downloads it again
    raise AssertionError("unreachable")


def _download(spec: ModelSpec, timeout: float) -> keras.Model:
    """Keras' own download and cache, bounded in time and with errors made readable."""
    if availability.offline():
        raise WeightsUnavailableError(
            f"ImageNet weights for {spec.name} are not available offline; {_remedy(spec.name)}."
        )
    remembered = availability.recent_failure(spec.name)
    if remembered is not None and remembered[0] == availability.DOWNLOADING:
        raise WeightsUnavailableError(
            f"ImageNet weights for {spec.name} are still downloading in the background; try "
            f"again in a minute, or {_remedy(spec.name)}."
        )
    if remembered is not None:
        minutes = max(1, round(remembered[1] / 60))
        raise WeightsUnavailableError(
            f"Downloading ImageNet weights for {spec.name} failed a moment ago (next try in "
            f"{minutes} min); {_remedy(spec.name)}."
        )
    with _DOWNLOADS_LOCK:
        job = _DOWNLOADS.get(spec.name)
        if job is None or job.done.is_set():
            job = _DOWNLOADS[spec.name] = _Download(spec)
            job.thread.start()
        job.waiters += 1
    try:
        finished = job.done.wait(timeout)
    finally:
        with _DOWNLOADS_LOCK:
            job.waiters -= 1
    if not finished:
        with _DOWNLOADS_LOCK:
            if not job.done.is_set():  # its end forgets or replaces this
                availability.remember_failure(spec.name, availability.DOWNLOADING)
        raise WeightsUnavailableError(
            f"Downloading ImageNet weights for {spec.name} took longer than {timeout:.0f} s "
            f"(it goes on in the background); {_remedy(spec.name)}."
        )
    with _DOWNLOADS_LOCK:
        model, job.model = job.model, None
        if _DOWNLOADS.get(spec.name) is job:
            del _DOWNLOADS[spec.name]
    if job.error is not None or model is None:
        raise WeightsUnavailableError(
            f"ImageNet weights for {spec.name} could not be downloaded; {_remedy(spec.name)}."
        ) from job.error
    return model


def build_registry_model(
    spec: ModelSpec, weights: str | os.PathLike | None, directory: Path | None
) -> tuple[keras.Model, str]:
    """Build ``spec`` with the requested weights; returns the model and a description."""
    if weights is None:
        return spec.build(None), "random"
    if isinstance(weights, str) and weights == "imagenet":
        local = directory / f"{spec.name}.weights.h5" if directory else None
        if local is not None and local.is_file():
            model = spec.build(None)
            _load_file(model, spec.name, local)
            return model, f"imagenet ({local})"
        timeout = float(os.environ.get(DOWNLOAD_TIMEOUT_ENV, "300"))
        return _download(spec, timeout), "imagenet"
    path = Path(weights).expanduser()
    model = spec.build(None)
    _load_file(model, spec.name, path)
    return model, str(path)
