"""Faults, through the app's HTTP API on loopback: weights that cannot be had (no network,
a hanging download, a damaged file in Keras' cache or in the weights directory), running
out of memory, concurrent requests, and cancelled requests that must stop their work."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import h5py
import keras
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

import cnnvis
from cnnvis.errors import out_of_memory_message
from cnnvis.models.loading import ModelSpec
from cnnvis.ui import settings as ui_settings
from cnnvis.ui import work
from cnnvis.ui.settings import Settings

from .app_helpers import CAT, cancel_running, is_one_sentence
from .serve import Listener, free_port, served

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

DOWNLOADED = "MobileNet"  # not in any weights directory here: its weights are downloaded
KERAS_FILE = "mobilenet_1_0_224_tf.h5"  # what Keras downloads for it (no hash is checked)
LOCAL = "MobileNetV2"  # its weights are in the test's weights directory
DAMAGED = "MobileNetV3Small"  # a damaged file in the test's weights directory


def classify(client, model: str) -> dict:
    return client.predict(handle_file(str(CAT)), model, api_name="/classify")


def refusal(client, model: str) -> str:
    with pytest.raises(AppError) as caught:
        classify(client, model)
    message = str(caught.value)
    assert is_one_sentence(message), message
    assert "/" not in message.replace("--weights-dir", "").replace("--weights random", ""), message  # no server path
    return message


def keras_h5(name: str) -> bytes:
    """The bytes of a Keras-application weights file (legacy HDF5 layout), random weights."""
    import io

    from keras.src.legacy.saving import legacy_h5_format

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, getattr(keras.applications, name)(weights=None))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """Valid MobileNetV2 weights, and a damaged (truncated) MobileNetV3Small file."""
    folder = tmp_path_factory.mktemp("weights")
    cnnvis.REGISTRY[LOCAL].build().save_weights(str(folder / f"{LOCAL}.weights.h5"))
    good = folder / "good" / f"{DAMAGED}.weights.h5"
    good.parent.mkdir()
    cnnvis.REGISTRY[DAMAGED].build().save_weights(str(good))
    (folder / good.name).write_bytes(good.read_bytes()[:50_000])
    return folder


@pytest.fixture(scope="module")
def server(weights_dir):
    settings = Settings(weights="imagenet", weights_dir=str(weights_dir), concurrency=2)
    with served(settings) as (client, url):
        yield client


@pytest.fixture
def downloads(tmp_path, monkeypatch):
    """Downloads allowed, into a fresh Keras cache; the test points Keras' download URL
    for MobileNet at a loopback address (nothing leaves this machine)."""
    import keras.src.applications.mobilenet as mobilenet
    import keras.src.backend.config as keras_config

    monkeypatch.setenv("CNNVIS_OFFLINE", "0")
    cnnvis.models.availability.forget_failure(DOWNLOADED)
    (tmp_path / "keras").mkdir()  # Keras falls back to /tmp/.keras for a missing folder
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras"))
    cnnvis.models.loading.MODEL_CACHE.clear()

    def point_at(url: str) -> None:
        monkeypatch.setattr(mobilenet, "BASE_WEIGHT_PATH", url.rstrip("/") + "/")

    yield point_at, tmp_path / "keras" / "models" / KERAS_FILE
    cnnvis.models.loading.MODEL_CACHE.clear()
    cnnvis.models.availability.forget_failure(DOWNLOADED)


def time_passes(monkeypatch) -> None:
    """As if the failure memory had run out: the next request tries the network again."""
    monkeypatch.setattr(cnnvis.models.availability, "FAILURE_MEMORY", 0.0)


# ----- weights -------------------------------------------------------------------------


def test_no_network_is_one_sentence_remembered_for_a_while_then_retried(
    server, downloads, monkeypatch
):
    point_at, cached = downloads
    point_at(f"http://127.0.0.1:{free_port()}")  # nothing listens there: connection refused
    message = refusal(server, DOWNLOADED)
    assert DOWNLOADED in message and f"{DOWNLOADED}.weights.h5" in message
    assert "could not be downloaded" in message and "--weights-dir" in message
    assert "--weights random" in message
    assert cnnvis.weights_status(DOWNLOADED).state == "unavailable"
    with Listener(keras_h5(DOWNLOADED)) as listener:  # the network is back, but too soon:
        point_at(listener.url)
        message = refusal(server, DOWNLOADED)  # the failure is remembered, said, not retried
        assert "failed a moment ago" in message and "next try in 10 min" in message
        assert listener.requests == []
        assert len(classify(server, LOCAL)["confidences"]) == 5  # other models keep working
        time_passes(monkeypatch)
        assert len(classify(server, DOWNLOADED)["confidences"]) == 5
        assert listener.requests == [f"/{KERAS_FILE}"]
    assert cached.is_file()
    assert cnnvis.weights_status(DOWNLOADED).state == "ready"


def test_a_hanging_download_times_out_and_is_not_started_twice(server, downloads, monkeypatch):
    point_at, cached = downloads
    monkeypatch.setenv("CNNVIS_DOWNLOAD_TIMEOUT", "1.5")
    with Listener(keras_h5(DOWNLOADED), stall=True) as listener:
        point_at(listener.url)
        message = refusal(server, DOWNLOADED)
        assert "took longer than 2 s" in message and DOWNLOADED in message
        message = refusal(server, DOWNLOADED)  # remembered: no second wait, no second download
        assert "still downloading in the background" in message and DOWNLOADED in message
        assert cnnvis.weights_status(DOWNLOADED).detail == "downloading in the background"
        assert listener.requests == [f"/{KERAS_FILE}"]
        assert len(classify(server, LOCAL)["confidences"]) == 5
        listener.release()  # the download completes in the background
        deadline = time.monotonic() + 60
        while not cnnvis.weights_status(DOWNLOADED).ready and time.monotonic() < deadline:
            time.sleep(0.2)
        assert cached.is_file()
        assert len(classify(server, DOWNLOADED)["confidences"]) == 5
        assert len(listener.requests) == 1


def test_a_damaged_file_in_keras_cache_is_set_aside_and_downloaded_again(
    server, downloads, monkeypatch
):
    point_at, cached = downloads
    weights = keras_h5(DOWNLOADED)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(weights[:100_000])  # a download that was cut off
    with Listener(weights) as listener:
        point_at(listener.url)
        assert len(classify(server, DOWNLOADED)["confidences"]) == 5  # one request: recovered
        assert listener.requests == [f"/{KERAS_FILE}"]
    assert cached.with_name(KERAS_FILE + ".damaged").read_bytes() == weights[:100_000]
    cnnvis.models.loading.MODEL_CACHE.clear()
    cached.write_bytes(weights[:100_000])
    with Listener(weights[:200_000]) as listener:  # and the server sends a truncated file
        point_at(listener.url)
        message = refusal(server, DOWNLOADED)
        assert DOWNLOADED in message and "could not be downloaded" in message
        assert listener.requests == [f"/{KERAS_FILE}"]  # tried once, not in a loop
    time_passes(monkeypatch)
    with Listener(weights) as listener:  # a later request downloads it again
        point_at(listener.url)
        assert len(classify(server, DOWNLOADED)["confidences"]) == 5
        assert listener.requests == [f"/{KERAS_FILE}"]


def test_a_damaged_file_in_the_weights_directory_is_named_and_kept(server, weights_dir):
    damaged = weights_dir / f"{DAMAGED}.weights.h5"
    before = damaged.read_bytes()
    for _ in range(2):
        message = refusal(server, DAMAGED)
        assert f"{DAMAGED}.weights.h5" in message and f"into {DAMAGED}" in message
        assert "replace it" in message
        assert len(classify(server, LOCAL)["confidences"]) == 5
    assert damaged.read_bytes() == before  # never deleted nor changed
    # Once the file is replaced, the next request loads it (failures are not cached).
    good = weights_dir / "good" / damaged.name
    damaged.write_bytes(good.read_bytes())
    try:
        assert len(classify(server, DAMAGED)["confidences"]) == 5
    finally:
        damaged.write_bytes(before)
        cnnvis.models.loading.MODEL_CACHE.clear()


# ----- out of memory -------------------------------------------------------------------


def test_out_of_memory_is_one_sentence_and_the_server_stays_healthy(server):
    import tensorflow as tf

    from cnnvis.techniques import compiled

    assert len(classify(server, LOCAL)["confidences"]) == 5
    forward = compiled.forward(work.get_model(LOCAL))
    working = forward.fn

    def exhausted(*args):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    forward.fn = exhausted
    try:
        message = refusal(server, LOCAL)
    finally:
        forward.fn = working
    assert message == out_of_memory_message(LOCAL)
    assert len(classify(server, LOCAL)["confidences"]) == 5


def test_out_of_memory_while_loading_a_model(server, monkeypatch):
    import tensorflow as tf

    real_build = ModelSpec.build

    def exhausted(self, weights=None):
        if self.name == "ResNet50":
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return real_build(self, weights)

    monkeypatch.setattr(ModelSpec, "build", exhausted)
    monkeypatch.setattr(ui_settings, "SETTINGS", Settings(weights="random"))
    message = refusal(server, "ResNet50")
    assert message == "Loading ResNet50 ran out of memory; try a smaller model."
    assert len(classify(server, "MobileNetV3Small")["confidences"]) == 5


# ----- concurrency ---------------------------------------------------------------------


def test_two_requests_for_the_same_model_build_it_once(server, monkeypatch):
    builds = []
    real_build = ModelSpec.build

    def slow_build(self, weights=None):
        builds.append(self.name)
        time.sleep(1.0)  # both requests arrive while the first one builds
        return real_build(self, weights)

    monkeypatch.setattr(ModelSpec, "build", slow_build)
    monkeypatch.setattr(ui_settings, "SETTINGS", Settings(weights="random"))
    cnnvis.models.loading.MODEL_CACHE.clear()
    cat = handle_file(str(CAT))
    jobs = [server.submit(cat, "MobileNetV3Large", api_name="/classify") for _ in range(3)]
    results = [job.result(timeout=180) for job in jobs]
    assert builds == ["MobileNetV3Large"]
    assert all(r == results[0] for r in results)  # the same model, the same answer


@pytest.mark.fullsize
def test_guided_gradients_never_leak_into_plain_gradients():
    """Guided backprop (gated gradients) and the plain gradient share the cached model;
    run interleaved from threads, each gives exactly its sequential result."""
    vis = cnnvis.load_model("MobileNetV2", weights=None)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(3)]
    methods = {
        "guided": lambda image: cnnvis.guided_backprop(vis, image, target_class=3).values,
        "plain": lambda image: cnnvis.vanilla_gradient(vis, image, target_class=3).values,
        "guided_cam": lambda image: cnnvis.guided_grad_cam(vis, image, target_class=3).values,
        "cam": lambda image: cnnvis.grad_cam(vis, image, target_class=3).heatmap,
    }
    expected = {(m, i): fn(image) for m, fn in methods.items() for i, image in enumerate(images)}
    guided, plain = expected["guided", 0], expected["plain", 0]
    assert np.abs(guided - plain).max() > 0.1 * np.abs(plain).max() > 0  # they do differ
    tasks = [(m, i) for _ in range(4) for m in methods for i in range(len(images))]
    np.random.default_rng(1).shuffle(tasks)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda task: (task, methods[task[0]](images[task[1]])), tasks))
    for task, values in results:
        scale = float(np.abs(expected[task]).max())
        np.testing.assert_allclose(values, expected[task], rtol=1e-5, atol=1e-6 * scale, err_msg=str(task))


# ----- cancellation --------------------------------------------------------------------


class StepCounter:
    """Counts the compiled steps of an iterative method as they run (each slowed a little,
    so that a cancellation lands in the middle of a run)."""

    def __init__(self, monkeypatch, builder: str, module) -> None:
        self.count = 0
        real = getattr(module, builder)
        counter = self

        def counting(*args, **kwargs):
            step = real(*args, **kwargs)

            def run(*inputs):
                counter.count += 1
                time.sleep(0.1)
                return step(*inputs)

            return run

        monkeypatch.setattr(module, builder, counting)

    def wait_for(self, steps: int, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while self.count < steps:
            assert time.monotonic() < deadline, f"only {self.count} steps ran"
            time.sleep(0.02)

    def settled(self, seconds: float = 2.0) -> int:
        """The count once it has stopped changing for ``seconds``."""
        last, since = self.count, time.monotonic()
        while time.monotonic() - since < seconds:
            time.sleep(0.1)
            if self.count != last:
                last, since = self.count, time.monotonic()
        return last


def test_a_cancelled_deep_dream_stops_at_the_next_step(server, monkeypatch):
    from cnnvis.techniques import compiled

    monkeypatch.setattr(ui_settings, "SETTINGS", Settings(weights="random"))
    steps = StepCounter(monkeypatch, "dream_step", compiled)
    job = server.submit(
        handle_file(str(CAT)), LOCAL, [], 5, 48, 0.01, 0, api_name="/deep_dream"
    )
    steps.wait_for(3)
    cancel_running(job)
    at_cancel = steps.count
    stopped = steps.settled()
    # The next picture is due after 12 steps (48 // 4): without the stop check the run
    # would go on to it at least, and to 240 steps in all.
    assert stopped - at_cancel <= 2 and stopped < 12, (at_cancel, stopped)
    assert job.status().code.name == "CANCELLED"
    assert len(classify(server, LOCAL)["confidences"]) == 5
    time.sleep(1.0)
    assert steps.count == stopped  # the next request ran no dream step


def test_a_deep_dream_whose_client_goes_away_stops(server, monkeypatch):
    """The browser tab closes: the event stream is dropped without a cancel request."""
    import httpx

    from cnnvis.techniques import compiled

    monkeypatch.setattr(ui_settings, "SETTINGS", Settings(weights="random"))
    steps = StepCounter(monkeypatch, "dream_step", compiled)
    url = server.src.rstrip("/") + "/gradio_api"
    with httpx.Client(timeout=30) as http:
        with open(CAT, "rb") as photo:
            [path] = http.post(f"{url}/upload", files={"files": ("cat.jpg", photo)}).json()
        fn_index = server._infer_fn_index("/deep_dream", None)
        image = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "cat.jpg"}
        body = {
            "data": [image, LOCAL, [], 5, 48, 0.01, 0],
            "fn_index": fn_index,
            "session_hash": "goes-away",
            "event_data": None,
            "trigger_id": None,
        }
        assert http.post(f"{url}/queue/join", json=body).status_code == 200
        with http.stream("GET", f"{url}/queue/data", params={"session_hash": "goes-away"}) as stream:
            lines = stream.iter_lines()
            while steps.count < 3:
                next(lines)  # progress messages keep coming while it dreams
        # Leaving the block closed the connection: the tab is gone.
    at_close = steps.count
    stopped = steps.settled(3.0)
    # Pictures come every 12 steps; without the stop check the run would reach the next
    # one before Gradio noticed, and go on to 240 steps without it.
    next_picture = (at_close // 12 + 1) * 12
    assert stopped - at_close <= 3 and stopped < next_picture, (at_close, stopped)
    assert len(classify(server, LOCAL)["confidences"]) == 5


@pytest.mark.fullsize
def test_iterative_methods_stop_when_asked_and_keep_what_they_made():
    """The package's own contract: ``stop`` is asked before every step; a stopped run
    ends with a frame marked ``stopped`` holding the picture so far and where it stopped."""
    vis = cnnvis.load_model("MobileNetV3Small", weights=None)
    image = np.full((64, 64, 3), 128, np.uint8)
    for frames in (
        lambda stop: cnnvis.deep_dream_frames(vis, image, octaves=1, steps=40, stop=stop),
        lambda stop: cnnvis.feature_visualization_frames(vis, steps=40, size=32, stop=stop),
    ):
        asked = []
        stop = lambda: asked.append(1) or len(asked) > 5  # noqa: E731 - stop before step 6
        produced = list(frames(stop))
        assert len(asked) == 6 and all(not frame.final for frame in produced)
        last = produced[-1]
        assert last.stopped and last.step == 5 and "5/40" in last.where
        assert not any(frame.stopped for frame in produced[:-1])
        picture = last.image if hasattr(last, "image") else last.images[0]
        assert np.isfinite(picture).all() and picture.ndim == 3
