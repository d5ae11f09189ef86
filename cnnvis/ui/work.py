"""How the app runs the package's computations: every handler's work goes through
:func:`compute`, in the lane of its technique's cost; models come from cnnvis' cache with
the configured weights; iterative methods stop when their request is cancelled.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import gradio as gr
import numpy as np

import cnnvis  # light: TensorFlow loads when a model is first touched

from ..registry import COSTS
from .settings import DEFAULT_MODEL, compute_device, current

if TYPE_CHECKING:
    from ..models import VisModel

log = logging.getLogger("cnnvis.app")
T = TypeVar("T")


def compute(lane: str, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one request's computation: ``work(*args, **kwargs)``, in ``lane``.

    Every handler of the app runs its work through here, in the lane of its technique's
    cost (``"quick"`` or ``"long"``, the same lane as its event's ``concurrency_id``): it
    is the one place where a bound on the work running at once belongs (issue 10's
    work-bound lanes). A generator (Deep Dream, feature visualisation) is returned as a
    generator that stays in the lane until it ends or is closed.
    """
    if lane not in COSTS:
        raise ValueError(f"lane must be one of {', '.join(COSTS)}, not {lane!r}")
    result = work(*args, **kwargs)
    if inspect.isgenerator(result):
        return _streaming(lane, result)  # type: ignore[return-value]
    return result


def _streaming(lane: str, frames: Iterator) -> Iterator:
    """``frames``, passed on one by one while the computation holds ``lane``."""
    yield from frames


def computing(lane: str) -> Callable[[Callable], Callable]:
    """A decorator: the handler's body runs through :func:`compute` in ``lane`` (a
    generator function stays one, for Gradio streams what it yields)."""

    def decorate(fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(*args, **kwargs):
                yield from compute(lane, fn, *args, **kwargs)

            return stream

        @functools.wraps(fn)
        def call(*args, **kwargs):
            return compute(lane, fn, *args, **kwargs)

        return call

    return decorate


# ----- models -----------------------------------------------------------------------------


def get_model(name: str | None) -> VisModel:
    """A registry model with the configured weights, from cnnvis' model cache."""
    compute_device()
    settings = current()
    weights = None if settings.weights == "random" else "imagenet"
    return cnnvis.load_model(
        str(name or "").strip() or DEFAULT_MODEL, weights=weights, weights_dir=settings.weights_dir
    )


def load(name: str | None, progress: gr.Progress) -> VisModel:
    progress(0.05, desc=f"Loading {name or DEFAULT_MODEL}…")
    return get_model(name)


def working(progress: gr.Progress, what: str, fraction: float = 0.3) -> None:
    progress(fraction, desc=f"{what}… (slower the first time: the model gets compiled)")


# ----- cancellation -----------------------------------------------------------------------


def request_cancelled() -> Callable[[], bool]:
    """A check that iterative methods ask before every step (cnnvis' ``stop=``): True once
    the request being served was cancelled or its client went away, so that no more steps
    are computed; False outside a queued request.

    Gradio's own contract stops a generator only between two of its yields (the queue
    then neither resumes nor keeps it), and a dream yields a picture every few steps only:
    yielding after every step instead would put ``{"__type__": "update"}`` entries into
    gradio_client's ``job.outputs()`` (or send the same pictures again). Gradio has no
    public API for "is this request still wanted", so the check reads its queue's flag for
    the running event (tested with the pinned gradio by tests/test_faults.py).
    """
    from gradio.context import LocalContext

    queue = getattr(LocalContext.blocks.get(None), "_queue", None)
    event_id = LocalContext.event_id.get(None)
    if queue is None or not event_id:
        return lambda: False

    def cancelled() -> bool:
        for job in list(getattr(queue, "active_jobs", None) or ()):
            for event in job or ():
                if getattr(event, "_id", None) == event_id:
                    return not getattr(event, "alive", True)
        return True  # no longer a running job: cancelled

    return cancelled


# ----- start-up ---------------------------------------------------------------------------


def warm_up(model: str = DEFAULT_MODEL) -> None:
    """Load ``model`` and trace the functions most requests need, off the request path."""
    try:
        vis = get_model(model)
        height, width = vis.input_size
        blank = np.full((height or 224, width or 224, 3), 128, np.uint8)
        cnnvis.classify(vis, blank)
        cnnvis.grad_cam(vis, blank)
        cnnvis.guided_backprop(vis, blank)
        log.info("%s is ready (%s weights)", vis.name, vis.weights)
    except Exception as error:  # the app still serves; the first request will say what is wrong
        log.warning("Warm-up of %s failed: %s", model, error)


def start_warm_up(model: str = DEFAULT_MODEL) -> threading.Thread:
    thread = threading.Thread(target=warm_up, args=(model,), name="cnnvis-warm-up", daemon=True)
    thread.start()
    return thread
