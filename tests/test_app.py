"""The app's handlers called directly, without a server: outputs, captions, errors, wiring."""

from __future__ import annotations

import dataclasses
import logging

import gradio as gr
import numpy as np
import pytest

import app
import cnnvis

from .app_helpers import (
    CAT,
    EGYPTIAN_CAT,
    WEIGHTS,
    app_settings,
    bomb_png,
    is_one_sentence,
    rotated_jpeg,
    text_file,
    truncated_jpeg,
)

MODEL = "MobileNetV2"


@pytest.fixture(scope="module", autouse=True, params=[WEIGHTS], ids=[f"weights={WEIGHTS}"])
def settings():
    saved = app.SETTINGS
    app.configure(app_settings())
    yield app.SETTINGS
    app.configure(saved)


@pytest.fixture(scope="module")
def vis(settings):
    return app.get_model(MODEL)


@pytest.fixture(scope="module")
def photo_shape():
    return cnnvis.load_image(CAT).shape


def check_gallery(items, count: int, *words: str) -> None:
    assert len(items) == count
    for picture, caption in items:
        assert isinstance(picture, np.ndarray) and picture.dtype == np.uint8 and picture.ndim == 3
        assert picture.shape[2] == 3 and min(picture.shape[:2]) >= 16
        for word in words:
            assert word in caption, (word, caption)


def user_message(call) -> str:
    with pytest.raises(gr.Error) as caught:
        result = call()
        if hasattr(result, "__next__"):
            list(result)
    return caught.value.message


# ----- results ------------------------------------------------------------------------


def test_classify_gives_five_probabilities(vis):
    result = app.classify(str(CAT), MODEL)
    assert len(result) == 5 and all(0 <= p <= 1 for p in result.values())
    assert sum(result.values()) <= 1 + 1e-6
    assert list(result.values()) == sorted(result.values(), reverse=True)
    if WEIGHTS == "real":
        assert next(iter(result)) == EGYPTIAN_CAT


def test_filters_show_the_first_convolution_by_default(vis):
    items = app.filters(MODEL, None, 8, "norm")
    check_gallery(items, 1, "Filters", MODEL, vis.first_conv, "8 of 32 filters", "RGB")


def test_filters_of_a_deeper_convolution_are_shown_per_input_channel(vis):
    deeper = vis.filter_layers[2]
    items = app.filters(MODEL, deeper, 4, "first")
    check_gallery(items, 1, deeper, "input channels")


def test_feature_maps_give_a_sheet_and_an_overlay_at_photo_size(vis, photo_shape):
    items = app.feature_maps(str(CAT), MODEL, "", 6, "most_active", "viridis")
    check_gallery(items, 2, "Feature maps", MODEL, vis.default_layer)
    assert items[1][0].shape == photo_shape
    assert "6 channels" in items[0][1]


def test_guided_backprop_gives_signed_picture_and_saliency(vis, photo_shape):
    items = app.guided_backprop(str(CAT), MODEL, "top class")
    check_gallery(items, 2, "Guided backprop", MODEL, "guided rule at every ReLU")
    assert [caption.split(" · ")[-1] for _, caption in items] == [
        "signed, grey = no effect",
        "saliency, bright = strong effect",
    ]
    assert all(picture.shape == photo_shape for picture, _ in items)


@pytest.mark.parametrize(
    "target, label",
    [("282 · tiger cat", "tiger cat (282)"), ("tabby", "tabby (281)"), (287, "lynx (287)")],
)
def test_grad_cam_explains_the_chosen_class(vis, photo_shape, target, label):
    items = app.grad_cam(str(CAT), MODEL, vis.default_layer, target, "viridis", 0.3)
    check_gallery(items, 2, "Grad-CAM", MODEL, vis.default_layer, label)
    overlay, heatmap = (picture for picture, _ in items)
    assert overlay.shape == heatmap.shape == photo_shape
    assert not np.array_equal(overlay, heatmap)


def test_grad_cam_opacity_zero_leaves_the_photo(vis):
    overlay = app.grad_cam(str(CAT), MODEL, "", "top class", "jet", 0.0)[0][0]
    np.testing.assert_array_equal(overlay, app.read_image(str(CAT)))


def test_guided_grad_cam_names_its_layer(vis, photo_shape):
    items = app.guided_grad_cam(str(CAT), MODEL, "", "281")
    check_gallery(
        items, 2, "Guided Grad-CAM", MODEL, "tabby (281)", f"Grad-CAM at {vis.default_layer}"
    )


def test_deep_dream_streams_frames_then_the_result(vis):
    frames = list(app.deep_dream(str(CAT), MODEL, [], 2, 4, 0.02, 3))
    assert len(frames) >= 3  # a picture during each octave, and at each octave's end
    *steps, final = frames
    for items in steps:
        check_gallery(items, 1, "in progress", "octave")
    check_gallery(
        final[:1], 1, "Deep Dream", MODEL, *vis.dream_layers, "2 octaves × 4 steps", "seed 3"
    )
    assert final[1][1] == "The photo it started from"
    assert final[0][0].shape == final[1][0].shape


def test_deep_dream_takes_one_layer_name_as_a_string(vis):
    layer = vis.dream_layers[0]
    *_, final = app.deep_dream(str(CAT), MODEL, layer, 1, 1, 0.01, 0)
    assert f"{MODEL} · {layer} ·" in final[0][1]


def test_random_weights_are_said_in_captions(vis):
    items = app.guided_backprop(str(CAT), MODEL, None)
    assert ("random weights" in items[0][1]) == (vis.weights == "random")


# ----- the shared area and the pickers ---------------------------------------------------


def test_predictions_panel_fills_the_class_pickers_with_the_top_classes_first(vis):
    label, *updates = app.show_predictions(str(CAT), MODEL)
    assert len(label) == 5 and len(updates) == app.CLASS_PICKERS
    choices = updates[0]["choices"]
    assert choices[0] == (app.TOP_CLASS, app.TOP_CLASS)
    assert [value for _, value in choices[1:6]] == list(label)
    assert len(choices) == 1001 and len({value for _, value in choices}) == 1001
    assert choices[1][0].endswith("%)")


def test_predictions_panel_is_empty_without_a_photo():
    label, *updates = app.show_predictions(None, MODEL)
    assert label is None and len(updates[0]["choices"]) == 1001


def test_model_change_fills_and_preselects_every_layer_picker(vis):
    summary, filters_layer, maps_layer, cam_layer, guided_layer, dream_layers = app.model_changed(
        MODEL
    )
    assert MODEL in summary and "224×224" in summary
    assert ("random weights" in summary) == (vis.weights == "random")
    assert filters_layer["value"] == vis.first_conv
    assert [v for _, v in filters_layer["choices"]] == list(vis.filter_layers)
    for picker in (maps_layer, cam_layer, guided_layer):
        assert picker["value"] == vis.default_layer
        assert [v for _, v in picker["choices"]] == list(vis.visual_layers)
    assert dream_layers["value"] == list(vis.dream_layers)
    assert any(
        label.startswith(f"{vis.default_layer} · 7×7×") for label, _ in maps_layer["choices"]
    )


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("285 · Egyptian cat", 285),
        ("top class", None),
        ("", None),
        (None, None),
        ("tabby", "tabby"),
        (7, "7"),
    ],
)
def test_class_choices_are_parsed_for_cnnvis(choice, expected):
    assert app.parse_class(choice) == expected


def test_uploads_are_decoded_once_by_cnnvis_with_exif(tmp_path):
    path = str(rotated_jpeg(tmp_path))
    image = app.read_image(path)
    assert image.shape == (40, 20, 3)  # EXIF orientation applied: Gradio's PIL code would not
    assert app.read_image(path) is image and not image.flags.writeable


def test_photo_input_passes_the_original_upload_through(tmp_path):
    from gradio.data_classes import ImageData

    path = text_file(tmp_path)
    component = app.pass_original_upload(gr.Image(type="filepath", image_mode=None, render=False))
    assert component.preprocess(ImageData(path=str(path), orig_name="notes.png")) == str(path)
    assert component.preprocess(None) is None
    assert not (app.ROOT / "app.pyi").exists()  # no gr.Image subclass: Gradio writes no stub


def test_big_photos_are_shrunk_for_display(tmp_path):
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((600, 3000, 3), np.uint8)).save(path)
    assert app.read_image(str(path)).shape == (205, app.MAX_SIDE, 3)


def test_offering_another_heatmap_method_is_one_registry_name(vis, monkeypatch):
    def upside_down_cam(model, image, *, target_class=None, layer=None):
        result = cnnvis.grad_cam(model, image, target_class=target_class, layer=layer)
        return dataclasses.replace(result, heatmap=result.heatmap[::-1], method="Upside-down CAM")

    fake = dataclasses.replace(
        cnnvis.TECHNIQUES["grad_cam"], name="upside_down_cam", function=upside_down_cam
    )
    monkeypatch.setitem(cnnvis.TECHNIQUES, "upside_down_cam", fake)
    monkeypatch.setattr(app, "HEATMAP_METHODS", (*app.HEATMAP_METHODS, "upside_down_cam"))
    items = app.grad_cam(str(CAT), MODEL, "", "top class", "jet", 0.5, "upside_down_cam")
    check_gallery(items, 2, "Upside-down CAM", MODEL, vis.default_layer)


def test_heatmap_methods_come_from_the_registry():
    for name in app.HEATMAP_METHODS:
        assert cnnvis.TECHNIQUES[name].output == "heatmap"
    text, button = app.method_changed("grad_cam")
    assert text == app.technique_text("grad_cam") and "Selvaraju" in text
    assert button["value"] == "Run Grad-CAM" and app.method_changed(None)[0] == text


# ----- errors -------------------------------------------------------------------------


def bad_inputs(tmp_path) -> dict[str, tuple]:
    return {
        "no image": (app.grad_cam, None, MODEL, "", "top class", "jet", 0.5),
        "not an image": (
            app.grad_cam,
            str(text_file(tmp_path)),
            MODEL,
            "",
            "top class",
            "jet",
            0.5,
        ),
        "truncated": (
            app.feature_maps,
            str(truncated_jpeg(tmp_path)),
            MODEL,
            "",
            4,
            "first",
            "viridis",
        ),
        "huge": (app.classify, str(bomb_png(tmp_path)), MODEL),
        "unknown model": (app.classify, str(CAT), "ResNet9000"),
        "unknown layer": (app.grad_cam, str(CAT), MODEL, "no_such_layer", "top class", "jet", 0.5),
        "not a convolution": (app.filters, MODEL, "out_relu", 4, "first"),
        "unknown class": (app.guided_backprop, str(CAT), MODEL, "unicorn"),
        "class out of range": (app.guided_grad_cam, str(CAT), MODEL, "", "1000"),
        "count out of range": (app.filters, MODEL, "", 0, "first"),
        "opacity out of range": (app.grad_cam, str(CAT), MODEL, "", "top class", "jet", 1.5),
        "unknown colormap": (app.feature_maps, str(CAT), MODEL, "", 4, "first", "rainbowz"),
        "unknown order": (app.feature_maps, str(CAT), MODEL, "", 4, "loudest", "viridis"),
        "unknown method": (app.grad_cam, str(CAT), MODEL, "", "top class", "jet", 0.5, "magic_cam"),
        "octaves out of range": (app.deep_dream, str(CAT), MODEL, [], 99, 2, 0.01, 0),
        "fractional steps": (app.deep_dream, str(CAT), MODEL, [], 1, 2.5, 0.01, 0),
        "too many dream layers": (
            app.deep_dream,
            str(CAT),
            MODEL,
            ["out_relu"] * 9 + ["Conv1"],
            1,
            1,
            0.01,
            0,
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "no image",
        "not an image",
        "truncated",
        "huge",
        "unknown model",
        "unknown layer",
        "not a convolution",
        "unknown class",
        "class out of range",
        "count out of range",
        "opacity out of range",
        "unknown colormap",
        "unknown order",
        "unknown method",
        "octaves out of range",
        "fractional steps",
        "too many dream layers",
    ],
)
def test_bad_input_gives_one_clear_sentence(vis, tmp_path, case):
    handler, *args = bad_inputs(tmp_path)[case]
    message = user_message(lambda: handler(*args))
    assert is_one_sentence(message), message


def test_a_model_without_weights_says_so_and_others_keep_working(tmp_path):
    saved = app.SETTINGS
    app.configure(app.Settings(weights="imagenet", weights_dir=str(tmp_path)))
    try:
        message = user_message(lambda: app.classify(str(CAT), "VGG16"))
    finally:
        app.configure(saved)
    assert "VGG16" in message and "weights" in message and is_one_sentence(message)
    assert len(app.classify(str(CAT), MODEL)) == 5


def test_a_model_without_weights_is_explained_where_it_is_chosen(tmp_path):
    saved = app.SETTINGS
    app.configure(app.Settings(weights="imagenet", weights_dir=str(tmp_path)))
    try:
        summary, *pickers = app.model_changed("ResNet50")
    finally:
        app.configure(saved)
    assert summary.startswith("⚠️") and "ResNet50" in summary and "weights" in summary
    assert pickers == [gr.update()] * 5  # the layer pickers keep what they had


def test_unexpected_errors_are_logged_and_hidden(vis, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals: tensor shape [1,7,7,1280]")

    monkeypatch.setattr(cnnvis, "classify", broken)
    with caplog.at_level(logging.ERROR, logger="cnnvis.app"):
        message = user_message(lambda: app.classify(str(CAT), MODEL))
    assert message == app.GENERIC_ERROR and is_one_sentence(message)
    assert "secret" in caplog.text  # the maintainers see it in the log
    monkeypatch.undo()
    assert len(app.classify(str(CAT), MODEL)) == 5


def test_out_of_memory_becomes_a_clear_sentence(vis, monkeypatch):
    import tensorflow as tf

    def exhausted(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[1,2,3]"
        )

    monkeypatch.setattr(cnnvis, "feature_maps", exhausted)
    message = user_message(lambda: app.feature_maps(str(CAT), MODEL, "", 4, "first", "viridis"))
    assert message == app.MEMORY_ERROR and is_one_sentence(message)


def test_errors_in_a_dream_stream_are_clear_too(vis, monkeypatch):
    def broken(*args, **kwargs):
        yield from ()
        raise MemoryError()

    monkeypatch.setattr(cnnvis, "deep_dream_frames", broken)
    assert (
        user_message(lambda: app.deep_dream(str(CAT), MODEL, [], 1, 1, 0.01, 0)) == app.MEMORY_ERROR
    )


# ----- serving and settings -------------------------------------------------------------


def test_every_model_event_shares_one_concurrency_group_and_names_are_stable():
    public = {
        f"/{fn.api_name}": fn for fn in app.demo.fns.values() if fn.api_visibility == "public"
    }
    assert sorted(public) == sorted(app.API_NAMES)
    assert all(fn.concurrency_id == "model" and fn.queue for fn in public.values())
    helpers = [
        fn for fn in app.demo.fns.values() if fn.name in ("show_predictions", "model_changed")
    ]
    assert helpers and all(
        fn.api_visibility == "private" and fn.concurrency_id == "model" for fn in helpers
    )
    assert inspect_generator(app.deep_dream)


def inspect_generator(fn) -> bool:
    import inspect

    return inspect.isgeneratorfunction(fn)


def test_queue_and_launch_settings_are_safe():
    assert app.demo._queue.max_size == app.SETTINGS.max_queue
    assert app.demo._queue.default_concurrency_limit == app.SETTINGS.concurrency
    assert app.demo.delete_cache is not None
    assert app.LAUNCH_KWARGS["max_file_size"] and app.LAUNCH_KWARGS["show_error"] is False
    assert "allowed_paths" not in app.LAUNCH_KWARGS and "share" not in app.LAUNCH_KWARGS


def test_galleries_are_lossless_and_downloadable():
    galleries = [b for b in app.demo.blocks.values() if isinstance(b, gr.Gallery)]
    assert len(galleries) == 6
    assert all(g.format == "png" and "download" in g.buttons for g in galleries)


def test_command_line_and_environment(monkeypatch):
    monkeypatch.setenv("CNNVIS_CONCURRENCY", "3")
    monkeypatch.setenv("CNNVIS_APP_WEIGHTS", "random")
    monkeypatch.setenv("CNNVIS_WEIGHTS_DIR", "/some/weights")
    args = app.parse_args([])
    assert (args.concurrency, args.weights, args.weights_dir, args.max_queue) == (
        3,
        "random",
        "/some/weights",
        20,
    )
    assert (
        args.host is None and args.port is None and args.share is False
    )  # Gradio's env vars apply
    args = app.parse_args(
        ["--weights", "imagenet", "--concurrency", "2", "--max-queue", "5", "--port", "8000"]
    )
    assert (args.weights, args.concurrency, args.max_queue, args.port) == ("imagenet", 2, 5, 8000)
    with pytest.raises(SystemExit):
        app.parse_args(["--concurrency", "0"])
    with pytest.raises(ValueError):
        app.Settings(weights="pretrained")


def test_compute_device_enables_gpu_memory_growth():
    import tensorflow as tf

    device = app.compute_device()
    gpus = tf.config.list_physical_devices("GPU")
    assert device.startswith("GPU") == bool(gpus)
    assert all(tf.config.experimental.get_memory_growth(gpu) for gpu in gpus)


def test_warm_up_loads_and_traces_the_default_model(vis):
    app.warm_up(MODEL)
    assert vis.compiled_count >= 3  # classify, Grad-CAM and guided backprop are traced


def test_importing_the_app_loads_no_model():
    import subprocess
    import sys

    code = "import app, cnnvis; assert not cnnvis.MODEL_CACHE.keys(), cnnvis.MODEL_CACHE.keys()"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=app.ROOT, timeout=120)
