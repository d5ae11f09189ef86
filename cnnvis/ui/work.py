"""How the app runs the package's computations: every handler's work goes through
:func:`compute`, in the lane of its technique's cost; models come from cnnvis' cache with
the configured weights; iterative methods stop when their request is cancelled.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import gradio as gr
import numpy as np

import cnnvis  # light: TensorFlow loads when a model is first touched

from ..registry import COSTS
from ..serving import sessions as own_model
from ..serving.lanes import LANES, request_cancelled
from .settings import DEFAULT_MODEL, compute_device, current

if TYPE_CHECKING:
    from ..models.loading import VisModel

log = logging.getLogger("cnnvis.app")
T = TypeVar("T")


def compute(lane: str, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one request's computation, ``work(*args, **kwargs)``, in ``lane``
    (:data:`cnnvis.serving.lanes.LANES`: ``"quick"`` or ``"long"``, the lane of its technique's
    cost and of its event's ``concurrency_id``).

    Every handler of the app runs its work through here. The lane is taken in the worker
    thread, around the real computation, so a cancelled request keeps its slot until its
    computation has ended. A generator function (Deep Dream, feature visualisation) gives
    a generator that holds the lane from its first step until it ends or is closed.
    """
    if lane not in COSTS:
        raise ValueError(f"lane must be one of {', '.join(COSTS)}, not {lane!r}")
    for value in (*args, *kwargs.values()):  # an uploaded model's own cost may be long work
        lane = own_model.lane_of(value, lane)
    chosen, what = LANES[lane], getattr(work, "__name__", "")
    told = waiting_words(chosen.label)
    if inspect.isgeneratorfunction(work):
        generator = work(*args, **kwargs)
        return chosen.stream(generator, what, request_cancelled(), told)  # type: ignore[return-value]
    return chosen.run(lambda: work(*args, **kwargs), what, request_cancelled(), told)


def waiting_words(lane: str) -> Callable[[int, int], None]:
    """Tell the page, in its progress line, that a computation waits for its lane and
    about how long (Gradio's own queue says the place of the requests it holds)."""

    def tell(ahead: int, seconds: int) -> None:
        gr.Progress()(0.0, desc=f"Waiting: {lane} is busy ({ahead} ahead, about {seconds} s)")

    return tell


def computing(lane: str) -> Callable[[Callable], Callable]:
    """A decorator: the handler's body runs through :func:`compute` in ``lane`` (a
    generator function stays one, for Gradio streams what it yields)."""

    def decorate(fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(*args, **kwargs):
                yield from compute(lane, fn, *args, **kwargs)

            stream.__cnnvis_lane__ = lane  # type: ignore[attr-defined] - see lanes.lane_of
            return stream

        @functools.wraps(fn)
        def call(*args, **kwargs):
            return compute(lane, fn, *args, **kwargs)

        call.__cnnvis_lane__ = lane  # type: ignore[attr-defined]
        return call

    return decorate


# ----- models -----------------------------------------------------------------------------


def get_model(name: str | None) -> VisModel:
    """A registry model with the configured weights, from cnnvis' model cache; or the
    requesting session's own uploaded model ("Your model: ...", :mod:`.own_model`)."""
    own = own_model.session_model(name)
    if own is not None:
        return own
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
# Iterative methods ask ``request_cancelled()`` (from cnnvis.serving.lanes) before every step.


# ----- start-up ---------------------------------------------------------------------------


def warm_up(model: str = DEFAULT_MODEL, then: Callable[[], Any] | None = None) -> None:
    """Load ``model`` and trace the functions most requests need, off the request path;
    then call ``then`` (the long tabs' opening results: :mod:`.opening`)."""
    try:
        with LANES["quick"].hold("warm-up"):  # model work like any request's
            vis = get_model(model)
            height, width = vis.input_size
            blank = np.full((height or 224, width or 224, 3), 128, np.uint8)
            cnnvis.classify(vis, blank)
            cnnvis.grad_cam(vis, blank)
            cnnvis.guided_backprop(vis, blank)
        log.info("%s is ready (%s weights)", vis.name, vis.weights)
    except Exception as error:  # the app still serves; the first request will say what is wrong
        log.warning("Warm-up of %s failed: %s", model, error)
        return
    if then is not None:
        try:
            then()
        except Exception as error:  # noqa: BLE001 - the page still serves, tabs open empty
            log.warning("Precomputing the tabs' opening results failed: %s", error)


def start_warm_up(
    model: str = DEFAULT_MODEL, then: Callable[[], Any] | None = None
) -> threading.Thread:
    thread = threading.Thread(
        target=warm_up, args=(model, then), name="cnnvis-warm-up", daemon=True
    )
    thread.start()
    return thread
