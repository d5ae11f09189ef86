"""Lanes: named, bounded numbers of model computations running at once, whatever the route.

Gradio's queue limits how many events of a ``concurrency_id`` it *starts*; it cannot limit
how many *compute*: a cancelled one-shot job gives its queue slot to the next job while
its thread goes on computing, and routes outside the queue are not limited at all. A
:class:`Lane` is taken inside the worker thread, around the real computation (decoding the
photo included), so a computation holds its slot until it has really ended:

- a one-shot handler holds it from its first line to its return (or exception);
- a generator handler (Deep Dream, feature visualisation) holds it for the generator's
  whole life, and gives it back when the generator finishes, raises, or is closed (Gradio
  closes a cancelled run's iterator; a cancelled generator that nobody closes is closed by
  the next computation that waits for its slot);
- a request that is cancelled while it waits for a slot stops waiting.

A lane may also bound its admissions (``admission``: running plus waiting): beyond it a
computation is refused at once with one sentence, "<title> is busy, try again in about N
s", N estimated from the lane's recent durations (of computations that ended normally,
and at least as long as the running ones have run: :meth:`Lane.estimate_seconds`). Lanes count what they run (``running``,
``peak``, listeners), so tests count computations at once instead of timing them.

Use: ``LANES.define("model", slots=1)``, then decorate a handler with
``@bounded("model")`` (or ``bounded(lambda method, **_: cost_of(method))`` to choose the
lane from the call's arguments).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cnnvis.errors import CnnvisError

Check = Callable[[], bool]
Waiting = Callable[[int, int], None]  # (computations ahead, seconds to wait, about)


def never() -> bool:
    return False


class LaneBusy(CnnvisError, RuntimeError):
    """A lane's admission bound is reached; the message says when to try again."""


class LaneCancelled(CnnvisError, RuntimeError):
    """The request was cancelled while it waited for a slot."""


@dataclass
class _Holder:
    what: str
    started: float
    cancelled: Check
    generator: weakref.ref | None = None


@dataclass
class Lane:
    """At most ``slots`` computations at once; with ``admission``, at most that many
    running or waiting (more are refused with :class:`LaneBusy`)."""

    name: str
    slots: int = 1
    admission: int | None = None
    title: str | None = None
    poll_seconds: float = 0.05  # how often a waiting computation looks whether it was cancelled
    default_seconds: float = 10.0  # assumed duration before any computation has finished
    clock: Callable[[], float] = field(default=lambda: time.monotonic(), repr=False)
    running: int = field(default=0, init=False)
    waiting: int = field(default=0, init=False)
    peak: int = field(default=0, init=False)
    completed: int = field(default=0, init=False)
    refused: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.configure(self.slots, self.admission)
        self._condition = threading.Condition(threading.RLock())
        self._holders: dict[int, _Holder] = {}
        self._tokens = iter(range(1, 2**62))
        self._durations: collections.deque[float] = collections.deque(maxlen=20)
        self._listeners: list[Callable[[str, Lane, str], None]] = []

    # ----- settings and instruments --------------------------------------------------

    def configure(self, slots: int, admission: int | None = None) -> None:
        """Change the bounds (computations already running keep their slots)."""
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"a lane needs at least one slot, not {slots!r}")
        if admission is not None and (not isinstance(admission, int) or admission < slots):
            raise ValueError(f"a lane's admission bound must be at least its slots, not {admission!r}")
        self.slots, self.admission = slots, admission
        condition = getattr(self, "_condition", None)
        if condition is not None:
            with condition:
                condition.notify_all()

    def add_listener(self, listener: Callable[[str, Lane, str], None]) -> Callable[[], None]:
        """Call ``listener(event, lane, what)`` on "waiting", "started", "finished", "refused"
        and "abandoned" (a cancelled wait); returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def reset_peak(self) -> None:
        with self._condition:
            self.peak = self.running

    @property
    def label(self) -> str:
        return self.title or f"The {self.name} lane"

    def estimate_seconds(self) -> int:
        """About how long a computation admitted now would wait and run, in seconds: the
        typical duration (the mean of the last 20 computations that ended normally: a
        refusal or an error raised at once says nothing of how long work takes, and at
        least as long as the longest running one has run so far) times the computations
        ahead and this one, over the slots."""
        with self._condition:
            durations = list(self._durations)
            ahead = self.running + self.waiting + 1
            now = self.clock()
            running = [now - holder.started for holder in self._holders.values()]
        typical = sum(durations) / len(durations) if durations else self.default_seconds
        typical = max([typical, *running])
        return max(1, math.ceil(typical * ahead / self.slots))

    def _emit(self, event: str, what: str) -> None:
        for listener in list(self._listeners):
            listener(event, self, what)

    # ----- taking a slot ----------------------------------------------------------------

    @contextlib.contextmanager
    def hold(
        self, what: str = "", cancelled: Check = never, waiting: Waiting | None = None
    ) -> Iterator[None]:
        """Hold a slot for the block's duration (waiting for one if all are taken;
        ``waiting(ahead, seconds)`` is told, about once a second, how long it may be)."""
        token = self._acquire(what, cancelled, waiting=waiting)
        ended = False
        try:
            yield
            ended = True
        finally:
            self._release(token, ended)

    def run(
        self,
        fn: Callable[[], Any],
        what: str = "",
        cancelled: Check = never,
        waiting: Waiting | None = None,
    ) -> Any:
        """``fn()`` while holding a slot."""
        with self.hold(what or getattr(fn, "__name__", ""), cancelled, waiting):
            return fn()

    def stream(
        self,
        generator: Iterator,
        what: str = "",
        cancelled: Check = never,
        waiting: Waiting | None = None,
    ) -> Iterator:
        """Iterate ``generator`` while holding a slot: taken at the first ``next``, given
        back when it finishes, raises or is closed."""
        holder: dict[str, Any] = {}
        wrapped = self._stream(generator, what, cancelled, waiting, holder)
        holder["generator"] = weakref.ref(wrapped)
        return wrapped

    def _stream(
        self, generator: Iterator, what: str, cancelled: Check, waiting: Waiting | None, holder: dict
    ) -> Iterator:
        token = self._acquire(what, cancelled, holder.get("generator"), waiting)
        ended = False
        try:
            yield from generator  # closing this closes ``generator`` too
            ended = True
        finally:
            self._release(token, ended)

    def _acquire(
        self,
        what: str,
        cancelled: Check,
        generator: weakref.ref | None = None,
        waiting: Waiting | None = None,
    ) -> int:
        with self._condition:
            if self.admission is not None and self.running + self.waiting >= self.admission:
                self.refused += 1
                seconds = self.estimate_seconds()
                refused = True
            else:
                refused = False
                self.waiting += 1
        if refused:
            self._emit("refused", what)
            raise LaneBusy(f"{self.label} is busy, try again in about {seconds} s.")
        announced = False
        told = -math.inf
        try:
            while True:
                with self._condition:
                    if self.running < self.slots:
                        self.running += 1
                        self.peak = max(self.peak, self.running)
                        token = next(self._tokens)
                        self._holders[token] = _Holder(what, self.clock(), cancelled, generator)
                        break
                    stale = self._cancelled_streams()
                    if not stale:
                        self._condition.wait(self.poll_seconds)
                if not announced:
                    announced = True
                    self._emit("waiting", what)
                if waiting is not None and time.monotonic() - told >= 1.0:
                    told = time.monotonic()
                    with self._condition:
                        ahead = self.running + self.waiting - 1
                    waiting(ahead, self.estimate_seconds())
                for stream in stale:
                    _close_quietly(stream)  # gives its slot back
                if cancelled():
                    self._emit("abandoned", what)
                    raise LaneCancelled("This request was cancelled before it started.")
        finally:
            with self._condition:
                self.waiting -= 1
        self._emit("started", what)
        return token

    def _release(self, token: int, ended: bool = True) -> None:
        """Give a slot back; the computation's duration counts towards the estimate only
        if it ``ended`` normally."""
        with self._condition:
            holder = self._holders.pop(token, None)
            if holder is None:
                return
            self.running -= 1
            self.completed += 1
            if ended:
                self._durations.append(self.clock() - holder.started)
            self._condition.notify_all()
        self._emit("finished", holder.what)

    def _cancelled_streams(self) -> list:
        """Suspended generators holding a slot whose request was cancelled (called with the
        lock held; they are closed outside it)."""
        stale = []
        for holder in self._holders.values():
            stream = holder.generator() if holder.generator is not None else None
            if stream is None or inspect.getgeneratorstate(stream) != inspect.GEN_SUSPENDED:
                continue
            try:
                if holder.cancelled():
                    stale.append(stream)
            except Exception:  # noqa: BLE001 - a failing check never frees a slot
                continue
        return stale


def _close_quietly(stream) -> None:
    try:
        stream.close()
    except ValueError:  # it started running again meanwhile: it will finish by itself
        pass


class Lanes:
    """The app's lanes by name (one registry: handlers look their lane up at call time, so
    that a change of settings applies to them)."""

    def __init__(self) -> None:
        self._lanes: dict[str, Lane] = {}
        self._lock = threading.Lock()

    def define(self, name: str, slots: int = 1, admission: int | None = None, title: str | None = None) -> Lane:
        """The lane ``name`` with these bounds (created, or reconfigured if it exists)."""
        with self._lock:
            lane = self._lanes.get(name)
            if lane is None:
                lane = self._lanes[name] = Lane(name, slots, admission, title)
            else:
                lane.configure(slots, admission)
                lane.title = title or lane.title
            return lane

    def __getitem__(self, name: str) -> Lane:
        try:
            return self._lanes[name]
        except KeyError:
            raise KeyError(f"no lane called {name!r}; define it first") from None

    def __iter__(self):
        return iter(list(self._lanes.values()))


LANES = Lanes()


def request_cancelled() -> Check:
    """A check, asked while waiting and by iterative methods before every step (cnnvis'
    ``stop=``): True once the Gradio request being served was cancelled or its client went
    away. Gradio has no public API for this; the check reads its queue
    (:mod:`cnnvis.serving.gradio_compat`) and is False outside a queued request."""
    from .gradio_compat import current_event, event_alive

    found = current_event()
    if found is None:
        return never
    queue, event_id = found
    return lambda: not event_alive(queue, event_id)


def bounded(
    lane: str | Callable[..., str],
    *,
    lanes: Lanes = LANES,
    cancelled: Callable[[], Check] = request_cancelled,
) -> Callable[[Callable], Callable]:
    """Run a handler (a function or a generator function) in a lane: ``lane`` is its name,
    or a function of the handler's arguments that returns one (a technique's cost)."""

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        def chosen(args, kwargs) -> Lane:
            if not callable(lane):
                return lanes[lane]
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return lanes[lane(**bound.arguments)]

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(*args, **kwargs):
                yield from chosen(args, kwargs).stream(fn(*args, **kwargs), fn.__name__, cancelled())

            stream.__cnnvis_lane__ = lane  # type: ignore[attr-defined]
            return stream

        @functools.wraps(fn)
        def call(*args, **kwargs):
            return chosen(args, kwargs).run(lambda: fn(*args, **kwargs), fn.__name__, cancelled())

        call.__cnnvis_lane__ = lane  # type: ignore[attr-defined]
        return call

    return decorate


def lane_of(handler: Callable) -> str | Callable[..., str] | None:
    """The lane a handler was bounded to (looking through wrappers), or None."""
    while handler is not None:
        found = getattr(handler, "__cnnvis_lane__", None)
        if found is not None:
            return found
        handler = getattr(handler, "__wrapped__", None)
    return None
