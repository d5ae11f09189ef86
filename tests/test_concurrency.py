"""Bounds on model work whatever the route, in two lanes, through the app's HTTP API on
loopback: quick work and long work are instrumented and the computations each runs at
once are counted (a gate holds a computation until the test lets it go), never timed.

- Every event that decodes a photo or runs a model is in the lane of its technique's
  cost (declared once, with the technique), and the routes outside the queue are closed.
- A cancelled job keeps its slot until its computation has really ended (one-shot jobs
  and generators).
- Quick work does not wait for long work to finish; long work has its own admission bound
  and refuses beyond it with "busy, try again in about N s".
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import threading
import time

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

import app
import cnnvis
from cnnvis import ui
from cnnvis.ui import endpoints
from cnnvis.serving import sessions as own_model
from cnnvis.serving.lanes import LANES, lane_of

from .app_helpers import CAT, cancel_running, refusal_message
from .serve import served, patient_client
from .test_lanes import WAIT, Recorder

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

MODEL = "MobileNetV2"
GRAD_CAM = (MODEL, "", "top class", "jet", 0.5)  # after the photo
SCORE_CAM = (MODEL, "", "top class", "jet", 0.5, 8)  # after the photo; 8 channels
LONG_QUEUE = 2  # long computations that may wait beside the running one, in this server


@pytest.fixture(scope="module")
def server():
    with served(ui.Settings(weights="random", long_queue=LONG_QUEUE)) as (client, url):
        yield client, url


def idle(name: str):
    """The lane ``name``, idle (the previous test's work has ended), its peak reset, and a
    recorder of its events."""
    lane = LANES[name]
    deadline = time.monotonic() + WAIT
    while (lane.running or lane.waiting) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lane.running == 0 and lane.waiting == 0 and lane.slots == 1
    lane.reset_peak()
    return lane, Recorder(lane)


@pytest.fixture
def quick_lane():
    lane, recorder = idle("quick")
    yield lane, recorder
    lane._listeners.remove(recorder)


@pytest.fixture
def long_lane():
    lane, recorder = idle("long")
    yield lane, recorder
    lane._listeners.remove(recorder)


class Gate:
    """Holds each call of a function until ``release()``, counting the calls inside."""

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


def gated(monkeypatch, name: str) -> Gate:
    """The registry technique ``name``, held by a gate (the app looks it up per call)."""
    gate = Gate()
    technique = cnnvis.TECHNIQUES[name]
    replaced = dataclasses.replace(technique, function=gate.wrap(technique.function))
    monkeypatch.setitem(cnnvis.TECHNIQUES, name, replaced)
    return gate


@pytest.fixture
def gated_grad_cam(monkeypatch):
    gate = gated(monkeypatch, "grad_cam")
    yield gate
    gate.release()


@pytest.fixture
def gated_score_cam(monkeypatch):
    gate = gated(monkeypatch, "score_cam")
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


def technique_of(api_name: str):
    renamed = {"sanity_check": "randomization_check", "pointing_game": "pointing_games"}
    return cnnvis.TECHNIQUES.get(renamed.get(api_name, api_name))


def test_every_handler_that_decodes_or_computes_runs_in_its_techniques_lane():
    """Every event whose inputs include the photo or the model picker (the events that
    decode a photo or run a model) is bounded by a lane: the same one in Gradio's queue
    (``concurrency_id``) and around its computation (``lane_of``); an endpoint of a
    technique in the lane of the technique's declared cost."""
    checked = {}
    model_file = "Model file (.keras)"  # loading your own model: long work
    for fn in app.demo.fns.values():
        labels = {getattr(block, "label", None) for block in fn.inputs}
        if fn.fn is None or not labels & {"Photo (upload, paste or webcam)", "Model", model_file}:
            continue
        assert lane_of(fn.fn) == fn.concurrency_id, fn.api_name
        technique = technique_of(fn.api_name) if fn.api_visibility == "public" else None
        expected = technique.cost if technique is not None else "quick"
        expected = own_model.LANE if model_file in labels else expected
        assert fn.concurrency_id == expected, fn.api_name
        checked[fn.api_name] = expected
    published = {name.lstrip("/") for name in endpoints.published(app.demo)}
    stops = {"stop_deep_dream", "stop_feature_visualization"}  # they compute nothing
    assert published - stops <= set(checked) and not stops & set(checked)
    assert {"classify", "page_drawing", "photo_predictions"} <= set(checked)
    assert {checked[n] for n in ("score_cam", "deep_dream", "compare", "smoothgrad")} == {"long"}
    assert {checked[n] for n in ("grad_cam", "guided_backprop", "eigen_cam")} == {"quick"}
    assert checked["load_model"] == own_model.LANE == "long"


def test_the_run_routes_are_closed_to_model_work(server, long_lane, gated_score_cam):
    client, url = server
    lane, recorder = long_lane
    [upload] = httpx.post(f"{url}gradio_api/upload", files={"files": ("cat.jpg", CAT.read_bytes())}).json()
    image = {"path": upload, "meta": {"_type": "gradio.FileData"}, "orig_name": "cat.jpg"}
    for route in ("run", "api"):
        for _ in range(3):
            answer = httpx.post(f"{url}gradio_api/{route}/score_cam", json={"data": [image, *SCORE_CAM]}, timeout=WAIT)
            assert answer.status_code == 404, answer.text
    assert gated_score_cam.entered == 0 and lane.peak == 0 and recorder.count("started") == 0


def test_submit_then_cancel_never_runs_two_computations_at_once(server, quick_lane, gated_grad_cam):
    """Six Grad-CAMs, each cancelled as soon as it computes or waits: the cancelled one
    keeps computing (Gradio starts the next job), and the next one waits for its slot."""
    client, _ = server
    lane, recorder = quick_lane
    photo = handle_file(str(CAT))
    for number in range(6):
        job = client.submit(photo, *GRAD_CAM, api_name="/grad_cam")
        if number == 0:
            gated_grad_cam.wait_entered(1)  # computing, held by the gate
        else:
            recorder.wait_for("waiting", times=number)  # Gradio started it: it waits
        assert lane.running == 1
        cancel_running(job)
    wait_until(lambda: recorder.count("abandoned") == 5, "the cancelled waits did not stop")
    assert gated_grad_cam.entered == 1 and lane.running == 1  # the first is still computing
    gated_grad_cam.release()
    wait_until(lambda: lane.running == 0, "the cancelled computation never gave its slot back")
    assert lane.peak == 1
    result = client.predict(photo, *GRAD_CAM, api_name="/grad_cam")  # the lane serves again
    assert len(result) == 2 and gated_grad_cam.entered == 2


def test_quick_work_is_served_while_long_work_runs(server, quick_lane, long_lane, gated_score_cam):
    """With a Score-CAM computing (held by the gate) and others waiting in the long lane,
    Grad-CAMs and classifications are computed and answered: they never wait for the
    long work to finish."""
    client, _ = server
    quick, quick_recorder = quick_lane
    long, long_recorder = long_lane
    photo = handle_file(str(CAT))
    long_jobs = [client.submit(photo, *SCORE_CAM, api_name="/score_cam") for _ in range(2)]
    gated_score_cam.wait_entered(1)
    long_recorder.wait_for("waiting", times=1)
    for _ in range(3):
        assert len(client.predict(photo, *GRAD_CAM, api_name="/grad_cam")) == 2
        assert len(client.predict(photo, MODEL, api_name="/classify")["confidences"]) == 5
        assert long.running == 1 and gated_score_cam.inside == 1  # still computing
    assert quick_recorder.count("finished", "_draw_method") >= 3
    assert quick.peak == 1 and long.peak == 1
    gated_score_cam.release()
    assert all(len(job.result(timeout=WAIT)) == 2 for job in long_jobs)


def test_long_work_beyond_its_admission_bound_is_refused_with_a_real_wait(
    server, long_lane, gated_score_cam
):
    """One long computation runs and LONG_QUEUE wait; the next is refused at once with
    one sentence saying about how long to wait, and nothing of it runs."""
    client, _ = server
    lane, recorder = long_lane
    photo = handle_file(str(CAT))
    jobs = [client.submit(photo, *SCORE_CAM, api_name="/score_cam")]
    gated_score_cam.wait_entered(1)
    for number in range(LONG_QUEUE):
        jobs.append(client.submit(photo, *SCORE_CAM, api_name="/score_cam"))
        recorder.wait_for("waiting", times=number + 1)
    assert lane.running == 1 and lane.waiting == LONG_QUEUE
    with pytest.raises(AppError) as caught:
        client.predict(photo, *SCORE_CAM, api_name="/score_cam")
    message = refusal_message(caught.value)
    match = re.fullmatch(r".*long work.* is busy, try again in about (\d+) s\.", message)
    assert match and int(match.group(1)) >= 1, message
    assert recorder.count("refused") == 1 and gated_score_cam.entered == 1
    gated_score_cam.release()
    assert all(len(job.result(timeout=WAIT)) == 2 for job in jobs)
    assert lane.peak == 1 and gated_score_cam.entered == 1 + LONG_QUEUE


def test_a_cancelled_generator_gives_its_slot_back(server, long_lane, monkeypatch):
    from cnnvis.techniques import compiled

    client, url = server
    lane, recorder = long_lane
    gate = Gate()
    real = compiled.dream_step
    monkeypatch.setattr(compiled, "dream_step", lambda *a, **k: gate.wrap(real(*a, **k)))
    dream = client.submit(handle_file(str(CAT)), MODEL, [], 5, 48, 0.01, 0, api_name="/deep_dream")
    gate.wait_entered(1)  # the dream is in its first step, holding the slot
    assert lane.running == 1
    # Another visitor's dream (Gradio cancels a session's jobs of one endpoint together).
    other = patient_client(url)
    second = other.submit(handle_file(str(CAT)), MODEL, [], 1, 2, 0.01, 0, api_name="/deep_dream")
    recorder.wait_for("waiting", what="deep_dream")  # it waits for the first dream's slot
    cancel_running(dream)
    gate.release()
    assert second.result(timeout=WAIT)
    started = [i for i, event in enumerate(recorder.events) if event == ("started", "deep_dream")]
    finished = [i for i, event in enumerate(recorder.events) if event == ("finished", "deep_dream")]
    assert len(started) == 2 and finished and finished[0] < started[1]  # given back, then taken
    assert lane.peak == 1 and gate.entered < 48 + 2  # the first stopped long before 240 steps


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


def test_private_events_that_decode_a_photo_run_in_the_lane_too(server, quick_lane):
    from cnnvis.ui import inputs

    client, url = server
    lane, recorder = quick_lane
    [upload] = httpx.post(f"{url}gradio_api/upload", files={"files": ("cat.jpg", CAT.read_bytes())}).json()
    inputs._decoded.cache_clear()  # decoding happens again, in the lane
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
    for what in ("show_photo", "show_predictions", "classify"):
        assert recorder.count("started", what) == recorder.count("finished", what) >= 1, recorder.events
    assert lane.peak == 1


class HeldAfter:
    """A step function's calls after the first ``free`` held until ``release()`` (the
    frames yielded before are sent meanwhile), counting the calls."""

    def __init__(self, free: int) -> None:
        self.free, self.calls, self.open = free, 0, threading.Event()

    def wrap(self, make_step):
        def made(*args, **kwargs):
            step = make_step(*args, **kwargs)

            def held(*a, **k):
                self.calls += 1
                if self.calls > self.free:
                    assert self.open.wait(WAIT), "the step was never released"
                return step(*a, **k)

            return held

        return made

    def release(self) -> None:
        self.open.set()


def stopped_by_its_button(client, job, stop_endpoint: str, held: HeldAfter, frames: int = 2):
    """Wait for ``frames`` pictures of ``job``, press its Stop endpoint (the same session:
    one Client), let the computation go on, and give the job's last output."""
    deadline = time.monotonic() + WAIT
    while len(job.outputs()) < frames:  # frames arrive while the next step is held
        assert time.monotonic() < deadline and not job.done(), (held.calls, job.status())
        time.sleep(0.05)
    assert client.predict(api_name=stop_endpoint) == ()  # asks, computes, returns nothing
    held.release()
    return job.result(timeout=WAIT)


def captions(gallery) -> list[str]:
    return [entry["caption"] for entry in gallery]


def test_stop_ends_a_deep_dream_with_the_dream_so_far(server, long_lane, monkeypatch):
    from cnnvis.techniques import compiled

    client, url = server
    lane, recorder = long_lane
    held = HeldAfter(free=4)  # 8 steps an octave, a frame every 2: frames at steps 2 and 4
    monkeypatch.setattr(compiled, "dream_step", held.wrap(compiled.dream_step))
    job = client.submit(handle_file(str(CAT)), MODEL, [], 3, 8, 0.01, 0, api_name="/deep_dream")
    gallery = stopped_by_its_button(client, job, "/stop_deep_dream", held)
    # the step that was held ran, then the stop was seen: octave 1 of 3, step 5 of 8
    [dream, photo] = captions(gallery)
    assert "Deep Dream stopped at octave 1/3, step 5/8" in dream, dream
    assert photo == "The photo it started from"
    assert held.calls == 5 and job.status().success
    wait_until(lambda: lane.running == 0, "the dream's slot given back")
    assert recorder.events.count(("finished", "deep_dream")) == 1


def test_stop_ends_a_feature_visualization_with_the_pictures_so_far(server, long_lane, monkeypatch):
    from cnnvis.techniques import feature_vis

    client, url = server
    lane, recorder = long_lane
    held = HeldAfter(free=32)  # 128 steps, a frame every 16: frames at steps 16 and 32
    monkeypatch.setattr(feature_vis, "ascent_step", held.wrap(feature_vis.ascent_step))
    job = client.submit(
        MODEL, "channels", "", 2, "", [], 128, 64, 0, api_name="/feature_visualization"
    )
    gallery = stopped_by_its_button(client, job, "/stop_feature_visualization", held)
    [sheet] = captions(gallery)
    assert "Feature visualisation stopped at step 33/128" in sheet, sheet
    assert "in progress" not in sheet and held.calls == 33
    wait_until(lambda: lane.running == 0, "the visualisation's slot given back")
    assert recorder.events.count(("finished", "feature_visualization")) == 1


def test_a_stop_with_nothing_running_stops_no_later_run(server, long_lane):
    client, _ = server
    assert client.predict(api_name="/stop_deep_dream") == ()
    [dream, _] = captions(
        client.predict(handle_file(str(CAT)), MODEL, [], 1, 2, 0.01, 0, api_name="/deep_dream")
    )
    assert "stopped" not in dream and "in progress" not in dream
