"""What a newcomer meets first, called without a server: the model picker says which
models can run here, an unavailable model is said at once (and its layers never shown),
every tab opens on a default derived from the model's spec (over the whole registry), and
one class choice serves every tab."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

import app
import cnnvis
from cnnvis import ui
from cnnvis.models import availability
from cnnvis.ui import components, page, work
from cnnvis.ui.settings import Settings

from cnnvis.ui import opening
from cnnvis.ui.texts import CLASS_FROM

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
    assert all(u["info"] == CLASS_FROM["clicked"] for u in updates.values())  # and says so


def test_a_class_picked_in_one_tab_is_picked_in_every_tab():
    picked = [fn for fn in app.demo.fns.values() if fn.api_name and fn.api_name.startswith("class_picked")]
    assert len(picked) == 5
    for fn in picked:  # a visitor's change of one picker (.input) sets the four others
        [(source, trigger)] = fn.targets
        assert trigger == "input"
        updates = fn.fn("285 · Egyptian cat")
        assert len(updates) == 5
        [own] = [u for c, u in updates.items() if c._id == source]
        others = [u for c, u in updates.items() if c._id != source]
        assert "value" not in own  # its own value is the visitor's: only its words change
        assert all(u["value"] == "285 · Egyptian cat" for u in others)
        # every picker says where the class came from (issue 24): picked in that tab
        [picker] = [c for c in updates if c._id == source]
        words = CLASS_FROM["picked"].format(tab=page.tab_title(picker))
        assert {u["info"] for u in updates.values()} == {words}
        assert page.tab_title(picker) in {"Guided backprop", "Attributions", "Heatmaps", "Guided Grad-CAM", "Compare"}
        back = fn.fn("top class")  # the top class again: said so
        assert {u["info"] for u in back.values()} == {CLASS_FROM["top"]}


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


def test_the_top_class_entry_says_which_class_it_is():
    top = [cnnvis.Prediction(rank=1, index=285, wnid="n02124075", label="Egyptian cat", probability=0.84, logit=9.0)]
    choices = components.class_choices(top)
    assert choices[0] == ("top class: 285 · Egyptian cat (84%)", "top class")  # its value unchanged
    assert components.class_choices()[0] == ("top class", "top class")  # no photo: no class yet


# ----- a page that opens on results (issue 24) ------------------------------------------------

QUICK_TABS = {"filters", "feature_maps", "guided_backprop", "grad_cam", "guided_grad_cam"}
LONG_TABS = {
    "feature_visualization", "attributions", "deep_dream",
    "trust_report", "deletion_insertion", "sanity_check", "pointing_game",
}


def the_page():
    return app.demo.cnnvis_page


def opener(key: str) -> opening.Opener:
    [found] = [o for o in the_page().openers.openers if o.key == key]
    return found


def defaults(vis) -> dict[int, object]:
    """Every opener input's value as the page opens on the example photo, by component id."""
    given = {}
    for each in the_page().openers.openers:
        values = page.opening_values(the_page(), each, vis)
        given |= {id(c): values[name] for name, c in each.inputs.items()}
    return given


def pictures_of(gallery) -> list[str]:
    return [item[0] if isinstance(item, (tuple, list)) else item["image"] for item in gallery or []]


def test_every_tab_has_an_opener_and_its_lane_is_its_techniques_cost(vis):
    keys = {o.key for o in the_page().openers.openers}
    assert keys == QUICK_TABS | LONG_TABS
    for each in the_page().openers.openers:
        lane = each.chosen(page.opening_values(the_page(), each, vis))[3]
        assert (lane == "quick") == (each.key in QUICK_TABS), each.key
    assert page.first_tab(the_page()) == "filters"  # the tab the page opens on


def test_each_quick_tab_opens_on_its_result_and_a_second_opening_computes_nothing(vis, monkeypatch):
    opening.RESULTS.clear()
    for key in sorted(QUICK_TABS):
        each = opener(key)
        selected = event(f"{key}_opened")
        values = page.opening_values(the_page(), each, vis)
        arguments = [{"tab": "filters"}, *(values[name] for name in each.inputs)]
        shown = selected.fn(*arguments)
        [state] = [v for c, v in shown.items() if isinstance(c, gr.State)]
        assert state["tab"] == key
        files = pictures_of(shown[each.outputs["gallery"]])
        assert files and all(Path(f).is_file() for f in files), key
        calls = []
        monkeypatch.setattr(each, "run", lambda *a, **k: calls.append(1))
        if each.pick is not None:  # the Heatmaps tab: its method's endpoint
            name, endpoint, chosen_values, lane = each.chosen(values)
            monkeypatch.setattr(each, "pick", lambda v, n=name, cv=chosen_values, ln=lane: (
                n, lambda **k: calls.append(1), cv, ln))
        again = selected.fn(*arguments)
        assert pictures_of(again[each.outputs["gallery"]]) == files and not calls, key


def test_a_cached_result_whose_files_were_deleted_is_computed_again(vis, tmp_path):
    cache = opening.ResultCache(capacity=2)
    kept = tmp_path / "result.png"
    kept.write_bytes(b"png")
    cache.put("a", {"gallery": [(str(kept), "a caption")]})
    assert cache.get("a") is not None
    kept.unlink()  # Gradio's delete_cache removed it
    assert cache.get("a") is None and len(cache) == 0
    for key in "bcd":  # bounded: the least recently used goes
        cache.put(key, {"gallery": []})
    assert cache.get("b") is None and cache.get("c") is not None and len(cache) == 2


def test_the_cache_key_is_the_photos_bytes_and_every_setting(tmp_path):
    from .app_helpers import CAT

    copy = tmp_path / "same.jpg"
    copy.write_bytes(CAT.read_bytes())
    key = opening.result_key("feature_maps", {"image": str(CAT), "model": MODEL, "count": 8.0})
    assert key == opening.result_key("feature_maps", {"image": str(copy), "model": MODEL, "count": 8})
    assert key != opening.result_key("feature_maps", {"image": str(CAT), "model": MODEL, "count": 9})
    assert key != opening.result_key("filters", {"image": str(CAT), "model": MODEL, "count": 8})


def test_a_change_refreshes_the_open_tab_and_empties_the_others(vis):
    """After a change of photo, model or class: the open tab shows its result for the new
    values, every other tab is emptied (never the previous photo's result)."""
    opening.RESULTS.clear()
    refreshers = [fn for fn in app.demo.fns.values() if (fn.api_name or "").startswith("tab_refreshed")]
    assert len(refreshers) >= 4  # the photo, the page's model, a new model, the class choices
    refresh = refreshers[0]
    given = defaults(vis)
    values = [given[id(c)] for c in refresh.inputs[1:]]
    shown = refresh.fn({"tab": "grad_cam"}, *values)
    for each in the_page().openers.openers:
        gallery = shown[next(iter(each.outputs.values()))]
        assert bool(pictures_of(gallery)) == (each.key == "grad_cam"), each.key
    # with no photo (a refused one was emptied): the tabs that need one are empty, and no error
    no_photo = [None if c is the_page().image else v for c, v in zip(refresh.inputs[1:], values)]
    shown = refresh.fn({"tab": "compare", "compare": "sanity_check"}, *no_photo)
    assert not any(pictures_of(shown[o.outputs["maps"]]) for o in the_page().openers.openers if "maps" in o.outputs)


def test_a_long_tab_opens_on_its_precomputed_result_and_never_computes_on_opening(vis):
    opening.RESULTS.clear()
    each = opener("attributions")
    values = page.opening_values(the_page(), each, vis)
    arguments = [{"tab": "filters"}, *(values[name] for name in each.inputs)]
    selected = event("attributions_opened")
    assert not pictures_of(selected.fn(*arguments)[each.outputs["gallery"]])  # SmoothGrad: long
    assert page.precompute_openings(the_page(), "attributions") == 1
    shown = selected.fn(*arguments)[each.outputs["gallery"]]
    captions = [item[1] for item in shown]
    assert captions and "SmoothGrad" in captions[0] and captions[0].endswith(pictures_module().MAGNITUDE_WORDS)
    assert page.precompute_openings(the_page(), "attributions") == 0  # once per model, photo, settings


def pictures_module():
    from cnnvis.ui import pictures

    return pictures


def test_a_run_keeps_its_result_for_the_tabs_opening(vis, monkeypatch):
    opening.RESULTS.clear()
    each = opener("filters")
    values = page.opening_values(the_page(), each, vis)
    run = endpoints_of("/filters")
    produced = run.fn(**values)  # the Run button (the API's /filters)
    calls = []
    monkeypatch.setattr(each, "run", lambda *a, **k: calls.append(1))
    shown = event("filters_opened").fn({"tab": "filters"}, *(values[n] for n in each.inputs))
    assert pictures_of(shown[each.outputs["gallery"]]) == pictures_of(produced[each.outputs["gallery"]])
    assert not calls


def endpoints_of(name: str):
    from cnnvis.ui import endpoints

    return endpoints.published(app.demo)[name]


def test_a_refused_photo_is_said_once_per_session():
    page.REFUSED.clear()
    assert not page.refused_again("session-a", "/tmp/broken.jpg", now=100.0)  # said
    assert page.refused_again("session-a", "/tmp/broken.jpg", now=100.5)  # the upload's second change
    # the same file uploaded again later is said again
    assert not page.refused_again("session-a", "/tmp/broken.jpg", now=100.0 + page.REFUSAL_WINDOW + 1)
    assert not page.refused_again("session-b", "/tmp/broken.jpg")  # another visitor: said
    assert not page.refused_again("session-a", "/tmp/other.jpg")
    assert not page.refused_again(None, "/tmp/broken.jpg") and not page.refused_again(None, "/tmp/broken.jpg")
    for number in range(page.MAX_REFUSED + 5):
        page.refused_again(f"s{number}", "x")
    assert len(page.REFUSED) == page.MAX_REFUSED


def test_your_models_words_agree_with_the_classes_the_page_shows(tmp_path):
    """A 1000-class model of one's own without a names file is read with ImageNet's names
    (its top-5 and class pickers show them): the Your-model text says so, not "numbered"."""
    import keras

    from cnnvis.serving import sessions as own_model
    from cnnvis.ui.tabs import own_model as own_model_tab

    from .test_own_model_app import heartbeat, page_request

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(1000, name="head")(x), name="thousand").save(
        tmp_path / "thousand.keras"
    )
    session = "thousand-classes"
    with page_request(session), heartbeat(session):
        held = own_model.load_upload(session, str(tmp_path / "thousand.keras"), "0-1", None, None)
        try:
            _, words = own_model_tab.picked(held.name)
            _, choices = page.predictions(None, held.name, lambda *a, **k: None)
            assert choices[1][1] == "0 · tench"  # the pickers name ImageNet's classes
            assert "numbered" not in words and "1000 classes, read as ImageNet's" in words
        finally:
            own_model.free_session(session)


def test_the_feature_maps_tab_opens_on_a_layer_that_is_not_saturated(vis):
    """Issue 24: out_relu's maps are saturated blocks (7x7, about 38 % of the shown values
    at ReLU6's cap of 6 on the cat); the tab opens on a layer whose maps are pictures."""
    from .app_helpers import CAT, WEIGHTS

    if WEIGHTS != "real":
        pytest.skip("needs MobileNetV2's ImageNet weights (random weights saturate nothing)")
    photo = cnnvis.load_image(CAT)
    opened = page.opening_values(the_page(), opener("feature_maps"), vis)["layer"]
    shares = {}
    for layer in (opened, "out_relu"):
        [maps] = cnnvis.feature_maps(vis, photo, layer, count=16, order="most_active")
        shares[layer] = float((maps.maps >= 6.0 - 1e-3).mean())
    assert shares[opened] < 0.1 < shares["out_relu"], shares


def test_picking_a_method_shows_its_result_at_once_when_it_is_quick(vis):
    """In the Heatmaps tab, picking Grad-CAM++ (quick) shows its result with no button
    pressed; Score-CAM (long) shows one only once computed (by a Run, kept)."""
    opening.RESULTS.clear()
    each = opener("grad_cam")
    [reopened] = [fn for fn in app.demo.fns.values() if fn.api_name == "grad_cam_reopened_0"]
    values = page.opening_values(the_page(), each, vis)
    for method, shown in (("grad_cam_plus_plus", True), ("score_cam", False)):
        arguments = [{"tab": "grad_cam"}, *({**values, "method": method}[n] for n in each.inputs)]
        gallery = reopened.fn(*arguments)[each.outputs["gallery"]]
        assert bool(pictures_of(gallery)) == shown, method
        if shown:
            assert "Grad-CAM++" in gallery[0][1]
