"""Which explanation to trust: the Compare tab, with the trust report first (its own
module, :mod:`.trust`), then deletion & insertion, the sanity check and the pointing game
as tabs inside it, on one photo and one class."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import gradio as gr

import cnnvis

from ...errors import ParameterError
from ...evaluation.metrics import MAX_RANDOMIZATION_METHODS
from ...registry import quick_map_methods
from .. import pictures
from .. import work
from ..components import (
    Page,
    class_picker,
    empty_table,
    method_checklist,
    option_controls,
    results_gallery,
    run_button,
    technique_tab,
    technique_text,
)
from ..endpoints import helper, publish
from ..inputs import box_drawn, method_list, parse_class, photo_or_none, read_image
from ..texts import BOX_NOTE, COMPARE_INTRO, COMPARE_SANITY_NOTE, POINTING_TEXT, SANITY_TEXT
from .trust import TRUST, trust_report_tab

COMPARE = cnnvis.TECHNIQUES["compare"]
RANDOMIZATION = cnnvis.TECHNIQUES["randomization_check"]
POINTING = cnnvis.TECHNIQUES["pointing_games"]
# The checks' endpoints were published under these names before the registry named them.
SANITY_API, POINTING_API = "sanity_check", "pointing_game"
CORNERS = ("x0", "y0", "x1", "y1")


# ----- handlers (each one endpoint) ---------------------------------------------------------


@work.computing(COMPARE.cost)
def compare(
    image: str | None,
    model: str,
    target_class: str | None,
    methods: list[str],
    steps: int,
    progress: gr.Progress = gr.Progress(),
) -> dict:
    """Several methods on one photo, ranked by faithfulness: {"maps", "chart"}."""
    vis = work.load(model, progress)
    photo = read_image(image)
    names = method_list(methods)
    work.working(
        progress, f"Computing {pictures.plural(len(names), 'map')} and deleting their pixels", 0.2
    )
    result = cnnvis.compare(vis, photo, names, target_class=parse_class(target_class), steps=steps)
    return {
        "maps": pictures.files(pictures.ranked_maps(vis, photo, result)),
        "chart": pictures.png(pictures.faithfulness_chart(vis, result)),
    }


@work.computing(RANDOMIZATION.cost)
def sanity_check(
    image: str | None,
    model: str,
    target_class: str | None,
    methods: list[str],
    steps: int,
    seed: int,
    progress: gr.Progress = gr.Progress(),
) -> dict:
    """Model randomisation of several methods: {"maps", "table"}."""
    vis = work.load(model, progress)
    photo = read_image(image)
    names = method_list(methods)
    work.working(progress, "Randomising a copy of the model, layer group by layer group", 0.2)
    result = cnnvis.randomization_check(
        vis, photo, names, target_class=parse_class(target_class), steps=steps, seed=seed
    )
    gallery, table = pictures.randomization_results(vis, photo, result, seed)
    return {"maps": pictures.files(gallery), "table": table}


@work.computing(POINTING.cost)
def pointing_game(
    image: str | None,
    model: str,
    target_class: str | None,
    methods: list[str],
    x0: float | None,
    y0: float | None,
    x1: float | None,
    y1: float | None,
    tolerance: float,
    progress: gr.Progress = gr.Progress(),
) -> dict:
    """The pointing game of several methods in the object's box: {"maps", "table"}."""
    box = (x0, y0, x1, y1)
    if any(value is None for value in box) or not (x0 < x1 and y0 < y1):
        raise ParameterError(
            "Draw over the object on the photo first, or give its box with x0 < x1 and y0 < y1."
        )
    names = list(dict.fromkeys(method_list(methods)))  # each method once
    vis = work.load(model, progress)
    photo = read_image(image)
    work.working(progress, f"Computing {pictures.plural(len(names), 'map')}", 0.2)
    games = cnnvis.pointing_games(
        vis, photo, names, box=box, target_class=parse_class(target_class), tolerance=tolerance
    )
    gallery, table = pictures.pointing_results(vis, photo, games)
    return {"maps": pictures.files(gallery), "table": table}


# ----- the tabs ---------------------------------------------------------------------------


def quick_methods() -> tuple[list[str], str]:
    """The methods ticked by default (quick work), and what the others are."""
    return (
        quick_map_methods(),
        "Ticked: the quick ones; those marked slow are long work (many passes each).",
    )


def compare_tab(page: Page) -> None:
    with gr.Tab("Compare", id="compare", elem_id="tab-compare") as tab:
        gr.Markdown(COMPARE_INTRO, elem_classes="technique-text")
        target = class_picker(page)
        with gr.Tabs(overflow_behavior="wrap"):  # every check one tap away on a phone
            report_box = trust_report_tab(page, target)
            deletion_insertion_tab(page, target)
            sanity_check_tab(page, target)
            pointing_game_tab(page, target, also=list(report_box.values()))
    page.openers.group("compare", tab, first=TRUST.name)


def deletion_insertion_tab(page: Page, target: gr.Dropdown) -> None:
    chart = gr.Image(
        label="Deletion and insertion curves",
        show_label=False,
        format="png",
        type="numpy",
        interactive=False,
        buttons=["download", "fullscreen"],
        render=False,
        elem_id="faithfulness-chart",
    )
    ranked = results_gallery(
        "Maps, most faithful first", preview=False, columns=3, elem_id="ranked-maps"
    )
    with technique_tab(
        COMPARE,
        title="Deletion & insertion",
        key="deletion_insertion",
        text=f"{technique_text(COMPARE)}\n\n{COMPARE_SANITY_NOTE}",
        gallery=ranked,
        below=[chart],
    ) as tab:
        methods = method_checklist(*quick_methods())
        options = option_controls(COMPARE)
        run = run_button("Compare")
    inputs = {
        "image": page.image,
        "model": page.model,
        "target_class": target,
        "methods": methods,
        **options,
    }
    outputs = {"maps": tab.gallery, "chart": chart}
    handler = page.opens(
        tab.tab, "deletion_insertion", compare, COMPARE.cost, inputs, outputs, parent="compare"
    )
    publish(run, handler, COMPARE, inputs, outputs)


def sanity_check_tab(page: Page, target: gr.Dropdown) -> None:
    table = gr.Dataframe(
        empty_table("Each method's rank correlation and SSIM, layer by layer as the model is re-drawn."),
        label="Rank correlation (ρ) and similarity (SSIM) with the trained model's map",
        interactive=False,
        render=False,
    )
    defaults = inspect.signature(RANDOMIZATION.function).parameters["methods"].default
    with technique_tab(
        RANDOMIZATION, title="Sanity check", key="sanity_check", text=SANITY_TEXT, below=[table]
    ) as tab:
        methods = method_checklist(
            defaults,
            f"Up to {MAX_RANDOMIZATION_METHODS}. Guided backprop is the classic failure: its map "
            "barely changes.",
        )
        options = option_controls(RANDOMIZATION)
        run = run_button("Run the sanity check")
    inputs = {
        "image": page.image,
        "model": page.model,
        "target_class": target,
        "methods": methods,
        **options,
    }
    outputs = {"maps": tab.gallery, "table": table}
    handler = page.opens(
        tab.tab, "sanity_check", sanity_check, RANDOMIZATION.cost, inputs, outputs, parent="compare"
    )
    publish(run, handler, RANDOMIZATION, inputs, outputs, name=SANITY_API)


def pointing_game_tab(page: Page, target: gr.Dropdown, also: Sequence[gr.Number] = ()) -> None:
    """The pointing game: a box drawn on the photo (or typed), then each method's peak.
    The box drawn goes to the corner fields ``also`` too (the trust report's), and a new
    photo clears them with this tab's."""
    hits = gr.Dataframe(
        empty_table("Each method's hit or miss: where its map peaks, and how far from the box."),
        label="Hits and misses",
        interactive=False,
        render=False,
    )
    with technique_tab(
        POINTING, title="Pointing game", key="pointing_game", text=POINTING_TEXT, below=[hits]
    ) as tab:
        drawing = gr.ImageEditor(  # the photo comes with the page and follows it (below)
            label="Draw over the object",
            show_label=False,
            type="numpy",
            sources=[],
            transforms=(),
            layers=False,
            brush=gr.Brush(default_size=6, colors=["#ffdd00"], color_mode="fixed"),
            format="png",
            height=320,
            elem_id="pointing-drawing",
        )
        gr.Markdown(BOX_NOTE, elem_classes="technique-text")
        with gr.Row():
            box = {name: gr.Number(None, label=name, precision=0, min_width=60) for name in CORNERS}
        options = option_controls(POINTING)
        methods = method_checklist(*quick_methods())
        run = run_button("Play the pointing game")

    def show_photo(image: str | None) -> dict:
        """The drawing area shows the photo (as the methods see it); the box is cleared."""
        return {drawing: photo_or_none(image), **{corner: None for corner in fields}}

    def show_box(drawn) -> dict:
        corners = box_drawn(drawn) or (None,) * 4
        return {**dict(zip(also, corners)), **dict(zip(box.values(), corners))}

    fields = [*box.values(), *also]
    for source, trigger in (("page", page.demo.load), ("photo", page.image.change)):
        helper(
            trigger, show_photo, [page.image], [drawing, *fields],
            name=f"{source}_drawing", lane="quick",  # decoding is work under the bound too
        )
    # "input", not "change": Gradio 6.31's editor reports no change for a drawing made on
    # a photo it received while its tab was hidden. Queued, one at a time: Gradio decodes
    # the drawing's pictures before show_box runs.
    # "always_last": a stroke that ends while the box of the one before is being found is
    # sent when that ends (the default for .input, "once", drops it: the box missed it).
    helper(
        drawing.input, show_box, [drawing], fields, name="box_drawn",
        concurrency_id="drawing", concurrency_limit=1, trigger_mode="always_last",
    )
    inputs = {"image": page.image, "model": page.model, "target_class": target, "methods": methods}
    inputs |= {**box, **options}
    docs = {
        "x0": "the box's left edge, in pixels of the photo (photos longer than 1024 pixels are first shrunk to 1024).",
        "y0": "the box's top edge (y grows downwards).",
        "x1": "the box's right edge.",
        "y1": "the box's bottom edge.",
    }
    outputs = {"maps": tab.gallery, "table": hits}
    handler = page.opens(
        tab.tab, "pointing_game", pointing_game, POINTING.cost, inputs, outputs, parent="compare"
    )
    publish(run, handler, POINTING, inputs, outputs, name=POINTING_API, docs=docs)
