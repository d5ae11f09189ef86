"""Sliders bounded by the chosen model and layer: a slider that counts a layer's channels
(or a convolution's filters) stops at what that layer has, so that Score-CAM's channel
slider ends at 1280 on MobileNetV2's last feature map rather than at the app's 2048.

Only the page's slider changes: an API caller may still give any value in the slider's
published range, and cnnvis takes a count beyond the layer's channels as "all of them".
"""

from __future__ import annotations

import gradio as gr

import cnnvis

from ..errors import CnnvisError
from . import work
from .components import LAYER_KINDS, Page
from .endpoints import helper
from .inputs import layer_name
from .page import model_status
from .settings import DEFAULT_MODEL

LANE = "quick"  # it may load the model (from its file or the cache): model work


def default_of(vis: cnnvis.VisModel, kind: str) -> str:
    """The one layer a picker of ``kind`` stands for when it is empty (the first of a
    list of defaults)."""
    value = LAYER_KINDS[kind][1](vis)
    return value[0] if isinstance(value, (list, tuple)) else value


def channel_bound(
    vis: cnnvis.VisModel,
    layer: str | None,
    kind: str,
    maximum: float,
    minimum: float = 0,
    value: float | None = None,
) -> dict:
    """The update of a slider over ``minimum``..``maximum`` that counts the channels of
    ``layer`` of ``vis`` (empty: the default of a picker of ``kind``): at most the layer's
    channels, its value brought within. No change for a layer the model lacks (its Run
    says so)."""
    name = layer_name(layer) or default_of(vis, kind)
    try:
        channels = vis.info(name).channels
    except CnnvisError:
        return gr.update()
    top = max(min(maximum, channels or maximum), minimum)
    if isinstance(value, (int, float)) and value > top:
        return gr.update(maximum=top, value=top)
    return gr.update(maximum=top)


def bounded_by_layer(page: Page, picker: gr.Dropdown, slider: gr.Slider, name: str) -> gr.Slider:
    """Bound ``slider`` by the channels of the layer chosen in ``picker`` (a layer picker
    of ``page``), whenever the picker changes (it does when the model changes: it is
    refilled). A model that cannot be had changes nothing (the model's summary says why)."""
    kind = page.layer_pickers[picker]
    maximum, minimum = slider.maximum, slider.minimum

    def bound(model: str, layer: str | None, value: float | None) -> dict:
        try:
            name = str(model or "").strip() or DEFAULT_MODEL
            status = model_status(name) if name in cnnvis.REGISTRY else None  # or your own
            if status is not None and not status.ready:
                return gr.update()  # its download is for the model picker's event to make
            vis = work.get_model(model)
        except CnnvisError:
            return gr.update()
        return channel_bound(vis, layer, kind, maximum, minimum, value)

    helper(picker.change, bound, [page.model, picker, slider], [slider], name=name, lane=LANE)
    return slider
