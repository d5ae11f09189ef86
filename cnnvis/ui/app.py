"""The demo built from the tab modules, its queue (the lanes), and how it is launched.

``TABS`` is the page's tabs in order: adding a tab is a module with a ``<name>_tab(page)``
function and one line here. :func:`apply_queue`, :data:`LAUNCH_KWARGS` and :func:`launch`
are the one place where queue and launch settings are made and a server is started.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from starlette.middleware import Middleware

from . import page as shared_area
from .components import Page
from ..serving.lanes import LANES
from ..serving.connections import HeartbeatMiddleware
from ..serving.hosts import HostMiddleware
from ..serving.responses import ResponseHeadersMiddleware
from ..serving.file_bounds import MAX_MODEL_FILE_BYTES
from ..serving.screening import ScreeningMiddleware
from .settings import (
    EXAMPLES_DIR,
    Settings,
    compute_device,
    configure,
    current,
    parse_args,
    settings_from,
)
from .tabs import checks, classic, dreams, methods, own_model
from .texts import CSS, INTRO
from ..serving.uploads import UploadMiddleware, cache_lifespan
from .work import start_warm_up

LANE_TITLES = {"quick": "Quick work", "long": "The lane for long work (Deep Dream, Compare...)"}

TABS: tuple[Callable[[Page], None], ...] = (
    classic.filters_tab,
    classic.feature_maps_tab,
    dreams.feature_visualization_tab,
    classic.guided_backprop_tab,
    methods.attributions_tab,
    methods.heatmaps_tab,
    classic.guided_grad_cam_tab,
    dreams.deep_dream_tab,
    checks.compare_tab,
    own_model.own_model_tab,
)

LAUNCH_KWARGS: dict[str, Any] = {
    # System fonts: the page needs nothing from the internet.
    "theme": gr.themes.Soft(
        font=("ui-sans-serif", "system-ui", "sans-serif"),
        font_mono=("ui-monospace", "monospace"),
    ),
    "css": CSS,
    # The largest upload, a .keras model; every other file at most 10 MB (cnnvis.serving.uploads).
    "max_file_size": MAX_MODEL_FILE_BYTES,
    "show_error": False,  # unexpected errors stay in the log
    "footer_links": ["api", "gradio", "settings"],
    # Outermost first: nosniff and downloads-only for non-images on every response; only
    # the allowed host names (DNS rebinding, cnnvis.serving.hosts); who has a live
    # heartbeat (cnnvis.serving.connections: uploaded models are held for them only); one
    # file per upload and the cache's size bound; every event's inputs screened (SECURITY.md).
    "app_kwargs": {
        "middleware": [
            Middleware(ResponseHeadersMiddleware),
            Middleware(HostMiddleware),
            Middleware(HeartbeatMiddleware),
            Middleware(UploadMiddleware),
            Middleware(ScreeningMiddleware, extra_roots=[EXAMPLES_DIR]),
        ],
        "lifespan": cache_lifespan(),
    },
}
DELETE_CACHE = (3600, 3600)  # results and uploads: checked every hour, deleted after an hour


def build_demo(
    tabs: Sequence[Callable[[Page], None]] = TABS, settings: Settings | None = None
) -> gr.Blocks:
    """The page: the shared area, then each tab; every event's lane limited by
    ``settings`` (default: the current ones). Loads no model."""
    with gr.Blocks(title="cnnvis · what CNNs see", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(INTRO)
        image, model, summary, panel = shared_area.shared_inputs()
        page = Page(demo, image, model)
        with gr.Tabs(overflow_behavior="wrap"):  # every tab one tap away on a phone
            for tab in tabs:
                tab(page)
        shared_area.follow(page, summary, panel)  # after the tabs: their pickers are known
    demo.cnnvis_page = page  # what main() precomputes the long tabs' openings from
    return apply_queue(demo, settings or current())


def apply_queue(demo: gr.Blocks, settings: Settings) -> gr.Blocks:
    """The queue: at most ``settings.max_queue`` waiting requests, and the limit of each
    lane on every event in it (its ``concurrency_id`` is its technique's cost), in Gradio's
    queue and in the lanes the computations themselves take (:mod:`cnnvis.serving.lanes`).
    ``api_open=False`` closes /gradio_api/run and /gradio_api/api to queued events (as on a
    Space): they would skip the queue's bound on waiting requests (see SECURITY.md)."""
    limits = settings.lane_limits
    LANES.define("quick", slots=limits["quick"], title=LANE_TITLES["quick"])
    LANES.define(
        "long",
        slots=limits["long"],
        admission=limits["long"] + settings.long_queue,
        title=LANE_TITLES["long"],
    )
    # Quick events wait in Gradio's queue, which shows each visitor's place and an
    # estimate. Long events all start at once and wait in their lane, which refuses those
    # beyond its admission bound on arrival ("busy, try again in about N s").
    # An uploaded model past the quick lane's bounds does its quick work in the long lane
    # (cnnvis.serving.sessions.lane_of) while its event holds one of Gradio's quick slots:
    # Gradio starts as many more quick events as the long lane admits, so that such work
    # never takes the slots of the registry models' quick work (the quick lane still runs
    # at most its own slots; the others wait in it, told how long).
    gradio_limits = {"quick": limits["quick"] + LANES["long"].admission, "long": None}
    for fn in demo.fns.values():
        if fn.concurrency_id in gradio_limits:
            fn.concurrency_limit = gradio_limits[fn.concurrency_id]
    return demo.queue(
        max_size=settings.max_queue,
        default_concurrency_limit=limits["quick"],
        api_open=False,
    )


def launch(demo: gr.Blocks, settings: Settings | None = None, **options: Any) -> tuple:
    """Serve ``demo``: its queue and lanes from ``settings`` (default: the current ones),
    then Gradio's launch with LAUNCH_KWARGS (``options`` may add or override some). The one
    place where a server is started: ``main`` and the tests use it."""
    apply_queue(demo, settings or current())
    arguments = {**LAUNCH_KWARGS, **options}
    # A fresh dict each launch: Gradio writes its own lifespan (its delete_cache schedule,
    # wrapping ours) into the app_kwargs it is given, so a shared dict would stack every
    # earlier launch's schedule into the next server.
    arguments["app_kwargs"] = dict(arguments.get("app_kwargs") or {})
    return demo.launch(**arguments)


def main(
    demo: gr.Blocks,
    argv: Sequence[str] | None = None,
    args: argparse.Namespace | None = None,
) -> None:
    """``python app.py``: the command line's settings (``args`` if it was parsed already,
    else ``argv``), then serve ``demo`` at once and warm the default model up behind it:
    the URL is printed before any model is loaded, and the page says the model is warming
    (its summary) until the first request gets it."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    args = args if args is not None else parse_args(argv)
    configure(settings_from(args))
    compute_device()  # chosen now, as --device says (cnnvis.models.devices logs which)
    launch(
        demo,
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        prevent_thread_lock=True,
    )
    # After the URL: a model load would compete with the server's start. Once warm, the
    # example photo's results are precomputed for the tabs that open on them.
    page = getattr(demo, "cnnvis_page", None)
    setting = current().precompute
    then = None if page is None else lambda: shared_area.precompute_openings(page, setting)
    start_warm_up(then=then)
    demo.block_thread()
