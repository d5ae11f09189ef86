"""The trust report in the app (issue 14): its tab first in Compare, its handler and
endpoint's wiring, what the page draws of a report (known answers on the hand-built
quadrant model of tests/test_trust.py), progress and cancellation, and its refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

import app
import cnnvis
from cnnvis import registry, ui
from cnnvis.evaluation import trust
from cnnvis.evaluation import verdict
from cnnvis.errors import ParameterError
from cnnvis.ui import endpoints, inputs, pictures, work
from cnnvis.ui import errors as ui_errors
from cnnvis.serving.lanes import LaneCancelled
from cnnvis.ui.tabs import trust as trust_tab
from cnnvis.ui.texts import COMPARE_SANITY_NOTE

from .app_helpers import CAT, WEIGHTS, app_settings, is_one_sentence
from .test_trust import SIZE, model_noise, quadrant_model, region
from .tiny import seeded_image

MODEL = "MobileNetV2"
PARAMETERS = ["image", "model", "target_class", "methods", "steps", "seed", "x0", "y0", "x1", "y1"]


@pytest.fixture(scope="module", autouse=True, params=[WEIGHTS], ids=[f"weights={WEIGHTS}"])
def settings():
    saved = ui.current()
    ui.configure(app_settings())
    yield ui.current()
    ui.configure(saved)


def endpoint():
    return endpoints.published(app.demo)["/trust_report"]


def event(api_name: str):
    [found] = [fn for fn in app.demo.fns.values() if fn.api_name == api_name]
    return found


# ----- the tab and its endpoint ------------------------------------------------------------


def test_the_trust_report_is_the_first_tab_of_compare_with_the_quick_methods_ticked():
    import gradio as gr

    tab_ids = [b.id for b in app.demo.blocks.values() if isinstance(b, gr.Tab)]
    start = tab_ids.index("compare")
    assert tab_ids[start + 1 : start + 5] == [
        "trust_report",
        "deletion_insertion",
        "sanity_check",
        "pointing_game",
    ]
    fn = endpoint()
    assert fn.input_keyword_names == PARAMETERS
    controls = dict(zip(fn.input_keyword_names, fn.inputs))
    assert controls["methods"].value == registry.quick_map_methods() == trust.default_methods()
    assert all(controls[corner].value is None for corner in trust_tab.CORNERS)  # no box
    # One class picker for every check of the tab.
    compare = endpoints.published(app.demo)["/compare"]
    assert controls["target_class"] is dict(zip(compare.input_keyword_names, compare.inputs))["target_class"]
    # The long lane (the technique's cost), in Gradio's queue and in the handler.
    assert cnnvis.TECHNIQUES["trust_report"].cost == "long"
    assert fn.concurrency_id == "long" and fn.queue
    assert trust_tab.trust_report.__cnnvis_lane__ == "long"
    description = fn.api_description
    assert "Adebayo et al. 2018" in description and "x0: the object's box" in description


def test_the_box_drawn_for_the_pointing_game_reaches_the_report_and_a_new_photo_clears_it():
    corners = [dict(zip(endpoint().input_keyword_names, endpoint().inputs))[c] for c in trust_tab.CORNERS]
    layer = np.zeros((50, 80, 4), np.uint8)
    layer[10:20, 30:35, 3] = 255
    layer[40, 60, 3] = 200
    drawn = event("box_drawn").fn({"background": None, "layers": [layer], "composite": None})
    assert [drawn[c] for c in corners] == [30, 10, 60, 40]
    pointing = [c for c in drawn if c not in corners]  # the pointing game's own fields
    assert [drawn[c] for c in pointing] == [30, 10, 60, 40]
    cleared = event("photo_drawing").fn(str(CAT))
    assert all(cleared[c] is None for c in corners)


def test_deletion_and_insertion_says_its_ranking_skips_the_sanity_check():
    import gradio as gr

    texts = [b.value or "" for b in app.demo.blocks.values() if isinstance(b, gr.Markdown)]
    [note] = [t for t in texts if COMPARE_SANITY_NOTE in t]
    assert "does not run the sanity check" in note and "Trust report" in note
    assert cnnvis.TECHNIQUES["compare"].summary in note  # in the Deletion & insertion tab
    assert any(trust.HOW_TO_READ in t for t in texts)  # the paragraph for a student


# ----- what the page draws of a report (known answers) ---------------------------------------


@pytest.fixture(scope="module")
def quadrant():
    return quadrant_model()


@pytest.fixture(scope="module")
def photo():
    return seeded_image(SIZE, SIZE, seed=5)


@pytest.fixture(scope="module")
def known(quadrant, photo):
    """tests/test_trust.py's known answers, with a box on the quadrant that matters: the
    gradient is trusted, a random map that follows the model is not, and the right
    region drawn by hand fails the sanity check (it ignores the model)."""
    methods = {"gradient": cnnvis.vanilla_gradient, "noise": model_noise, "region": region}
    box = (0, 0, SIZE // 2 - 1, SIZE // 2 - 1)
    return trust.trust_report(quadrant, photo, methods, target_class=0, box=box, steps=8)


def test_the_table_ranks_as_the_report_and_says_each_verdict_and_why(known):
    """Four columns, so that each verdict and its reason read on a phone without
    scrolling sideways; the numbers are in the reason, the captions and the JSON."""
    table = pictures.trust_table(known)
    assert table["headers"] == ["#", "method", "verdict", "why"]
    rows = table["data"]
    assert rows == [[m.rank, m.title, m.verdict, m.reason] for m in known.methods]
    assert [row[1] for row in rows] == ["Gradient", "noise", "region"]  # a registry function keeps its title
    assert [row[2] for row in rows] == ["trusted", "not trusted", "not trusted"]
    # The hand-drawn region has the best curves and fails the sanity check: last, and said.
    assert "re-drawn at random" in rows[2][3] and "1.00" in rows[2][3]
    assert known.method("region").faithfulness > known.method("noise").faithfulness
    assert "p = 0.05" in rows[0][3] and "100%" in rows[0][3]


def test_each_map_is_captioned_with_its_verdict_reason_and_numbers(quadrant, photo, known):
    gallery = pictures.trust_maps(quadrant, photo, known)
    assert len(gallery) == 3
    for (picture, text), m in zip(gallery, known.methods):
        assert picture.shape == photo.shape and picture.dtype == np.uint8
        assert text.startswith(f"#{m.rank} {m.title}: {m.verdict} · {m.reason}")
        for e in m.evidence:
            assert pictures.evidence_words(e) in text
        assert f"compared with {known.null_maps} copies of the map moved across the photo" in text
        assert f"{quadrant.name} · {known.label} ({known.class_index})" in text
    # The pointing game's box is drawn (white, edged in black) on every map.
    marked = gallery[0][0]
    edge = marked[1 : SIZE // 2 - 2, 1]
    assert (edge == 255).all(axis=-1).any() or (edge == 0).all(axis=-1).any()


def test_the_summary_says_what_is_trusted_and_where_a_failing_method_ranks(quadrant, known):
    text = trust_tab.summary_text(quadrant, known)
    assert known.summary in text and known.note in text
    assert "region does not pass the sanity check" in text and "below every method that does" in text
    assert f"{known.passes} forward passes" in text


def test_the_chart_shows_the_four_curves_with_their_bands(quadrant, known):
    chart = pictures.trust_chart(quadrant, known)
    assert chart.shape == (900, 760, 3) and chart.dtype == np.uint8  # two panels a row, for phones too
    assert len(np.unique(chart.reshape(-1, 3), axis=0)) > 50


# ----- progress, cancellation, the box -------------------------------------------------------


def test_the_reports_progress_fills_the_bar_and_a_cancelled_request_stops_the_report(
    quadrant, photo, known
):
    shown = []

    def progress(fraction, desc=None):
        shown.append((fraction, desc))

    methods = {"gradient": cnnvis.vanilla_gradient, "noise": model_noise, "region": region}
    box = (0, 0, SIZE // 2 - 1, SIZE // 2 - 1)
    say = trust_tab.progress_of_report(progress, lambda: False)
    again = trust.trust_report(quadrant, photo, methods, target_class=0, box=box, steps=8, progress=say)
    fractions = [f for f, _ in shown]
    low, high = trust_tab.REPORT_PROGRESS
    assert fractions == sorted(fractions) and low <= fractions[0] and fractions[-1] == high
    assert all(text.endswith("…") for _, text in shown) and len(shown) > 5

    asked = []

    def cancelled() -> bool:  # the visitor leaves after three steps
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(LaneCancelled) as stopped:
        trust.trust_report(
            quadrant, photo, methods, target_class=0, steps=8,
            progress=trust_tab.progress_of_report(progress, cancelled),
        )
    assert len(asked) == 4 and is_one_sentence(str(stopped.value))
    # The kept randomisation copy is whole again for the next report: the same numbers.
    after = trust.trust_report(quadrant, photo, methods, target_class=0, box=box, steps=8)
    assert [m.verdict for m in after.methods] == [m.verdict for m in known.methods]
    for a, b in zip(after.methods, again.methods):
        np.testing.assert_array_equal(a.sanity_spearman, b.sanity_spearman)


def test_the_box_is_four_corners_or_none():
    assert trust_tab.report_box(None, None, None, None) is None
    assert trust_tab.report_box(1, 2, 30, 40) == (1, 2, 30, 40)
    with pytest.raises(ParameterError) as error:
        trust_tab.report_box(1, None, 30, 40)
    assert is_one_sentence(str(error.value))


# ----- the handler, as the page runs it ------------------------------------------------------


@pytest.mark.fullsize
def test_the_handler_gives_the_page_and_the_report_in_the_long_lane(monkeypatch):
    """On MobileNetV2 (real weights where they are, random otherwise), two methods and few
    steps, with the whole photo as the box."""
    lanes = []
    real = work.compute

    def recording(lane, fn, *args, **kwargs):
        lanes.append(lane)
        return real(lane, fn, *args, **kwargs)

    monkeypatch.setattr(work, "compute", recording)
    height, width = inputs.read_image(str(CAT)).shape[:2]
    chosen = ["guided_backprop", "grad_cam", "grad_cam"]  # a name twice counts once
    result = trust_tab.trust_report(
        str(CAT), MODEL, "top class", chosen, 4, 0, 0, 0, width - 1, height - 1
    )
    assert lanes == ["long"]
    assert set(result) == {"summary", "table", "maps", "chart", "report"}
    report = result["report"]
    assert [m["name"] for m in report["methods"]] in (
        ["grad_cam", "guided_backprop"],
        ["guided_backprop", "grad_cam"],
    )
    assert report["box"] == [0, 0, width - 1, height - 1] and report["steps"] == 4
    rows = result["table"]["data"]
    assert [row[1:4] for row in rows] == [
        [m["title"], m["verdict"], m["reason"]] for m in report["methods"]
    ]
    pointing = [next(e for e in m["evidence"] if e["test"] == "pointing") for m in report["methods"]]
    assert all(e["outcome"] == "hit" for e in pointing)  # the whole photo is the box
    # Never a method that fails the sanity check above one that passes it.
    passed = [next(e for e in m["evidence"] if e["test"] == "sanity")["outcome"] == "pass" for m in report["methods"]]
    assert passed == sorted(passed, reverse=True)
    assert report["note"] in result["summary"]
    if WEIGHTS == "real":  # Adebayo et al.'s finding, on the page
        assert [row[1] for row in rows] == ["Grad-CAM", "Guided backprop"]
        assert "Guided backprop does not pass the sanity check" in result["summary"]
    else:
        assert "random weights" in result["summary"]
    for (path, text), m in zip(result["maps"], report["methods"]):
        with Image.open(path) as picture:
            assert picture.format == "PNG" and picture.size == (width, height)
        assert text.startswith(f"#{m['rank']} {m['title']}: {m['verdict']}")
        assert ("random weights" in text) == (WEIGHTS == "random")
    with Image.open(result["chart"]) as chart:
        assert chart.format == "PNG" and chart.size == (760, 900)


def user_message(*args) -> str:
    import gradio as gr

    with pytest.raises(gr.Error) as caught:
        ui_errors.friendly(trust_tab.trust_report)(*args)
    return caught.value.message


@pytest.mark.parametrize(
    ("case", "args", "words"),
    [
        ("no photo", (None, MODEL, "top class", ["grad_cam"], 4, 0), "photo"),
        ("no method", (str(CAT), MODEL, "top class", [], 4, 0), "method"),
        ("unknown method", (str(CAT), MODEL, "top class", ["magic"], 4, 0), "magic"),
        ("not a map method", (str(CAT), MODEL, "top class", ["deep_dream"], 4, 0), "deep_dream"),
        ("one step", (str(CAT), MODEL, "top class", ["grad_cam"], 1, 0), "steps"),
        ("half a box", (str(CAT), MODEL, "top class", ["grad_cam"], 4, 0, 10, 10, None, None), "four corners"),
        ("box outside", (str(CAT), MODEL, "top class", ["grad_cam"], 4, 0, 5000, 5000, 6000, 6000), "outside"),
        ("unknown class", (str(CAT), MODEL, "unicorn", ["grad_cam"], 4, 0), "unicorn"),
    ],
)
@pytest.mark.fullsize
def test_bad_input_gets_one_clear_sentence(case, args, words):
    message = user_message(*args)
    assert is_one_sentence(message) and words in message, message
    assert message not in (ui_errors.GENERIC_ERROR, ui_errors.MEMORY_ERROR)
