"""Regenerate the README's pictures of the app in headless Chromium, so that they always
show the current page: the app started as ``python app.py`` starts it, each main tab shown
as it opens (on its result, no button pressed), on a desktop (1400 x 900) and on a phone
(420 x 900).

    CNNVIS_WEIGHTS_DIR=/path/to/weights python scripts/screenshots.py [--out docs/images]

The folder must hold ``MobileNetV2.weights.h5`` (Keras' ImageNet weights; without it the
pictures would show an untrained network, so the script refuses). Chromium is found as
the browser tests find it (``CNNVIS_CHROMIUM``, else ``chromium`` on the PATH), driven by
Playwright. The app precomputes the Attributions tab's SmoothGrad (long work) after its
warm-up, as it does for every long tab by default; the script waits for it. Each picture
is saved as ``<out>/<desktop|phone>-<tab>.jpg`` (JPEG, quality 85: a tenth of a PNG's size
in the repository) and listed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIEWPORTS = {"desktop": (1400, 900), "phone": (420, 900)}
# (file name, tab titles to click, text the result's caption holds when the tab has opened
# on it); no tab: the page as it opens.
SHOTS = {
    "desktop": [
        ("start", (), "Filters · MobileNetV2"),
        ("feature_maps", ("Feature maps",), "Feature maps · MobileNetV2"),
        ("heatmaps", ("Heatmaps",), "Grad-CAM · MobileNetV2"),
        ("attributions", ("Attributions",), "SmoothGrad · MobileNetV2"),
    ],
    "phone": [
        ("start", (), "Filters · MobileNetV2"),
        ("heatmaps", ("Heatmaps",), "Grad-CAM · MobileNetV2"),
    ],
}
PRECOMPUTED = "attributions"  # the long tab shown: its result is computed after the warm-up
WAIT_MS = 300_000  # a run on a 2-core CPU, at most


def chromium() -> str:
    found = (
        os.environ.get("CNNVIS_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or "/usr/bin/chromium"
    )
    if not Path(found).exists():
        sys.exit(f"Chromium is not installed at {found} (set CNNVIS_CHROMIUM)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(weights_dir: Path, log: Path) -> Iterator[str]:
    """``python app.py`` with the real weights, on a free loopback port; its URL."""
    port = free_port()
    command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--weights", "imagenet", "--weights-dir", str(weights_dir)]
    command += ["--precompute", PRECOMPUTED]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "CNNVIS_OFFLINE": "1"}
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(url + "gradio_api/info", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the app did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        deadline = time.monotonic() + WAIT_MS / 1000
        while f"{PRECOMPUTED} tab's opening result is ready" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the {PRECOMPUTED} tab's result was not computed:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def shoot(browser, url: str, device: str, out: Path) -> list[Path]:
    from playwright.sync_api import expect

    width, height = VIEWPORTS[device]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    expect(page.get_by_text("sees 224×224 pixels")).to_be_visible(timeout=120_000)
    predictions = page.locator(".block", has=page.get_by_text("its top-5 classes")).last
    expect(predictions).to_contain_text("·", timeout=60_000)
    saved = []
    for name, titles, caption in SHOTS[device]:
        for title in titles:
            page.get_by_role("tab", name=title, exact=True).click()
        expect(page.locator("caption.caption", has_text=caption).first).to_be_visible(timeout=WAIT_MS)
        expect(page.locator(".generating")).to_have_count(0, timeout=WAIT_MS)
        if titles and device == "desktop":  # the tab bar at the top, its result below it
            page.get_by_role("tab", name=titles[-1], exact=True).evaluate(
                "tab => tab.scrollIntoView({block: 'start'})"
            )
        page.wait_for_timeout(1500)  # let the last picture paint
        path = out / f"{device}-{name}.jpg"
        page.screenshot(path=path, type="jpeg", quality=85, full_page=device == "phone")
        saved.append(path)
        page.evaluate("window.scrollTo(0, 0)")
    page.close()
    return saved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--devices", nargs="+", choices=list(VIEWPORTS), default=list(VIEWPORTS))
    args = parser.parse_args(argv)
    weights = Path(os.environ.get("CNNVIS_WEIGHTS_DIR", ""))
    if not (weights / "MobileNetV2.weights.h5").is_file():
        sys.exit("Set CNNVIS_WEIGHTS_DIR to a folder holding MobileNetV2.weights.h5.")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "screenshots-app.log"
    saved = []
    try:
        with served(weights, log) as url, sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=chromium(), args=["--no-sandbox", "--headless", "--disable-gpu"]
            )
            for device in args.devices:
                saved += shoot(browser, url, device, args.out)
            browser.close()
    finally:
        log.unlink(missing_ok=True)
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
