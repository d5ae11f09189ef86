"""The app's handlers called directly, without a server: outputs, captions, errors, wiring."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

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
    summary, filters_layer, maps_layer, cam_layer, guided_layer, dream_layers, visualised = (
        app.model_changed(MODEL)
    )
    assert MODEL in summary and "224×224" in summary
    assert ("random weights" in summary) == (vis.weights == "random")
    assert filters_layer["value"] == vis.first_conv
    assert [v for _, v in filters_layer["choices"]] == list(vis.filter_layers)
    for picker in (maps_layer, cam_layer, guided_layer):
        assert picker["value"] == vis.default_layer
        assert [v for _, v in picker["choices"]] == list(vis.visual_layers)
    assert dream_layers["value"] == list(vis.dream_layers)
    assert visualised["value"] == vis.dream_layers[0]
    assert [v for _, v in visualised["choices"]] == list(vis.visual_layers)
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
    from gradio.utils import get_upload_folder

    received = Path(get_upload_folder()) / "test-app-upload"
    received.mkdir(parents=True, exist_ok=True)
    path = text_file(received)  # an upload, unopened: cnnvis will say it is not an image
    component = app.pass_original_upload(gr.Image(type="filepath", image_mode=None, render=False))
    assert component.preprocess(ImageData(path=str(path), orig_name="notes.png")) == str(path)
    assert component.preprocess(None) is None
    # A file this server did not receive never gets through, even without the middleware.
    with pytest.raises(gr.Error, match="did not receive"):
        component.preprocess(ImageData(path=str(text_file(tmp_path)), orig_name="notes.png"))
    assert not (app.ROOT / "app.pyi").exists()  # no gr.Image subclass: Gradio writes no stub


def test_big_photos_are_shrunk_for_display(tmp_path):
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((600, 3000, 3), np.uint8)).save(path)
    assert app.read_image(str(path)).shape == (205, app.MAX_SIDE, 3)


def upside_down_technique(monkeypatch) -> str:
    """A heatmap method added to the registry, as a package change would add one."""

    def upside_down_cam(model, image, *, target_class=None, layer=None, window=None):
        result = cnnvis.grad_cam(model, image, target_class=target_class, layer=layer)
        note = f"window {window}"
        return dataclasses.replace(
            result, heatmap=result.heatmap[::-1], method="Upside-down CAM", note=note
        )

    fake = dataclasses.replace(
        cnnvis.TECHNIQUES["grad_cam"],
        name="upside_down_cam",
        title="Upside-down CAM",
        function=upside_down_cam,
    )
    monkeypatch.setitem(cnnvis.TECHNIQUES, "upside_down_cam", fake)
    return "upside_down_cam"


def test_a_heatmap_method_added_to_the_registry_appears_with_no_app_change(vis, monkeypatch):
    name = upside_down_technique(monkeypatch)
    assert name in app.methods_of("heatmap") and name in app.endpoint_methods("heatmap")
    # its tab offers it, with its own endpoint taking the options it knows (window)
    demo = app.build_demo()
    [picker] = [
        b
        for b in demo.blocks.values()
        if isinstance(b, gr.Dropdown)
        and b.label == "Method"
        and ("Grad-CAM", "grad_cam") in b.choices
    ]
    assert ("Upside-down CAM", name) in picker.choices
    endpoints = {f"/{fn.api_name}": fn for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert set(endpoints) == {*app.API_NAMES, f"/{name}"}
    assert app.method_parameters(name) == [
        "image",
        "model",
        "layer",
        "target_class",
        "colormap",
        "opacity",
        "window",
    ]
    items = app.method_endpoint(name)(str(CAT), MODEL, "", "top class", "jet", 0.5, 48)
    check_gallery(items, 2, "Upside-down CAM", MODEL, vis.default_layer, "window 48")
    # /grad_cam and the tab's Run button take it too, with the options' defaults
    items = app.grad_cam(str(CAT), MODEL, "", "top class", "jet", 0.5, name)
    check_gallery(items, 2, "Upside-down CAM", "window 32")
    run = app.chosen_method_handler("heatmap")
    items = run(name, str(CAT), MODEL, "", "top class", "jet", 0.5, 8, 40, 20)
    check_gallery(items, 2, "Upside-down CAM", "window 40")


def test_method_pickers_come_from_the_registry():
    for output in ("heatmap", "attribution"):
        expected = [
            n for n, t in cnnvis.TECHNIQUES.items() if t.output == output and n not in app.OWN_TABS
        ]
        assert app.methods_of(output) == expected
    assert {"grad_cam", "score_cam", "occlusion", "eigen_cam"} <= set(app.methods_of("heatmap"))
    assert app.methods_of("attribution") == [
        "vanilla_gradient",
        "smoothgrad",
        "integrated_gradients",
        "gradient_x_input",
    ]
    assert "grad_cam" not in app.endpoint_methods()  # /grad_cam keeps its published signature


def test_changing_method_shows_its_own_controls_only():
    # Heatmaps: text, button, layer, max_channels, window, stride
    text, button, layer, channels, window, stride = app.method_changed("grad_cam")
    assert text == app.technique_text("grad_cam") and "Selvaraju" in text
    assert button["value"] == "Run Grad-CAM" and app.method_changed(None)[0] == text
    assert (layer["visible"], channels["visible"], window["visible"]) == (True, False, False)
    _, button, layer, channels, window, stride = app.method_changed("score_cam")
    assert button["value"] == "Run Score-CAM" and layer["visible"] and channels["visible"]
    assert not window["visible"]
    _, _, layer, channels, window, stride = app.method_changed("occlusion")
    assert not layer["visible"] and not channels["visible"]
    assert window["visible"] and stride["visible"]
    # Attributions: text, button, samples, noise, seed, baseline, steps
    text, button, *options = app.method_changed("smoothgrad", output="attribution")
    assert "Smilkov" in text and button["value"] == "Run SmoothGrad"
    assert [o["visible"] for o in options] == [True, True, True, False, False]
    *_, baseline, steps = app.method_changed("integrated_gradients", output="attribution")
    assert baseline["visible"] and steps["visible"]
    assert app.tab_options("attribution") == ["samples", "noise", "seed", "baseline", "steps"]


# Small settings, so that every method runs in about a second on a CPU.
SMALL_OPTIONS = {
    "score_cam": {"max_channels": 8},
    "occlusion": {"window": 64, "stride": 64},
    "smoothgrad": {"samples": 4, "noise": 0.1, "seed": 1},
    "integrated_gradients": {"baseline": "blur", "steps": 4},
}
EXPECTED_NOTES = {
    "score_cam": "8 of",
    "occlusion": "64-pixel",
    "smoothgrad": "4 samples",
    "integrated_gradients": "gap",
}


@pytest.mark.parametrize("name", app.endpoint_methods())
def test_each_method_endpoint_draws_its_result(vis, photo_shape, name):
    technique = cnnvis.TECHNIQUES[name]
    values = {"image": str(CAT), "model": MODEL, "target_class": "281", "layer": ""}
    values |= {"colormap": "viridis", "opacity": 0.4} | SMALL_OPTIONS.get(name, {})
    endpoint = app.method_endpoint(name)
    items = endpoint(**{p: values[p] for p in app.method_parameters(name)})
    check_gallery(items, 2, MODEL, "tabby (281)", EXPECTED_NOTES.get(name, ""))
    assert all(picture.shape == photo_shape for picture, _ in items)
    assert endpoint.__name__ == name and technique.summary in endpoint.__doc__
    if technique.output == "heatmap":
        assert items[0][1].endswith("over the photo")
    else:
        assert items[1][1].endswith("saliency, bright = strong effect")


def test_integrated_gradients_says_its_completeness_gap(vis):
    endpoint = app.method_endpoint("integrated_gradients")
    [(_, signed), _] = endpoint(str(CAT), MODEL, "top class", "black", 8)
    assert "8 steps" in signed and "black baseline" in signed and "gap" in signed


def test_score_cam_channel_count_zero_or_too_many_means_all(vis):
    layer = vis.default_layer
    channels = vis.info(layer).channels
    for given, expected in ((0, None), (channels + 5, None), (16, 16)):
        values = app.option_values(vis, "score_cam", None, {"max_channels": given})
        assert values == {"max_channels": expected}
    assert app.option_values(vis, "score_cam", None, {}) == {"max_channels": 64}
    assert app.option_values(vis, "grad_cam", None, {"max_channels": 3}) == {}


def test_the_tabs_run_button_passes_only_the_chosen_methods_options(vis):
    run = app.chosen_method_handler("attribution")
    items = run("smoothgrad", str(CAT), MODEL, "top class", 3, 0.2, 7, "white", 2)
    check_gallery(items, 2, "SmoothGrad", "3 samples", "seed 7")
    items = run("integrated_gradients", str(CAT), MODEL, "top class", 3, 0.2, 7, "white", 2)
    check_gallery(items, 2, "Integrated Gradients", "2 steps", "white baseline")


def test_feature_visualisation_streams_pictures_then_the_result(vis):
    frames = list(app.feature_visualization(MODEL, "channels", "", 3, "", [], 8, 64, 2))
    *steps, final = frames
    assert len(steps) >= 3  # about 8 intermediate pictures
    for items in steps:
        check_gallery(items, 1, "in progress", MODEL, "step")
    layer = vis.dream_layers[0]
    check_gallery(final, 4, "Feature visualisation", MODEL, layer, "8 steps", "64 px", "seed 2")
    assert [caption.split(" · ")[4] for _, caption in final[1:]] == [
        "channel 0",
        "channel 1",
        "channel 2",
    ]
    assert all(picture.shape == (64, 64, 3) for picture, _ in final[1:])


def test_feature_visualisation_of_chosen_channels_and_of_classes(vis):
    *_, final = app.feature_visualization(
        MODEL, "channels", "block_3_expand_relu", 8, "5, 2", [], 4, 64, 0
    )
    check_gallery(final, 3, "block_3_expand_relu")
    assert "channel 5" in final[1][1] and "channel 2" in final[2][1]
    classes = ["285 · Egyptian cat", "flamingo"]
    *_, final = app.feature_visualization(MODEL, "class", "", 8, "", classes, 4, 64, 0)
    check_gallery(final, 3, "class logits", "logit")
    assert "Egyptian cat (285)" in final[1][1] and "flamingo (130)" in final[2][1]


def test_feature_target_switches_the_controls():
    layer, count, _, classes = app.feature_target_changed("class")
    assert not layer["visible"] and not count["visible"] and classes["visible"]
    assert app.feature_target_changed("channels")[0]["visible"]


def test_compare_ranks_maps_by_faithfulness_with_a_chart(vis, photo_shape):
    methods = ["grad_cam", "vanilla_gradient", "eigen_cam"]
    gallery, chart = app.compare(str(CAT), MODEL, "top class", methods, 5)
    check_gallery(gallery, 3, MODEL, "deletion", "insertion", "random map")
    assert [caption.split(" ")[0] for _, caption in gallery] == ["#1", "#2", "#3"]
    scores = [float(caption.split("score ")[1].split(" ")[0]) for _, caption in gallery]
    assert scores == sorted(scores, reverse=True)
    titles = {cnnvis.TECHNIQUES[m].title for m in methods}
    assert {caption.split(" · ")[0].split(" ", 1)[1] for _, caption in gallery} == titles
    assert all(picture.shape == photo_shape for picture, _ in gallery)
    assert chart.dtype == np.uint8 and chart.shape == (480, 1000, 3)


def test_sanity_check_shows_maps_per_step_and_their_correlations(vis):
    [(grid, text)], table = app.sanity_check(
        str(CAT), MODEL, "top class", ["grad_cam", "vanilla_gradient"], 2, 0
    )
    check_gallery([(grid, text)], 1, "Model randomisation", MODEL, "Grad-CAM, Gradient", "seed 0")
    assert table["headers"] == [
        "re-drawn down to (layers)",
        "Grad-CAM ρ",
        "Grad-CAM SSIM",
        "Gradient ρ",
        "Gradient SSIM",
    ]
    rows = table["data"]
    assert len(rows) == 3 and rows[0][0] == "nothing (trained)"
    assert rows[0][1:] == [1.0, 1.0, 1.0, 1.0]  # the copy gives the trained model's maps
    assert all(-1 <= value <= 1 for row in rows for value in row[1:])
    height, width = grid.shape[:2]
    assert width > 3 * 150 and height > 2 * 100  # the trained model, then two steps; 2 methods


def test_pointing_game_reports_hits_and_misses(vis):
    height, width = app.read_image(str(CAT)).shape[:2]
    methods = ["grad_cam", "vanilla_gradient"]
    gallery, table = app.pointing_game(
        str(CAT), MODEL, "top class", methods, 0, 0, width - 1, height - 1, 15
    )
    check_gallery(gallery, 2, MODEL, "hit: its peak", "inside the box")
    assert table["headers"][:2] == ["method", "result"]
    assert [row[:2] for row in table["data"]] == [["Grad-CAM", "hit"], ["Gradient", "hit"]]
    peak = table["data"][0][2:4]
    far = (
        (0, 0, 1, 1)
        if peak[0] > 40 or peak[1] > 40
        else (width - 2, height - 2, width - 1, height - 1)
    )
    gallery, table = app.pointing_game(str(CAT), MODEL, "top class", ["grad_cam"], *far, 0)
    assert table["data"][0][1] == "miss" and table["data"][0][4] > 0
    assert "miss: its peak" in gallery[0][1] and "px from the box (tolerance 0 px)" in gallery[0][1]


def test_pointing_game_marks_the_box_and_the_peak():
    picture = np.full((100, 200, 3), 128, np.uint8)
    marked = app.mark_box(picture, (20, 10, 120, 80), (50, 40))
    white = (marked == 255).all(axis=-1)
    assert white[15:75, 19:25].any(axis=1).all() and white[15:75, 116:122].any(axis=1).all()
    assert (marked[10:80, 20] == 0).all(axis=-1).any()  # edged in black
    assert not white[15:75, 70:110].any()  # inside the box, away from the peak: the picture
    assert (marked[40, 50] == 255).all()  # the peak's cross
    assert (marked[95, 190] == 128).all() and (picture == 128).all()  # far away, and a copy
    app.mark_box(picture, (-50, -50, 500, 500), (0, 199))  # clipped, not an error


def test_the_box_drawn_on_the_photo_is_the_bounding_box_of_the_ink():
    layer = np.zeros((50, 80, 4), np.uint8)
    layer[10:20, 30:35, 3] = 255
    layer[40, 60, 3] = 200
    assert app.box_drawn({"background": None, "layers": [layer], "composite": None}) == (
        30,
        10,
        60,
        40,
    )
    assert app.box_drawn({"layers": [np.zeros((50, 80, 4), np.uint8)]}) == (None,) * 4
    assert app.box_drawn({"layers": []}) == (None,) * 4 and app.box_drawn(None) == (None,) * 4


def test_the_drawing_area_follows_the_photo(tmp_path):
    photo, *box = app.photo_for_drawing(str(CAT))
    assert photo.shape == app.read_image(str(CAT)).shape and box == [None] * 4
    assert app.photo_for_drawing(None) == (None,) * 5
    assert app.photo_for_drawing(str(text_file(tmp_path))) == (None,) * 5  # said elsewhere


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
        # the new methods' own parameters
        "negative Score-CAM channels": (
            app.method_endpoint("score_cam"),
            str(CAT),
            MODEL,
            "",
            "top class",
            "jet",
            0.5,
            -4,
        ),
        "occlusion square too small": (
            app.method_endpoint("occlusion"),
            str(CAT),
            MODEL,
            "top class",
            "jet",
            0.5,
            0,
            1,
        ),
        "occlusion stride beyond its square": (
            app.method_endpoint("occlusion"),
            str(CAT),
            MODEL,
            "top class",
            "jet",
            0.5,
            16,
            40,
        ),
        "occlusion with too many squares": (
            app.method_endpoint("occlusion"),
            str(CAT),
            MODEL,
            "top class",
            "jet",
            0.5,
            2,
            1,
        ),
        "no SmoothGrad samples": (
            app.method_endpoint("smoothgrad"),
            str(CAT),
            MODEL,
            "top class",
            0,
            0.1,
            0,
        ),
        "SmoothGrad noise too strong": (
            app.method_endpoint("smoothgrad"),
            str(CAT),
            MODEL,
            "top class",
            4,
            3.0,
            0,
        ),
        "fractional SmoothGrad seed": (
            app.method_endpoint("smoothgrad"),
            str(CAT),
            MODEL,
            "top class",
            4,
            0.1,
            0.5,
        ),
        "unknown baseline": (
            app.method_endpoint("integrated_gradients"),
            str(CAT),
            MODEL,
            "top class",
            "grey",
            4,
        ),
        "too many IG steps": (
            app.method_endpoint("integrated_gradients"),
            str(CAT),
            MODEL,
            "top class",
            "black",
            9999,
        ),
        "method of another tab": (
            app.chosen_method_handler("attribution"),
            "grad_cam",
            str(CAT),
            MODEL,
            "top class",
            4,
            0.1,
            0,
            "black",
            4,
        ),
        "unknown feature target": (
            app.feature_visualization,
            MODEL,
            "neurons",
            "",
            4,
            "",
            [],
            4,
            64,
            0,
        ),
        "channels that are not numbers": (
            app.feature_visualization,
            MODEL,
            "channels",
            "",
            4,
            "3, seven",
            [],
            4,
            64,
            0,
        ),
        "channel out of range": (
            app.feature_visualization,
            MODEL,
            "channels",
            "Conv1",
            4,
            "99",
            [],
            4,
            64,
            0,
        ),
        "no class to visualise": (
            app.feature_visualization,
            MODEL,
            "class",
            "",
            4,
            "",
            [],
            4,
            64,
            0,
        ),
        "feature picture too small": (
            app.feature_visualization,
            MODEL,
            "channels",
            "",
            2,
            "",
            [],
            4,
            8,
            0,
        ),
        "too much feature work": (
            app.feature_visualization,
            MODEL,
            "channels",
            "",
            16,
            "",
            [],
            1024,
            384,
            0,
        ),
        "nothing to compare": (app.compare, str(CAT), MODEL, "top class", [], 5),
        "unknown method to compare": (app.compare, str(CAT), MODEL, "top class", ["magic"], 5),
        "compare in one step": (app.compare, str(CAT), MODEL, "top class", ["grad_cam"], 1),
        "too many methods to sanity-check": (
            app.sanity_check,
            str(CAT),
            MODEL,
            "top class",
            app.map_methods()[:9],
            2,
            0,
        ),
        "no randomisation step": (
            app.sanity_check,
            str(CAT),
            MODEL,
            "top class",
            ["grad_cam"],
            0,
            0,
        ),
        "no box drawn": (
            app.pointing_game,
            str(CAT),
            MODEL,
            "top class",
            ["grad_cam"],
            None,
            None,
            None,
            None,
            15,
        ),
        "box upside down": (
            app.pointing_game,
            str(CAT),
            MODEL,
            "top class",
            ["grad_cam"],
            50,
            80,
            100,
            20,
            15,
        ),
        "box outside the photo": (
            app.pointing_game,
            str(CAT),
            MODEL,
            "top class",
            ["grad_cam"],
            5000,
            10,
            6000,
            20,
            15,
        ),
        "unknown method to point": (
            app.pointing_game,
            str(CAT),
            MODEL,
            "top class",
            ["magic"],
            0,
            0,
            50,
            50,
            15,
        ),
        "negative tolerance": (
            app.pointing_game,
            str(CAT),
            MODEL,
            "top class",
            ["grad_cam"],
            0,
            0,
            50,
            50,
            -1,
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
        "negative Score-CAM channels",
        "occlusion square too small",
        "occlusion stride beyond its square",
        "occlusion with too many squares",
        "no SmoothGrad samples",
        "SmoothGrad noise too strong",
        "fractional SmoothGrad seed",
        "unknown baseline",
        "too many IG steps",
        "method of another tab",
        "unknown feature target",
        "channels that are not numbers",
        "channel out of range",
        "no class to visualise",
        "feature picture too small",
        "too much feature work",
        "nothing to compare",
        "unknown method to compare",
        "compare in one step",
        "too many methods to sanity-check",
        "no randomisation step",
        "no box drawn",
        "box upside down",
        "box outside the photo",
        "unknown method to point",
        "negative tolerance",
    ],
)
def test_bad_input_gives_one_clear_sentence(vis, tmp_path, case):
    handler, *args = bad_inputs(tmp_path)[case]
    message = user_message(lambda: handler(*args))
    assert is_one_sentence(message), message
    assert message not in (app.GENERIC_ERROR, app.MEMORY_ERROR)  # the input's fault, said so


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
    assert pickers == [gr.update()] * app.LAYER_PICKERS  # the layer pickers keep what they had


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
        fn
        for fn in app.demo.fns.values()
        if fn.name in ("show_predictions", "model_changed", "run_heatmap", "run_attribution")
    ]
    assert len(helpers) == 7 and all(
        fn.api_visibility == "private" and fn.concurrency_id == "model" for fn in helpers
    )
    assert inspect_generator(app.deep_dream) and inspect_generator(app.feature_visualization)
    # the Stop buttons cancel the streams (Gradio adds a cancelling event on the same click)
    events = {fn.api_name: fn for fn in app.demo.fns.values()}
    cancelling = [fn.get_config() for fn in app.demo.fns.values() if fn.get_config()["cancels"]]
    for stop, stream in (
        ("stop_dream", "deep_dream"),
        ("stop_feature_visualization", "feature_visualization"),
    ):
        click = events[stop].get_config()["targets"]
        assert [c["cancels"] for c in cancelling if c["targets"] == click] == [[events[stream]._id]]


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
    assert len(galleries) == 11  # 9 tabs, and the Compare tab's three checks
    assert all(g.format == "png" and "download" in g.buttons for g in galleries)
    [chart] = [
        b for b in app.demo.blocks.values() if isinstance(b, gr.Image) and b.interactive is False
    ]
    assert chart.format == "png" and "download" in chart.buttons


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
