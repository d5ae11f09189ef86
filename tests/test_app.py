"""The app's handlers called directly, without a server: outputs, captions, errors, wiring."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app
import cnnvis
from cnnvis import registry, ui
from cnnvis.ui import components, endpoints, inputs, page, pictures, work
from cnnvis.ui import errors as ui_errors
from cnnvis.ui import settings as settings_module
from cnnvis.serving.lanes import LANES, lane_of
from cnnvis.ui.settings import Settings
from cnnvis.ui.tabs import checks, classic, dreams, methods

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
    saved = ui.current()
    ui.configure(app_settings())
    yield ui.current()
    ui.configure(saved)


@pytest.fixture(scope="module")
def vis(settings):
    return work.get_model(MODEL)


@pytest.fixture(scope="module")
def photo_shape():
    return cnnvis.load_image(CAT).shape


def drawn(items) -> list[tuple[np.ndarray, str]]:
    """A handler's gallery, (PNG path, caption) pairs, as (RGB array, caption)."""
    decoded = []
    for path, caption in items:
        with Image.open(path) as picture:
            assert picture.format == "PNG" and picture.mode == "RGB", path
            decoded.append((np.asarray(picture), caption))
    return decoded


def check_gallery(items, count: int, *words: str) -> list[tuple[np.ndarray, str]]:
    """Check a handler's gallery (PNG files with captions); returns it decoded."""
    assert len(items) == count
    pictures_ = drawn(items)
    for picture, caption in pictures_:
        assert picture.dtype == np.uint8 and picture.ndim == 3
        assert picture.shape[2] == 3 and min(picture.shape[:2]) >= 16
        for word in words:
            assert word in caption, (word, caption)
    return pictures_


def method(name: str):
    """A method's endpoint handler, called with its parameters in their published order."""
    technique = cnnvis.TECHNIQUES[name]
    endpoint = methods.method_endpoint(technique)

    def call(*values):
        names = methods.method_parameters(technique)
        assert len(values) <= len(names), (name, values)
        return endpoint(**dict(zip(names, values)))

    return call


def event(demo: gr.Blocks, api_name: str):
    """The demo's event of this api_name."""
    [found] = [fn for fn in demo.fns.values() if fn.api_name == api_name]
    return found


def by_label(updates: dict) -> dict[str, dict]:
    """A handler's updates keyed by component, keyed by the components' labels instead
    (or their value for buttons)."""
    return {(c.label or c.value): u for c, u in updates.items()}


def user_message(handler, *args) -> str:
    """What a visitor reads when ``handler(*args)`` fails, as the page's events run it
    (every exception translated by cnnvis.ui.errors.friendly)."""
    with pytest.raises(gr.Error) as caught:
        result = ui_errors.friendly(handler)(*args)
        if hasattr(result, "__next__"):
            list(result)
    return caught.value.message


# ----- results ------------------------------------------------------------------------


def test_classify_gives_five_probabilities(vis):
    result = page.classify(str(CAT), MODEL)
    assert len(result) == 5 and all(0 <= p <= 1 for p in result.values())
    assert sum(result.values()) <= 1 + 1e-6
    assert list(result.values()) == sorted(result.values(), reverse=True)
    if WEIGHTS == "real":
        assert next(iter(result)) == EGYPTIAN_CAT


def test_filters_show_the_first_convolution_by_default(vis):
    items = classic.filters(MODEL, None, 8, "norm")
    check_gallery(items, 1, "Filters", MODEL, vis.first_conv, "8 of 32 filters", "RGB")


def test_filters_of_a_deeper_convolution_are_shown_per_input_channel(vis):
    deeper = vis.filter_layers[2]
    items = classic.filters(MODEL, deeper, 4, "first")
    check_gallery(items, 1, deeper, "input channels")


def test_feature_maps_give_a_sheet_and_an_overlay_at_photo_size(vis, photo_shape):
    items = classic.feature_maps(str(CAT), MODEL, "", 6, "most_active", "viridis")
    sheet, overlay = check_gallery(items, 2, "Feature maps", MODEL, vis.default_layer)
    assert overlay[0].shape == photo_shape
    assert "6 channels" in items[0][1]


def test_guided_backprop_gives_its_magnitude_first_then_its_signs(vis, photo_shape):
    """Issue 24: the magnitude, capped at the 99th percentile, is what a student reads
    first (a signed map around mid-grey reads as grey noise); the signs come second."""
    items = classic.guided_backprop(str(CAT), MODEL, "top class")
    decoded = check_gallery(items, 2, "Guided backprop", MODEL, "guided rule at every ReLU")
    assert [caption.split(" · ")[-1] for _, caption in items] == [
        pictures.MAGNITUDE_WORDS,
        pictures.SIGNED_WORDS,
    ]
    assert all(picture.shape == photo_shape for picture, _ in decoded)
    magnitude, signed = (picture.astype(int) for picture, _ in decoded)
    # grey on black: the top 1 % of the map at white, most of the photo far darker; the
    # signed picture sits around mid-grey instead
    assert (magnitude[..., 0] == magnitude[..., 2]).all()
    assert magnitude.max() == 255 and (magnitude[..., 0] == 255).mean() <= 0.02
    assert np.median(magnitude) < 100 and 100 < np.median(signed) < 156


@pytest.mark.parametrize(
    "target, label",
    [("282 · tiger cat", "tiger cat (282)"), ("tabby", "tabby (281)"), (287, "lynx (287)")],
)
def test_grad_cam_explains_the_chosen_class(vis, photo_shape, target, label):
    items = method("grad_cam")(str(CAT), MODEL, vis.default_layer, target, "viridis", 0.3)
    decoded = check_gallery(items, 2, "Grad-CAM", MODEL, vis.default_layer, label)
    overlay, heatmap = (picture for picture, _ in decoded)
    assert overlay.shape == heatmap.shape == photo_shape
    assert not np.array_equal(overlay, heatmap)


def test_grad_cam_opacity_zero_leaves_the_photo(vis):
    [(overlay, _), _] = drawn(method("grad_cam")(str(CAT), MODEL, "", "top class", "jet", 0.0))
    np.testing.assert_array_equal(overlay, inputs.read_image(str(CAT)))  # lossless PNG, too


def test_guided_grad_cam_names_its_layer(vis, photo_shape):
    items = classic.guided_grad_cam(str(CAT), MODEL, "", "281")
    check_gallery(
        items, 2, "Guided Grad-CAM", MODEL, "tabby (281)", f"Grad-CAM at {vis.default_layer}"
    )


def test_deep_dream_streams_frames_then_the_result(vis):
    frames = list(dreams.deep_dream(str(CAT), MODEL, [], 2, 4, 0.02, 3))
    assert len(frames) >= 3  # a picture during each octave, and at each octave's end
    *steps, final = frames
    for items in steps:
        check_gallery(items, 1, "in progress", "octave")
    check_gallery(
        final[:1], 1, "Deep Dream", MODEL, *vis.dream_layers, "2 octaves × 4 steps", "seed 3"
    )
    assert final[1][1] == "The photo it started from"
    (dream, _), (photo, _) = drawn(final)
    assert dream.shape == photo.shape
    np.testing.assert_array_equal(photo, inputs.read_image(str(CAT)))


def test_deep_dream_takes_one_layer_name_as_a_string(vis):
    layer = vis.dream_layers[0]
    *_, final = dreams.deep_dream(str(CAT), MODEL, layer, 1, 1, 0.01, 0)
    assert f"{MODEL} · {layer} ·" in final[0][1]


def test_random_weights_are_said_in_captions(vis):
    items = classic.guided_backprop(str(CAT), MODEL, None)
    assert ("random weights" in items[0][1]) == (vis.weights == "random")


# ----- the shared area and the pickers ---------------------------------------------------


def test_predictions_panel_fills_the_class_pickers_with_the_top_classes_first(vis):
    label, choices = page.predictions(str(CAT), MODEL)
    assert len(label) == 5
    # the top-class entry names the class it stands for (issue 24); its value is unchanged
    assert choices[0] == (f"{inputs.TOP_CLASS}: {choices[1][0]}", inputs.TOP_CLASS)
    assert [value for _, value in choices[1:6]] == list(label)
    assert len(choices) == 1001 and len({value for _, value in choices}) == 1001
    assert choices[1][0].endswith("%)")


def test_predictions_panel_is_empty_without_a_photo():
    label, choices = page.predictions(None, MODEL)
    assert label is None and len(choices) == 1001


def test_the_photo_refreshes_the_panel_and_every_class_picker_by_name(vis):
    """One event fills the top-5 panel and each tab's class picker, returning a dict
    keyed by component (no tuple whose positions must match)."""
    refresh = event(app.demo, "photo_predictions")
    class_pickers = [c for c in refresh.outputs if isinstance(c, gr.Dropdown)]
    assert len(class_pickers) == 5 and {c.label for c in class_pickers} == {"Class to explain"}
    updates = refresh.fn(str(CAT), MODEL)
    assert set(updates) == set(refresh.outputs)
    [panel] = [c for c in updates if isinstance(c, gr.Label)]
    assert len(updates[panel]) == 5
    assert all(len(updates[c]["choices"]) == 1001 for c in class_pickers)


def test_model_change_fills_and_preselects_every_layer_picker(vis):
    summary, loaded = page.model_layers(MODEL)
    assert loaded is vis and MODEL in summary and "224×224" in summary
    assert ("random weights" in summary) == (vis.weights == "random")
    updates = {kind: components.layer_update(vis, kind) for kind in components.LAYER_KINDS}
    assert updates["convolution"]["value"] == vis.first_conv
    assert [v for _, v in updates["convolution"]["choices"]] == list(vis.filter_layers)
    for kind in ("feature map", "dream", "middle"):
        assert [v for _, v in updates[kind]["choices"]] == list(vis.visual_layers)
    assert updates["feature map"]["value"] == vis.default_layer
    assert updates["dream"]["value"] == list(vis.dream_layers)
    assert updates["middle"]["value"] == vis.dream_layers[0]
    assert any(
        label.startswith(f"{vis.default_layer} · 7×7×")
        for label, _ in updates["feature map"]["choices"]
    )
    # the page's event updates every tab's layer picker, each by its kind
    fill = event(app.demo, "page_layers")
    by_picker = fill.fn(MODEL)
    pickers = [c for c in fill.outputs if isinstance(c, gr.Dropdown) and c.label != "Model"]
    assert len(pickers) == 6 and set(by_picker) == set(fill.outputs)
    expected = {
        "Convolution": vis.first_conv,
        # feature maps (maps that read as pictures), heatmaps (the head's), feature vis.
        "Layer": {vis.legible_layer, vis.default_layer, vis.dream_layers[0]},
        "Grad-CAM layer": vis.default_layer,
        "Layers to excite": list(vis.dream_layers),
    }
    # each picker gets an update of its own: Gradio pops the value of an update it applies,
    # so one dict shared by three pickers would fill only the first
    assert len({id(by_picker[picker]) for picker in pickers}) == len(pickers)
    for picker in pickers:
        value = by_picker[picker]["value"]
        wanted = expected[picker.label]
        assert value in wanted if isinstance(wanted, set) else value == wanted, picker.label


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
    assert inputs.parse_class(choice) == expected


def test_uploads_are_decoded_once_by_cnnvis_with_exif(tmp_path):
    path = str(rotated_jpeg(tmp_path))
    image = inputs.read_image(path)
    assert image.shape == (40, 20, 3)  # EXIF orientation applied: Gradio's PIL code would not
    assert inputs.read_image(path) is image and not image.flags.writeable


def test_photo_input_passes_the_original_upload_through(tmp_path):
    from gradio.data_classes import ImageData
    from gradio.utils import get_upload_folder

    received = Path(get_upload_folder()) / "test-app-upload"
    received.mkdir(parents=True, exist_ok=True)
    path = text_file(received)  # an upload, unopened: cnnvis will say it is not an image
    component = inputs.pass_original_upload(
        gr.Image(type="filepath", image_mode=None, render=False)
    )
    assert component.preprocess(ImageData(path=str(path), orig_name="notes.png")) == str(path)
    assert component.preprocess(None) is None
    # A file this server did not receive never gets through, even without the middleware.
    with pytest.raises(gr.Error, match="did not receive"):
        component.preprocess(ImageData(path=str(text_file(tmp_path)), orig_name="notes.png"))
    # no subclass of a Gradio component anywhere: Gradio writes no stub (the only stubs
    # are the package's own lists of public names)
    root = Path(app.__file__).resolve().parent
    stubs = {p.relative_to(root).as_posix() for p in (root / "cnnvis").rglob("*.pyi")}
    assert not list(root.glob("*.pyi"))
    assert stubs == {"cnnvis/__init__.pyi", "cnnvis/datasets/__init__.pyi"}


def test_big_photos_are_shrunk_for_display(tmp_path):
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((600, 3000, 3), np.uint8)).save(path)
    assert inputs.read_image(str(path)).shape == (205, inputs.MAX_SIDE, 3)


def test_a_cam_method_registered_with_the_package_appears_in_the_ui_and_the_api(vis):
    """A throwaway CAM method, registered the way every method is (its function, its
    declaration), is in a fresh demo's Heatmaps picker with a control for its option, is
    its own endpoint with that option and runs in its lane; unregistered, it is gone."""
    from cnnvis.registry import Option, technique

    @technique(
        title="Upside-down CAM",
        output="heatmap",
        paper="Nobody et al. 2026",
        summary="Grad-CAM turned upside down, for this test.",
        options=(
            Option("flips", int, 1, "Flips", "How many flips.", low=1, high=3, app_range=(1, 3, 1)),
        ),
    )
    def upside_down_cam(model, image, *, target_class=None, layer=None, flips: int = 1):
        import dataclasses

        result = cnnvis.grad_cam(model, image, target_class=target_class, layer=layer)
        native = result.native[::-1] if flips % 2 else result.native
        return dataclasses.replace(
            result, native=native, method="Upside-down CAM", note=f"{flips} flips"
        )

    try:
        demo = ui.build_demo()
        [picker] = [
            b
            for b in demo.blocks.values()
            if isinstance(b, gr.Dropdown)
            and b.label == "Method"
            and ("Grad-CAM", "grad_cam") in b.choices
        ]
        assert picker.choices[-1] == ("Upside-down CAM", "upside_down_cam")
        [flips] = [
            b for b in demo.blocks.values() if isinstance(b, gr.Slider) and b.label == "Flips"
        ]
        assert (flips.minimum, flips.maximum, flips.value, flips.visible) == (1, 3, 1, False)
        published = endpoints.published(demo)
        assert set(published) == set(endpoints.published(app.demo)) | {"/upside_down_cam"}
        endpoint = published["/upside_down_cam"]
        assert (
            endpoint.concurrency_id == "quick" and "Nobody et al. 2026" in endpoint.api_description
        )
        info = demo.get_api_info()["named_endpoints"]["/upside_down_cam"]
        assert [p["parameter_name"] for p in info["parameters"]] == [
            "image",
            "model",
            "layer",
            "target_class",
            "colormap",
            "opacity",
            "flips",
        ]
        assert info["parameters"][-1]["component"] == "Slider"
        assert info["parameters"][-1]["parameter_default"] == 1
        [button] = [
            b for b in demo.blocks.values() if getattr(b, "value", None) == "Run Upside-down CAM"
        ]
        assert endpoint.targets == [(button._id, "click")]
        items = endpoint.fn(
            image=str(CAT),
            model=MODEL,
            layer="",
            target_class="top class",
            colormap="jet",
            opacity=0.5,
            flips=3,
        )
        check_gallery(items[endpoint.outputs[0]], 2, "Upside-down CAM", MODEL, "3 flips")
        # /grad_cam runs it too, at its defaults
        items = method("grad_cam")(str(CAT), MODEL, "", "top class", "jet", 0.5, "upside_down_cam")
        check_gallery(items, 2, "Upside-down CAM", "1 flips")
    finally:
        registry.unregister("upside_down_cam")
        cnnvis.__dict__.pop("upside_down_cam", None)
    assert "/upside_down_cam" not in endpoints.published(ui.build_demo())


def test_method_pickers_come_from_the_registry():
    for output in ("heatmap", "attribution"):
        expected = [t for t in registry.of_output(output) if not t.own_tab]
        assert methods.methods_of(output) == expected
    heatmaps = [t.name for t in methods.methods_of("heatmap")]
    assert {"grad_cam", "score_cam", "occlusion", "eigen_cam"} <= set(heatmaps)
    assert [t.name for t in methods.methods_of("attribution")] == [
        "vanilla_gradient",
        "smoothgrad",
        "integrated_gradients",
        "gradient_x_input",
    ]
    grad_cam = cnnvis.TECHNIQUES["grad_cam"]  # /grad_cam keeps its published method parameter
    assert methods.method_parameters(grad_cam)[-1] == "method"


def test_every_own_tab_technique_has_a_tab_and_every_technique_an_endpoint():
    """The registry decides which techniques get a tab of their own (own_tab), and each
    technique of the registry is published (the checks under their first names)."""
    tab_ids = {b.id for b in app.demo.blocks.values() if isinstance(b, gr.Tab)}
    own = {name for name, t in cnnvis.TECHNIQUES.items() if t.own_tab}
    assert own <= tab_ids, own - tab_ids
    names = set(endpoints.published(app.demo)) - {"/stop_deep_dream", "/stop_feature_visualization"}
    renamed = {"randomization_check": "/sanity_check", "pointing_games": "/pointing_game"}
    # /load_model is the one endpoint that is no technique: it loads your own model.
    assert {renamed.get(name, f"/{name}") for name in cnnvis.TECHNIQUES} == names - {"/load_model"}


def test_changing_method_shows_its_own_controls_and_run_button_only():
    show = event(app.demo, "grad_cam_method_changed")
    updates = by_label(show.fn("grad_cam"))
    text = next(u for c, u in show.fn("grad_cam").items() if isinstance(c, gr.Markdown))
    assert "Selvaraju" in text and show.fn(None) == show.fn("grad_cam")
    visible = {
        label
        for label, update in updates.items()
        if isinstance(update, dict) and update.get("visible")
    }
    assert visible == {"Layer", "Run Grad-CAM"}
    visible = {
        label
        for label, u in by_label(show.fn("score_cam")).items()
        if isinstance(u, dict) and u.get("visible")
    }
    assert visible == {"Layer", "Run Score-CAM", "Channels to score (0 = all)"}
    visible = {
        label
        for label, u in by_label(show.fn("occlusion")).items()
        if isinstance(u, dict) and u.get("visible")
    }
    assert visible == {"Run Occlusion", "Grey square's side", "Stride"}
    show = event(app.demo, "attributions_method_changed")
    visible = {
        label
        for label, u in by_label(show.fn("smoothgrad")).items()
        if isinstance(u, dict) and u.get("visible")
    }
    assert visible == {
        "Run SmoothGrad",
        "Noisy copies",
        "Noise level",
        "Seed (same seed, same noise)",
    }
    visible = {
        label
        for label, u in by_label(show.fn("integrated_gradients")).items()
        if isinstance(u, dict) and u.get("visible")
    }
    assert visible == {"Run Integrated Gradients", "Baseline", "Steps on the path"}
    with pytest.raises(gr.Error):
        show.fn("grad_cam")  # a method of the other tab


def test_each_method_runs_from_its_own_button_with_its_own_controls():
    """No hidden carriers, no chosen-method dispatcher: the Run button of each method is
    its endpoint, and it sends exactly the controls the method takes."""
    published = endpoints.published(app.demo)
    for technique in [*methods.methods_of("heatmap"), *methods.methods_of("attribution")]:
        endpoint = published[f"/{technique.name}"]
        [(button_id, trigger)] = endpoint.targets
        button = app.demo.blocks[button_id]
        assert (
            trigger == "click"
            and button.value == f"Run {technique.title}"
            and isinstance(button, gr.Button)
        )
        assert endpoint.input_keyword_names == methods.method_parameters(technique)
        labels = {c.label for c in endpoint.inputs}
        for option in technique.options:
            assert (option.label in labels) == option.in_app, (technique.name, option.name)
        assert endpoint.concurrency_id == technique.cost


def published_techniques():
    renamed = {"/sanity_check": "randomization_check", "/pointing_game": "pointing_games"}
    return [
        pytest.param(name, cnnvis.TECHNIQUES[renamed.get(name, name[1:])], id=name)
        for name in endpoints.published(app.demo)
        if not name.startswith("/stop_")  # Stop buttons: no options, nothing computed
        and name != "/load_model"  # loading your own model: no technique (test_own_model_app)
    ]


@pytest.mark.parametrize(("api_name", "technique"), published_techniques())
def test_every_option_the_app_offers_is_its_registry_declaration(api_name, technique):
    """Over the whole registry: each endpoint's option parameters are the options its
    technique declares for the app, each a control with the declared label, words,
    default and range (a slider over the app range, a number field within the bounds, a
    radio or dropdown over the choices); the options kept out of the app are not there."""
    endpoint = endpoints.published(app.demo)[api_name]
    controls = dict(zip(endpoint.input_keyword_names, endpoint.inputs))
    for option in technique.options:
        if not option.in_app:
            assert option.name not in controls or controls[option.name].label != option.label
            continue
        control = controls[option.name]
        assert (control.label, control.info) == (option.label, option.info), option.name
        assert control.value == option.shown_default, option.name
        if option.choices:
            assert {value for _, value in control.choices} == set(option.choices)
        elif option.app_range is not None:
            assert isinstance(control, gr.Slider)
            assert (control.minimum, control.maximum, control.step) == option.app_range
        else:
            assert isinstance(control, gr.Number)
            assert (control.minimum, control.maximum) == (option.low, option.high)


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


@pytest.mark.parametrize(
    "name",
    [t.name for o in ("heatmap", "attribution") for t in methods.methods_of(o) if t.needs is None],
)
def test_each_method_endpoint_draws_its_result(vis, photo_shape, name):
    technique = cnnvis.TECHNIQUES[name]
    values = {"image": str(CAT), "model": MODEL, "target_class": "281", "layer": ""}
    values |= {"colormap": "viridis", "opacity": 0.4, "method": name} | SMALL_OPTIONS.get(name, {})
    endpoint = methods.method_endpoint(technique)
    items = endpoint(**{p: values[p] for p in methods.method_parameters(technique)})
    decoded = check_gallery(items, 2, MODEL, "tabby (281)", EXPECTED_NOTES.get(name, ""))
    assert all(picture.shape == photo_shape for picture, _ in decoded)
    description = endpoints.published(app.demo)[f"/{name}"].api_description
    assert (
        endpoint.__name__ == name
        and technique.summary in description
        and technique.paper in description
    )
    if technique.output == "heatmap":
        assert items[0][1].endswith("over the photo")
    else:
        assert items[0][1].endswith(pictures.MAGNITUDE_WORDS)


def test_integrated_gradients_says_its_completeness_gap(vis):
    [(_, signed), _] = method("integrated_gradients")(str(CAT), MODEL, "top class", "black", 8)
    assert "8 steps" in signed and "black baseline" in signed and "gap" in signed


def test_score_cam_channel_count_zero_or_too_many_means_all(vis):
    score_cam = cnnvis.TECHNIQUES["score_cam"]
    channels = vis.info(vis.default_layer).channels
    for given, expected in ((0, None), (channels + 5, None), (16, 16)):
        values = methods.option_values(vis, score_cam, None, {"max_channels": given})
        assert values == {"max_channels": expected}
    assert methods.option_values(vis, score_cam, None, {}) == {"max_channels": 64}
    assert (
        methods.option_values(vis, cnnvis.TECHNIQUES["grad_cam"], None, {"max_channels": 3}) == {}
    )
    occlusion = cnnvis.TECHNIQUES["occlusion"]  # its range starts above the package's bound
    assert methods.option_values(vis, occlusion, None, {"window": 0}) == {"window": 0, "stride": 16}


def test_feature_visualisation_streams_pictures_then_the_result(vis):
    frames = list(dreams.feature_visualization(MODEL, "channels", "", 3, "", [], 8, 64, 2))
    *steps, final = frames
    assert len(steps) >= 3  # about 8 intermediate pictures
    for items in steps:
        check_gallery(items, 1, "in progress", MODEL, "step")
    layer = vis.dream_layers[0]
    decoded = check_gallery(
        final, 4, "Feature visualisation", MODEL, layer, "8 steps", "64 px", "seed 2"
    )
    assert [caption.split(" · ")[4] for _, caption in final[1:]] == [
        "channel 0",
        "channel 1",
        "channel 2",
    ]
    assert all(picture.shape == (64, 64, 3) for picture, _ in decoded[1:])


def test_feature_visualisation_of_chosen_channels_and_of_classes(vis):
    *_, final = dreams.feature_visualization(
        MODEL, "channels", "block_3_expand_relu", 8, "5, 2", [], 4, 64, 0
    )
    check_gallery(final, 3, "block_3_expand_relu")
    assert "channel 5" in final[1][1] and "channel 2" in final[2][1]
    classes = ["285 · Egyptian cat", "flamingo"]
    *_, final = dreams.feature_visualization(MODEL, "class", "", 8, "", classes, 4, 64, 0)
    check_gallery(final, 3, "class logits", "logit")
    assert "Egyptian cat (285)" in final[1][1] and "flamingo (130)" in final[2][1]


def test_feature_target_switches_the_controls():
    switch = event(app.demo, "feature_target_changed")
    shown = {label: update["visible"] for label, update in by_label(switch.fn("class")).items()}
    assert shown == {
        "Layer": False,
        "How many channels": False,
        "Or these channels": False,
        "Classes": True,
    }
    shown = {label: update["visible"] for label, update in by_label(switch.fn("channels")).items()}
    assert shown == {
        "Layer": True,
        "How many channels": True,
        "Or these channels": True,
        "Classes": False,
    }


def test_compare_ranks_maps_by_faithfulness_with_a_chart(vis, photo_shape):
    chosen = ["grad_cam", "vanilla_gradient", "eigen_cam"]
    result = checks.compare(str(CAT), MODEL, "top class", chosen, 5)
    gallery, chart = result["maps"], result["chart"]
    decoded = check_gallery(gallery, 3, MODEL, "deletion", "insertion", "random map")
    assert [caption.split(" ")[0] for _, caption in gallery] == ["#1", "#2", "#3"]
    scores = [float(caption.split("score ")[1].split(" ")[0]) for _, caption in gallery]
    assert scores == sorted(scores, reverse=True)
    titles = {cnnvis.TECHNIQUES[m].title for m in chosen}
    assert {caption.split(" · ")[0].split(" ", 1)[1] for _, caption in gallery} == titles
    assert all(picture.shape == photo_shape for picture, _ in decoded)
    [(chart, _)] = drawn([(chart, "")])
    assert chart.dtype == np.uint8 and chart.shape == (900, 760, 3)


@pytest.mark.fullsize
def test_sanity_check_shows_maps_per_step_and_their_correlations(vis):
    result = checks.sanity_check(
        str(CAT), MODEL, "top class", ["grad_cam", "vanilla_gradient"], 2, 0
    )
    table = result["table"]
    [(grid, _)] = check_gallery(
        result["maps"], 1, "Model randomisation", MODEL, "Grad-CAM, Gradient", "seed 0"
    )
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
    height, width = inputs.read_image(str(CAT)).shape[:2]
    chosen = ["grad_cam", "vanilla_gradient", "grad_cam"]  # a name twice counts once
    result = checks.pointing_game(
        str(CAT), MODEL, "top class", chosen, 0, 0, width - 1, height - 1, 15
    )
    gallery, table = result["maps"], result["table"]
    check_gallery(gallery, 2, MODEL, "hit: its peak", "inside the box")
    assert table["headers"][:2] == ["method", "result"]
    assert [row[:2] for row in table["data"]] == [["Grad-CAM", "hit"], ["Gradient", "hit"]]
    peak = table["data"][0][2:4]
    far = (
        (0, 0, 1, 1)
        if peak[0] > 40 or peak[1] > 40
        else (width - 2, height - 2, width - 1, height - 1)
    )
    result = checks.pointing_game(str(CAT), MODEL, "top class", ["grad_cam"], *far, 0)
    gallery, table = result["maps"], result["table"]
    assert table["data"][0][1] == "miss" and table["data"][0][4] > 0
    assert "miss: its peak" in gallery[0][1] and "px from the box (tolerance 0 px)" in gallery[0][1]


def test_pointing_game_marks_the_box_and_the_peak():
    picture = np.full((100, 200, 3), 128, np.uint8)
    marked = pictures.mark_box(picture, (20, 10, 120, 80), (50, 40))
    white = (marked == 255).all(axis=-1)
    assert white[15:75, 19:25].any(axis=1).all() and white[15:75, 116:122].any(axis=1).all()
    assert (marked[10:80, 20] == 0).all(axis=-1).any()  # edged in black
    assert not white[15:75, 70:110].any()  # inside the box, away from the peak: the picture
    assert (marked[40, 50] == 255).all()  # the peak's cross
    assert (marked[95, 190] == 128).all() and (picture == 128).all()  # far away, and a copy
    pictures.mark_box(picture, (-50, -50, 500, 500), (0, 199))  # clipped, not an error


def test_the_box_drawn_on_the_photo_is_the_bounding_box_of_the_ink():
    layer = np.zeros((50, 80, 4), np.uint8)
    layer[10:20, 30:35, 3] = 255
    layer[40, 60, 3] = 200
    drawing = {"background": None, "layers": [layer], "composite": None}
    assert inputs.box_drawn(drawing) == (30, 10, 60, 40)
    assert inputs.box_drawn({"layers": [np.zeros((50, 80, 4), np.uint8)]}) is None
    assert inputs.box_drawn({"layers": []}) is None and inputs.box_drawn(None) is None
    corners = event(app.demo, "box_drawn").fn(drawing)  # the four corner fields, by name
    assert {c.label: v for c, v in corners.items()} == {"x0": 30, "y0": 10, "x1": 60, "y1": 40}
    assert set(event(app.demo, "box_drawn").fn(None).values()) == {None}


def test_the_drawing_area_follows_the_photo(tmp_path):
    follow = event(app.demo, "photo_drawing")
    updates = follow.fn(str(CAT))
    [drawing] = [c for c in updates if isinstance(c, gr.ImageEditor)]
    assert updates[drawing].shape == inputs.read_image(str(CAT)).shape
    # the pointing game's corners and the trust report's (which take the box drawn here)
    assert [v for c, v in updates.items() if c is not drawing] == [None] * 8
    assert set(follow.fn(None).values()) == {None}
    assert set(follow.fn(str(text_file(tmp_path))).values()) == {None}  # said elsewhere


# ----- errors -------------------------------------------------------------------------


def bad_inputs(tmp_path) -> dict[str, tuple]:
    return {
        "no image": (method("grad_cam"), None, MODEL, "", "top class", "jet", 0.5),
        "not an image": (
            method("grad_cam"),
            str(text_file(tmp_path)),
            MODEL,
            "",
            "top class",
            "jet",
            0.5,
        ),
        "truncated": (
            classic.feature_maps,
            str(truncated_jpeg(tmp_path)),
            MODEL,
            "",
            4,
            "first",
            "viridis",
        ),
        "huge": (page.classify, str(bomb_png(tmp_path)), MODEL),
        "unknown model": (page.classify, str(CAT), "ResNet9000"),
        "unknown layer": (
            method("grad_cam"),
            str(CAT),
            MODEL,
            "no_such_layer",
            "top class",
            "jet",
            0.5,
        ),
        "not a convolution": (classic.filters, MODEL, "out_relu", 4, "first"),
        "unknown class": (classic.guided_backprop, str(CAT), MODEL, "unicorn"),
        "class out of range": (classic.guided_grad_cam, str(CAT), MODEL, "", "1000"),
        "count out of range": (classic.filters, MODEL, "", 0, "first"),
        "opacity out of range": (method("grad_cam"), str(CAT), MODEL, "", "top class", "jet", 1.5),
        "unknown colormap": (classic.feature_maps, str(CAT), MODEL, "", 4, "first", "rainbowz"),
        "unknown order": (classic.feature_maps, str(CAT), MODEL, "", 4, "loudest", "viridis"),
        "unknown method": (
            method("grad_cam"),
            str(CAT),
            MODEL,
            "",
            "top class",
            "jet",
            0.5,
            "magic_cam",
        ),
        "octaves out of range": (dreams.deep_dream, str(CAT), MODEL, [], 99, 2, 0.01, 0),
        "fractional steps": (dreams.deep_dream, str(CAT), MODEL, [], 1, 2.5, 0.01, 0),
        "too many dream layers": (
            dreams.deep_dream,
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
            method("score_cam"),
            str(CAT),
            MODEL,
            "",
            "top class",
            "jet",
            0.5,
            -4,
        ),
        "occlusion square too small": (
            method("occlusion"),
            str(CAT),
            MODEL,
            "top class",
            "jet",
            0.5,
            0,
            1,
        ),
        "occlusion stride beyond its square": (
            method("occlusion"),
            str(CAT),
            MODEL,
            "top class",
            "jet",
            0.5,
            16,
            40,
        ),
        "occlusion with too many squares": (
            method("occlusion"),
            str(CAT),
            MODEL,
            "top class",
            "jet",
            0.5,
            2,
            1,
        ),
        "no SmoothGrad samples": (
            method("smoothgrad"),
            str(CAT),
            MODEL,
            "top class",
            0,
            0.1,
            0,
        ),
        "SmoothGrad noise too strong": (
            method("smoothgrad"),
            str(CAT),
            MODEL,
            "top class",
            4,
            3.0,
            0,
        ),
        "fractional SmoothGrad seed": (
            method("smoothgrad"),
            str(CAT),
            MODEL,
            "top class",
            4,
            0.1,
            0.5,
        ),
        "unknown baseline": (
            method("integrated_gradients"),
            str(CAT),
            MODEL,
            "top class",
            "grey",
            4,
        ),
        "too many IG steps": (
            method("integrated_gradients"),
            str(CAT),
            MODEL,
            "top class",
            "black",
            9999,
        ),
        "method of another tab": (
            method("grad_cam"),
            str(CAT),
            MODEL,
            "",
            "top class",
            "jet",
            0.5,
            "smoothgrad",
        ),
        "unknown feature target": (
            dreams.feature_visualization,
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
            dreams.feature_visualization,
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
            dreams.feature_visualization,
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
            dreams.feature_visualization,
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
            dreams.feature_visualization,
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
            dreams.feature_visualization,
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
        "nothing to compare": (checks.compare, str(CAT), MODEL, "top class", [], 5),
        "unknown method to compare": (checks.compare, str(CAT), MODEL, "top class", ["magic"], 5),
        "compare in one step": (checks.compare, str(CAT), MODEL, "top class", ["grad_cam"], 1),
        "too many methods to sanity-check": (
            checks.sanity_check,
            str(CAT),
            MODEL,
            "top class",
            list(registry.map_methods())[:9],
            2,
            0,
        ),
        "no randomisation step": (
            checks.sanity_check,
            str(CAT),
            MODEL,
            "top class",
            ["grad_cam"],
            0,
            0,
        ),
        "no box drawn": (
            checks.pointing_game,
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
            checks.pointing_game,
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
            checks.pointing_game,
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
            checks.pointing_game,
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
            checks.pointing_game,
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
    message = user_message(handler, *args)
    assert is_one_sentence(message), message
    assert message not in (
        ui_errors.GENERIC_ERROR,
        ui_errors.MEMORY_ERROR,
    )  # the input's fault, said so


def test_a_model_without_weights_says_so_and_others_keep_working(tmp_path):
    saved = ui.current()
    ui.configure(Settings(weights="imagenet", weights_dir=str(tmp_path)))
    try:
        message = user_message(page.classify, str(CAT), "VGG16")
    finally:
        ui.configure(saved)
    assert "VGG16" in message and "weights" in message and is_one_sentence(message)
    assert len(page.classify(str(CAT), MODEL)) == 5


def test_a_model_without_weights_is_explained_where_it_is_chosen(tmp_path):
    saved = ui.current()
    ui.configure(Settings(weights="imagenet", weights_dir=str(tmp_path)))
    try:
        summary, loaded = page.model_layers("ResNet50")
        by_picker = event(app.demo, "model_layers").fn("ResNet50")
    finally:
        ui.configure(saved)
    assert summary.startswith("⚠️") and "ResNet50" in summary and "weights" in summary
    assert loaded is None and by_picker[next(iter(by_picker))] == summary
    pickers = [c for c in by_picker if isinstance(c, gr.Dropdown) and c.label != "Model"]
    assert len(pickers) == 6  # emptied: they never show another model's layers
    assert all(by_picker[p]["choices"] == [] and not by_picker[p]["value"] for p in pickers)


def test_unexpected_errors_are_logged_and_hidden(vis, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals: tensor shape [1,7,7,1280]")

    monkeypatch.setattr(cnnvis, "classify", broken)
    with caplog.at_level(logging.ERROR, logger="cnnvis.app"):
        message = user_message(page.classify, str(CAT), MODEL)
    assert message == ui_errors.GENERIC_ERROR and is_one_sentence(message)
    assert "secret" in caplog.text  # the maintainers see it in the log
    monkeypatch.undo()
    assert len(page.classify(str(CAT), MODEL)) == 5


def test_out_of_memory_becomes_a_clear_sentence(vis, monkeypatch):
    import tensorflow as tf

    def exhausted(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[1,2,3]"
        )

    monkeypatch.setattr(cnnvis, "feature_maps", exhausted)
    message = user_message(classic.feature_maps, str(CAT), MODEL, "", 4, "first", "viridis")
    assert message == ui_errors.MEMORY_ERROR and is_one_sentence(message)


def test_errors_in_a_dream_stream_are_clear_too(vis, monkeypatch):
    def broken(*args, **kwargs):
        yield from ()
        raise MemoryError()

    monkeypatch.setattr(cnnvis, "deep_dream_frames", broken)
    assert (
        user_message(dreams.deep_dream, str(CAT), MODEL, [], 1, 1, 0.01, 0)
        == ui_errors.MEMORY_ERROR
    )


# ----- serving and settings -------------------------------------------------------------


def test_every_event_runs_in_the_lane_of_its_techniques_cost():
    """Each endpoint's concurrency_id is its technique's cost; the page's own events that
    compute (the predictions, the layers) are quick work; the lanes' limits are the
    settings'; the endpoint names are the snapshot's (tests/test_api.py checks all)."""
    public = endpoints.published(app.demo)
    renamed = {
        "/sanity_check": "randomization_check",
        "/pointing_game": "pointing_games",
        "/stop_deep_dream": "deep_dream",
        "/stop_feature_visualization": "feature_visualization",
    }
    for name, fn in public.items():
        cost = "long" if name == "/load_model" else None  # your own model: loading is long work
        technique = cnnvis.TECHNIQUES[renamed.get(name, name[1:])] if cost is None else None
        assert fn.concurrency_id == (cost or technique.cost) and fn.queue, name
    assert {public[n].concurrency_id for n in ("/deep_dream", "/compare", "/score_cam")} == {"long"}
    assert {public[n].concurrency_id for n in ("/grad_cam", "/classify", "/filters")} == {"quick"}
    helpers = [
        fn for fn in app.demo.fns.values() if fn.api_name.endswith(("_predictions", "_layers"))
    ]
    assert len(helpers) == 5 and all(
        fn.api_visibility == "private" and fn.concurrency_id == "quick" for fn in helpers
    )
    # Gradio's queue holds quick work (it shows each visitor's place), at the quick lane's
    # limit plus the long lane's admissions (an uploaded model's costly quick work runs in
    # the long lane: issue 21); long work all starts and waits in its lane, which bounds
    # its admissions.
    limits = ui.current().lane_limits
    for fn in [*public.values(), *helpers]:
        wanted = limits["quick"] + LANES["long"].admission if fn.concurrency_id == "quick" else None
        assert fn.concurrency_limit == wanted, fn.api_name
    assert set(limits) == set(registry.COSTS)
    assert LANES["quick"].admission is None
    assert LANES["long"].admission == limits["long"] + ui.current().long_queue
    assert inspect.isgeneratorfunction(dreams.deep_dream) and inspect.isgeneratorfunction(
        dreams.feature_visualization
    )
    # the Stop buttons are endpoints of their own that stop the session's run (no Gradio
    # cancellation, which would lose the picture so far): no lane, no inputs, no outputs
    events = {fn.api_name: fn for fn in app.demo.fns.values()}
    assert not [fn.api_name for fn in app.demo.fns.values() if fn.get_config()["cancels"]]
    for stop in ("stop_deep_dream", "stop_feature_visualization"):
        assert not events[stop].inputs and not events[stop].outputs
        assert lane_of(events[stop].fn) is None


def test_the_lanes_limits_follow_the_settings():
    saved = ui.current()
    try:
        settings = Settings(
            weights="random", concurrency=3, long_concurrency=2, long_queue=4, max_queue=7
        )
        demo = ui.build_demo(settings=settings)
        public = endpoints.published(demo)
        assert public["/grad_cam"].concurrency_limit == 3 + 6  # and the long lane's admissions
        assert public["/deep_dream"].concurrency_limit is None  # it waits in its lane
        assert (LANES["quick"].slots, LANES["long"].slots, LANES["long"].admission) == (3, 2, 6)
        assert demo._queue.max_size == 7 and demo._queue.default_concurrency_limit == 3
    finally:
        ui.apply_queue(app.demo, saved)
    # Without a number, quick work suits the device: one at a time on a CPU, two on a GPU.
    kind = settings_module.compute_device().kind
    assert Settings().lane_limits["quick"] == settings_module.QUICK_SLOTS[kind]
    assert settings_module.QUICK_SLOTS == {"CPU": 1, "GPU": 2}


def test_every_handler_computes_through_the_one_entry_in_its_lane(vis, monkeypatch):
    """work.compute is the one place every computation passes (where the lanes' bounds
    go): each endpoint handler calls it, with its technique's lane (/grad_cam with the
    lane of the method it runs)."""
    lanes = []
    real = work.compute

    def recording(lane, fn, *args, **kwargs):
        lanes.append(lane)
        return real(lane, fn, *args, **kwargs)

    monkeypatch.setattr(work, "compute", recording)
    photo = str(CAT)
    calls = {
        "quick": [
            lambda: page.classify(photo, MODEL),
            lambda: classic.filters(MODEL, "", 2, "first"),
            lambda: classic.guided_backprop(photo, MODEL, ""),
            lambda: method("grad_cam")(photo, MODEL, "", "", "jet", 0.5),
            lambda: method("gradient_x_input")(photo, MODEL, ""),
        ],
        "long": [
            lambda: method("grad_cam")(photo, MODEL, "", "", "jet", 0.5, "occlusion"),
            lambda: method("smoothgrad")(photo, MODEL, "", 2, 0.1, 0),
            lambda: list(dreams.deep_dream(photo, MODEL, [], 1, 1, 0.01, 0)),
            lambda: checks.compare(photo, MODEL, "", ["grad_cam"], 4),
        ],
    }
    for lane, handlers in calls.items():
        for handler in handlers:
            lanes.clear()
            handler()
            assert lanes and lanes[-1] == lane, (lane, lanes)


def test_queue_and_launch_settings_are_safe():
    assert app.demo._queue.max_size == ui.current().max_queue
    assert app.demo._queue.default_concurrency_limit == ui.current().lane_limits["quick"]
    assert ui.current().max_queue >= 60  # a class pressing Run at once is queued, not refused
    assert app.demo.delete_cache is not None
    assert ui.LAUNCH_KWARGS["max_file_size"] and ui.LAUNCH_KWARGS["show_error"] is False
    assert "allowed_paths" not in ui.LAUNCH_KWARGS and "share" not in ui.LAUNCH_KWARGS


def test_galleries_are_lossless_and_downloadable():
    galleries = [b for b in app.demo.blocks.values() if isinstance(b, gr.Gallery)]
    assert len(galleries) == 12  # 9 tabs, and the Compare tab's trust report and three checks
    assert all(g.format == "png" and "download" in g.buttons for g in galleries)
    charts = [b for b in app.demo.blocks.values() if isinstance(b, gr.Image) and b.interactive is False]
    assert len(charts) == 2  # deletion & insertion's curves, the trust report's curves
    assert all(chart.format == "png" and "download" in chart.buttons for chart in charts)


def test_command_line_and_environment(monkeypatch):
    monkeypatch.setenv("CNNVIS_CONCURRENCY", "3")
    monkeypatch.setenv("CNNVIS_APP_WEIGHTS", "random")
    monkeypatch.setenv("CNNVIS_WEIGHTS_DIR", "/some/weights")
    monkeypatch.setenv("CNNVIS_LONG_CONCURRENCY", "2")
    args = settings_module.parse_args([])
    assert (
        args.concurrency,
        args.weights,
        args.weights_dir,
        args.max_queue,
        args.long_concurrency,
    ) == (
        3,
        "random",
        "/some/weights",
        100,
        2,
    )
    assert settings_module.settings_from(args).lane_limits == {"quick": 3, "long": 2}
    assert (
        args.host is None and args.port is None and args.share is False
    )  # Gradio's env vars apply
    args = settings_module.parse_args(
        [
            "--weights",
            "imagenet",
            "--concurrency",
            "2",
            "--max-queue",
            "5",
            "--port",
            "8000",
            "--long-concurrency",
            "4",
        ]
    )
    assert (args.weights, args.concurrency, args.max_queue, args.port) == ("imagenet", 2, 5, 8000)
    assert args.long_concurrency == 4
    for flag in ("--concurrency", "--long-concurrency"):
        with pytest.raises(SystemExit):
            settings_module.parse_args([flag, "0"])
    with pytest.raises(ValueError):
        Settings(weights="pretrained")


def test_compute_device_enables_gpu_memory_growth():
    import tensorflow as tf

    device = settings_module.compute_device()
    gpus = tf.config.list_physical_devices("GPU")
    assert device.is_gpu == bool(gpus) and str(device).startswith(device.kind)
    assert all(tf.config.experimental.get_memory_growth(gpu) for gpu in gpus)


def test_warm_up_loads_and_traces_the_default_model(vis):
    work.warm_up(MODEL)
    assert vis.compiled_count >= 3  # classify, Grad-CAM and guided backprop are traced


def test_importing_the_app_loads_no_model():
    import subprocess
    import sys

    code = "import app, cnnvis; assert not cnnvis.MODEL_CACHE.keys(), cnnvis.MODEL_CACHE.keys()"
    root = Path(app.__file__).resolve().parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=120)
