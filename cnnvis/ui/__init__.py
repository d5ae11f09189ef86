"""The cnnvis web app (Gradio is imported here only, never by the package).

Where each thing lives:

- :mod:`.app`: ``build_demo()`` from the tab modules (``TABS``), the queue and its lanes
  (``apply_queue``), ``LAUNCH_KWARGS`` and ``launch()`` (every server starts there), ``main()``;
- :mod:`.settings`: settings from the environment and the command line, the device;
- :mod:`.page`: the shared area (photo, examples, model, top-5) and the events that keep
  every tab's pickers in step with it; ``/classify``;
- :mod:`.tabs`: one module per tab or family of tabs (``classic``, ``methods``,
  ``dreams``, ``checks``, ``trust``, ``own_model``: the "Your model" tab and ``/load_model``);
- :mod:`.components`: pickers, option controls, galleries, Run buttons, the tab frame;
- :mod:`.endpoints`: the one endpoint mechanism (a Run button's click, published);
- :mod:`.work`: every computation's one entry (``compute``, in its lane), models,
  cancellation, warm-up;
- :mod:`.bounds`: sliders bounded by the chosen model and layer (channels of the layer);
- :mod:`.pictures`: results drawn, and written as PNG files for the galleries;
- :mod:`.inputs`: reading the photo, parsing classes, layers and methods, and the
  component patches that let cnnvis check values itself;
- :mod:`.errors`: one sentence for every failure;
- :mod:`.texts`: the page's words and CSS;

What guards and schedules requests (screening, uploads, lanes, Stop, the visitors' own
models) is the serving wing, :mod:`cnnvis.serving`.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from typing import Any

# Opt-in telemetry: the app works offline and behind firewalls, so it does not phone
# home unless GRADIO_ANALYTICS_ENABLED says otherwise (Gradio reads it at launch).
# TensorFlow (imported when the demo lists the techniques) logs less, and takes GPU
# memory as it needs it even if something initialises the GPU before compute_device().
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
# Uploads and results go to a folder of the app's own: the cache's size bound evicts files
# there (cnnvis.serving.uploads), so it must not be a folder that other Gradio apps share.
os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(tempfile.gettempdir(), "gradio-cnnvis"))

from ..serving.native_log import quiet_native_start  # noqa: E402

# The names below load on first use, so that ``cnnvis.ui.settings`` (the command line)
# answers without TensorFlow or Gradio: ``python app.py --help`` reads its arguments
# before anything heavy is imported.
_NAMES = {
    "LAUNCH_KWARGS": ".app",
    "TABS": ".app",
    "apply_queue": ".app",
    "build_demo": ".app",
    "launch": ".app",
    "main": ".app",
    "Settings": ".settings",
    "configure": ".settings",
    "current": ".settings",
}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _NAMES[name] == ".app":
        with quiet_native_start():  # TensorFlow starts here (the tabs list the techniques)
            import tensorflow  # noqa: F401
            import keras  # noqa: F401
    value = getattr(importlib.import_module(_NAMES[name], __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "LAUNCH_KWARGS",
    "TABS",
    "Settings",
    "apply_queue",
    "build_demo",
    "configure",
    "current",
    "launch",
    "main",
]
