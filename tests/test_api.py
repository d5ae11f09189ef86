"""The app served on 127.0.0.1 and called through gradio_client: every named endpoint,
its outputs (PNG files with captions), and its refusals."""

from __future__ import annotations

import socket

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app

from .app_helpers import (
    CAT,
    EGYPTIAN_CAT,
    WEIGHTS,
    app_settings,
    bomb_png,
    is_one_sentence,
    text_file,
    truncated_jpeg,
)


# gradio's queue (pandas 3) warns on every event; nothing to do with the app.
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

MODEL = "MobileNetV2"
CAT_SIZE = Image.open(CAT).size  # (width, height)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module", params=[WEIGHTS], ids=[f"weights={WEIGHTS}"])
def client():
    saved = app.SETTINGS
    app.configure(app_settings())
    app.apply_queue(app.demo, app.SETTINGS)
    _, url, _ = app.demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **app.LAUNCH_KWARGS,
    )
    try:
        yield Client(url, verbose=False, analytics_enabled=False)
    finally:
        app.demo.close()
        app.configure(saved)


@pytest.fixture(scope="module")
def cat():
    return handle_file(str(CAT))


def check_pngs(
    items, count: int, *words: str, size: tuple[int, int] | None = None
) -> list[Image.Image]:
    assert len(items) == count
    pictures = []
    for item in items:
        assert set(item) >= {"image", "caption"}
        for word in words:
            assert word in item["caption"], (word, item["caption"])
        picture = Image.open(item["image"])
        assert picture.format == "PNG" and picture.mode == "RGB"
        if size is not None:
            assert picture.size == size
        pictures.append(picture)
    return pictures


def test_named_endpoints_are_the_documented_set(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert sorted(info["named_endpoints"]) == sorted(app.API_NAMES)
    assert not info["unnamed_endpoints"]
    grad_cam = [p["parameter_name"] for p in info["named_endpoints"]["/grad_cam"]["parameters"]]
    assert grad_cam == ["image", "model", "layer", "target_class", "colormap", "opacity", "method"]
    layer = info["named_endpoints"]["/grad_cam"]["parameters"][2]
    assert layer["python_type"]["type"] == "str"  # any layer of any model, not today's choices


def test_classify(client, cat):
    result = client.predict(cat, MODEL, api_name="/classify")
    confidences = result["confidences"]
    assert len(confidences) == 5 and result["label"] == confidences[0]["label"]
    if WEIGHTS == "real":
        assert result["label"] == EGYPTIAN_CAT and confidences[0]["confidence"] > 0.5


def test_filters(client):
    [sheet] = check_pngs(
        client.predict(MODEL, "", 16, "norm", api_name="/filters"), 1, "Filters", MODEL, "Conv1"
    )
    assert min(sheet.size) > 64


def test_feature_maps(client, cat):
    items = client.predict(
        cat, MODEL, "block_3_expand_relu", 9, "first", "magma", api_name="/feature_maps"
    )
    check_pngs(items, 2, "Feature maps", "block_3_expand_relu", "56x56")
    assert Image.open(items[1]["image"]).size == CAT_SIZE


def test_guided_backprop(client, cat):
    items = client.predict(cat, MODEL, "Egyptian cat", api_name="/guided_backprop")
    check_pngs(items, 2, "Guided backprop", MODEL, "Egyptian cat (285)", size=CAT_SIZE)


def test_grad_cam(client, cat):
    items = client.predict(cat, MODEL, "", "282", "jet", 0.5, "grad_cam", api_name="/grad_cam")
    overlay, heatmap = check_pngs(
        items, 2, "Grad-CAM", "out_relu", "tiger cat (282)", size=CAT_SIZE
    )
    assert overlay.tobytes() != heatmap.tobytes()


def test_grad_cam_with_defaults_by_keyword(client, cat):
    items = client.predict(image=cat, model=MODEL, api_name="/grad_cam")
    check_pngs(items, 2, "Grad-CAM", size=CAT_SIZE)


def test_guided_grad_cam(client, cat):
    items = client.predict(cat, MODEL, "block_16_project", "top class", api_name="/guided_grad_cam")
    check_pngs(items, 2, "Guided Grad-CAM", "Grad-CAM at block_16_project", size=CAT_SIZE)


def test_deep_dream_streams(client, cat):
    job = client.submit(
        cat, MODEL, ["block_5_add", "block_8_add"], 2, 4, 0.02, 1, api_name="/deep_dream"
    )
    final = job.result(timeout=120)
    outputs = job.outputs()
    assert len(outputs) >= 3  # intermediate pictures came before the result
    check_pngs(outputs[0], 1, "in progress")
    dream, photo = check_pngs(final, 2, size=CAT_SIZE)
    assert "block_5_add, block_8_add" in final[0]["caption"] and "seed 1" in final[0]["caption"]
    assert dream.tobytes() != photo.tobytes()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    return {
        "not an image": handle_file(str(text_file(folder))),
        "truncated": handle_file(str(truncated_jpeg(folder))),
        "huge": handle_file(str(bomb_png(folder))),
    }


BAD_CALLS = {
    "no image": lambda cat, bad: ((None, MODEL), "/classify"),
    "not an image": lambda cat, bad: (
        (bad["not an image"], MODEL, "top class"),
        "/guided_backprop",
    ),
    "truncated": lambda cat, bad: ((bad["truncated"], MODEL), "/classify"),
    "huge": lambda cat, bad: ((bad["huge"], MODEL, "", "top class", "jet", 0.5), "/grad_cam"),
    "unknown model": lambda cat, bad: (("LeNet", "", 4, "first"), "/filters"),
    "unknown layer": lambda cat, bad: (
        (cat, MODEL, "block_99", 4, "first", "viridis"),
        "/feature_maps",
    ),
    "unknown class": lambda cat, bad: ((cat, MODEL, "", "dragon"), "/guided_grad_cam"),
    "class out of range": lambda cat, bad: ((cat, MODEL, "", "-3", "jet", 0.5), "/grad_cam"),
    "count out of range": lambda cat, bad: ((MODEL, "", 500, "first"), "/filters"),
    "opacity out of range": lambda cat, bad: ((cat, MODEL, "", "top class", "jet", 7), "/grad_cam"),
    "steps out of range": lambda cat, bad: ((cat, MODEL, [], 1, 0, 0.01, 0), "/deep_dream"),
    "unknown dream layer": lambda cat, bad: ((cat, MODEL, ["nope"], 1, 1, 0.01, 0), "/deep_dream"),
    "negative seed": lambda cat, bad: ((cat, MODEL, [], 1, 1, 0.01, -1), "/deep_dream"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_is_refused_in_one_sentence_and_the_next_request_works(
    client, cat, bad_files, case
):
    args, api_name = BAD_CALLS[case](cat, bad_files)
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    assert is_one_sentence(str(caught.value)), str(caught.value)
    assert len(client.predict(cat, MODEL, api_name="/classify")["confidences"]) == 5


def test_model_without_weights(client, cat, tmp_path):
    saved = app.SETTINGS
    app.configure(app.Settings(weights="imagenet", weights_dir=str(tmp_path)))
    try:
        with pytest.raises(AppError) as caught:
            client.predict(cat, "DenseNet121", api_name="/classify")
    finally:
        app.configure(saved)
    message = str(caught.value)
    assert "DenseNet121" in message and "weights" in message and is_one_sentence(message)
    assert len(client.predict(cat, MODEL, api_name="/classify")["confidences"]) == 5


def test_unexpected_and_out_of_memory_errors_keep_the_server_up(client, cat, monkeypatch):
    import tensorflow as tf

    import cnnvis

    def broken(*args, **kwargs):
        raise KeyError("internal detail")

    def exhausted(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    for fault, expected in ((broken, app.GENERIC_ERROR), (exhausted, app.MEMORY_ERROR)):
        monkeypatch.setattr(cnnvis, "guided_backprop", fault)
        with pytest.raises(AppError) as caught:
            client.predict(cat, MODEL, "top class", api_name="/guided_backprop")
        assert str(caught.value) == expected
    monkeypatch.undo()
    check_pngs(client.predict(cat, MODEL, "top class", api_name="/guided_backprop"), 2)


def test_uploads_over_the_size_limit_are_refused(client, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(CAT.read_bytes() + b"\0" * (11 * 2**20))  # a valid JPEG with 11 MB of padding
    with pytest.raises(Exception, match="(?i)size|large|limit|413"):
        client.predict(handle_file(str(big)), MODEL, api_name="/classify")
    assert (
        len(client.predict(handle_file(str(CAT)), MODEL, api_name="/classify")["confidences"]) == 5
    )
