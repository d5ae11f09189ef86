"""The classic views, each a tab and an endpoint of its own: a convolution's filters, a
layer's feature maps, guided backpropagation and Guided Grad-CAM."""

from __future__ import annotations

import gradio as gr

import cnnvis

from .. import pictures
from .. import work
from ..bounds import bounded_by_layer
from ..components import (
    Page,
    class_picker,
    colormap_picker,
    layer_picker,
    option_controls,
    run_button,
    technique_tab,
)
from ..endpoints import publish
from ..inputs import layer_name, parse_class, read_image
from ..texts import FILTERS_NOTE

FILTERS = cnnvis.TECHNIQUES["filters"]
FEATURE_MAPS = cnnvis.TECHNIQUES["feature_maps"]
GUIDED_BACKPROP = cnnvis.TECHNIQUES["guided_backprop"]
GUIDED_GRAD_CAM = cnnvis.TECHNIQUES["guided_grad_cam"]

Files = list[tuple[str, str]]


# ----- handlers (each one endpoint) ---------------------------------------------------------


@work.computing(FILTERS.cost)
def filters(
    model: str, layer: str | None, count: int, order: str, progress: gr.Progress = gr.Progress()
) -> Files:
    """The kernels of a convolution (no photo needed)."""
    vis = work.load(model, progress)
    result = cnnvis.filters(vis, layer_name(layer), count=count, order=order)
    shown = f"{len(result.filter_indices)} of {result.total_filters} filters, each on its own scale"
    if result.rgb:
        shown += " (grey = 0)"
    else:
        shown += f", first {result.kernels.shape[1]} input channels (red +, white 0, blue -)"
    text = pictures.caption(vis, f"{result.caption} · {shown}")
    return pictures.files([(pictures.filters_picture(result), text)])


@work.computing(FEATURE_MAPS.cost)
def feature_maps(
    image: str | None,
    model: str,
    layer: str | None,
    count: int,
    order: str,
    colormap: str,
    progress: gr.Progress = gr.Progress(),
) -> Files:
    """What the channels of one layer compute for the photo."""
    vis = work.load(model, progress)
    photo = read_image(image)
    work.working(progress, "Computing feature maps")
    [result] = cnnvis.feature_maps(vis, photo, layer_name(layer), count=count, order=order)
    text = pictures.caption(vis, result.caption)
    overlay, channel = pictures.strongest_channel_overlay(photo, result, colormap)
    return pictures.files(
        [
            (
                pictures.maps_picture(result, colormap),
                f"{text} · {len(result.channels)} channels, bright = strong response",
            ),
            (overlay, f"{text} · channel {channel}, the most active shown, over the photo"),
        ]
    )


@work.computing(GUIDED_BACKPROP.cost)
def guided_backprop(
    image: str | None, model: str, target_class: str | None, progress: gr.Progress = gr.Progress()
) -> Files:
    """Guided backpropagation of one class score to the photo's pixels."""
    vis = work.load(model, progress)
    photo = read_image(image)
    work.working(progress, "Backpropagating")
    result = cnnvis.guided_backprop(vis, photo, target_class=parse_class(target_class))
    return pictures.files(pictures.attribution_gallery(vis, result))


@work.computing(GUIDED_GRAD_CAM.cost)
def guided_grad_cam(
    image: str | None,
    model: str,
    layer: str | None,
    target_class: str | None,
    progress: gr.Progress = gr.Progress(),
) -> Files:
    """Guided backprop restricted to the Grad-CAM region of one class."""
    vis = work.load(model, progress)
    photo = read_image(image)
    work.working(progress, "Computing Grad-CAM and guided backprop")
    result = cnnvis.guided_grad_cam(
        vis, photo, target_class=parse_class(target_class), layer=layer_name(layer)
    )
    return pictures.files(
        pictures.attribution_gallery(vis, result, f" · Grad-CAM at {result.layer}")
    )


# ----- the tabs ---------------------------------------------------------------------------


def filters_tab(page: Page) -> None:
    with technique_tab(FILTERS) as tab:
        layer = layer_picker(
            page,
            "convolution",
            "Convolution",
            "The first one looks at the photo's colours directly.",
        )
        options = option_controls(FILTERS)
        bounded_by_layer(page, layer, options["count"], name="filters_count_bounded")
        gr.Markdown(FILTERS_NOTE)
        run = run_button("Show filters")
    docs = {"layer": "a convolution with a spatial kernel; empty for the model's first one."}
    inputs = {"model": page.model, "layer": layer, **options}
    outputs = {"gallery": tab.gallery}
    handler = page.opens(tab.tab, "filters", filters, FILTERS.cost, inputs, outputs)
    publish(run, handler, FILTERS, inputs, outputs, docs=docs)


def feature_maps_tab(page: Page) -> None:
    with technique_tab(FEATURE_MAPS) as tab:
        layer = layer_picker(
            page,
            "legible",  # opens on maps that read as pictures, not the 7x7 head
            "Layer",
            "Early layers: edges and colours. Deep layers: parts and objects.",
        )
        options = option_controls(FEATURE_MAPS)
        bounded_by_layer(page, layer, options["count"], name="feature_maps_count_bounded")
        colormap = colormap_picker("viridis")
        run = run_button("Show feature maps")
    inputs = {
        "image": page.image,
        "model": page.model,
        "layer": layer,
        **options,
        "colormap": colormap,
    }
    docs = {"layer": "a layer name; empty for the model's default (the last feature map)."}
    outputs = {"gallery": tab.gallery}
    handler = page.opens(tab.tab, "feature_maps", feature_maps, FEATURE_MAPS.cost, inputs, outputs)
    publish(run, handler, FEATURE_MAPS, inputs, outputs, docs=docs)


def guided_backprop_tab(page: Page) -> None:
    with technique_tab(GUIDED_BACKPROP) as tab:
        target = class_picker(page)
        run = run_button("Run guided backprop")
    inputs = {"image": page.image, "model": page.model, "target_class": target}
    outputs = {"gallery": tab.gallery}
    handler = page.opens(
        tab.tab, "guided_backprop", guided_backprop, GUIDED_BACKPROP.cost, inputs, outputs
    )
    publish(run, handler, GUIDED_BACKPROP, inputs, outputs)


def guided_grad_cam_tab(page: Page) -> None:
    with technique_tab(GUIDED_GRAD_CAM) as tab:
        layer = layer_picker(
            page, "feature map", "Grad-CAM layer", "Default: the last feature map."
        )
        target = class_picker(page)
        run = run_button("Run Guided Grad-CAM")
    inputs = {"image": page.image, "model": page.model, "layer": layer, "target_class": target}
    docs = {"layer": "the Grad-CAM layer; empty for the model's default."}
    outputs = {"gallery": tab.gallery}
    handler = page.opens(
        tab.tab, "guided_grad_cam", guided_grad_cam, GUIDED_GRAD_CAM.cost, inputs, outputs
    )
    publish(run, handler, GUIDED_GRAD_CAM, inputs, outputs, docs=docs)
