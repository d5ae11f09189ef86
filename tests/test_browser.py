"""The page in headless Chromium at 1400 px (a desktop) and 420 px (a phone): `python
app.py` started as a user would, every tab opening on its result (issue 24), an example
clicked and a photo uploaded, every tab run, a screenshot of each saved.

Screenshots go to artifacts/screenshots/<tab>.png. Skipped only where Chromium or
Playwright is missing (CI installs both).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

import cnnvis

from .app_helpers import ESPRESSO, TAB_IDS, WEIGHTS, app_cli_args, truncated_jpeg
from .conftest import ROOT
from .serve import app_process

# Debian's Chromium (CI installs it); CNNVIS_CHROMIUM may point at another build.
CHROMIUM = (
    os.environ.get("CNNVIS_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
    or "/usr/bin/chromium"
)
PNG = re.compile(r"\.png$")
DESKTOP, PHONE = 1400, 420  # the widths the page is checked at (viewport pixels)
TOP_CLASS = re.compile(r"^top class")  # the entry names the class: "top class: 285 · ..."
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
BUTTONS = {
    "filters": "Show filters",
    "feature_maps": "Show feature maps",
    "guided_backprop": "Run guided backprop",
    "grad_cam": "Run Grad-CAM",
    "guided_grad_cam": "Run Guided Grad-CAM",
    "deep_dream": "Dream",
}
LAYERS = {  # each tab's layer picker: its label, and its value for MobileNetV2
    "filters": ("Convolution", "Conv1 · 112×112×32"),
    "feature_maps": ("Layer", "block_3_expand_relu · 56×56×144"),  # maps that read as pictures
    "grad_cam": ("Layer", "out_relu · 7×7×1280"),
    "guided_grad_cam": ("Grad-CAM layer", "out_relu · 7×7×1280"),
}
OPENED = {  # the start of each quick tab's caption
    "filters": "Filters",
    "feature_maps": "Feature maps",
    "guided_backprop": "Guided backprop",
    "grad_cam": "Grad-CAM",
    "guided_grad_cam": "Guided Grad-CAM",
}
TITLES = {
    "filters": "Filters",
    "feature_maps": "Feature maps",
    "guided_backprop": "Guided backprop",
    "grad_cam": "Heatmaps",
    "guided_grad_cam": "Guided Grad-CAM",
    "deep_dream": "Deep Dream",
}

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"Chromium is not installed at {CHROMIUM} (apt-get install chromium, or set CNNVIS_CHROMIUM)",
        allow_module_level=True,
    )
playwright = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
)
expect = playwright.expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", params=[WEIGHTS], ids=[f"weights={WEIGHTS}"])
def server(tmp_path_factory):
    """`python app.py` on a free port, as the Space runs it (command line and warm-up)."""
    log = tmp_path_factory.mktemp("server") / "app.log"
    # the Attributions tab's SmoothGrad computed in the background after the warm-up, so
    # that the tab opens on it (the other long tabs would take minutes of CPU here)
    with app_process(log, *app_cli_args(), "--precompute", "attributions") as (url, _):
        yield url, log


@pytest.fixture(scope="module")
def page(server):
    url, _ = server
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--headless",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": DESKTOP, "height": 1000})
        page.goto(url)
        yield page
        browser.close()


def errors(page):
    return page.locator("[data-testid=toast-body].error")


def open_tab(page, *titles: str):
    """Click a tab (then a tab inside it), by title."""
    for title in titles:
        page.get_by_role("tab", name=title, exact=True).click()


def set_slider(panel, label: str, value: int) -> None:
    box = panel.get_by_label(f"number input for {label}")
    box.fill(str(value))
    box.press("Enter")


def pick(page, panel, label: str, option: str) -> None:
    """Choose an entry of a dropdown."""
    panel.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def shoot(page, name: str) -> None:
    page.wait_for_timeout(300)  # let the last picture paint
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def finished(panel, count: int, text: str, timeout: int = 90_000):
    """Wait for a gallery of ``count`` pictures whose captions say ``text``."""
    last = panel.locator(f"button.thumbnail-item[aria-label='Thumbnail {count} of {count}']")
    expect(last.first).to_be_attached(timeout=timeout)
    expect(panel).to_contain_text(text, timeout=timeout)
    expect(last.locator("img").first).to_have_attribute("src", PNG)


def test_page_opens_with_a_photo_its_predictions_and_the_layers_of_the_model(page, server):
    expect(page.get_by_text("sees 224×224 pixels")).to_be_visible(timeout=60_000)
    # the first tab opens on its result: no button pressed (issue 24)
    finished(page.locator("#tab-filters"), 1, "Filters · MobileNetV2")
    predictions = page.locator(".block", has=page.get_by_text("its top-5 classes")).last
    expect(predictions).to_contain_text(
        "Egyptian cat" if WEIGHTS == "real" else "·", timeout=30_000
    )
    expect(page.locator("#tab-filters input").first).to_have_value("Conv1 · 112×112×32")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "start.png", full_page=True)
    deadline = time.monotonic() + 60  # main() warms the default model up in the background
    while "is ready" not in server[1].read_text():
        assert time.monotonic() < deadline, server[1].read_text()[-2000:]
        time.sleep(0.5)


def test_a_long_tab_opens_on_its_result_computed_in_the_background(page, server):
    """The Attributions tab opens on SmoothGrad (long work) for the example photo: computed
    once after the warm-up (--precompute attributions), shown at once when the tab opens,
    as a magnitude capped at the 99th percentile (issue 24)."""
    deadline = time.monotonic() + 300
    while "attributions tab's opening result is ready" not in server[1].read_text():
        assert time.monotonic() < deadline, server[1].read_text()[-2000:]
        time.sleep(0.5)
    open_tab(page, "Attributions")
    panel = page.locator("#tab-attributions")
    finished(panel, 2, "SmoothGrad · MobileNetV2", timeout=20_000)
    expect(panel).to_contain_text("magnitude, bright = strong effect (capped at the 99th percentile)")
    expect(panel.get_by_role("button", name="Run SmoothGrad", exact=True)).to_be_visible()
    open_tab(page, "Filters")


def geometry(panel) -> dict:
    """Where a gallery's preview puts its picture, caption and thumbnails (viewport
    pixels), the picture's scale (shown / its own width), and whether the caption is whole."""
    return panel.evaluate(
        """p => {
          const one = s => p.querySelector(s);
          const box = e => { if (!e) return null; const r = e.getBoundingClientRect();
                             return {top: r.top, bottom: r.bottom, width: r.width}; };
          const img = one('.preview .media-button img');
          const caption = one('.preview caption.caption');
          return {
            block: box(one('.results-gallery')), picture: box(img), caption: box(caption),
            thumbnails: box(one('.preview .thumbnails')),
            scale: img && img.naturalWidth ? img.clientWidth / img.naturalWidth : null,
            whole: caption ? caption.scrollHeight <= caption.clientHeight + 1 : null,
          };
        }"""
    )


GRID_LABEL_PX = 12  # render.grid's label size in the picture (charts' smallest text: 12.5 px)


def labels_readable(panel, selector: str = ".preview .media-button img") -> None:
    """The pictures' drawn labels show at 11 px or more: shown at 11/12 of their size at least."""
    scales = panel.locator(selector).evaluate_all(
        "imgs => imgs.map(i => i.naturalWidth ? i.clientWidth / i.naturalWidth : 0)"
    )
    assert scales and min(scales) * GRID_LABEL_PX >= 11, scales


def test_on_a_phone_captions_are_whole_labels_readable_and_nothing_above_results(page, server):
    """At 420 px: each tab opens on its result; every caption is whole (not cut, not under
    the thumbnails); pictures with labels drawn in them show those labels at 11 px or more;
    no empty band sits between the gallery's top and its picture."""
    url, _ = server
    phone = page.context.browser.new_page(viewport={"width": PHONE, "height": 900})
    try:
        phone.goto(url)
        expect(phone.get_by_text("sees 224×224 pixels")).to_be_visible(timeout=60_000)
        for title, key, count, labelled in (
            ("Filters", "filters", 1, True),
            ("Feature maps", "feature_maps", 2, True),
            ("Heatmaps", "grad_cam", 2, False),
            ("Guided backprop", "guided_backprop", 2, False),
        ):
            open_tab(phone, title)
            panel = phone.locator(f"#tab-{key}")
            finished(panel, count, "MobileNetV2")
            phone.wait_for_timeout(500)  # the picture laid out
            shown = geometry(panel)
            assert shown["whole"], (key, shown)
            assert shown["caption"]["bottom"] <= shown["thumbnails"]["top"] + 1, (key, shown)
            assert shown["picture"]["top"] - shown["block"]["top"] <= 48, (key, shown)  # its label row
            if labelled:
                labels_readable(panel)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            panel.screenshot(path=SCREENSHOTS / f"phone_{key}.png")
    finally:
        phone.close()


def test_an_example_photo_fills_the_input_and_updates_the_predictions(page):
    page.locator("#examples img[src*='espresso']").first.click()
    predictions = page.locator(".block", has=page.get_by_text("its top-5 classes")).last
    if WEIGHTS == "real":
        expect(predictions).to_contain_text("espresso", timeout=30_000)
    expect(page.locator("img[src*='espresso']").first).to_be_visible()


def test_a_broken_upload_gets_a_clear_message_once_and_clears_the_old_results(page, tmp_path):
    open_tab(page, "Heatmaps")  # showing the previous photo's Grad-CAM
    panel = page.locator("#tab-grad_cam")
    expect(panel.locator("button.thumbnail-item").first).to_be_attached(timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(truncated_jpeg(tmp_path))
    expect(errors(page).first).to_contain_text("damaged or incomplete", timeout=30_000)
    # the photo box is emptied (no broken picture): it offers an upload again
    expect(page.locator("input[type=file]").first).to_be_attached(timeout=10_000)
    photo = page.locator(".block", has=page.get_by_text("Photo (upload, paste or webcam)")).first
    expect(photo.locator("img[src*='upload']")).to_have_count(0, timeout=10_000)
    # the old photo's results are gone: the top-5 and the open tab's pictures
    expect(panel.locator("button.thumbnail-item")).to_have_count(0, timeout=30_000)
    predictions = page.locator(".block", has=page.get_by_text("its top-5 classes")).last
    expect(predictions.locator("[data-testid$='-confidence-set']")).to_have_count(0)
    # said once (Gradio 6.31 reports one upload as two changes): no second toast, no "(2)"
    page.wait_for_timeout(3000)
    expect(errors(page)).to_have_count(1)
    expect(page.get_by_text("Error (2)")).to_have_count(0)
    errors(page).locator("button.toast-close").first.click()
    expect(errors(page)).to_have_count(0, timeout=15_000)


def test_an_uploaded_photo_is_used(page):
    page.locator("input[type=file]").first.set_input_files(ESPRESSO)
    predictions = page.locator(".block", has=page.get_by_text("its top-5 classes")).last
    expect(predictions).to_contain_text("espresso" if WEIGHTS == "real" else "·", timeout=30_000)


@pytest.mark.parametrize("tab", TAB_IDS)
def test_each_tab_shows_its_results(page, tab):
    before = errors(page).count()
    page.get_by_role("tab", name=TITLES[tab], exact=True).click()
    panel = page.locator(f"#tab-{tab}")
    if tab in LAYERS:  # filled and preselected for the model, like every tab's picker
        label, value = LAYERS[tab]
        expect(panel.get_by_label(label, exact=True)).to_have_value(value, timeout=10_000)
    if tab != "deep_dream":  # a quick technique: its result on opening, no button pressed
        finished(panel, 2 if tab != "filters" else 1, f"{OPENED[tab]} · MobileNetV2")
    panel.get_by_role("button", name=BUTTONS[tab], exact=True).click()
    thumbnails = panel.locator("button.thumbnail-item")
    expect(thumbnails.first).to_be_visible(timeout=60_000)
    if tab == "deep_dream":  # the finished dream comes with the photo it started from
        expect(thumbnails).to_have_count(2, timeout=60_000)
        expect(panel).to_contain_text("Deep Dream · MobileNetV2", timeout=60_000)
    expect(panel.locator("button.thumbnail-item img").first).to_have_attribute("src", PNG)
    assert errors(page).count() <= before
    page.wait_for_timeout(300)  # let the last picture paint
    page.screenshot(path=SCREENSHOTS / f"{tab}.png", full_page=True)


def test_heatmaps_show_each_methods_own_controls(page):
    open_tab(page, "Heatmaps")
    panel = page.locator("#tab-grad_cam")
    channels = panel.get_by_text("Channels to score (0 = all)")
    layer = panel.get_by_label("Layer", exact=True)
    expect(channels).to_be_hidden()
    pick(page, panel, "Method", "Occlusion")
    expect(panel.get_by_text("Grey square's side")).to_be_visible()
    expect(layer).to_be_hidden()
    pick(page, panel, "Method", "Score-CAM")
    expect(channels).to_be_visible()
    expect(panel).to_contain_text("runs the model once per channel")  # its cost, said
    expect(layer).to_be_visible()
    expect(panel.get_by_text("Grey square's side")).to_be_hidden()
    before = errors(page).count()
    panel.get_by_role("button", name="Run Score-CAM", exact=True).click()
    finished(panel, 2, "Score-CAM · MobileNetV2 · out_relu")
    expect(panel).to_contain_text("64 of 1280 channels")
    assert errors(page).count() <= before
    shoot(page, "score_cam")


def test_attributions_tab(page):
    open_tab(page, "Attributions")
    panel = page.locator("#tab-attributions")
    pick(page, panel, "Method", "Integrated Gradients")
    expect(panel.get_by_text("Noisy copies", exact=True)).to_be_hidden()  # SmoothGrad's, which the tab opens on
    set_slider(panel, "Steps on the path", 16)
    panel.get_by_role("button", name="Run Integrated Gradients", exact=True).click()
    finished(panel, 2, "Integrated Gradients · MobileNetV2")
    expect(panel).to_contain_text("16 steps (trapezoid), black baseline")
    expect(panel).to_contain_text("gap")  # completeness, in the caption
    shoot(page, "attributions")


def test_feature_visualisation_streams_and_stops(page):
    open_tab(page, "Feature visualisation")
    panel = page.locator("#tab-feature_visualization")
    set_slider(panel, "Steps", 512)
    panel.get_by_role("button", name="Visualise", exact=True).click()
    expect(panel).to_contain_text("in progress", timeout=60_000)
    panel.get_by_role("button", name="Stop", exact=True).click()
    # Stopped at its next step, long before the end: the pictures kept, and where it stopped
    expect(panel).to_contain_text("Feature visualisation stopped at step", timeout=30_000)
    expect(panel.locator(".generating")).to_have_count(0, timeout=30_000)
    expect(panel).not_to_contain_text("in progress")
    expect(panel).not_to_contain_text("512 steps · channels")
    expect(panel.locator("button.thumbnail-item img").first).to_have_attribute("src", PNG)
    assert errors(page).count() == 0
    set_slider(panel, "Steps", 48)
    panel.get_by_role("button", name="Visualise", exact=True).click()
    finished(panel, 9, "48 steps · channels 0, 1, 2, 3, 4, 5, 6, 7")  # the sheet, then each
    shoot(page, "feature_visualization")


def test_feature_visualisation_of_a_class(page):
    open_tab(page, "Feature visualisation")
    panel = page.locator("#tab-feature_visualization")
    panel.get_by_label("classes", exact=True).check()
    expect(panel.get_by_label("Layer", exact=True)).to_be_hidden()
    set_slider(panel, "Steps", 16)
    panel.get_by_role("button", name="Visualise", exact=True).click()
    finished(panel, 2, "class logits · 16 steps · flamingo (130)")


def test_compare_ranks_the_quick_methods(page):
    open_tab(page, "Compare", "Deletion & insertion")
    panel = page.locator("#tab-deletion_insertion")
    expect(panel.get_by_label("Score-CAM (slow)")).not_to_be_checked()
    panel.get_by_role("button", name="Compare", exact=True).click()
    ticked = panel.locator("input[type=checkbox]:checked").count()  # the quick ones
    assert ticked >= 6
    finished(panel, ticked, "#1 ", timeout=120_000)
    expect(panel.locator("#faithfulness-chart img")).to_have_attribute("src", PNG)
    shoot(page, "compare")
    page.set_viewport_size({"width": PHONE, "height": 900})  # the chart on a phone
    try:
        page.wait_for_timeout(500)
        labels_readable(panel, "#faithfulness-chart img")
    finally:
        page.set_viewport_size({"width": DESKTOP, "height": 1000})


def test_sanity_check(page):
    open_tab(page, "Compare", "Sanity check")
    panel = page.locator("#tab-sanity_check")
    panel.get_by_role("button", name="Run the sanity check", exact=True).click()
    finished(panel, 1, "Model randomisation · MobileNetV2")
    expect(panel).to_contain_text("Guided backprop ρ")  # the table
    shoot(page, "sanity_check")
    page.set_viewport_size({"width": PHONE, "height": 900})  # the grid's labels on a phone
    try:
        page.wait_for_timeout(500)
        labels_readable(panel)
        assert geometry(panel)["whole"]
    finally:
        page.set_viewport_size({"width": DESKTOP, "height": 1000})


def test_pointing_game_takes_the_box_drawn_on_the_photo(page):
    open_tab(page, "Compare", "Pointing game")
    panel = page.locator("#tab-pointing_game")
    canvas = page.locator("#pointing-drawing canvas").first
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):  # a scribble down and to the right
        page.mouse.move(x + step * box["width"] * 0.03, y + step * box["height"] * 0.03)
    page.mouse.up()
    corners = panel.locator("input[type=number]")
    expect(corners.first).not_to_have_value("", timeout=10_000)
    x0, y0, x1, y1 = (float(corners.nth(i).input_value()) for i in range(4))
    assert x0 < x1 and y0 < y1
    panel.get_by_role("button", name="Play the pointing game", exact=True).click()
    finished(panel, panel.locator("input[type=checkbox]:checked").count(), "its peak")
    expect(panel).to_contain_text("pixels from the box")  # the table
    shoot(page, "pointing_game")


def test_stopping_a_deep_dream_keeps_the_dream_and_says_where(page, monkeypatch):
    """Stop pressed in the page: the dream ends with its picture so far, captioned where it
    stopped, no red "Error". Served in this process, whose dream steps after the first
    picture are held until the Stop has arrived: the dream cannot end first, whatever the
    machine's speed."""
    from cnnvis.techniques import compiled
    from cnnvis.serving.stopping import STOPS

    from .app_helpers import app_settings
    from .serve import served

    pressed, real_stop, real_step = threading.Event(), STOPS.stop, compiled.dream_step

    def stop(request, technique):
        asked = real_stop(request, technique)
        pressed.set()
        return asked

    def held_step(*args, **kwargs):
        step, calls = real_step(*args, **kwargs), []

        def held(*a, **k):
            calls.append(1)
            if len(calls) > 12:  # 50 steps an octave: the first picture comes at step 12
                assert pressed.wait(60), "Stop never arrived"
            return step(*a, **k)

        return held

    monkeypatch.setattr(STOPS, "stop", stop)
    monkeypatch.setattr(compiled, "dream_step", held_step)
    with served(app_settings()) as (_, url):
        dreamer = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            dreamer.goto(url)
            expect(dreamer.get_by_text("sees 224×224 pixels")).to_be_visible(timeout=60_000)
            open_tab(dreamer, "Deep Dream")
            panel = dreamer.locator("#tab-deep_dream")
            set_slider(panel, "Octaves (scales, smallest first)", 3)
            set_slider(panel, "Steps per octave", 50)
            panel.get_by_role("button", name="Dream", exact=True).click()
            expect(panel).to_contain_text("Deep Dream in progress", timeout=60_000)
            panel.get_by_role("button", name="Stop", exact=True).click()
            expect(panel).to_contain_text("Deep Dream stopped at octave 1/3, step 13/50", timeout=30_000)
            expect(panel.locator(".generating")).to_have_count(0, timeout=30_000)
            expect(panel.locator("button.thumbnail-item img").first).to_have_attribute("src", PNG)
            two = panel.locator("button.thumbnail-item[aria-label='Thumbnail 2 of 2']")  # the photo
            expect(two.first).to_be_attached()
            assert errors(dreamer).count() == 0  # no red "Error"
            expect(panel.get_by_text("Error", exact=True)).to_have_count(0)
        finally:
            dreamer.close()


def test_clicking_a_prediction_sets_the_class_of_every_tab_and_every_tab_says_so(page):
    predictions = page.locator(".block", has=page.get_by_text("its top-5 classes")).last
    second = predictions.locator("[data-testid$='-confidence-set']").nth(1)
    chosen = second.get_attribute("data-testid").removesuffix("-confidence-set")
    second.click()
    label = chosen.split(" · ", 1)[1]
    for tab, titles in (("guided_backprop", ("Guided backprop",)), ("grad_cam", ("Heatmaps",))):
        open_tab(page, *titles)
        panel = page.locator(f"#tab-{tab}")
        if tab == "grad_cam":  # an earlier test picked Score-CAM (long: shown after a run)
            pick(page, panel, "Method", "Grad-CAM")
        picker = panel.get_by_label("Class to explain", exact=True)
        expect(picker).to_have_value(re.compile(f"^{re.escape(chosen)}"), timeout=10_000)
        expect(panel).to_contain_text("Clicked in the top-5 predictions above")  # where from
        expect(panel.locator("caption.caption")).to_contain_text(label, timeout=60_000)  # and shown
    # one pick in one tab sets every tab's class too: back to the top class for what follows
    panel = page.locator("#tab-grad_cam")
    panel.get_by_label("Class to explain", exact=True).click()
    page.get_by_role("option", name=TOP_CLASS).first.click()
    open_tab(page, "Guided backprop")
    panel = page.locator("#tab-guided_backprop")
    picker = panel.get_by_label("Class to explain", exact=True)
    expect(picker).to_have_value(TOP_CLASS, timeout=10_000)
    expect(panel).to_contain_text("The photo's top class")


TOP_TABS = (
    "Filters", "Feature maps", "Feature visualisation", "Guided backprop", "Attributions",
    "Heatmaps", "Guided Grad-CAM", "Deep Dream", "Compare", "Your model",
)


def test_on_a_phone_every_tab_is_one_tap_away(page, server):
    """At 420 x 900 every tab, and every tab inside Compare, is a visible button of the
    tab bar (the bar wraps: no "⋯" menu to open first); one tab runs."""
    url, _ = server
    phone = page.context.browser.new_page(viewport={"width": PHONE, "height": 900})
    try:
        phone.goto(url)
        expect(phone.get_by_text("sees 224×224 pixels")).to_be_visible(timeout=60_000)
        for title in TOP_TABS:
            tab = phone.get_by_role("tab", name=title, exact=True)
            expect(tab).to_be_visible()
            tab.click()
            expect(tab).to_have_attribute("aria-selected", "true")
        phone.get_by_role("tab", name="Compare", exact=True).click()
        compare = phone.locator("#tab-compare")
        for title in (cnnvis.TECHNIQUES["trust_report"].title, "Deletion & insertion", "Sanity check", "Pointing game"):
            tab = compare.get_by_role("tab", name=title, exact=True)
            expect(tab).to_be_visible()
            tab.click()
            expect(tab).to_have_attribute("aria-selected", "true")
        expect(phone.locator(".overflow-menu:visible")).to_have_count(0)
        phone.get_by_role("tab", name="Filters", exact=True).click()
        panel = phone.locator("#tab-filters")
        panel.get_by_role("button", name="Show filters", exact=True).click()
        finished(panel, 1, "Filters · MobileNetV2")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        phone.screenshot(path=SCREENSHOTS / "phone_filters.png", full_page=True)
    finally:
        phone.close()


def test_your_model_is_loaded_for_this_page_and_every_tab_explains_it(page, tmp_path):
    """The page path of issue 15: the Your model tab loads a tiny .keras classifier, the
    model picker then has it chosen, the summary says its input size, and a tab explains
    it by its default layer and its own class names."""
    from cnnvis.models.own import PREPROCESSING_CHOICES

    from .test_own_model_app import tiny_classifier

    model_file, names = tmp_path / "mine.keras", tmp_path / "names.txt"
    tiny_classifier().save(model_file)
    names.write_text("cat\ndog\nfox\n")
    open_tab(page, "Heatmaps")  # an ImageNet class chosen first: the model has no such class
    chooser = page.locator("#tab-grad_cam").get_by_label("Class to explain", exact=True)
    chooser.click()
    chooser.fill("goldfish")
    page.get_by_role("option", name="1 · goldfish", exact=True).click()
    expect(chooser).to_have_value("1 · goldfish")
    tab = page.get_by_role("tab", name="Your model", exact=True)
    if not tab.is_visible():  # the last tab: behind "More tabs" when the bar is full
        page.get_by_role("button", name="More tabs").click()
        page.locator(".overflow-dropdown button", has_text="Your model").click()
    else:
        tab.click()
    panel = page.locator("#tab-own_model")
    expect(panel).to_contain_text("128 MB")  # its limit, stated
    for label, path in (("Model file (.keras)", model_file), ("Class names (optional)", names)):
        block = panel.locator(".block", has=page.get_by_text(label, exact=True)).last
        block.locator("input[type=file]").set_input_files(path)
        # uploaded: the file's download link points into the server's cache (its name is
        # shown split in two, "mine" and ".keras", so the text is not matched)
        expect(block.locator(f'a[href$="/{path.name}"]')).to_be_visible(timeout=30_000)
    pick(page, panel, "Preprocessing", f"0-1: {PREPROCESSING_CHOICES['0-1']}")
    before = errors(page).count()
    panel.get_by_role("button", name="Load my model", exact=True).click()
    expect(panel).to_contain_text("is loaded, for you only", timeout=60_000)
    expect(panel).to_contain_text("3 classes (cat, dog, fox)")
    expect(page.get_by_text("tiny_mine sees 32×32 pixels")).to_be_visible(timeout=30_000)  # the summary
    shoot(page, "own_model")
    open_tab(page, "Heatmaps")
    heatmaps = page.locator("#tab-grad_cam")
    expect(heatmaps.get_by_label("Layer", exact=True)).to_have_value("features · 32×32×8", timeout=30_000)
    expect(chooser).to_have_value(TOP_CLASS)  # goldfish let go: the model has 3 classes
    pick(page, heatmaps, "Method", "Grad-CAM")  # an earlier test may have chosen another
    heatmaps.get_by_role("button", name="Run Grad-CAM", exact=True).click()
    finished(heatmaps, 2, "Grad-CAM · tiny_mine · features")
    assert errors(page).count() <= before
