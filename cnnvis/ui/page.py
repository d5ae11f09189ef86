"""The shared area above the tabs (the photo, the example photos, the model picker, its
summary and the model's top-5 predictions) and the events that keep every tab's layer and
class pickers in step with the model and the photo; ``/classify``."""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr

import cnnvis

from .. import availability
from ..availability import WeightsStatus
from ..errors import CnnvisError
from . import endpoints, work
from .components import Page, class_choices, layer_update
from .inputs import class_choice, pass_original_upload, photo_or_none, read_image
from .settings import DEFAULT_EXAMPLE, DEFAULT_MODEL, EXAMPLES_DIR, compute_device, current

CLASSIFY = cnnvis.TECHNIQUES["classify"]
LANE = CLASSIFY.cost  # the page's own events that compute: quick work
TOP = 5


def example_paths() -> list[str]:
    return [str(p) for p in sorted(EXAMPLES_DIR.glob("*.jpg"))]


# ----- the model picker -------------------------------------------------------------------
# Its entries are model_choices(): (label, value) pairs, ready models first. Another source
# of models adds its entries there; a value must be a name that work.get_model loads.

STATE_ORDER = {"ready": 0, "downloadable": 1, "unavailable": 2}


def model_status(name: str) -> WeightsStatus | None:
    """Whether ``name``'s ImageNet weights can be had here (None: the app runs with random
    weights, which every model has). Reads folders only: nothing is loaded or downloaded."""
    settings = current()
    if settings.weights == "random":
        return None
    return cnnvis.weights_status(name, settings.weights_dir)


def weights_tag(status: WeightsStatus | None) -> str:
    """What a model needs here, in a few words: "ready", "download 14 MB", "unavailable
    offline"... ("random weights" when the app runs with them)."""
    if status is None:
        return "random weights"
    if status.state == "unavailable":
        return "unavailable offline" if availability.offline() else f"unavailable: {status.detail}"
    return status.label


def model_choices() -> list[tuple[str, str]]:
    """The registry's models, each with its input size and what it needs here (ready ones
    first, then those to download with their size, then those that cannot run)."""
    entries = []
    for name, spec in cnnvis.REGISTRY.items():
        status = model_status(name)
        order = STATE_ORDER[status.state] if status is not None else 0
        entries.append((order, name, f"{name} · {spec.input_size} px · {weights_tag(status)}"))
    return [(label, name) for _, name, label in sorted(entries)]


def model_info() -> str:
    count = len(cnnvis.REGISTRY)
    if current().weights == "random":
        return f"{count} ImageNet CNNs, all with random weights (--weights random); type to filter."
    return (
        f"{count} ImageNet CNNs: ready ones first, then those to download (with their size); "
        "type to filter."
    )


def model_picker_update() -> dict:
    """The picker's entries and words as they are now (a download may have ended or failed
    since the page was built)."""
    return gr.update(choices=model_choices(), info=model_info())


def model_summary(vis: cnnvis.VisModel) -> str:
    height, width = vis.input_size
    if vis.weights == "random":
        weights = "**random weights** (demo mode: the pictures show an untrained network)"
    else:
        weights = "ImageNet weights"
    return (
        f"**{vis.name}** sees {height}×{width} pixels · {len(vis.visual_layers)} layers to "
        f"explore · {weights} · computing on the {compute_device()}"
    )


# ----- handlers ---------------------------------------------------------------------------


@work.computing(LANE)
def classify(
    image: str | None, model: str, progress: gr.Progress = gr.Progress()
) -> dict[str, float]:
    """The model's five most probable ImageNet classes for the photo, as
    {"285 · Egyptian cat": 0.84, ...}."""
    vis = work.load(model, progress)
    predictions = cnnvis.classify(vis, read_image(image), top=TOP)
    return {class_choice(p.index): p.probability for p in predictions}


def predictions(
    image: str | None, model: str, progress: gr.Progress = gr.Progress()
) -> tuple[dict[str, float] | None, list[tuple[str, str]]]:
    """The top-5 panel's value and the class pickers' entries (the photo's predictions
    first); an empty panel while there is no photo, or no model to classify it with (the
    model's summary says why). A photo that cannot be read raises its sentence."""
    if not image:
        return None, class_choices()
    try:
        vis = work.load(model, progress)
    except CnnvisError:
        return None, class_choices()
    top = cnnvis.classify(vis, read_image(image), top=TOP)
    return {class_choice(p.index): p.probability for p in top}, class_choices(top)


def model_layers(
    model: str, progress: gr.Progress = gr.Progress()
) -> tuple[str, cnnvis.VisModel | None]:
    """The model's summary and the model (loaded), or a warning and None if the model
    cannot be had (at once for a model whose weights are unavailable: offline, or a
    download that failed a moment ago)."""
    name = str(model or "").strip() or DEFAULT_MODEL
    status = model_status(name) if name in cnnvis.REGISTRY else None
    if status is not None and status.state == "downloadable":
        progress(0.05, desc=f"Downloading the ImageNet weights of {name} ({status.label[9:]})…")
    else:
        progress(0.05, desc=f"Loading {name}…")
    try:
        vis = work.get_model(name)
    except CnnvisError as error:  # said where the model is chosen; its layers are cleared
        return f"⚠️ {error}", None
    return model_summary(vis), vis


def refused_photo(image: str | None) -> dict | None:
    """After a failed photo event: an empty photo box if the photo cannot be read (rather
    than a broken picture), else no change."""
    if image and photo_or_none(image) is None:
        return None
    return gr.update()


# ----- the area and its events ------------------------------------------------------------


def shared_inputs() -> tuple[gr.Image, gr.Dropdown, gr.Markdown, gr.Label]:
    """The photo, the example photos, the model picker, its summary and its predictions."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            image = gr.Image(
                value=str(DEFAULT_EXAMPLE) if DEFAULT_EXAMPLE.is_file() else None,
                label="Photo (upload, paste or webcam)",
                type="filepath",
                image_mode=None,
                sources=["upload", "webcam", "clipboard"],
                height=340,
            )
            pass_original_upload(image)
            with gr.Column(elem_id="examples"):
                gr.Examples(
                    example_paths(),
                    inputs=[image],
                    label="Example photos (click one)",
                    cache_examples=False,  # examples only fill the photo: no model runs at launch
                )
        with gr.Column(scale=2):
            model = gr.Dropdown(
                label="Model",
                info="40 ImageNet CNNs, with the image size each one sees; type to filter.",
                choices=model_choices(),
                value=DEFAULT_MODEL,
                allow_custom_value=True,
            )
            summary = gr.Markdown("Loading the model…")
            panel = gr.Label(label="What the model sees: its top-5 classes", num_top_classes=TOP)
    return image, model, summary, panel


def follow(page: Page, summary: gr.Markdown, panel: gr.Label) -> None:
    """Wire the shared area (after every tab has registered its pickers): the predictions
    and the class pickers follow the photo and the model, the layer pickers the model."""
    class_pickers: Sequence[gr.Dropdown] = list(page.class_pickers)
    layer_pickers = dict(page.layer_pickers)

    def show_predictions(image, model, progress=gr.Progress()):
        label, choices = predictions(image, model, progress)
        return {panel: label, **{picker: gr.update(choices=choices) for picker in class_pickers}}

    def show_layers(model, progress=gr.Progress()):
        text, vis = model_layers(model, progress)
        if vis is None:
            return {summary: text}
        # A fresh update for each picker: Gradio takes the value out of an update it applies.
        return {
            summary: text,
            **{picker: layer_update(vis, kind) for picker, kind in layer_pickers.items()},
        }

    refresh = [panel, *class_pickers]
    photo = [page.image, page.model]
    endpoints.helper(
        page.image.change, show_predictions, photo, refresh, name="photo_predictions", lane=LANE
    )
    for source, trigger in (("page", page.demo.load), ("model", page.model.change)):
        filled = endpoints.helper(
            trigger,
            show_layers,
            [page.model],
            [summary, *layer_pickers],
            name=f"{source}_layers",
            lane=LANE,
        )
        endpoints.helper(
            filled.success,
            show_predictions,
            photo,
            refresh,
            name=f"{source}_predictions",
            lane=LANE,
        )
    # /classify needs a photo; the panel above just empties without one, and classifies
    # each photo by itself: the endpoint has no button on the page.
    endpoints.publish_without_button(
        classify,
        CLASSIFY,
        {"image": page.image, "model": page.model},
        {"predictions": panel},
    )
