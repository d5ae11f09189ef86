"""The Heatmaps and Attributions tabs: every heatmap and attribution method of the registry
that has no tab of its own, with no change here.

A tab has a method picker, the controls of the picked method (its options, from the
registry) and one Run button per method, of which only the picked method's shows; each
button is its method's endpoint (``/score_cam``, ``/smoothgrad``...), with the
parameters that method takes, in the lane of its cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import gradio as gr

import cnnvis

from ...errors import ParameterError, quoted
from ...registry import Option, Technique, featured, of_output
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
    technique_text,
)
from ..endpoints import helper, publish
from ..inputs import layer_name, parse_class, read_image
from ..opening import Opener, remembering

# The drawing parameters of each kind of map, after the method's own.
DRAWING = {"heatmap": ("colormap", "opacity"), "attribution": ()}
# Published before the registry drove the endpoints, and kept: /grad_cam also takes a
# `method`, any heatmap method, run at its options' defaults.
LEGACY_PARAMETERS = {"grad_cam": ("method",)}
# Options that count a layer's channels: as many as the layer has, or more, means all.
ALL_CHANNELS = ("max_channels",)
DOCS = {
    "layer": "a layer with a 2-D feature map; empty for the model's default.",
    "method": '"grad_cam", or another heatmap method ("layer_cam", "occlusion"...) with its '
    "own parameters at their defaults (its own endpoint sets them).",
}


def methods_of(output: str) -> list[Technique]:
    """The registry's techniques with this output and no tab of their own, in order."""
    return [t for t in of_output(output) if not t.own_tab]


def chosen(method: str | None, output: str) -> Technique:
    """The technique of a method picker's value (default: the method the tab opens on)."""
    names = [t.name for t in methods_of(output)]
    name = method or featured(output).name
    if name not in names:
        raise ParameterError(f"The method must be one of {', '.join(names)}; got {quoted(name)}.")
    return cnnvis.TECHNIQUES[name]


def method_parameters(technique: Technique) -> list[str]:
    """A method endpoint's parameters: the photo and the model, the layer and the class
    if the method takes them, its kind's drawing parameters, its options, then any
    parameter its endpoint kept from before (LEGACY_PARAMETERS)."""
    names = ["image", "model"]
    names += ["layer"] if technique.takes_layer else []
    names += ["target_class"] if technique.takes_class else []
    names += DRAWING[technique.output]
    names += [o.name for o in technique.options if o.in_app]
    return names + list(LEGACY_PARAMETERS.get(technique.name, ()))


def option_value(vis: cnnvis.VisModel, option: Option, value, layer: str | None):
    """What the package gets for the value of an option's control: a value below the
    package's bound that the app's range offers stands for None (Score-CAM's "0 = all"),
    and so does a channel count the layer cannot fill."""
    if option.none is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if option.app_range is not None and option.app_range[0] <= value < option.low:
        return None
    if option.name in ALL_CHANNELS and value >= (
        vis.info(layer or vis.default_layer).channels or 1
    ):
        return None
    return value


def option_values(
    vis: cnnvis.VisModel, technique: Technique, layer: str | None, given: Mapping
) -> dict:
    """The keyword arguments for a method's options: what was given, else the app's
    defaults."""
    return {
        o.name: option_value(vis, o, given.get(o.name, o.shown_default), layer)
        for o in technique.options
        if o.in_app
    }


def run_method(name: str, progress: gr.Progress = gr.Progress(), **values) -> list[tuple[str, str]]:
    """One heatmap or attribution method on the photo, drawn as its tab draws it, in the
    lane of its cost."""
    technique = cnnvis.TECHNIQUES[name]
    return work.compute(technique.cost, _draw_method, technique, progress, **values)


def _draw_method(
    technique: Technique,
    progress: gr.Progress,
    image: str | None,
    model: str,
    target_class: str | None = None,
    layer: str | None = None,
    colormap: str = "jet",
    opacity: float = 0.5,
    **options,
) -> list[tuple[str, str]]:
    vis = work.load(model, progress)
    photo = read_image(image)
    work.working(progress, f"Computing {technique.title}")
    arguments = {}
    if technique.takes_class:
        arguments["target_class"] = parse_class(target_class)
    if technique.takes_layer:
        arguments["layer"] = layer_name(layer)
    arguments.update(option_values(vis, technique, arguments.get("layer"), options))
    result = technique.function(vis, photo, **arguments)
    if technique.output == "heatmap":
        return pictures.files(pictures.heatmap_gallery(vis, photo, result, colormap, opacity))
    return pictures.files(pictures.attribution_gallery(vis, result))


def method_endpoint(technique: Technique) -> Callable:
    """The handler of a method's own endpoint (``/score_cam``, ``/smoothgrad``...). An
    endpoint that kept a ``method`` parameter (LEGACY_PARAMETERS: ``/grad_cam``) runs the
    method of its tab that it names, with the parameters that method takes, at its
    options' defaults."""
    legacy = "method" in LEGACY_PARAMETERS.get(technique.name, ())

    def endpoint(progress: gr.Progress = gr.Progress(), **values):
        picked = technique
        if legacy:
            picked = chosen(values.pop("method", None) or technique.name, technique.output)
            wanted = set(method_parameters(picked)) - {o.name for o in picked.options}
            values = {name: value for name, value in values.items() if name in wanted}
        return run_method(picked.name, progress, **values)

    endpoint.__name__ = endpoint.__qualname__ = technique.name
    # Its lane (cnnvis.serving.lanes.lane_of); /grad_cam's legacy "method" may pick a long one,
    # whose computation then takes the long lane (run_method) from its quick queue slot.
    endpoint.__cnnvis_lane__ = technique.cost  # type: ignore[attr-defined]
    endpoint.__doc__ = f"{technique.title}: {technique.summary} ({technique.paper})"
    return endpoint


# ----- the tabs ---------------------------------------------------------------------------


def method_tab(page: Page, output: str, title: str, key: str) -> None:
    """A tab for the registry's methods of one output ("heatmap" or "attribution")."""
    techniques = methods_of(output)
    first = featured(output)  # the tab opens on its family at its best (SmoothGrad, Grad-CAM)
    with technique_tab(first, title=title, key=key) as tab:
        method = gr.Dropdown(
            label="Method",
            choices=[(t.title, t.name) for t in techniques],
            value=first.name,
            filterable=False,
        )
        shared = {"image": page.image, "model": page.model}
        layer = None
        if any(t.takes_layer for t in techniques):
            layer = shared["layer"] = layer_picker(
                page,
                "feature map",
                "Layer",
                "Default: the last feature map, the one the classifier reads.",
                visible=first.takes_layer,
            )
        shared["target_class"] = class_picker(page)
        options = {t.name: option_controls(t, visible=t is first) for t in techniques}
        for t in techniques:  # a count of the layer's channels stops at what it has
            for name in ALL_CHANNELS:
                if layer is not None and t.takes_layer and name in options[t.name]:
                    bound = f"{t.name}_{name}_bounded"
                    bounded_by_layer(page, layer, options[t.name][name], name=bound)
        if output == "heatmap":
            shared["colormap"] = colormap_picker("jet")
            shared["opacity"] = gr.Slider(
                0, 1, value=0.5, step=0.05, label="Heatmap opacity over the photo"
            )
        shared["method"] = method
        buttons = {t.name: run_button(f"Run {t.title}", visible=t is first) for t in techniques}
    outputs = {"gallery": tab.gallery}
    endpoints = {}
    for t in techniques:
        controls = {**shared, **options[t.name]}
        inputs = {p: controls[p] for p in method_parameters(t)}
        endpoints[t.name] = method_endpoint(t)
        handler = remembering(t.name, endpoints[t.name], list(inputs))
        publish(buttons[t.name], handler, t, inputs, outputs, docs=DOCS)

    def pick(values: dict) -> tuple:
        """The picked method's cache name, endpoint, values and lane, from the tab's."""
        picked = chosen(values.get("method"), output)
        own = {p: values[f"{picked.name}__{p}"] for p in options[picked.name]}
        given = {p: own.get(p, values.get(p)) for p in method_parameters(picked)}
        return picked.name, endpoints[picked.name], given, picked.cost

    every = dict(shared) | {
        f"{t.name}__{name}": control for t in techniques for name, control in options[t.name].items()
    }
    opener = Opener(key, tab.tab, endpoints[first.name], first.cost, every, outputs, pick=pick)
    page.openers.add(opener)

    def show_method(name: str | None) -> dict:
        """The picked method's explanation, Run button, layer picker and options; the
        other methods' hidden."""
        picked = chosen(name, output)
        updates = {tab.text: technique_text(picked)}
        if layer is not None:
            updates[layer] = gr.update(visible=picked.takes_layer)
        for t in techniques:
            updates[buttons[t.name]] = gr.update(visible=t is picked)
            updates |= {
                control: gr.update(visible=t is picked) for control in options[t.name].values()
            }
        return updates

    shown = [tab.text, *([layer] if layer else []), *buttons.values()]
    shown += [control for controls in options.values() for control in controls.values()]
    changed = helper(
        method.change, show_method, [method], shown, name=f"{key}_method_changed", queue=False
    )
    opener.also.append(changed.success)  # the picked method's result, if quick or kept


def attributions_tab(page: Page) -> None:
    method_tab(page, "attribution", "Attributions", "attributions")


def heatmaps_tab(page: Page) -> None:
    method_tab(page, "heatmap", "Heatmaps", "grad_cam")  # its id from when it was Grad-CAM's
