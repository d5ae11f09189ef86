"""What a newcomer meets first, called without a server: the model picker says which
models can run here, an unavailable model is said at once (and its layers never shown),
every tab opens on a default derived from the model's spec (over the whole registry), and
one class choice serves every tab."""

from __future__ import annotations

import gradio as gr
import pytest

import app
import cnnvis
from cnnvis import ui
from cnnvis.models import availability
from cnnvis.ui import components, page, work
from cnnvis.ui.settings import Settings

from .app_helpers import app_settings, is_one_sentence

MODEL = "MobileNetV2"
UNAVAILABLE = "ResNet50"  # a model whose weights this machine has nowhere


def event(api_name: str):
    [found] = [fn for fn in app.demo.fns.values() if fn.api_name == api_name]
    return found


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A machine whose weights folder holds only MobileNetV2's file, with an empty Keras
    cache, no remembered failures, the app using ImageNet weights; loading a model fails
    the test (the picker and the offline message must read folders only)."""
    import keras.src.backend.config as keras_config

    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "MobileNetV2.weights.h5").write_bytes(b"")  # its name is all status reads
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras"))
    monkeypatch.setenv("CNNVIS_OFFLINE", "0")
    monkeypatch.delenv("CNNVIS_WEIGHTS_DIR", raising=False)

    def no_loading(name):
        raise AssertionError(f"{name} was loaded")

    monkeypatch.setattr(work, "get_model", no_loading)
    saved = ui.current()
    ui.configure(Settings(weights="imagenet", weights_dir=str(folder)))
    availability.forget_failure(UNAVAILABLE)
    yield folder
    availability.forget_failure(UNAVAILABLE)
    ui.configure(saved)


def labels() -> dict[str, str]:
    return {name: label for label, name in page.model_choices()}


def test_the_model_picker_says_what_can_run_here(here, monkeypatch):
    choices = page.model_choices()
    # The API's list: the registry's models, then keras-hub's presets (tests/test_hub_models.py).
    assert [name for _, name in choices] == cnnvis.list_models(hub=True)
    shown = labels()
    assert shown["MobileNetV2"] == "MobileNetV2 · 224 px · ready"
    size = availability.weights_table()[UNAVAILABLE].megabytes
    assert shown[UNAVAILABLE] == f"{UNAVAILABLE} · 224 px · download {size:,.0f} MB"
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    shown = labels()
    assert shown["MobileNetV2"].endswith("ready")
    assert all(
        label.endswith("· unavailable offline")
        for name, label in shown.items()
        if name != "MobileNetV2" and name in cnnvis.REGISTRY
    )
    ui.configure(Settings(weights="random"))
    assert all(label.endswith("· random weights") for name, label in labels().items() if name in cnnvis.REGISTRY)


def test_an_unavailable_model_is_said_at_once_and_its_layers_never_shown(here, monkeypatch):
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    fill = event("model_layers")
    updates = fill.fn(UNAVAILABLE)  # no loading: work.get_model would fail the test
    assert set(updates) == set(fill.outputs)
    [summary] = [c for c in updates if isinstance(c, gr.Markdown)]
    text = updates[summary].removeprefix("⚠️ ")
    assert is_one_sentence(text), text
    assert str(here) in text and "--weights random" in text and UNAVAILABLE in text
    pickers = [c for c in fill.outputs if isinstance(c, gr.Dropdown) and c.label != "Model"]
    assert len(pickers) == 6
    for picker in pickers:  # emptied: the previous model's layers are gone
        assert updates[picker]["choices"] == [] and not updates[picker]["value"], picker.label
    assert not [c for c in fill.outputs if c.label == "Model"]  # an uploaded model's entry stays
    opened = event("page_models")  # the picker's words, when the page opens
    [model] = opened.outputs
    assert model.label == "Model" and opened.fn()["choices"] == page.model_choices()
    assert labels()[UNAVAILABLE].endswith("unavailable offline")


def test_a_failed_download_is_remembered_and_not_tried_on_every_click(here):
    availability.remember_failure(UNAVAILABLE)  # what cnnvis.models.weights does when one fails
    fill = event("model_layers")
    for _ in range(3):  # each click answers at once, loading nothing
        updates = fill.fn(UNAVAILABLE)
        [summary] = [c for c in updates if isinstance(c, gr.Markdown)]
        assert "the download failed; next try in 10 min" in updates[summary]
    assert labels()[UNAVAILABLE].endswith("unavailable: the download failed; next try in 10 min")
    availability.forget_failure(UNAVAILABLE)  # ten minutes later: downloadable again
    assert "download" in labels()[UNAVAILABLE] and "failed" not in labels()[UNAVAILABLE]


# ----- every tab opens on its technique at its best, for every model ------------------------


@pytest.fixture(scope="module")
def vis():
    saved = ui.current()
    ui.configure(app_settings())
    yield work.get_model(MODEL)
    ui.configure(saved)


def tab_of(block):
    while block is not None and not isinstance(block, gr.Tab):
        block = block.parent
    return block


def in_tab(key: str, kind: type, **wanted) -> list:
    """The components of ``kind`` in the tab ``key`` with the ``wanted`` attributes."""
    return [
        b
        for b in app.demo.blocks.values()
        if isinstance(b, kind)
        and getattr(tab_of(b), "id", None) == key
        and all(getattr(b, k) == v for k, v in wanted.items())
    ]


def test_the_tabs_open_on_the_featured_methods_and_the_legible_layer(vis):
    from cnnvis.registry import featured

    assert featured("attribution").name == "smoothgrad"  # not the raw gradient: noise to a newcomer
    assert featured("heatmap").name == "grad_cam"
    for key, output in (("attributions", "attribution"), ("grad_cam", "heatmap")):
        [picker] = in_tab(key, gr.Dropdown, label="Method")
        assert picker.value == featured(output).name
        shown = [b.value for b in in_tab(key, gr.Button) if b.visible]
        assert shown == [f"Run {featured(output).title}"]
    by_picker = event("page_layers").fn(MODEL)
    [maps] = in_tab("feature_maps", gr.Dropdown, label="Layer")
    assert by_picker[maps]["value"] == vis.legible_layer == "block_3_expand_relu"  # 56x56, not out_relu


def test_sliders_that_count_channels_stop_at_the_layers_channels(vis):
    score_cam = event("score_cam_max_channels_bounded")
    assert score_cam.fn(MODEL, "", 64) == gr.update(maximum=1280)  # out_relu, not 2048
    assert score_cam.fn(MODEL, "block_3_expand_relu", 2000) == gr.update(maximum=144, value=144)
    assert score_cam.fn(MODEL, "no_such_layer", 64) == gr.update()  # its Run says why
    filters = event("filters_count_bounded")
    assert filters.fn(MODEL, "", 64)["maximum"] == vis.info(vis.first_conv).channels == 32
    from cnnvis.techniques.feature_vis import MAX_IMAGES

    features = event("feature_visualization_count_bounded")  # its own bound is the smaller
    assert features.fn(MODEL, "", 8) == gr.update(maximum=MAX_IMAGES)


def test_a_slider_of_an_unavailable_model_is_left_alone(here, monkeypatch):
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    assert event("score_cam_max_channels_bounded").fn(UNAVAILABLE, "", 64) == gr.update()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(cnnvis.REGISTRY))
def test_every_default_is_valid_for_every_model(name):
    """Over the whole registry (weights=None: nothing downloaded): each layer picker's
    default is one of its own choices and a layer the model has; feature maps open on a
    layer finer than the head's; a channel-counting slider stops at its layer's channels."""
    from cnnvis.ui import bounds

    model = cnnvis.load_model(name, weights=None)
    for kind in components.LAYER_KINDS:
        update = components.layer_update(model, kind)
        values = update["value"] if isinstance(update["value"], list) else [update["value"]]
        offered = [value for _, value in update["choices"]]
        assert values and set(values) <= set(offered), (kind, values)
        for value in values:
            model.info(value)  # a layer it has
        channels = model.info(bounds.default_of(model, kind)).channels
        assert bounds.channel_bound(model, "", kind, 4096, 0, 5000) == gr.update(
            maximum=channels, value=channels
        )
    assert components.layer_update(model, "convolution")["value"] in model.filter_layers
    legible, head = model.info(model.legible_layer), model.info(model.default_layer)
    assert min(legible.shape[:2]) > min(head.shape[:2])


# ----- one class choice for the whole page ----------------------------------------------------


def test_clicking_a_prediction_sets_the_class_of_every_tab():
    click = event("class_clicked")
    pickers = list(click.outputs)
    assert len(pickers) == 5 and {p.label for p in pickers} == {"Class to explain"}
    assert {tab_of(p).id for p in pickers} >= {"guided_backprop", "grad_cam", "attributions"}
    [panel] = [b for b in app.demo.blocks.values() if isinstance(b, gr.Label)]
    assert click.targets == [(panel._id, "select")]
    clicked = gr.SelectData(panel, {"index": 1, "value": "281 · tabby", "selected": True})
    updates = click.fn(clicked)
    assert set(updates) == set(pickers) and all(u["value"] == "281 · tabby" for u in updates.values())


def test_a_class_picked_in_one_tab_is_picked_in_every_tab():
    picked = [fn for fn in app.demo.fns.values() if fn.api_name and fn.api_name.startswith("class_picked")]
    assert len(picked) == 5
    for fn in picked:  # a visitor's change of one picker (.input) sets the four others
        [(source, trigger)] = fn.targets
        assert trigger == "input" and source not in {o._id for o in fn.outputs}
        updates = fn.fn("285 · Egyptian cat")
        assert len(updates) == 4 and all(u["value"] == "285 · Egyptian cat" for u in updates.values())


def test_a_class_the_next_model_does_not_have_is_let_go(monkeypatch):
    """Switching models keeps the page's class where the new model has it (another ImageNet
    model, or text a visitor typed) and goes back to the top class where it has not: an
    ImageNet class after switching to a three-class model of one's own, and back."""
    from cnnvis.ui.components import TOP_CLASS, class_kept

    imagenet = components.class_choices()
    own = [(TOP_CLASS, TOP_CLASS), ("0 · cat", "0 · cat"), ("1 · dog", "1 · dog"), ("2 · fox", "2 · fox")]
    assert class_kept("285 · Egyptian cat", imagenet) == "285 · Egyptian cat"
    assert class_kept("285 · Egyptian cat", own) == TOP_CLASS
    assert class_kept("1 · dog", own) == "1 · dog"
    assert class_kept("1 · dog", imagenet) == TOP_CLASS  # ImageNet's 1 is a goldfish
    assert class_kept("tabby", own) == "tabby"  # typed: refused in one sentence when run
    assert class_kept(None, own) == class_kept("", own) == TOP_CLASS

    # the event that follows a change of model sets every class picker so
    switched = event("model_predictions")
    pickers = [o for o in switched.outputs if isinstance(o, gr.Dropdown)]
    assert len(pickers) == 5 and {p.label for p in pickers} == {"Class to explain"}
    assert [type(i).__name__ for i in switched.inputs] == ["Image", "Dropdown", "Dropdown"]
    monkeypatch.setattr(page, "predictions", lambda image, model, progress=None: (None, own))
    updates = switched.fn(None, "Your model: tiny", "285 · Egyptian cat")
    assert {updates[p]["value"] for p in pickers} == {TOP_CLASS}
    assert all(updates[p]["choices"] == own for p in pickers)
