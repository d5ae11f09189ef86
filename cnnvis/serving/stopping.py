"""The Stop buttons of the iterative methods (Deep Dream, feature visualisation): a request
to stop, per visitor and per technique, that the running generator reads before every step.

Why not Gradio's ``cancels=``: cancelling ends the event from outside. The generator is
closed without yielding again, so the picture it had made is never sent, and Gradio 6.31
ends a cancelled stream with an empty output on which the page's client fails: the gallery
is covered by a bare "Error" (measured in Chromium, see tests/test_first_use.py). Here Stop is
an event of its own (``/stop_deep_dream``, ``/stop_feature_visualization``) that marks the
runs of the visitor's session (``gr.Request.session_hash``: the page, or one
``gradio_client.Client``); the run's ``stop=`` check sees the mark at its next step, the
package ends the iteration with its frame marked ``stopped`` (the picture so far and where
it stopped), and the event ends normally with that picture. A closed tab or a client's
``job.cancel()`` still stops the work: the check also asks
:func:`cnnvis.serving.lanes.request_cancelled`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .lanes import request_cancelled

Check = Callable[[], bool]


def session_of(request: Any) -> str | None:
    """The session a request belongs to (None outside a Gradio request)."""
    return getattr(request, "session_hash", None) or None


class StopRequests:
    """The running iterative computations by (session, technique), each with the event
    that a Stop of its session sets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str | None, str], list[threading.Event]] = {}

    @contextlib.contextmanager
    def running(self, request: Any, technique: str) -> Iterator[Check]:
        """Register a run of ``technique`` for the request's session for the block's
        duration (a generator's whole life); yields its ``stop=`` check: True once a Stop
        of this session arrived after the run started, or the request was cancelled."""
        key = (session_of(request), technique)
        stopped = threading.Event()
        cancelled = request_cancelled()
        with self._lock:
            self._runs.setdefault(key, []).append(stopped)
        try:
            yield lambda: stopped.is_set() or cancelled()
        finally:
            with self._lock:
                runs = self._runs.get(key, [])
                if stopped in runs:
                    runs.remove(stopped)
                if not runs:
                    self._runs.pop(key, None)

    def stop(self, request: Any, technique: str) -> int:
        """Ask the session's running computations of ``technique`` to stop at their next
        step; returns how many there were (a Stop with nothing running does nothing, so
        it never stops a later run)."""
        with self._lock:
            runs = list(self._runs.get((session_of(request), technique), ()))
        for stopped in runs:
            stopped.set()
        return len(runs)

    def count(self, technique: str) -> int:
        """How many computations of ``technique`` are registered (for tests)."""
        with self._lock:
            return sum(len(runs) for (_, name), runs in self._runs.items() if name == technique)


STOPS = StopRequests()
