"""The pieces every tab is built from: the page's shared components, layer and class
pickers that follow the model and the photo, a control for each registry option, result
galleries, Run buttons, and the frame of a technique's tab."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

import cnnvis

from .. import render
from ..models.labels import imagenet_classes
from ..registry import Option, Technique, map_methods
from .opening import Opener, Openers, remembering
from .inputs import TOP_CLASS, accept_any_names, accept_any_text, class_choice, parse_class
from .texts import CHOICE_WORDS, CLASS_FROM

# How a layer picker is filled for a model: (its choices, its value), by the model. Each
# value is the technique at its best, from the model's spec: the first convolution (the
# only filters that read as pictures), the feature map the classifier reads (Grad-CAM's
# layer), the layer whose maps read as pictures (VisModel.legible_layer), the dream layers.
LAYER_KINDS: dict[str, tuple[Callable[[Any], Sequence[str]], Callable[[Any], Any]]] = {
    "convolution": (lambda vis: vis.filter_layers, lambda vis: vis.first_conv),
    "feature map": (lambda vis: vis.visual_layers, lambda vis: vis.default_layer),
    "legible": (lambda vis: vis.visual_layers, lambda vis: vis.legible_layer),
    "dream": (lambda vis: vis.visual_layers, lambda vis: list(vis.dream_layers)),
    "middle": (lambda vis: vis.visual_layers, lambda vis: vis.dream_layers[0]),
}


@dataclass
class Page:
    """What the tabs share: the demo, the photo and the model picker, and the pickers
    that the shared area fills whenever the model or the photo changes."""

    demo: gr.Blocks
    image: gr.Image
    model: gr.Dropdown
    layer_pickers: dict[gr.Dropdown, str] = field(default_factory=dict)  # picker -> its kind
    class_pickers: list[gr.Dropdown] = field(default_factory=list)
    openers: Openers = field(default_factory=Openers)  # what each tab shows on opening

    def opens(
        self,
        tab: gr.Tab,
        key: str,
        handler: Callable,
        lane: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        *,
        parent: str | None = None,
    ) -> Callable:
        """The tab ``tab`` opens on ``handler``'s result for ``inputs`` (its Run button's:
        :mod:`.opening`); returns ``handler`` keeping its finished results for that."""
        self.openers.add(Opener(key, tab, handler, lane, dict(inputs), dict(outputs), parent))
        return remembering(key, handler, list(inputs))


# ----- pickers ------------------------------------------------------------------------------


def layer_choices(vis: cnnvis.VisModel, names: Sequence[str]) -> list[tuple[str, str]]:
    shapes = {info.name: info.shape for info in vis.layer_infos}
    return [(f"{name} · {'×'.join(map(str, shapes[name]))}", name) for name in names]


def layer_update(vis: cnnvis.VisModel, kind: str) -> dict:
    """A picker of ``kind`` filled and preselected for ``vis``."""
    choices, value = LAYER_KINDS[kind]
    return gr.update(choices=layer_choices(vis, choices(vis)), value=value(vis))


def layer_cleared(picker: gr.Dropdown) -> dict:
    """``picker`` emptied: no model whose layers it could show."""
    return gr.update(choices=[], value=[] if picker.multiselect else "")


def layer_picker(
    page: Page,
    kind: str,
    label: str,
    info: str,
    *,
    max_choices: int | None = None,
    visible: bool = True,
) -> gr.Dropdown:
    """A layer picker, filled for the chosen model when the page opens and whenever the
    model changes (``kind``: a key of LAYER_KINDS); several layers when ``max_choices`` is
    given. Any value is accepted and checked by cnnvis (API callers may name any layer);
    empty means the model's default, also for API callers."""
    multiselect = max_choices is not None
    picker = gr.Dropdown(
        label=label,
        info=info,
        choices=[],
        value=[] if multiselect else "",
        multiselect=multiselect,
        max_choices=max_choices,
        allow_custom_value=True,
        visible=visible,
    )
    page.layer_pickers[picker] = kind
    return accept_any_text(picker)


def class_choices(
    top: Sequence[cnnvis.Prediction] = (), vis: cnnvis.VisModel | None = None
) -> list[tuple[str, str]]:
    """The class picker's entries: the top class, the photo's predictions, then the rest
    (ImageNet's, or the classes of ``vis`` where it has its own: an uploaded model)."""
    first = [
        (f"{class_choice(p.index, vis)} ({p.probability:.0%})", class_choice(p.index, vis))
        for p in top
    ]
    # the entry "top class" says which class that is for this photo
    top_entry = f"{TOP_CLASS}: {first[0][0]}" if first else TOP_CLASS
    shown = {p.index for p in top}
    own = vis is not None and not vis.uses_imagenet_classes
    indices = range(vis.num_classes) if own else (c.index for c in imagenet_classes())
    rest = [(class_choice(i, vis),) * 2 for i in indices if i not in shown]
    return [(top_entry, TOP_CLASS), *first, *rest]


def class_kept(chosen: str | None, choices: Sequence[tuple[str, str]]) -> str:
    """The class pickers' value once their entries are ``choices`` (another model's): kept
    if it is one of them or text typed by the visitor (checked when a method runs), the top
    class if it is an entry of the model before that this model has not ("285 · Egyptian
    cat" after switching to a three-class model of your own)."""
    text = "" if chosen is None else str(chosen)
    offered = {value for _, value in choices}
    if text in offered or not isinstance(parse_class(text), int):
        return text or TOP_CLASS
    return TOP_CLASS


def class_picker(page: Page) -> gr.Dropdown:
    """The class to explain; its entries follow the photo's predictions."""
    picker = gr.Dropdown(
        label="Class to explain",
        info=CLASS_FROM["top"],
        choices=class_choices(),
        value=TOP_CLASS,
        allow_custom_value=True,
    )
    page.class_pickers.append(picker)
    return accept_any_text(picker)


def colormap_picker(default: str) -> gr.Dropdown:
    return gr.Dropdown(
        label="Colormap", choices=list(render.COLORMAPS), value=default, allow_custom_value=True
    )


def method_checklist(default: Sequence[str], info: str) -> gr.CheckboxGroup:
    """Every heatmap and attribution method of the registry, to tick (long work marked)."""
    group = gr.CheckboxGroup(
        [
            (t.title + (" (slow)" if t.cost == "long" else ""), name)
            for name, t in map_methods().items()
        ],
        value=list(default),
        label="Methods",
        info=info,
    )
    return accept_any_names(group)


# ----- a control per registry option ----------------------------------------------------------


def _plain(value: float) -> float | int:
    """A bound as the page shows it: 0 rather than 0.0."""
    return int(value) if float(value).is_integer() else value


def option_choices(option: Option) -> list[tuple[str, str]]:
    """An option's values with their words, in the order CHOICE_WORDS gives them."""
    ordered = [c for c in CHOICE_WORDS if c in option.choices]
    ordered += [c for c in option.choices if c not in CHOICE_WORDS]
    return [(CHOICE_WORDS.get(c, c), c) for c in ordered]


def option_control(option: Option, **shown: Any) -> gr.components.Component:
    """The control of a registry option, at the app's default: a slider over its app
    range; a number field (seeds) where it has none; a radio for a choice; a dropdown
    that also takes other text where the option takes more than its choices (a bound in
    words), documented as a string."""
    label = {"label": option.label, "info": option.info, **shown}
    if option.choices and option.bound is None:
        return gr.Radio(option_choices(option), value=option.shown_default, **label)
    if option.choices:
        picker = gr.Dropdown(
            option_choices(option), value=option.shown_default, allow_custom_value=True, **label
        )
        return accept_any_text(picker)
    if option.app_range is not None:
        low, high, step = (_plain(v) for v in option.app_range)
        return gr.Slider(low, high, value=option.shown_default, step=step, **label)
    return gr.Number(
        option.shown_default,
        precision=0 if option.kind is int else None,
        minimum=_plain(option.low),
        maximum=_plain(option.high),
        **label,
    )


def option_controls(technique: Technique, **shown: Any) -> dict[str, gr.components.Component]:
    """A control for each option of ``technique`` that the app offers, by name, in the
    registry's order."""
    return {o.name: option_control(o, **shown) for o in technique.options if o.in_app}


# ----- results and buttons ----------------------------------------------------------------------


def run_button(text: str, visible: bool = True) -> gr.Button:
    return gr.Button(text, variant="primary", visible=visible)


def results_gallery(
    label: str,
    *,
    preview: bool = True,
    columns: int = 2,
    elem_id: str | None = None,
    labelled: bool = False,
) -> gr.Gallery:
    """Lossless PNGs with captions, downloadable one by one or all (rendered by the tab;
    the handlers encode the pictures themselves, see pictures.files). ``labelled``: its
    pictures carry labels drawn in them, kept at their size on a phone (texts.CSS)."""
    return gr.Gallery(
        label=label,
        format="png",
        columns=columns,
        height=560,
        object_fit="contain",
        preview=preview,  # the first picture large, its caption in full, the others below
        selected_index=0 if preview else None,
        buttons=["download", "download_all", "fullscreen"],
        interactive=False,
        render=False,
        elem_id=elem_id,
        elem_classes=["results-gallery", *(["labelled-pictures"] if labelled else [])],
    )


def empty_table(what: str) -> dict:
    """A results table's value before its first run: what will appear there (rather than
    Gradio's placeholder headers "1 | 2 | 3")."""
    return {"headers": ["After a run"], "data": [[what]]}


def technique_text(technique: Technique) -> str:
    return f"{technique.summary} *({technique.paper})*"


# The techniques whose pictures carry labels drawn in them (sheets of filters, maps and
# feature visualisations, the sanity check's grid).
LABELLED = ("filters", "feature_maps", "feature_visualization", "randomization_check")


@dataclass(frozen=True)
class TabParts:
    gallery: gr.Gallery
    text: gr.Markdown
    tab: gr.Tab


@contextlib.contextmanager
def technique_tab(
    technique: Technique,
    *,
    title: str | None = None,
    key: str | None = None,
    text: str | None = None,
    gallery: gr.Gallery | None = None,
    below: Sequence[gr.components.Component] = (),
) -> Iterator[TabParts]:
    """A tab: the technique's explanation, then controls (built by the caller) beside a
    results gallery (then the components ``below``, built with ``render=False``). Its id
    is ``key`` (default: the technique's name), its element id ``tab-<key>``."""
    title = title or technique.title
    key = key or technique.name
    gallery = gallery or results_gallery(title, labelled=technique.name in LABELLED)
    with gr.Tab(title, id=key, elem_id=f"tab-{key}") as tab:
        explanation = gr.Markdown(text or technique_text(technique), elem_classes="technique-text")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                yield TabParts(gallery, explanation, tab)
            with gr.Column(scale=2):
                gallery.render()
                for component in below:
                    component.render()
