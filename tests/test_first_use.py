"""What a newcomer meets first, called without a server: the model picker says which
models can run here, an unavailable model is said at once (and its layers never shown),
every tab opens on a default derived from the model's spec (over the whole registry), and
one class choice serves every tab."""

from __future__ import annotations

import gradio as gr
import pytest

import app
import cnnvis
from cnnvis import availability, ui
from cnnvis.ui import page, work
from cnnvis.ui.settings import Settings

from .app_helpers import is_one_sentence

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
    assert [name for _, name in choices] == sorted(cnnvis.REGISTRY)  # the API's list, unchanged
    shown = labels()
    assert shown["MobileNetV2"] == "MobileNetV2 · 224 px · ready"
    size = availability.weights_table()[UNAVAILABLE].megabytes
    assert shown[UNAVAILABLE] == f"{UNAVAILABLE} · 224 px · download {size:,.0f} MB"
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    shown = labels()
    assert shown["MobileNetV2"].endswith("ready")
    assert all(label.endswith("· unavailable offline") for name, label in shown.items() if name != "MobileNetV2")
    ui.configure(Settings(weights="random"))
    assert all(label.endswith("· random weights") for label in labels().values())


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
    [model] = [c for c in fill.outputs if c.label == "Model"]
    assert dict((n, l) for l, n in updates[model]["choices"])[UNAVAILABLE].endswith("unavailable offline")


def test_a_failed_download_is_remembered_and_not_tried_on_every_click(here):
    availability.remember_failure(UNAVAILABLE)  # what cnnvis.weights does when one fails
    fill = event("model_layers")
    for _ in range(3):  # each click answers at once, loading nothing
        updates = fill.fn(UNAVAILABLE)
        [summary] = [c for c in updates if isinstance(c, gr.Markdown)]
        assert "the download failed; next try in 10 min" in updates[summary]
    assert labels()[UNAVAILABLE].endswith("unavailable: the download failed; next try in 10 min")
    availability.forget_failure(UNAVAILABLE)  # ten minutes later: downloadable again
    assert "download" in labels()[UNAVAILABLE] and "failed" not in labels()[UNAVAILABLE]
