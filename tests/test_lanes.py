"""Lanes (cnnvis.serving.lanes) on their own: computations counted as they run, with events
and barriers instead of sleeps, so nothing here depends on the machine's speed."""

from __future__ import annotations

import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cnnvis.serving import lanes
from cnnvis.serving.lanes import Lane, LaneBusy, LaneCancelled, Lanes, bounded, lane_of

WAIT = 30  # seconds a test waits for an event that must come (a hang fails, speed does not)


class Recorder:
    """Every event a lane reports, and the most computations it ever ran at once."""

    def __init__(self, lane: Lane) -> None:
        self.events: list[tuple[str, str]] = []
        self.changed = threading.Condition()
        lane.add_listener(self)

    def __call__(self, event: str, lane: Lane, what: str) -> None:
        with self.changed:
            self.events.append((event, what))
            self.changed.notify_all()

    def count(self, event: str, what: str | None = None) -> int:
        return sum(1 for e, w in self.events if e == event and (what is None or w == what))

    def wait_for(self, event: str, times: int = 1, what: str | None = None) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.count(event, what) >= times, WAIT), self.events


def test_no_more_computations_run_at_once_than_the_lane_has_slots():
    lane = Lane("test", slots=2)
    inside = threading.Semaphore(0)
    release = threading.Event()

    def work(_):
        with lane.hold("work"):
            inside.release()
            assert lane.running <= 2
            release.wait(WAIT)

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(work, i) for i in range(6)]
        assert inside.acquire(timeout=WAIT) and inside.acquire(timeout=WAIT)
        recorder = Recorder(lane)
        while lane.waiting < 4:  # the other four wait for a slot
            with recorder.changed:
                recorder.changed.wait(0.05)
        assert lane.running == 2 and lane.waiting == 4
        release.set()
        for future in futures:
            future.result(timeout=WAIT)
    assert lane.peak == 2 and lane.running == 0 and lane.waiting == 0 and lane.completed == 6


def test_beyond_its_admission_bound_a_lane_refuses_with_an_estimate(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(lanes.time, "monotonic", lambda: clock[0])
    lane = Lane("long", slots=1, admission=2, title="The long lane")
    for seconds in (8.0, 12.0):  # two computations took 10 s on average
        with lane.hold():
            clock[0] += seconds
    started, release = threading.Event(), threading.Event()

    def long_work():
        with lane.hold("first"):
            started.set()
            release.wait(WAIT)

    recorder = Recorder(lane)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(long_work)
        assert started.wait(WAIT)
        second = pool.submit(lane.run, lambda: "second")
        recorder.wait_for("waiting")
        with pytest.raises(LaneBusy) as caught:
            lane.run(lambda: "third")
        # 10 s each, one running and one waiting ahead of it, and itself: about 30 s.
        assert str(caught.value) == "The long lane is busy, try again in about 30 s."
        assert lane.refused == 1 and recorder.count("refused") == 1
        release.set()
        first.result(WAIT)
        assert second.result(WAIT) == "second"
    assert lane.run(lambda: "later") == "later"  # room again


def test_the_estimate_follows_work_that_ended_and_work_still_running():
    """Deep Dream-like jobs of 45 to 70 s: errors raised at once (a refused parameter) do
    not pull the estimate down, and a job running longer than the mean pulls it up (the
    lane once said "about 4 s" when each job took a minute)."""
    clock = [0.0]
    lane = Lane("long", slots=1, admission=1, title="The long lane", clock=lambda: clock[0])
    for seconds in (45.0, 70.0, 65.0):
        with lane.hold():
            clock[0] += seconds
    for _ in range(10):
        with pytest.raises(ValueError), lane.hold():
            raise ValueError("a refused parameter")
    assert lane.estimate_seconds() == 60  # one computation of 60 s on average
    with lane.hold("running"):
        clock[0] += 30.0
        with pytest.raises(LaneBusy) as caught:
            lane.run(lambda: None)
        assert str(caught.value) == "The long lane is busy, try again in about 120 s."
        clock[0] += 70.0  # the running one has run 100 s: longer than the mean
        assert lane.estimate_seconds() == 200


def test_a_request_cancelled_while_waiting_stops_waiting():
    lane = Lane("test", slots=1)
    started, release = threading.Event(), threading.Event()
    cancelled = threading.Event()

    def occupy():
        with lane.hold("occupant"):
            started.set()
            release.wait(WAIT)

    recorder = Recorder(lane)
    with ThreadPoolExecutor(2) as pool:
        occupant = pool.submit(occupy)
        assert started.wait(WAIT)
        waiter = pool.submit(lane.run, lambda: "never", "waiter", cancelled.is_set)
        recorder.wait_for("waiting", what="waiter")
        cancelled.set()
        with pytest.raises(LaneCancelled):
            waiter.result(WAIT)
        assert lane.waiting == 0 and lane.running == 1  # the occupant keeps its slot
        release.set()
        occupant.result(WAIT)
    assert recorder.count("started", "waiter") == 0 and recorder.count("abandoned", "waiter") == 1


def test_a_generator_holds_its_slot_for_its_whole_life():
    lane = Lane("test", slots=1)

    def frames(n):
        for i in range(n):
            yield i

    stream = lane.stream(frames(3), "dream")
    assert lane.running == 0  # nothing taken before the first frame is asked for
    assert next(stream) == 0 and lane.running == 1
    assert next(stream) == 1 and lane.running == 1  # held between frames
    assert list(stream) == [2] and lane.running == 0  # given back when it finishes

    stream = lane.stream(frames(3), "dream")
    next(stream)
    stream.close()  # as Gradio closes a cancelled run's iterator
    assert lane.running == 0

    def failing():
        yield 1
        raise RuntimeError("out of memory")

    stream = lane.stream(failing(), "dream")
    next(stream)
    with pytest.raises(RuntimeError):
        next(stream)
    assert lane.running == 0 and lane.completed == 3


def test_closing_the_lanes_generator_stops_the_computations_generator():
    lane = Lane("test", slots=1)
    stopped = []

    def frames():
        try:
            while True:
                yield "frame"
        finally:
            stopped.append(True)

    stream = lane.stream(frames(), "dream")
    next(stream)
    stream.close()
    assert stopped == [True] and lane.running == 0


def test_a_cancelled_generator_that_nobody_closes_gives_its_slot_to_the_next_computation():
    lane = Lane("test", slots=1)
    cancelled = threading.Event()

    def frames():
        while True:
            yield "frame"

    stream = lane.stream(frames(), "dream", cancelled=cancelled.is_set)
    next(stream)  # suspended between two frames, holding the slot
    cancelled.set()  # its request is gone; nobody calls next() or close() again
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lane.run, lambda: "next").result(WAIT) == "next"
    assert inspect.getgeneratorstate(stream) == inspect.GEN_CLOSED
    assert lane.running == 0 and lane.peak == 1


def test_bounded_handlers_keep_their_signature_and_kind_and_choose_their_lane():
    registry = Lanes()
    quick, long = registry.define("quick", slots=2), registry.define("long", slots=1)
    seen = []
    for lane in (quick, long):
        lane.add_listener(lambda event, lane, what: seen.append((event, lane.name, what)))

    def choose(method: str, **_) -> str:
        return "long" if method == "score_cam" else "quick"

    @bounded(choose, lanes=registry, cancelled=lambda: lanes.never)
    def explain(image: str, method: str = "grad_cam", opacity: float = 0.5) -> str:
        return f"{method} of {image}"

    @bounded("long", lanes=registry, cancelled=lambda: lanes.never)
    def dream(image: str, steps: int):
        for step in range(steps):
            yield step

    assert list(inspect.signature(explain).parameters) == ["image", "method", "opacity"]
    assert inspect.isgeneratorfunction(dream) and lane_of(dream) == "long" and lane_of(explain) is choose
    assert explain("cat.jpg") == "grad_cam of cat.jpg"
    assert explain("cat.jpg", method="score_cam") == "score_cam of cat.jpg"
    assert list(dream("cat.jpg", 2)) == [0, 1]
    assert [(e, lane) for e, lane, _ in seen if e == "started"] == [("started", "quick"), ("started", "long"), ("started", "long")]


def test_bounds_are_checked():
    with pytest.raises(ValueError):
        Lane("x", slots=0)
    with pytest.raises(ValueError):
        Lane("x", slots=2, admission=1)
    registry = Lanes()
    lane = registry.define("x", slots=1)
    assert registry.define("x", slots=3) is lane and lane.slots == 3
    with pytest.raises(KeyError, match="define it first"):
        registry["y"]
