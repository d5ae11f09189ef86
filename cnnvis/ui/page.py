"""The shared area above the tabs (the photo, the example photos, the model picker, its
summary and the model's top-5 predictions) and the events that keep every tab's layer and
class pickers in step with the model and the photo; ``/classify``."""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr

import cnnvis

from ..errors import CnnvisError
from . import endpoints, own_model, work
from .components import Page, class_choices, layer_update
from .inputs import class_choice, pass_original_upload, read_image
from .settings import DEFAULT_EXAMPLE, DEFAULT_MODEL, EXAMPLES_DIR, compute_device

CLASSIFY = cnnvis.TECHNIQUES["classify"]
LANE = CLASSIFY.cost  # the page's own events that compute: quick work
TOP = 5


def example_paths() -> list[str]:
    return [str(p) for p in sorted(EXAMPLES_DIR.glob("*.jpg"))]


def model_choices() -> list[tuple[str, str]]:
    return [
        (f"{name} · {spec.input_size} px", name) for name, spec in sorted(cnnvis.REGISTRY.items())
    ]


def model_summary(vis: cnnvis.VisModel) -> str:
    height, width = vis.input_size
    if vis.weights == "random":
        weights = "**random weights** (demo mode: the pictures show an untrained network)"
    elif vis.spec is None:  # an uploaded model (cnnvis.ui.own_model)
        weights = f"your own model, {vis.num_classes} classes, for you only"
    else:
        weights = "ImageNet weights"
    sees = f"{height}×{width} pixels" if height and width else "each photo at its own size"
    return (
        f"**{vis.name}** sees {sees} · {len(vis.visual_layers)} layers to "
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
    return {class_choice(p.index, vis): p.probability for p in predictions}


def predictions(
    image: str | None, model: str, progress: gr.Progress = gr.Progress()
) -> tuple[dict[str, float] | None, list[tuple[str, str]]]:
    """The top-5 panel's value and the class pickers' entries (the photo's predictions
    first); an empty panel while there is no photo."""
    if not image:  # an uploaded model's own classes; ImageNet's for any registry model
        return None, class_choices(vis=own_model.session_model(model))
    vis = work.load(model, progress)
    top = cnnvis.classify(vis, read_image(image), top=TOP)
    return {class_choice(p.index, vis): p.probability for p in top}, class_choices(top, vis)


def model_layers(
    model: str, progress: gr.Progress = gr.Progress()
) -> tuple[str, cnnvis.VisModel | None]:
    """The model's summary and the model (loaded), or a warning and None if the model
    cannot be had."""
    try:
        vis = work.load(model, progress)
    except CnnvisError as error:  # said where the model is chosen; the pickers stay
        return f"⚠️ {error}", None
    return model_summary(vis), vis


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
