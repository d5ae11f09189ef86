"""How the app starts: ``python app.py --help`` answers before TensorFlow or Gradio is
imported, and ``python app.py`` serves the page (its URL printed, the page saying the
model is warming) before the default model is loaded in the background. Outcomes only:
the figures in seconds are printed by benchmarks/bench_start.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .serve import app_process

ROOT = Path(__file__).resolve().parents[1]

IMPORTS_AFTER_HELP = """
import runpy, sys
sys.argv = ["app.py", *sys.argv[1:]]
try:
    runpy.run_path("app.py", run_name="__main__")
except SystemExit as stop:
    status = stop.code
heavy = sorted(name for name in ("tensorflow", "keras", "gradio", "numpy") if name in sys.modules)
print(status, heavy)
"""


def imports_after(*args: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER_HELP, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    return done.stdout.strip(), done.stderr


def test_help_answers_before_tensorflow_or_gradio_is_imported():
    out, _ = imports_after("--help")
    assert out.startswith("usage: app.py") and "--weights-dir" in out, out
    assert out.splitlines()[-1] == "0 []", out


def test_a_wrong_option_is_refused_before_tensorflow_or_gradio_is_imported():
    out, err = imports_after("--port", "seven")
    assert out == "2 []", out
    assert "invalid int value: 'seven'" in err and "Traceback" not in err


def test_the_app_serves_the_page_before_the_default_model_is_warm(tmp_path):
    """The URL line comes before the warm-up's "is ready" line, and the page's first words
    for the model say that it is warming up in the background."""
    from cnnvis.ui.page import WARMING

    log = tmp_path / "app.log"
    with app_process(log, "--weights", "random") as (url, _):
        with urllib.request.urlopen(url + "config", timeout=30) as response:
            config = json.load(response)
        deadline = time.monotonic() + 300
        while "is ready (" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
    text = log.read_text()
    assert "Running on local URL" in text and "MobileNetV2 is ready (" in text, text[-3000:]
    assert text.index("Running on local URL") < text.index("MobileNetV2 is ready ("), text[-3000:]
    values = [c.get("props", {}).get("value") for c in config["components"]]
    assert WARMING in values
