"""The one way a technique becomes an HTTP endpoint: the click of the Run button that the
page shows for it is published under the technique's name (:func:`publish`).

Each endpoint's parameters are named by the components they come from (Gradio's
``inputs_kwargs``), in the order given, so the handler is a plain function with those
keyword parameters; its result comes back by output name (a dict) or, for one output, as
the value. The event runs in the lane of the technique's cost (``concurrency_id``
``"quick"`` or ``"long"``; the lanes' limits come from the settings, see
``cnnvis.ui.app.apply_queue``), and its API description is the technique's summary and
paper with a line per parameter, from the option's ``info`` for the technique's options.

Gradio offers no endpoint without a trigger whose parameters are documented as the
page's components (``gr.api`` documents Python types instead), so an endpoint with no
button of its own on the page gets an invisible one: :func:`publish_without_button`,
used by ``/classify`` only (the page classifies each photo by itself).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gradio as gr

from ..registry import Technique
from .errors import friendly
from .work import computing

PRIVATE = {"api_visibility": "private"}

# What the parameters that are not technique options mean, for the API docs.
PARAMETER_DOCS = {
    "image": "the photo (a file).",
    "model": 'a keras.applications model name, e.g. "MobileNetV2".',
    "layer": "a layer name; empty for the model's default.",
    "target_class": (
        '"top class", an index ("285"), a label ("Egyptian cat"), an ImageNet id '
        '("n02124075") or a picker entry ("285 · Egyptian cat").'
    ),
    "colormap": 'a matplotlib colormap name, e.g. "jet".',
    "opacity": "how strongly the heatmap covers the photo, 0 to 1.",
    "methods": 'registry names of heatmap and attribution methods, e.g. ["grad_cam", "vanilla_gradient"].',
}


def describe(technique: Technique, parameters: Sequence[str], docs: Mapping[str, str] = {}) -> str:
    """The API description of an endpoint of ``technique``: its summary and paper, then a
    line per parameter (``docs`` first, then the technique's options, then
    PARAMETER_DOCS; a parameter with no words is an error)."""
    options = {o.name: o.info for o in technique.options}
    lines = [f"{technique.title}: {technique.summary} ({technique.paper})", "", "Parameters:"]
    for name in parameters:
        words = docs.get(name) or options.get(name) or PARAMETER_DOCS.get(name)
        if not words:
            raise KeyError(f"the {name!r} parameter of /{technique.name} has no API docs")
        lines.append(f"    {name}: {words}")
    return "\n".join(lines)


def by_component(handler: Callable, outputs: Mapping[str, gr.components.Component]) -> Callable:
    """``handler`` returning (or yielding) its outputs by name, as Gradio takes them: a
    dict keyed by component (a handler with one output returns the value itself, one with
    none returns nothing). Errors become one sentence (errors.friendly); the signature is
    kept for Gradio."""
    handler = friendly(handler)
    single = next(iter(outputs.values())) if len(outputs) == 1 else None

    def keyed(result: Any) -> Any:
        if not outputs:  # an endpoint that only acts (a Stop button's)
            return None
        if single is not None:
            return {single: result}
        if isinstance(result, dict) and set(result) <= set(outputs):
            return {outputs[name]: value for name, value in result.items()}
        raise TypeError(f"expected the outputs {list(outputs)} by name, got {type(result)}")

    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def stream(*args, **kwargs):
            for result in handler(*args, **kwargs):
                yield keyed(result)

        return stream

    @functools.wraps(handler)
    def call(*args, **kwargs):
        return keyed(handler(*args, **kwargs))

    return call


def publish(
    button: gr.Button,
    handler: Callable,
    technique: Technique,
    inputs: Mapping[str, gr.components.Component],
    outputs: Mapping[str, gr.components.Component],
    *,
    name: str | None = None,
    docs: Mapping[str, str] = {},
    description: str | None = None,
) -> Any:
    """Make a click of ``button`` the endpoint ``/<name>`` (default: the technique's name)
    with the parameters ``inputs`` (API name -> component, in order), returning
    ``outputs``; returns the event (for chaining). ``description`` replaces the API
    description made from the technique (for an endpoint that is not the technique
    itself, such as a Stop button's)."""
    return button.click(
        by_component(handler, outputs),
        inputs_kwargs=dict(inputs),
        outputs=list(outputs.values()),
        api_name=name or technique.name,
        api_description=description or describe(technique, list(inputs), docs),
        concurrency_id=technique.cost,
    )


def publish_without_button(
    handler: Callable,
    technique: Technique,
    inputs: Mapping[str, gr.components.Component],
    outputs: Mapping[str, gr.components.Component],
    **options: Any,
) -> Any:
    """:func:`publish` on an invisible button: an endpoint that the page does not offer as
    a button of its own (see the module docstring for why this is needed)."""
    return publish(gr.Button(visible=False), handler, technique, inputs, outputs, **options)


def helper(
    trigger: Callable,
    fn: Callable,
    inputs: Sequence[gr.components.Component],
    outputs: Sequence[gr.components.Component],
    *,
    name: str,
    lane: str | None = None,
    **options: Any,
) -> Any:
    """A private event of the page itself (filling pickers, showing controls): not in the
    API; with a ``lane`` when it decodes a photo or computes with a model, in that lane
    (Gradio's queue and :func:`cnnvis.ui.work.computing`), otherwise off the lanes."""
    lanes = {"concurrency_id": lane} if lane else {}
    if lane:
        fn = computing(lane)(fn)
    return trigger(friendly(fn), inputs, outputs, api_name=name, **PRIVATE, **lanes, **options)


def published(demo: gr.Blocks) -> dict[str, Any]:
    """The demo's public endpoints, ``/name`` -> its event."""
    return {f"/{fn.api_name}": fn for fn in demo.fns.values() if fn.api_visibility == "public"}
