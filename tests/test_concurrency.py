"""One bound on model work whatever the route, through the app's HTTP API on loopback: the
model lane is instrumented and the computations it runs at once are counted (a gate holds
a computation until the test lets it go), never timed."""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import time

import httpx
import pytest
from gradio_client import handle_file

import app
import cnnvis
from cnnvis.ui.lanes import LANES, lane_of

from .app_helpers import CAT
from .serve import served
from .test_lanes import WAIT, Recorder

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

MODEL = "MobileNetV2"
SCORE_CAM = (MODEL, "", "top class", "jet", 0.5, 8)  # after the photo; 8 channels


@pytest.fixture(scope="module")
def server():
    with served(app.Settings(weights="random")) as (client, url):
        yield client, url


@pytest.fixture
def model_lane():
    """The app's model lane, idle, its peak reset, and a recorder of its events."""
    lane = LANES[app.MODEL_LANE]
    deadline = time.monotonic() + WAIT
    while lane.running and time.monotonic() < deadline:  # the previous test's work ends
        time.sleep(0.05)
    assert lane.running == 0 and lane.slots == 1
    lane.reset_peak()
    recorder = Recorder(lane)
    yield lane, recorder
    lane._listeners.remove(recorder)


class Gate:
    """Holds each call of a technique until ``release()``, counting the calls inside."""

    def __init__(self) -> None:
        self.inside = 0
        self.entered = 0
        self.changed = threading.Condition()
        self.open = threading.Event()

    def wrap(self, function):
        @functools.wraps(function)
        def held(*args, **kwargs):
            with self.changed:
                self.inside += 1
                self.entered += 1
                self.changed.notify_all()
            try:
                assert self.open.wait(WAIT), "the gate was never opened"
                return function(*args, **kwargs)
            finally:
                with self.changed:
                    self.inside -= 1
                    self.changed.notify_all()

        return held

    def wait_entered(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.entered >= count, WAIT)

    def release(self) -> None:
        self.open.set()


@pytest.fixture
def gated_score_cam(monkeypatch):
    gate = Gate()
    technique = cnnvis.TECHNIQUES["score_cam"]
    monkeypatch.setitem(cnnvis.TECHNIQUES, "score_cam", dataclasses.replace(technique, function=gate.wrap(technique.function)))
    yield gate
    gate.release()


def event_index(url: str, api_name: str) -> int:
    """An event's fn_index in the page's configuration (private events too)."""
    dependencies = httpx.get(f"{url}config", timeout=WAIT).json()["dependencies"]
    [index] = [d["id"] for d in dependencies if d.get("api_name") == api_name.lstrip("/")]
    return index


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_every_handler_that_decodes_or_computes_runs_in_the_model_lane():
    """Every event whose inputs include the photo or the model picker (the events that
    decode a photo or run a model) is bounded by the model lane, and shares its queue."""
    checked = []
    for fn in app.demo.fns.values():
        labels = {getattr(block, "label", None) for block in fn.inputs}
        if fn.fn is None or not labels & {"Photo (upload, paste or webcam)", "Model"}:
            continue
        assert lane_of(fn.fn) == app.MODEL_LANE, fn.api_name
        assert fn.concurrency_id == app.MODEL_LANE, fn.api_name
        checked.append(fn.api_name)
    assert {"classify", "score_cam", "deep_dream", "page_drawing", "photo_predictions"} <= set(checked)
    assert len(checked) >= 25


def test_the_run_routes_are_closed_to_model_work(server, model_lane, gated_score_cam):
    client, url = server
    lane, recorder = model_lane
    [upload] = httpx.post(f"{url}gradio_api/upload", files={"files": ("cat.jpg", CAT.read_bytes())}).json()
    image = {"path": upload, "meta": {"_type": "gradio.FileData"}, "orig_name": "cat.jpg"}
    lane.reset_peak()
    for route in ("run", "api"):
        for _ in range(3):
            answer = httpx.post(f"{url}gradio_api/{route}/score_cam", json={"data": [image, *SCORE_CAM]}, timeout=WAIT)
            assert answer.status_code == 404, answer.text
    assert gated_score_cam.entered == 0 and lane.peak == 0 and recorder.count("started") == 0


def test_submit_then_cancel_never_runs_two_computations_at_once(server, model_lane, gated_score_cam):
    """Six Score-CAMs, each cancelled as soon as it computes or waits: the cancelled one
    keeps computing (Gradio starts the next job), and the next one waits for its slot."""
    client, _ = server
    lane, recorder = model_lane
    photo = handle_file(str(CAT))
    jobs = []
    for number in range(6):
        job = client.submit(photo, *SCORE_CAM, api_name="/score_cam")
        jobs.append(job)
        if number == 0:
            gated_score_cam.wait_entered(1)  # computing, held by the gate
        else:
            recorder.wait_for("waiting", times=number)  # Gradio started it: it waits
        assert lane.running == 1
        job.cancel()
    wait_until(lambda: recorder.count("abandoned") == 5, "the cancelled waits did not stop")
    assert gated_score_cam.entered == 1 and lane.running == 1  # the first is still computing
    gated_score_cam.release()
    wait_until(lambda: lane.running == 0, "the cancelled computation never gave its slot back")
    assert lane.peak == 1
    result = client.predict(photo, *SCORE_CAM, api_name="/score_cam")  # the lane serves again
    assert len(result) == 2 and gated_score_cam.entered == 2


def test_a_cancelled_generator_gives_its_slot_back(server, model_lane, monkeypatch):
    from cnnvis.techniques import compiled

    client, _ = server
    lane, recorder = model_lane
    gate = Gate()
    real = compiled.dream_step
    monkeypatch.setattr(compiled, "dream_step", lambda *a, **k: gate.wrap(real(*a, **k)))
    dream = client.submit(handle_file(str(CAT)), MODEL, [], 5, 48, 0.01, 0, api_name="/deep_dream")
    gate.wait_entered(1)  # the dream is in its first step, holding the slot
    assert lane.running == 1
    queued = client.submit(handle_file(str(CAT)), MODEL, api_name="/classify")
    dream.cancel()
    recorder.wait_for("waiting", what="classify")  # Gradio started it; the dream still runs
    gate.release()
    assert len(queued.result(timeout=WAIT)["confidences"]) == 5
    finished = [i for i, event in enumerate(recorder.events) if event == ("finished", "deep_dream")]
    started = [i for i, event in enumerate(recorder.events) if event == ("started", "classify")]
    assert finished and started and finished[0] < started[0]  # slot given back, then taken
    assert lane.peak == 1 and gate.entered < 48  # stopped long before its 240 steps


def run_event(url: str, index: int, data: list, session: str) -> dict:
    """An event as the web page runs it: join the queue, read its stream to the end."""
    with httpx.Client(timeout=WAIT) as http:
        body = {"data": data, "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None}
        joined = http.post(f"{url}gradio_api/queue/join", json=body)
        assert joined.status_code == 200, joined.text
        with http.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        return message
    raise AssertionError("the event stream ended without a result")


def test_private_events_that_decode_a_photo_run_in_the_lane_too(server, model_lane):
    client, url = server
    lane, recorder = model_lane
    [upload] = httpx.post(f"{url}gradio_api/upload", files={"files": ("cat.jpg", CAT.read_bytes())}).json()
    app.read_image.__globals__["_decoded"].cache_clear()  # decoding happens again, in the lane
    image = {"path": upload, "meta": {"_type": "gradio.FileData"}, "orig_name": "cat.jpg"}
    results = {}
    drawing, predictions = event_index(url, "photo_drawing"), event_index(url, "photo_predictions")
    threads = [
        threading.Thread(target=lambda: results.update(drawing=run_event(url, drawing, [image], "d1"))),
        threading.Thread(target=lambda: results.update(predictions=run_event(url, predictions, [image, MODEL], "p1"))),
        threading.Thread(target=lambda: results.update(classify=client.predict(handle_file(upload), MODEL, api_name="/classify"))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert results["drawing"]["success"] and results["predictions"]["success"], results
    for what in ("photo_for_drawing", "show_predictions", "classify"):
        assert recorder.count("started", what) == recorder.count("finished", what) == 1, recorder.events
    assert lane.peak == 1
