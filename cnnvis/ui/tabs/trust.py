"""The trust report's tab, first in Compare: which explanation of this photo to believe,
and why (:func:`cnnvis.trust_report`, issue 14).

One Run button, published as ``/trust_report``: the ranked table of verdicts with their
one-sentence reasons, each method's map captioned with its numbers, the curves with the
band of the moved copies of each map shaded, and the report itself as JSON (``TrustReport.to_dict()``).
The box of the pointing game is optional; the box drawn in the Pointing game tab comes
here too (:func:`cnnvis.ui.tabs.checks.pointing_game_tab` fills both), and the fields take
a typed box or none.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

import cnnvis

from ...errors import ParameterError
from ...registry import quick_map_methods
from ...evaluation.trust import HOW_TO_READ
from .. import pictures
from .. import work
from ..components import (
    Page,
    empty_table,
    method_checklist,
    option_controls,
    run_button,
    technique_text,
)
from ..endpoints import publish
from ..inputs import method_list, parse_class, read_image
from ...serving.lanes import LaneCancelled
from ..texts import TRUST_BOX_NOTE, TRUST_METHODS_INFO

TRUST = cnnvis.TECHNIQUES["trust_report"]
# The tab's words: what the report is (the registry's summary and papers), then how a
# student reads it (the package's paragraph, one source of truth).
TRUST_TEXT = f"{technique_text(TRUST)}\n\n**How to read it.** {HOW_TO_READ}"
CORNERS = ("x0", "y0", "x1", "y1")
BOX_DOCS = {
    "x0": "the object's box for the pointing game, left edge, in pixels of the photo (photos "
    "longer than 1024 pixels are first shrunk to 1024); leave the four corners out for no "
    "pointing game.",
    "y0": "the box's top edge (y grows downwards); optional, like the other corners.",
    "x1": "the box's right edge; optional.",
    "y1": "the box's bottom edge; optional.",
}
# The report's own share of the progress bar (loading the model comes before it).
REPORT_PROGRESS = (0.1, 0.95)


def report_box(x0, y0, x1, y1) -> tuple[float, float, float, float] | None:
    """The pointing game's box, or None when no corner is given (the package checks it)."""
    corners = (x0, y0, x1, y1)
    if all(value is None for value in corners):
        return None
    if any(value is None for value in corners):
        raise ParameterError(
            "Give the box's four corners x0, y0, x1 and y1, or none of them for no pointing game."
        )
    return corners  # type: ignore[return-value]


def progress_of_report(progress: gr.Progress, cancelled: Callable[[], bool]):
    """The report's ``progress(fraction, text)`` shown in ``progress``; the report stops
    at its next step once the request was cancelled (its visitor left), so that it does
    not hold its lane for nothing."""
    low, high = REPORT_PROGRESS

    def say(fraction: float, text: str) -> None:
        if cancelled():
            raise LaneCancelled("This trust report was cancelled.")
        progress(low + (high - low) * fraction, desc=f"{text}…")

    return say


def summary_text(vis: cnnvis.VisModel, report) -> str:
    """The report in two sentences and its cost, as Markdown above the table."""
    weights = " (random weights: the verdicts mean nothing)" if vis.weights == "random" else ""
    return (
        f"**{report.summary}** {report.note}\n\n"
        f"{vis.name}{weights} gives {report.label} ({report.class_index}) a probability of "
        f"{report.probability:.0%}. {report.passes} forward passes of changed photos and "
        f"{report.imputations} imputations, {report.seconds['total']:.0f} s · seed {report.seed}."
    )


@work.computing(TRUST.cost)
def trust_report(
    image: str | None,
    model: str,
    target_class: str | None,
    methods: list[str],
    steps: int,
    seed: int,
    x0: float | None = None,
    y0: float | None = None,
    x1: float | None = None,
    y1: float | None = None,
    progress: gr.Progress = gr.Progress(),
) -> dict:
    """The trust report of several methods: {"summary", "table", "maps", "chart", "report"}."""
    box = report_box(x0, y0, x1, y1)
    names = list(dict.fromkeys(method_list(methods)))  # each method once
    vis = work.load(model, progress)
    photo = read_image(image)
    report = cnnvis.trust_report(
        vis,
        photo,
        names,
        target_class=parse_class(target_class),
        box=box,
        seed=seed,
        steps=steps,
        progress=progress_of_report(progress, work.request_cancelled()),
    )
    progress(REPORT_PROGRESS[1], desc="Drawing the report…")
    return {
        "summary": summary_text(vis, report),
        "table": pictures.trust_table(report),
        "maps": pictures.files(pictures.trust_maps(vis, photo, report)),
        "chart": pictures.png(pictures.trust_chart(vis, report)),
        "report": report.to_dict(),
    }


def trust_report_tab(page: Page, target: gr.Dropdown) -> dict[str, gr.Number]:
    """The Trust report tab; returns its box fields (the Pointing game tab fills them)."""
    with gr.Tab(TRUST.title, id="trust_report", elem_id="tab-trust_report") as tab:
        gr.Markdown(TRUST_TEXT, elem_classes="technique-text")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                methods = method_checklist(quick_map_methods(), TRUST_METHODS_INFO)
                options = option_controls(TRUST)
                with gr.Accordion("Pointing game (optional): the object's box", open=False):
                    gr.Markdown(TRUST_BOX_NOTE, elem_classes="technique-text")
                    with gr.Row():
                        box = {
                            name: gr.Number(None, label=name, precision=0, min_width=60)
                            for name in CORNERS
                        }
                run = run_button("Run the trust report")
            with gr.Column(scale=2):
                summary = gr.Markdown(label="Summary", elem_id="trust-summary")
                table = gr.Dataframe(
                    empty_table("The methods ranked, each with its verdict and the reason."),
                    label="The methods ranked, with their verdicts",
                    interactive=False,
                    wrap=True,
                    elem_id="trust-table",
                )
                maps = gr.Gallery(
                    label="Maps, in the table's order, with their numbers",
                    format="png",
                    columns=4,
                    height=420,
                    object_fit="contain",
                    preview=False,
                    buttons=["download", "download_all", "fullscreen"],
                    interactive=False,
                    elem_id="trust-maps",
                )
                chart = gr.Image(
                    label="Curves, with the band of each map's moved copies shaded",
                    format="png",
                    type="numpy",
                    interactive=False,
                    buttons=["download", "fullscreen"],
                    elem_id="trust-chart",
                )
                with gr.Accordion("The report as data", open=False):
                    data = gr.JSON(label="The report as JSON (TrustReport.to_dict())", elem_id="trust-json")
    inputs = {
        "image": page.image,
        "model": page.model,
        "target_class": target,
        "methods": methods,
        **options,
        **box,
    }
    outputs = {"summary": summary, "table": table, "maps": maps, "chart": chart, "report": data}
    handler = page.opens(
        tab, "trust_report", trust_report, TRUST.cost, inputs, outputs, parent="compare"
    )
    publish(run, handler, TRUST, inputs, outputs, docs=BOX_DOCS)
    return box


__all__ = ["trust_report", "trust_report_tab"]
