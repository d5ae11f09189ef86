"""cnnvis web app: see what the ImageNet CNNs of keras.applications see.

A thin Gradio face over the ``cnnvis`` package: one shared photo, model picker and
example photos, then one tab per technique. Every technique is also an API endpoint
with a stable name for ``gradio_client`` (``API_NAMES``): ``/classify``, ``/filters``,
``/feature_maps``, ``/guided_backprop``, ``/grad_cam``, ``/guided_grad_cam``,
``/deep_dream``; one per heatmap and attribution method of the registry (``/layer_cam``,
``/score_cam``, ``/occlusion``, ``/smoothgrad``, ``/integrated_gradients``...);
``/feature_visualization``; and the checks ``/compare``, ``/sanity_check`` and
``/pointing_game``.

Run ``python app.py --help`` for the options; importing this module builds ``demo``
but loads no model (``main()`` warms the default model up in a background thread).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import io
import logging
import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio import processing_utils
from PIL import Image
from starlette.middleware import Middleware

import cnnvis  # light: TensorFlow loads when a model is first touched
from cnnvis import render
from cnnvis.errors import CnnvisError, ImageError, ParameterError, out_of_memory_message, quoted
from cnnvis.images import fit_within
from cnnvis.labels import imagenet_classes
from cnnvis.ui.lanes import LANES, bounded, request_cancelled
from cnnvis.ui.responses import ResponseHeadersMiddleware
from cnnvis.ui.screening import ScreeningMiddleware, file_problem, received_roots
from cnnvis.ui.uploads import UploadMiddleware, cache_lifespan

# Opt-in telemetry: the app works offline and behind firewalls, so it does not phone
# home unless GRADIO_ANALYTICS_ENABLED says otherwise (Gradio reads it at launch).
# TensorFlow (imported later, when build_demo lists the models) logs less, and takes GPU
# memory as it needs it even if something initialises the GPU before compute_device().
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
# Uploads and results go to a folder of the app's own: the cache's size bound evicts files
# there (cnnvis.ui.uploads), so it must not be a folder that other Gradio apps share.
os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(tempfile.gettempdir(), "gradio-cnnvis"))

log = logging.getLogger("cnnvis.app")

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "examples"
DEFAULT_MODEL = "MobileNetV2"
DEFAULT_EXAMPLE = EXAMPLES_DIR / "cat.jpg"
TOP_CLASS = "top class"
MAX_SIDE = 1024  # photos are shrunk to this longest side: results stay quick to draw and send
MAX_DREAM_LAYERS = 8
MAX_FEATURE_PICTURES = 16  # cnnvis.techniques.feature_vis.MAX_IMAGES
# Attribution techniques with a tab of their own; the others share the Attributions tab.
OWN_TABS = ("guided_backprop", "guided_grad_cam")
# Methods that the Compare tab leaves out unless ticked: what each costs (MobileNetV2 on
# a 2-core CPU), against one or two passes for the others.
SLOW_METHODS = {
    "score_cam": "a forward pass per channel, all of them: about 25 s",
    "occlusion": "169 forward passes: about 3 s",
    "smoothgrad": "50 gradients: about 2 s",
    "integrated_gradients": "51 gradients: about 2 s",
}
ORIGINAL_API_NAMES = (
    "/classify",
    "/filters",
    "/feature_maps",
    "/guided_backprop",
    "/grad_cam",
    "/guided_grad_cam",
    "/deep_dream",
)
GENERIC_ERROR = (
    "Something went wrong while computing this (the details were logged for the "
    "maintainers); please try again, or try other settings."
)
MEMORY_ERROR = out_of_memory_message()  # the sentence of cnnvis' ComputeError

Gallery = list[tuple[np.ndarray, str]]


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """How the app gets its models and serves requests (environment, then command line)."""

    weights: str = "imagenet"  # "imagenet" or "random" (demos and tests without weights)
    weights_dir: str | None = None  # None: cnnvis reads $CNNVIS_WEIGHTS_DIR itself
    concurrency: int = 1  # model computations running at once (1 suits one GPU or a small CPU)
    max_queue: int = 20  # requests waiting at most; more are refused with "queue full"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            weights=env.get("CNNVIS_APP_WEIGHTS", "imagenet").strip().lower() or "imagenet",
            weights_dir=env.get("CNNVIS_WEIGHTS_DIR") or None,
            concurrency=int(env.get("CNNVIS_CONCURRENCY", "1")),
            max_queue=int(env.get("CNNVIS_MAX_QUEUE", "20")),
        )

    def __post_init__(self) -> None:
        if self.weights not in ("imagenet", "random"):
            raise ValueError(f"weights must be 'imagenet' or 'random', not {self.weights!r}")
        if self.concurrency < 1 or self.max_queue < 1:
            raise ValueError("concurrency and max_queue must be at least 1")


SETTINGS = Settings.from_env()


def configure(settings: Settings) -> None:
    """Use ``settings`` for every later request (models already loaded stay cached)."""
    global SETTINGS
    SETTINGS = settings


_DEVICE_LOCK = threading.Lock()


@functools.cache
def _configure_device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:  # TensorFlow was initialised before us
            log.warning("Could not enable GPU memory growth: %s", error)
    device = f"GPU ({len(gpus)} found)" if gpus else "CPU"
    log.info("TensorFlow computes on the %s", device)
    return device


def compute_device() -> str:
    """Let TensorFlow grow GPU memory as needed (several processes can share a GPU), once,
    before the first model is built; returns and logs the device in words."""
    with _DEVICE_LOCK:  # the warm-up thread and a first request may arrive together
        return _configure_device()


# --------------------------------------------------------------------------- errors


def _out_of_memory(error: BaseException) -> bool:
    tf = sys.modules.get("tensorflow")
    oom = (MemoryError,) + ((tf.errors.ResourceExhaustedError,) if tf is not None else ())
    for _ in range(8):  # the error and the ones it was raised from
        if error is None or isinstance(error, oom):
            return error is not None
        error = error.__cause__ or error.__context__
    return False


def user_error(error: Exception) -> gr.Error:
    """One sentence for the user: ours as they are, anything unexpected logged and hidden."""
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, CnnvisError):
        return gr.Error(str(error), print_exception=False)
    if _out_of_memory(error):
        log.warning("Out of memory: %s", type(error).__name__)
        return gr.Error(MEMORY_ERROR, print_exception=False)
    log.error("Unexpected error in a request", exc_info=error)
    return gr.Error(GENERIC_ERROR, print_exception=False)


def friendly_errors(fn: Callable) -> Callable:
    """Turn every exception of a handler (or a generator handler) into a ``gr.Error``."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as error:
                raise user_error(error) from None

        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            raise user_error(error) from None

    return call


MODEL_LANE = "model"  # every model computation (and photo decoding) shares this lane for now


def model_work(fn: Callable) -> Callable:
    """The wrapper of every handler that decodes a photo or computes with a model: it runs
    in the model lane (inside the worker thread, so a cancelled job keeps its slot until
    it has really stopped; see cnnvis.ui.lanes), and its errors become one sentence."""
    return friendly_errors(bounded(MODEL_LANE)(fn))


# --------------------------------------------------------------------------- inputs


def pass_original_upload(image: gr.Image) -> gr.Image:
    """Make ``image`` hand the uploaded file itself to ``cnnvis.load_image``.

    Why a patch: ``gr.Image(type="filepath")`` opens the file with its own PIL code before
    handing the path on, so a text file or a decompression bomb would fail there with a
    message of Gradio's (or none); this way the original file reaches cnnvis, which applies
    EXIF orientation, the pixel cap and the truncation checks, and explains every refusal
    in one sentence. Gradio has no option to pass an upload on unopened, and a gr.Image
    subclass would make Gradio write an app.pyi. Every route's photo was screened already
    (cnnvis.ui.screening: only files this server received); the check is repeated here so
    that the patch is safe even in a server launched without LAUNCH_KWARGS.
    """

    def preprocess(payload):
        if payload is None:
            return None
        problem, _ = file_problem(payload.model_dump(), received_roots([EXAMPLES_DIR]))
        if problem:
            message = f"The photo must be a file uploaded to this server; got {problem}."
            raise gr.Error(message, print_exception=False)
        return str(payload.path)

    image.preprocess = preprocess
    return image


def accept_any_text(dropdown: gr.Dropdown) -> gr.Dropdown:
    """Document a dropdown's API type as a plain string (or list of strings), not an enum.

    Layer and class pickers accept more than their current choices (any layer of any
    model, a class index or label) and cnnvis checks the value; Gradio would otherwise
    document only the choices present when the page was built.
    """
    text = {"type": "string"}
    schema = {"type": "array", "items": text} if dropdown.multiselect else text
    dropdown.api_info = lambda: schema
    return dropdown


@functools.lru_cache(maxsize=8)
def _decoded(path: str, mtime_ns: int, size: int) -> np.ndarray:
    image = cnnvis.load_image(path, max_side=MAX_SIDE)  # shrunk while decoding
    image.setflags(write=False)  # shared by the requests that reuse this upload
    return image


def read_image(path: str | None) -> np.ndarray:
    """The photo of an upload (decoded once per file), at most MAX_SIDE pixels long."""
    if not path:
        raise ImageError("Upload a photo first, or click one of the example photos.")
    try:
        stat = os.stat(path)
    except OSError:
        return cnnvis.load_image(path)  # raises the package's sentence for a missing file
    return _decoded(str(path), stat.st_mtime_ns, stat.st_size)


def get_model(name: str | None) -> cnnvis.VisModel:
    """A registry model with the configured weights, from cnnvis' model cache."""
    compute_device()
    weights = None if SETTINGS.weights == "random" else "imagenet"
    return cnnvis.load_model(
        str(name or "").strip() or DEFAULT_MODEL, weights=weights, weights_dir=SETTINGS.weights_dir
    )


def load(name: str | None, progress: gr.Progress) -> cnnvis.VisModel:
    progress(0.05, desc=f"Loading {name or DEFAULT_MODEL}…")
    return get_model(name)


def working(progress: gr.Progress, what: str, fraction: float = 0.3) -> None:
    progress(fraction, desc=f"{what}… (slower the first time: the model gets compiled)")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def class_choice(index: int) -> str:
    return f"{index} · {imagenet_classes()[index].label}"


def parse_class(choice: str | int | None) -> int | str | None:
    """A picker value ("285 · Egyptian cat"), an index, a label or an ImageNet id, as
    cnnvis takes it; None for the top class."""
    text = "" if choice is None else str(choice).strip()
    if not text or text.lower() == TOP_CLASS:
        return None
    match = re.fullmatch(r"(\d+)\s*·.*", text)
    return int(match.group(1)) if match else text


def class_choices(top: Sequence[cnnvis.Prediction] = ()) -> list[tuple[str, str]]:
    """The class picker's entries: the top class, the photo's predictions, then the rest."""
    first = [(f"{class_choice(p.index)} ({p.probability:.0%})", class_choice(p.index)) for p in top]
    shown = {p.index for p in top}
    rest = [(class_choice(c.index),) * 2 for c in imagenet_classes() if c.index not in shown]
    return [(TOP_CLASS, TOP_CLASS), *first, *rest]


def model_choices() -> list[tuple[str, str]]:
    return [
        (f"{name} · {spec.input_size} px", name) for name, spec in sorted(cnnvis.REGISTRY.items())
    ]


def layer_choices(model: cnnvis.VisModel, names: Sequence[str]) -> list[tuple[str, str]]:
    shapes = {info.name: info.shape for info in model.layer_infos}
    return [(f"{name} · {'×'.join(map(str, shapes[name]))}", name) for name in names]


def layer_name(layer: str | None) -> str | None:
    """A layer picker's value as cnnvis takes it: a name (an API caller may send a number,
    which is looked up as a name), or None for the model's default."""
    return None if layer is None or layer == "" else str(layer)


def layer_list(layers: str | Sequence[str] | None) -> list[str] | None:
    """Layer names from a multiselect (or an API caller's single name); None: the default."""
    if isinstance(layers, (str, int, float)):
        layers = [layers]
    return [str(name) for name in layers or () if name] or None


def caption(model: cnnvis.VisModel, text: str) -> str:
    return f"{text} · random weights" if model.weights == "random" else text


# --------------------------------------------------------------------------- methods
# The heatmap and attribution methods come from the registry: a technique registered
# with output "heatmap" appears in the Heatmaps tab, one with output "attribution" (and
# no tab of its own) in the Attributions tab, each with its own endpoint, with no change
# here. A method's parameters that the app knows (OPTIONS) become controls of its tab.


def methods_of(output: str) -> list[str]:
    """Registry names of the techniques with this output (those with a tab of their own
    left out), in registry order."""
    return [
        name
        for name, technique in cnnvis.TECHNIQUES.items()
        if technique.output == output and name not in OWN_TABS
    ]


def map_methods() -> list[str]:
    """Every heatmap and attribution method: those that Compare can rank."""
    return [n for n, t in cnnvis.TECHNIQUES.items() if t.output in ("heatmap", "attribution")]


def chosen_technique(method: str | None, output: str) -> cnnvis.techniques.Technique:
    """The registry technique of a method picker's value (default: the first method)."""
    names = methods_of(output)
    name = method or names[0]
    if name not in names:
        raise ParameterError(f"The method must be one of {', '.join(names)}; got {quoted(name)}.")
    return cnnvis.TECHNIQUES[name]


def heatmap_technique(method: str | None) -> cnnvis.techniques.Technique:
    return chosen_technique(method, "heatmap")


def takes(name: str) -> Mapping[str, inspect.Parameter]:
    """The keyword parameters of a registry technique's function."""
    return inspect.signature(cnnvis.TECHNIQUES[name].function).parameters


@dataclass(frozen=True)
class Option:
    """A method parameter that the app offers as a control wherever a method takes it
    (parameters not listed in OPTIONS keep the package's defaults)."""

    kind: type
    default: Any
    doc: str  # for the API page
    control: Callable[..., gr.components.Component]  # (visible=...) -> the control


def _whole(low: int, high: int, value: int, label: str, info: str) -> Callable[..., gr.Slider]:
    return lambda **shown: gr.Slider(
        low, high, value=value, step=1, label=label, info=info, **shown
    )


OPTIONS: dict[str, Option] = {
    "max_channels": Option(
        int,
        64,
        "Score-CAM: score only this many channels, those whose activation varies most "
        "(Faster Score-CAM); 0 for all of them, as in the paper (slow: one forward pass "
        "per channel).",
        _whole(
            0,
            2048,
            64,
            "Channels to score (0 = all)",
            "⚠️ Score-CAM runs the model once per channel it scores: 64 channels (those "
            "whose activation varies most) take about a second; all of them, as in the "
            "paper (1280 at MobileNetV2's last layer), about 25 s on a CPU.",
        ),
    ),
    "window": Option(
        int,
        32,
        "Occlusion: the side of the grey square, in pixels of the model's input (224 for "
        "most models).",
        _whole(
            4,
            112,
            32,
            "Grey square's side",
            "In pixels of the model's input (224 for most models). A smaller square gives "
            "a finer map but needs more forward passes.",
        ),
    ),
    "stride": Option(
        int,
        16,
        "Occlusion: how far the square moves between two passes, at most its side.",
        _whole(2, 112, 16, "Stride", "How far the square moves each time; at most its side."),
    ),
    "samples": Option(
        int,
        50,
        "SmoothGrad: how many noisy copies of the photo, 1 to 256.",
        _whole(1, 256, 50, "Noisy copies", "More copies: a smoother map, one gradient each."),
    ),
    "noise": Option(
        float,
        0.15,
        "SmoothGrad: the noise's standard deviation as a fraction of the pixel range, 0 to 1.",
        lambda **shown: gr.Slider(
            0,
            0.5,
            value=0.15,
            step=0.01,
            label="Noise level",
            info="Standard deviation, as a fraction of the pixel range; 10-20 % works well.",
            **shown,
        ),
    ),
    "seed": Option(
        int,
        0,
        "SmoothGrad: the random seed (same seed, same noise).",
        lambda **shown: gr.Number(
            0,
            label="Seed (same seed, same noise)",
            precision=0,
            minimum=0,
            maximum=2**31 - 1,
            **shown,
        ),
    ),
    "baseline": Option(
        str,
        "black",
        'Integrated Gradients: the picture the path starts from, "black", "white" or '
        '"blur" (the photo blurred).',
        lambda **shown: accept_any_text(
            gr.Dropdown(
                [("black", "black"), ("white", "white"), ("the photo, blurred", "blur")],
                value="black",
                label="Baseline",
                info="Where the path starts: the attributions explain the change from it.",
                allow_custom_value=True,
                **shown,
            )
        ),
    ),
    "steps": Option(
        int,
        50,
        "Integrated Gradients: steps on the path from the baseline to the photo, 1 to 256.",
        _whole(
            1,
            256,
            50,
            "Steps on the path",
            "More steps: a smaller completeness gap (shown in the caption), one gradient each.",
        ),
    ),
}

# The parameters every method of a tab gets, before its options, with their API docs.
COMMON = {
    "heatmap": ("image", "model", "layer", "target_class", "colormap", "opacity"),
    "attribution": ("image", "model", "target_class"),
}
COMMON_DOCS = {
    "image": (str | None, "the photo (a file)."),
    "model": (str, 'a keras.applications model name, e.g. "MobileNetV2".'),
    "layer": (str | None, "a layer with a 2-D feature map; empty for the model's default."),
    "target_class": (
        str | None,
        (
            '"top class", an index ("285"), a label ("Egyptian cat"), an ImageNet id '
            '("n02124075") or a picker entry ("285 · Egyptian cat").'
        ),
    ),
    "colormap": (str, 'a matplotlib colormap name, e.g. "jet".'),
    "opacity": (float, "how strongly the heatmap covers the photo, 0 to 1."),
}


def method_parameters(name: str) -> list[str]:
    """The API parameters of a method's endpoint: its tab's common ones (the layer only
    if the method takes one), then the options it takes, in OPTIONS order."""
    technique, parameters = cnnvis.TECHNIQUES[name], takes(name)
    common = [p for p in COMMON[technique.output] if p != "layer" or "layer" in parameters]
    return common + [p for p in OPTIONS if p in parameters]


def tab_options(output: str) -> list[str]:
    """The options that at least one method of the tab takes, in OPTIONS order."""
    wanted = {p for name in methods_of(output) for p in takes(name)}
    return [p for p in OPTIONS if p in wanted]


def option_values(vis: cnnvis.VisModel, name: str, layer: str | None, given: Mapping) -> dict:
    """The keyword arguments for a method's options: what was given, else the defaults.
    Score-CAM's "0 channels" means all of them, and more than the layer has, all too."""
    values = {p: given.get(p, OPTIONS[p].default) for p in OPTIONS if p in takes(name)}
    if "max_channels" in values and isinstance(values["max_channels"], (int, float)):
        channels = vis.info(layer or vis.default_layer).channels or 1
        if values["max_channels"] == 0 or values["max_channels"] >= channels:
            values["max_channels"] = None
    return values


def with_signature(
    name: str, parameters: Sequence[tuple[str, Any]], doc: str, run: Callable
) -> Callable:
    """A handler named ``name`` with these (name, type) parameters plus ``progress``,
    documented by ``doc``: Gradio reads the API's parameter names, and finds where to
    put its progress tracker, in the signature. ``run`` gets every value by keyword."""
    signature = inspect.Signature(
        [
            inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=kind)
            for p, kind in parameters
        ]
        + [
            inspect.Parameter(
                "progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()
            )
        ]
    )

    def handler(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return run(**bound.arguments)

    handler.__signature__ = signature
    handler.__annotations__ = dict(parameters)
    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = doc
    return model_work(handler)


def method_doc(name: str) -> str:
    technique = cnnvis.TECHNIQUES[name]
    lines = [f"{technique.title}: {technique.summary} ({technique.paper})", "", "Parameters:"]
    for p in method_parameters(name):
        lines.append(f"    {p}: {COMMON_DOCS[p][1] if p in COMMON_DOCS else OPTIONS[p].doc}")
    return "\n".join(lines)


def run_method(
    name: str,
    image: str | None,
    model: str,
    target_class: str | None,
    progress: gr.Progress,
    layer: str | None = None,
    colormap: str = "jet",
    opacity: float = 0.5,
    **options,
) -> Gallery:
    """One heatmap or attribution method on the photo, drawn as its tab draws it."""
    technique = cnnvis.TECHNIQUES[name]
    vis = load(model, progress)
    photo = read_image(image)
    working(progress, f"Computing {technique.title}")
    arguments = {"target_class": parse_class(target_class)}
    if "layer" in takes(name):
        arguments["layer"] = layer_name(layer)
    arguments.update(option_values(vis, name, arguments.get("layer"), options))
    result = technique.function(vis, photo, **arguments)
    if technique.output == "heatmap":
        return heatmap_gallery(vis, photo, result, colormap, opacity)
    return attribution_gallery(vis, result)


def method_endpoint(name: str) -> Callable:
    """The handler of a method's own endpoint (``/score_cam``, ``/smoothgrad``...)."""
    parameters = [
        (p, COMMON_DOCS[p][0] if p in COMMON_DOCS else OPTIONS[p].kind)
        for p in method_parameters(name)
    ]
    return with_signature(name, parameters, method_doc(name), functools.partial(run_method, name))


def chosen_method_handler(output: str) -> Callable:
    """The handler of a tab's Run button: the picked method with the tab's controls."""
    parameters = (
        [("method", str)]
        + [(p, COMMON_DOCS[p][0]) for p in COMMON[output]]
        + [(p, OPTIONS[p].kind) for p in tab_options(output)]
    )

    def run(method: str | None, **values) -> Gallery:
        name = chosen_technique(method, output).name
        wanted = set(method_parameters(name)) | {"progress"}
        return run_method(name, **{k: v for k, v in values.items() if k in wanted})

    doc = f"The Run button of the tab of {output} methods: the chosen method, its controls."
    return with_signature(f"run_{output}", parameters, doc, run)


def endpoint_methods(output: str | None = None) -> list[str]:
    """The heatmap and attribution methods that get an endpoint of their own (/grad_cam
    keeps its published signature, with a method parameter)."""
    outputs = ("heatmap", "attribution") if output is None else (output,)
    return [
        name
        for kind in outputs
        for name in methods_of(kind)
        if f"/{name}" not in ORIGINAL_API_NAMES
    ]


API_NAMES = (
    *ORIGINAL_API_NAMES,
    *(f"/{name}" for name in endpoint_methods()),
    "/feature_visualization",
    "/compare",
    "/sanity_check",
    "/pointing_game",
)


# --------------------------------------------------------------------------- pictures


def _enlarge(picture: np.ndarray, min_side: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so that small maps stay crisp as thumbnails."""
    factor = max(1, -(-min_side // min(picture.shape[:2])))
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def filters_picture(result: cnnvis.Filters) -> np.ndarray:
    """All shown kernels on one sheet, each on its own scale (grey = 0) so its pattern shows."""
    side = result.kernels.shape[1] if result.rgb else result.kernels.shape[-1]
    upscale = max(4, 64 // side)
    if result.rgb:
        cells = [render.kernel_image(k, upscale=upscale) for k in result.kernels]
        columns = None  # render.grid's default: about square
    else:  # one strip per filter: its kernel on each input channel, on one scale per filter
        cells = [_kernel_strip(slices, upscale) for slices in result.kernels]
        columns = math.ceil(math.sqrt(len(cells) / result.kernels.shape[1]))  # about square
    return render.grid(cells, [f"#{i}" for i in result.filter_indices], columns=columns)


def _kernel_strip(slices: np.ndarray, upscale: int) -> np.ndarray:
    scale = float(np.abs(slices).max()) or None
    pictures = [render.kernel_image(s, scale=scale, upscale=upscale, cmap="RdBu_r") for s in slices]
    return render.grid(pictures, columns=len(pictures), pad=1)


def maps_picture(result: cnnvis.FeatureMaps, colormap: str) -> np.ndarray:
    cells = [_enlarge(render.feature_map_image(m, cmap=colormap), 96) for m in result.maps]
    columns = min(len(cells), 4 if len(cells) <= 16 else 8)
    return render.grid(cells, [f"channel {c}" for c in result.channels], columns=columns)


def strongest_channel_overlay(photo: np.ndarray, result: cnnvis.FeatureMaps, colormap: str):
    """The most active of the shown channels, stretched to [0, 1], over the photo."""
    index = int(np.argmax(result.mean_activation[result.channels]))
    values = result.maps[index]
    span = float(values.max() - values.min())
    unit = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    return render.overlay(photo, unit, cmap=colormap), int(result.channels[index])


def heatmap_gallery(model, photo: np.ndarray, result, colormap: str, opacity: float) -> Gallery:
    text = caption(model, result.caption)
    return [
        (
            render.overlay(photo, result.heatmap, alpha=opacity, cmap=colormap),
            f"{text} · over the photo",
        ),
        (render.colorize(result.heatmap, colormap), f"{text} · the map alone, from 0 to 1"),
    ]


def attribution_gallery(model, result: cnnvis.Attribution, extra: str = "") -> Gallery:
    text = caption(model, result.caption + extra)
    return [
        (render.gradient_image(result.values), f"{text} · signed, grey = no effect"),
        (
            render.gradient_image(result.values, mode="abs"),
            f"{text} · saliency, bright = strong effect",
        ),
    ]


def map_picture(photo: np.ndarray, method: str, values: np.ndarray) -> np.ndarray:
    """A method's H x W map drawn as its tab draws it: a heatmap over the photo, an
    attribution's saliency in grey (bright = strong effect)."""
    if cnnvis.TECHNIQUES[method].output == "heatmap":
        return render.overlay(photo, values, alpha=0.5, cmap="jet")
    return render.colorize(values, "gray")


def feature_sheet(images: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Feature visualisation pictures side by side, each labelled."""
    pictures = [render.to_uint8(picture) for picture in images]
    columns = min(len(pictures), 4 if len(pictures) <= 8 else 8)
    return render.grid(pictures, list(labels), columns=columns)


def _outline(picture: np.ndarray, box: Sequence[int], width: int, colour) -> None:
    x0, y0, x1, y1 = box
    picture[y0 : y0 + width, x0 : x1 + 1] = colour
    picture[max(y1 - width + 1, 0) : y1 + 1, x0 : x1 + 1] = colour
    picture[y0 : y1 + 1, x0 : x0 + width] = colour
    picture[y0 : y1 + 1, max(x1 - width + 1, 0) : x1 + 1] = colour


def mark_box(picture: np.ndarray, box: Sequence[float], peak: tuple[int, int]) -> np.ndarray:
    """The pointing game drawn: the object's box in white (edged in black) and the map's
    peak as a black-and-white cross."""
    marked = picture.copy()
    height, width = marked.shape[:2]
    line = max(2, round(max(height, width) / 250))
    x0, x1 = (min(max(round(v), 0), width - 1) for v in (box[0], box[2]))
    y0, y1 = (min(max(round(v), 0), height - 1) for v in (box[1], box[3]))
    _outline(marked, (x0, y0, x1, y1), line + 2, (0, 0, 0))
    inner = (min(x0 + 1, x1), min(y0 + 1, y1), max(x1 - 1, x0), max(y1 - 1, y0))
    _outline(marked, inner, line, (255, 255, 255))
    x, y = peak
    arm = 5 * line
    for colour, grow in (((0, 0, 0), line), ((255, 255, 255), 0)):  # black edge, white core
        half = (line + grow) // 2 + grow // 2
        across = slice(max(x - arm - grow, 0), x + arm + grow + 1)
        down = slice(max(y - arm - grow, 0), y + arm + grow + 1)
        marked[max(y - half, 0) : y + half + 1, across] = colour
        marked[down, max(x - half, 0) : x + half + 1] = colour
    return marked


def ranked_maps(vis: cnnvis.VisModel, photo: np.ndarray, result) -> Gallery:
    """Compare's maps, most faithful first, each captioned with its areas and the random
    map's (a Comparison of cnnvis.metrics)."""
    target = f"{result.label} ({result.class_index})"
    random = (
        f"random map: deletion {result.random_deletion.auc:.3f}, "
        f"insertion {result.random_insertion.auc:.3f}"
    )
    return [
        (
            map_picture(photo, row.name, row.map),
            caption(
                vis,
                f"#{rank} {row.title} · deletion {row.deletion.auc:.3f}, insertion "
                f"{row.insertion.auc:.3f}, score {row.score:.3f} · {vis.name} · {target} · "
                f"{random} · deletion: lower is better, insertion: higher is better, score: "
                f"insertion minus deletion · {row.seconds:.1f} s",
            ),
        )
        for rank, row in enumerate(result.rows, 1)
    ]


def faithfulness_chart(vis: cnnvis.VisModel, result) -> np.ndarray:
    return render.deletion_insertion_chart(
        result.curves,
        baseline=result.baseline,
        title=caption(vis, result.caption),
        width=1000,
        height=480,
    )


def randomization_results(vis: cnnvis.VisModel, photo: np.ndarray, result, seed: int):
    """The sanity check drawn: one grid (a row per method, a column per step) and the
    table of similarities per step (a RandomizationCheck of cnnvis.metrics)."""
    titles = [cnnvis.TECHNIQUES[name].title for name in result.methods]
    cells, texts = [], []
    for i, name in enumerate(result.methods):  # a row per method, a column per step
        cells += [fit_within(map_picture(photo, name, m), 176) for m in result.maps[i]]
        texts += [f"{titles[i]}: trained"] + [
            f"{step} · rho {rho:.2f}" for step, rho in zip(result.steps[1:], result.spearman[i][1:])
        ]
    target = f"{result.label} ({result.class_index})"
    grid = (
        render.grid(cells, texts, columns=len(result.steps)),
        caption(
            vis,
            f"Model randomisation · {vis.name} · {target} · seed {seed} · a row per method "
            f"({', '.join(titles)}): the trained model's map, then layers re-drawn from the "
            f"top down to the one named (all {result.layers_randomised[-1]} at the right); "
            "rho: rank correlation with the trained model's map",
        ),
    )
    headers = ["re-drawn down to (layers)"] + [
        f"{title} {what}" for title in titles for what in ("ρ", "SSIM")
    ]
    steps_done = ["nothing (trained)"] + [
        f"{step} ({result.layers_randomised[j]})" for j, step in enumerate(result.steps) if j
    ]
    rows = [
        [steps_done[j]]
        + [
            round(float(values[i, j]), 3)
            for i in range(len(result.methods))
            for values in (result.spearman, result.ssim)
        ]
        for j in range(len(result.steps))
    ]
    return [grid], {"headers": headers, "data": rows}


def pointing_picture(vis, photo: np.ndarray, method: str, result, values, outcome):
    """A method's map with the box and its peak marked, captioned hit or miss (a
    PointingResult of cnnvis.metrics)."""
    verdict = "hit" if outcome.hit else "miss"
    where = (
        "inside the box"
        if outcome.distance == 0
        else f"{outcome.distance:.0f} px from the box (tolerance {outcome.tolerance:g} px)"
    )
    peak = f"({outcome.peak[0]}, {outcome.peak[1]})"
    picture = mark_box(map_picture(photo, method, values), outcome.box, outcome.peak)
    return picture, caption(vis, f"{result.caption} · {verdict}: its peak {peak} is {where}")


def feature_gallery(vis: cnnvis.VisModel, result, labels: Sequence[str]) -> Gallery:
    """Feature visualisation's pictures: all on one sheet, then each on its own with how
    far its objective rose (a FeatureVisualization of cnnvis)."""
    settings = f"{result.size} px, seed {result.seed}"
    measure = "mean activation" if result.layer is not None else "logit"
    shown = (
        f"channels {', '.join(map(str, result.channels))}"
        if result.channels is not None
        else ", ".join(labels)
    )
    dead = [result.layer is not None and final <= 0 for final in result.final]
    named = [f"{label} (dead)" if silent else label for label, silent in zip(labels, dead)]
    sheet = caption(vis, f"{result.caption} · {shown} · {settings}")
    gallery = [(feature_sheet(result.images, named), sheet)]
    for picture, label, start, final, silent in zip(
        result.images, labels, result.start, result.final, dead
    ):
        rose = f"{measure} {start:.3g} at the start, {final:.3g} at the end"
        if silent:
            rose += " (a dead channel: nothing made it respond, so the picture stays grey)"
        text = f"{result.caption} · {label} · {rose} · {settings}"
        gallery.append((render.to_uint8(picture), caption(vis, text)))
    return gallery


# --------------------------------------------------------------------------- handlers
# Each public handler is one API endpoint; its docstring is the endpoint's description.


@model_work
def classify(
    image: str | None, model: str, progress: gr.Progress = gr.Progress()
) -> dict[str, float]:
    """The model's five most probable ImageNet classes for the photo.

    Parameters:
        image: the photo (a file).
        model: a keras.applications model name, e.g. "MobileNetV2".
    Returns:
        {"285 · Egyptian cat": 0.84, ...}: the top-5 classes and their probabilities.
    """
    vis = load(model, progress)
    predictions = cnnvis.classify(vis, read_image(image), top=5)
    return {class_choice(p.index): p.probability for p in predictions}


@model_work
def filters(
    model: str, layer: str | None, count: int, order: str, progress: gr.Progress = gr.Progress()
) -> Gallery:
    """The kernels of a convolution (no photo needed).

    Parameters:
        model: a keras.applications model name.
        layer: a convolution with a spatial kernel; empty for the model's first one.
        count: how many filters, 1 to 64.
        order: "first" (index order) or "norm" (largest weights first).
    """
    vis = load(model, progress)
    result = cnnvis.filters(vis, layer_name(layer), count=count, order=order)
    shown = f"{len(result.filter_indices)} of {result.total_filters} filters, each on its own scale"
    if result.rgb:
        shown += " (grey = 0)"
    else:
        shown += f", first {result.kernels.shape[1]} input channels (red +, white 0, blue -)"
    return [(filters_picture(result), caption(vis, f"{result.caption} · {shown}"))]


@model_work
def feature_maps(
    image: str | None,
    model: str,
    layer: str | None,
    count: int,
    order: str,
    colormap: str,
    progress: gr.Progress = gr.Progress(),
) -> Gallery:
    """What the channels of one layer compute for the photo.

    Parameters:
        image: the photo.
        model: a keras.applications model name.
        layer: a layer name; empty for the model's default (the last feature map).
        count: how many channels, 1 to 64.
        order: "first" (index order) or "most_active" (largest mean activation first).
        colormap: a matplotlib colormap name, e.g. "viridis".
    """
    vis = load(model, progress)
    photo = read_image(image)
    working(progress, "Computing feature maps")
    [result] = cnnvis.feature_maps(vis, photo, layer_name(layer), count=count, order=order)
    text = caption(vis, result.caption)
    overlay, channel = strongest_channel_overlay(photo, result, colormap)
    return [
        (
            maps_picture(result, colormap),
            f"{text} · {len(result.channels)} channels, bright = strong response",
        ),
        (overlay, f"{text} · channel {channel}, the most active shown, over the photo"),
    ]


@model_work
def guided_backprop(
    image: str | None, model: str, target_class: str | None, progress: gr.Progress = gr.Progress()
) -> Gallery:
    """Guided backpropagation of one class score to the photo's pixels.

    Parameters:
        image: the photo.
        model: a keras.applications model name.
        target_class: "top class", an index ("285"), a label ("Egyptian cat"), an ImageNet
            id ("n02124075") or a picker entry ("285 · Egyptian cat").
    """
    vis = load(model, progress)
    photo = read_image(image)
    working(progress, "Backpropagating")
    result = cnnvis.guided_backprop(vis, photo, target_class=parse_class(target_class))
    return attribution_gallery(vis, result)


@model_work
def grad_cam(
    image: str | None,
    model: str,
    layer: str | None,
    target_class: str | None,
    colormap: str,
    opacity: float,
    method: str = "grad_cam",
    progress: gr.Progress = gr.Progress(),
) -> Gallery:
    """Where in the photo the evidence for a class lies (Grad-CAM).

    Parameters:
        image: the photo.
        model: a keras.applications model name.
        layer: a layer with a 2-D feature map; empty for the model's default.
        target_class: "top class", an index, a label, an ImageNet id or "285 · Egyptian cat".
        colormap: a matplotlib colormap name, e.g. "jet".
        opacity: how strongly the heatmap covers the photo, 0 to 1.
        method: "grad_cam", or another heatmap method ("layer_cam", "occlusion"...) with its own parameters at their defaults (its own endpoint sets them).
    """
    name = heatmap_technique(method).name
    return run_method(
        name, image, model, target_class, progress, layer=layer, colormap=colormap, opacity=opacity
    )


@model_work
def guided_grad_cam(
    image: str | None,
    model: str,
    layer: str | None,
    target_class: str | None,
    progress: gr.Progress = gr.Progress(),
) -> Gallery:
    """Guided backprop restricted to the Grad-CAM region of one class.

    Parameters:
        image: the photo.
        model: a keras.applications model name.
        layer: the Grad-CAM layer; empty for the model's default.
        target_class: "top class", an index, a label, an ImageNet id or "285 · Egyptian cat".
    """
    vis = load(model, progress)
    photo = read_image(image)
    working(progress, "Computing Grad-CAM and guided backprop")
    result = cnnvis.guided_grad_cam(
        vis, photo, target_class=parse_class(target_class), layer=layer_name(layer)
    )
    return attribution_gallery(vis, result, f" · Grad-CAM at {result.layer}")


@model_work
def deep_dream(
    image: str | None,
    model: str,
    layers: Sequence[str] | None,
    octaves: int,
    steps: int,
    step_size: float,
    seed: int,
    progress: gr.Progress = gr.Progress(),
) -> Iterator[Gallery]:
    """Deep Dream: the photo changed to excite the chosen layers (streams intermediate images).

    Parameters:
        image: the photo.
        model: a keras.applications model name.
        layers: 1 to 8 layer names; empty for the model's default dream layers.
        octaves: how many scales, 1 to 8.
        steps: gradient-ascent steps per octave, 1 to 200.
        step_size: how far each step moves the pixels, e.g. 0.01.
        seed: the random seed (same seed, same dream).
    """
    vis = load(model, progress)
    photo = read_image(image)
    working(progress, "Starting to dream", 0.1)
    frames = cnnvis.deep_dream_frames(
        vis,
        photo,
        layers=layer_list(layers),
        octaves=octaves,
        steps=steps,
        step_size=step_size,
        seed=seed,
        every=max(1, steps // 4) if isinstance(steps, int) else 1,  # about 4 pictures per octave
        stop=request_cancelled(),
    )
    for frame in frames:
        where = f"octave {frame.octave}/{frame.octaves}, step {frame.step}/{frame.steps}"
        progress(frame.progress, desc=f"Dreaming: {where}")
        if frame.result is None:
            yield [
                (render.to_uint8(frame.image), caption(vis, f"Deep Dream in progress · {where}"))
            ]
            continue
        dream = frame.result
        settings = (
            f"{plural(frame.octaves, 'octave')} × {plural(frame.steps, 'step')}, "
            f"step size {step_size:g}, seed {seed}"
        )
        yield [
            (render.to_uint8(dream.image), caption(vis, f"{dream.caption} · {settings}")),
            (np.asarray(photo), "The photo it started from"),
        ]


def parse_channels(text: str | None) -> list[int]:
    """Channel indices typed as "3, 17, 42" (commas or spaces)."""
    parts = [part for part in re.split(r"[,;\s]+", str(text or "").strip()) if part]
    if not all(part.isdigit() for part in parts):
        raise ParameterError("Channels must be whole numbers separated by commas, e.g. 3, 17, 42.")
    if any(len(part) > 6 for part in parts):  # no layer has a million channels
        raise ParameterError(f"No layer has a channel {quoted(max(parts, key=len))}.")
    return [int(part) for part in parts]


def feature_targets(
    vis: cnnvis.VisModel,
    target: str,
    layer: str | None,
    count: int,
    channels: str | None,
    classes: str | Sequence[str] | None,
) -> tuple[dict, list[str]]:
    """cnnvis' keyword arguments for the pictures asked for, and a label per picture."""
    from cnnvis.techniques.base import check_int

    if target == "class":
        chosen = [classes] if isinstance(classes, (str, int)) else list(classes or [])
        indices = [parse_class(choice) for choice in chosen if str(choice).strip()]
        if not indices or None in indices:
            raise ParameterError("Choose the classes to visualise (there is no top class here).")
        indices = [vis.resolve_class(index) for index in indices]
        return {"target_class": indices}, [f"{vis.class_label(i)} ({i})" for i in indices]
    if target != "channels":
        raise ParameterError(f"The target must be 'channels' or 'class'; got {quoted(target)}.")
    layer = layer_name(layer) or vis.dream_layers[0]
    indices = parse_channels(channels)
    if not indices:
        count = check_int("count", count, 1, MAX_FEATURE_PICTURES)
        vis.feature_layer(layer)
        indices = list(range(min(count, vis.info(layer).channels or 1)))
    return {"layer": layer, "channels": indices}, [f"channel {c}" for c in indices]


@model_work
def feature_visualization(
    model: str,
    target: str,
    layer: str | None,
    count: int,
    channels: str | None,
    classes: Sequence[str] | None,
    steps: int,
    size: int,
    seed: int,
    progress: gr.Progress = gr.Progress(),
) -> Iterator[Gallery]:
    """Pictures grown from noise to excite channels of a layer, or classes (streams intermediate pictures).

    Parameters:
        model: a keras.applications model name.
        target: "channels" (of the layer) or "class" (the classes' logits).
        layer: for "channels", a layer name; empty for the model's default (a middle block).
        count: for "channels", how many of the first channels, 1 to 16 (when channels is empty).
        channels: for "channels", channel indices such as "3, 17, 42" (overrides count); empty for the first ones.
        classes: for "class", 1 to 16 classes: indices, labels, ImageNet ids or picker entries.
        steps: optimisation steps, 1 to 1024.
        size: the pictures' side in pixels, 32 to 384.
        seed: the random seed (same seed, same pictures).
    """
    vis = load(model, progress)
    options, labels = feature_targets(vis, target, layer, count, channels, classes)
    working(progress, "Starting from grey noise", 0.1)
    frames = cnnvis.feature_visualization_frames(
        vis,
        **options,
        steps=steps,
        size=size,
        seed=seed,
        every=frame_interval(steps, 8),
        stop=request_cancelled(),
    )
    for frame in frames:
        progress(frame.progress, desc=f"Growing the pictures: step {frame.step}/{frame.steps}")
        if frame.result is None:
            where = f"step {frame.step}/{frame.steps}"
            text = f"Feature visualisation in progress · {vis.name} · {where}"
            yield [(feature_sheet(frame.images, labels), caption(vis, text))]
            continue
        yield feature_gallery(vis, frame.result, labels)


def frame_interval(steps, frames: int) -> int:
    """Steps between two intermediate pictures, for about ``frames`` of them (cnnvis
    checks ``steps`` itself)."""
    if isinstance(steps, (int, float)) and math.isfinite(steps) and steps >= 1:
        return max(1, int(steps) // frames)
    return 1


def method_list(methods: str | Sequence[str] | None) -> list[str]:
    """The ticked methods (an API caller may give one name as a string)."""
    names = [methods] if isinstance(methods, str) else list(methods or [])
    if not names:
        raise ParameterError("Tick at least one method.")
    return names


@model_work
def compare(
    image: str | None,
    model: str,
    target_class: str | None,
    methods: Sequence[str],
    steps: int,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Gallery, np.ndarray]:
    """Several heatmap and attribution methods on one photo, ranked by faithfulness (deletion and insertion).

    Parameters:
        image: the photo.
        model: a keras.applications model name.
        target_class: "top class", an index, a label, an ImageNet id or "285 · Egyptian cat".
        methods: registry names of heatmap and attribution methods, e.g. ["grad_cam", "vanilla_gradient"].
        steps: pixels are deleted and inserted in this many steps, 2 to 224.
    Returns:
        the maps, most faithful first, each captioned with its deletion and insertion areas; and the chart of the curves, with a random map's as the baseline.
    """
    vis = load(model, progress)
    photo = read_image(image)
    names = method_list(methods)
    working(progress, f"Computing {plural(len(names), 'map')} and deleting their pixels", 0.2)
    result = cnnvis.compare(vis, photo, names, target_class=parse_class(target_class), steps=steps)
    return ranked_maps(vis, photo, result), faithfulness_chart(vis, result)


@model_work
def sanity_check(
    image: str | None,
    model: str,
    target_class: str | None,
    methods: Sequence[str],
    steps: int,
    seed: int,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Gallery, dict]:
    """Model randomisation (Adebayo et al. 2018): each method's map as the network's layers are re-drawn at random, from the top.

    Parameters:
        image: the photo.
        model: a keras.applications model name.
        target_class: "top class", an index, a label, an ImageNet id or "285 · Egyptian cat".
        methods: 1 to 8 registry names of heatmap and attribution methods, e.g. ["grad_cam", "guided_backprop"].
        steps: randomisation steps, 1 to 12 (the classifier first, then groups of blocks down to the first layer).
        seed: the random seed of the new weights.
    Returns:
        one picture: a row of maps per method, from the trained model to a fully random one, each with its rank correlation (Spearman) to the trained model's map; and the table of rank correlations and structural similarities per step.
    """
    vis = load(model, progress)
    photo = read_image(image)
    names = method_list(methods)
    working(progress, "Randomising a copy of the model, layer group by layer group", 0.2)
    result = cnnvis.randomization_check(
        vis, photo, names, target_class=parse_class(target_class), steps=steps, seed=seed
    )
    return randomization_results(vis, photo, result, seed)


def map_technique(name: str) -> cnnvis.techniques.Technique:
    if name not in map_methods():
        raise ParameterError(
            f"{quoted(name)} is not a heatmap or attribution method; choose from {', '.join(map_methods())}."
        )
    return cnnvis.TECHNIQUES[name]


@model_work
def pointing_game(
    image: str | None,
    model: str,
    target_class: str | None,
    methods: Sequence[str],
    x0: float | None,
    y0: float | None,
    x1: float | None,
    y1: float | None,
    tolerance: float,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Gallery, dict]:
    """The pointing game (Zhang et al. 2016): does each method's strongest point fall in the object's box?

    Parameters:
        image: the photo.
        model: a keras.applications model name.
        target_class: "top class", an index, a label, an ImageNet id or "285 · Egyptian cat".
        methods: registry names of heatmap and attribution methods, e.g. ["grad_cam", "occlusion"].
        x0: the box's left edge, in pixels of the photo (photos longer than 1024 pixels are first shrunk to 1024).
        y0: the box's top edge (y grows downwards).
        x1: the box's right edge.
        y1: the box's bottom edge.
        tolerance: a peak this many pixels outside the box still counts as a hit (15 in the paper).
    Returns:
        each map with the box and its peak marked, captioned hit or miss; and the table of results.
    """
    from cnnvis.metrics import saliency_map

    box = (x0, y0, x1, y1)
    if any(value is None for value in box) or not (x0 < x1 and y0 < y1):
        raise ParameterError(
            "Draw over the object on the photo first, or give its box with x0 < x1 and y0 < y1."
        )
    techniques = [map_technique(name) for name in dict.fromkeys(method_list(methods))]
    vis = load(model, progress)
    photo = read_image(image)
    wanted = parse_class(target_class)
    index = vis.resolve_class(wanted) if wanted is not None else None
    gallery, rows = [], []
    for done, technique in enumerate(techniques):
        progress((done, len(techniques)), desc=f"Computing {technique.title}")
        result = technique.function(vis, photo, target_class=index)
        index = result.class_index  # the top class, once known, for the other methods
        values = saliency_map(result)
        outcome = cnnvis.pointing_game(values, box, tolerance=tolerance)
        gallery.append(pointing_picture(vis, photo, technique.name, result, values, outcome))
        verdict = "hit" if outcome.hit else "miss"
        rows.append([technique.title, verdict, *outcome.peak, round(outcome.distance, 1)])
    headers = ["method", "result", "peak x", "peak y", "pixels from the box"]
    return gallery, {"headers": headers, "data": rows}


# UI helpers (private events): they fill pickers and the model summary.


@model_work
def show_predictions(image: str | None, model: str, progress: gr.Progress = gr.Progress()):
    """The Top-5 panel and the class pickers' entries (empty while there is no photo)."""
    if not image:
        return (None, *[gr.update(choices=class_choices())] * CLASS_PICKERS)
    vis = load(model, progress)
    predictions = cnnvis.classify(vis, read_image(image), top=5)
    label = {class_choice(p.index): p.probability for p in predictions}
    return (label, *[gr.update(choices=class_choices(predictions))] * CLASS_PICKERS)


LAYER_PICKERS = 6  # model_changed returns the summary, then these pickers' updates


@model_work
def model_changed(model: str, progress: gr.Progress = gr.Progress()):
    """The model summary and every layer picker filled (and preselected) for ``model``."""
    try:
        vis = load(model, progress)
    except CnnvisError as error:  # say it where the model is chosen; the pickers stay
        return (f"⚠️ {error}", *[gr.update()] * LAYER_PICKERS)
    layers = layer_choices(vis, vis.visual_layers)
    return (
        model_summary(vis),
        gr.update(choices=layer_choices(vis, vis.filter_layers), value=vis.first_conv),
        gr.update(choices=layers, value=vis.default_layer),  # feature maps
        gr.update(choices=layers, value=vis.default_layer),  # heatmaps
        gr.update(choices=layers, value=vis.default_layer),  # Guided Grad-CAM
        gr.update(choices=layers, value=list(vis.dream_layers)),  # Deep Dream
        gr.update(choices=layers, value=vis.dream_layers[0]),  # feature visualisation
    )


def model_summary(vis: cnnvis.VisModel) -> str:
    height, width = vis.input_size
    if vis.weights == "random":
        weights = "**random weights** (demo mode: the pictures show an untrained network)"
    else:
        weights = "ImageNet weights"
    return (
        f"**{vis.name}** sees {height}×{width} pixels · {len(vis.visual_layers)} layers to "
        f"explore · {weights} · computing on the {compute_device()}"
    )


@friendly_errors
def method_changed(method: str | None, output: str = "heatmap") -> tuple:
    """A method tab's explanation, button, layer picker (heatmaps) and options, shown
    only where the chosen method takes them."""
    technique = chosen_technique(method, output)
    parameters = takes(technique.name)
    updates = [technique_text(technique.name), gr.update(value=f"Run {technique.title}")]
    if output == "heatmap":
        updates.append(gr.update(visible="layer" in parameters))
    updates += [gr.update(visible=option in parameters) for option in tab_options(output)]
    return tuple(updates)


@model_work
def photo_for_drawing(image: str | None):
    """The pointing game's drawing area shows the photo (as the methods see it); the box
    is cleared."""
    try:
        photo = read_image(image) if image else None
    except CnnvisError:  # the predictions panel already says what is wrong with it
        photo = None
    return (photo, *[None] * 4)


def box_drawn(drawing: Mapping | None) -> tuple:
    """The box (x0, y0, x1, y1) around everything drawn on the photo, or four blanks."""
    ink = [
        np.asarray(layer)[..., 3] > 0
        for layer in (drawing or {}).get("layers") or ()
        if layer is not None and np.ndim(layer) == 3 and np.shape(layer)[2] == 4
    ]
    if not ink or len({mask.shape for mask in ink}) != 1:
        return (None,) * 4
    ys, xs = np.nonzero(np.logical_or.reduce(ink))
    if xs.size == 0:
        return (None,) * 4
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def technique_text(name: str) -> str:
    technique = cnnvis.TECHNIQUES[name]
    return f"{technique.summary} *({technique.paper})*"


# --------------------------------------------------------------------------- interface

CLASS_PICKERS = 5  # Guided backprop, Attributions, Heatmaps, Guided Grad-CAM, Compare
MODEL_WORK = {"concurrency_id": MODEL_LANE}  # every event that runs a model shares one limit
PRIVATE = {"api_visibility": "private"}

INTRO = """
# cnnvis · what do ImageNet CNNs see?
Pick a photo (or click an example) and one of the 40 ImageNet networks of
`keras.applications`, then open a tab and press its button. Every picture can be
downloaded as a PNG, and every tab is also an API endpoint ("Use via API", at the bottom).
"""

CSS = """
.gradio-container { max-width: 1280px !important; }
.technique-text { font-size: 0.95em; }
/* long captions (model · layer · class · method · note) wrap instead of being cut */
.gallery-container caption.caption {
  white-space: normal; overflow-wrap: anywhere; max-width: 100%; padding: 0 1em;
}
.gallery-container .media-button { height: calc(100% - 104px) !important; }
/* Compare's grid of maps: the caption's start (rank, method, areas) on two lines */
#ranked-maps .caption-label {
  white-space: normal; max-width: 100%; font-size: 0.8em;
  display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
}
"""

LAUNCH_KWARGS: dict[str, Any] = {
    # System fonts: the page needs nothing from the internet.
    "theme": gr.themes.Soft(
        font=("ui-sans-serif", "system-ui", "sans-serif"),
        font_mono=("ui-monospace", "monospace"),
    ),
    "css": CSS,
    "max_file_size": "10mb",
    "show_error": False,  # unexpected errors stay in the log
    "footer_links": ["api", "gradio", "settings"],
    # Outermost first: nosniff and downloads-only for non-images on every response; one
    # file per upload and the cache's size bound; every event's inputs screened (SECURITY.md).
    "app_kwargs": {
        "middleware": [
            Middleware(ResponseHeadersMiddleware),
            Middleware(UploadMiddleware),
            Middleware(ScreeningMiddleware, extra_roots=[EXAMPLES_DIR]),
        ],
        "lifespan": cache_lifespan(),
    },
}


def layer_picker(
    label: str, info: str, multiselect: bool = False, visible: bool = True
) -> gr.Dropdown:
    # Filled for the chosen model when the page opens and whenever the model changes;
    # any value is accepted here and checked by cnnvis (API callers may name any layer).
    picker = gr.Dropdown(
        label=label,
        info=info,
        choices=[],
        value=[] if multiselect else "",  # empty: the model's default (also for API callers)
        multiselect=multiselect,
        max_choices=MAX_DREAM_LAYERS if multiselect else None,
        allow_custom_value=True,
        visible=visible,
    )
    return accept_any_text(picker)


def class_picker() -> gr.Dropdown:
    picker = gr.Dropdown(
        label="Class to explain",
        info="The photo's top predictions come first; type to search all 1000 classes.",
        choices=class_choices(),
        value=TOP_CLASS,
        allow_custom_value=True,
    )
    return accept_any_text(picker)


def colormap_picker(default: str) -> gr.Dropdown:
    return gr.Dropdown(
        label="Colormap", choices=list(render.COLORMAPS), value=default, allow_custom_value=True
    )


def count_slider(what: str) -> gr.Slider:
    return gr.Slider(1, 64, value=16, step=1, label=f"How many {what}")


def run_button(text: str) -> gr.Button:
    return gr.Button(text, variant="primary")


@dataclass(frozen=True)
class TabParts:
    gallery: gr.Gallery
    text: gr.Markdown


def results_gallery(
    label: str, *, preview: bool = True, columns: int = 2, elem_id: str | None = None
) -> gr.Gallery:
    """Lossless PNGs with captions, downloadable one by one or all (rendered by the tab)."""
    gallery = gr.Gallery(
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
    )
    return fast_png(gallery)


def fast_png(gallery: gr.Gallery) -> gr.Gallery:
    """Encode the gallery's pictures as PNG with zlib level 1, straight into Gradio's cache.

    Gradio saves arrays as PNG at Pillow's default level 6, which on a 2-core CPU takes
    about 50 ms per photo-sized picture; level 1 is five times faster for files about a
    third larger, still lossless. Files written into the cache are used as they are and
    cleaned by ``delete_cache`` like Gradio's own. (Patched on the instance, as above.)
    """
    postprocess = gallery.postprocess

    def encoded(value):
        if isinstance(value, list):
            value = [_png_item(item, gallery.GRADIO_CACHE) for item in value]
        return postprocess(value)

    gallery.postprocess = encoded
    return gallery


def _png_item(item, cache_dir: str):
    picture, text = item if isinstance(item, tuple) else (item, None)
    if isinstance(picture, np.ndarray):
        with io.BytesIO() as buffer:
            Image.fromarray(render.to_uint8(picture)).save(buffer, format="png", compress_level=1)
            picture = processing_utils.save_bytes_to_cache(buffer.getvalue(), "result.png", cache_dir)
    return (picture, text) if isinstance(item, tuple) else picture


@contextlib.contextmanager
def technique_tab(
    name: str,
    *,
    title: str | None = None,
    key: str | None = None,
    text: str | None = None,
    gallery: gr.Gallery | None = None,
    below: Sequence[gr.components.Component] = (),
) -> Iterator[TabParts]:
    """A tab: the technique's explanation, then controls (built by the caller) beside a
    results gallery (then the components ``below``, built with ``render=False``)."""
    title = title or cnnvis.TECHNIQUES[name].title
    key = key or name
    gallery = gallery or results_gallery(title)
    with gr.Tab(title, id=key, elem_id=f"tab-{key}"):
        explanation = gr.Markdown(text or technique_text(name), elem_classes="technique-text")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                yield TabParts(gallery, explanation)
            with gr.Column(scale=2):
                gallery.render()
                for component in below:
                    component.render()


def accept_any_names(group: gr.CheckboxGroup) -> gr.CheckboxGroup:
    """Let a method checklist pass any names to cnnvis, which says which ones it knows
    (Gradio would refuse them with a message of its own), and document it as a list of
    strings."""

    def preprocess(payload):
        return [payload] if isinstance(payload, str) else list(payload or [])

    group.preprocess = preprocess
    group.api_info = lambda: {"type": "array", "items": {"type": "string"}}
    return group


def method_checklist(default: Sequence[str], info: str) -> gr.CheckboxGroup:
    """Every heatmap and attribution method of the registry, to tick."""
    group = gr.CheckboxGroup(
        [
            (cnnvis.TECHNIQUES[m].title + (" (slow)" if m == "score_cam" else ""), m)
            for m in map_methods()
        ],
        value=list(default),
        label="Methods",
        info=info,
    )
    return accept_any_names(group)


def method_tab(
    image: gr.Image, model: gr.Dropdown, output: str, title: str, key: str
) -> tuple[gr.Dropdown | None, gr.Dropdown]:
    """A tab for the registry's methods of one output ("heatmap" or "attribution"): a
    method picker, the controls each method takes (shown only for the methods that take
    them), and an endpoint per method. Returns the layer picker (heatmaps) and the
    class picker."""
    names = methods_of(output)
    first = names[0]
    with technique_tab(first, title=title, key=key) as tab:
        method = gr.Dropdown(
            label="Method",
            choices=[(cnnvis.TECHNIQUES[m].title, m) for m in names],
            value=first,
            filterable=False,
        )
        controls: dict[str, gr.components.Component] = {"image": image, "model": model}
        if "layer" in COMMON[output]:
            controls["layer"] = layer_picker(
                "Layer",
                "Default: the last feature map, the one the classifier reads.",
                visible="layer" in takes(first),
            )
        controls["target_class"] = class_picker()
        for option in tab_options(output):
            controls[option] = OPTIONS[option].control(visible=option in takes(first))
        if "colormap" in COMMON[output]:
            controls["colormap"] = colormap_picker("jet")
            controls["opacity"] = gr.Slider(
                0, 1, value=0.5, step=0.05, label="Heatmap opacity over the photo"
            )
        run = run_button(f"Run {cnnvis.TECHNIQUES[first].title}")
        # One endpoint per method, with the parameters it takes (never-shown triggers).
        for name in endpoint_methods(output):
            gr.Button(visible=False).click(
                method_endpoint(name),
                [controls[p] for p in method_parameters(name)],
                [tab.gallery],
                api_name=name,
                **MODEL_WORK,
            )
        inputs = [controls[p] for p in (*COMMON[output], *tab_options(output))]
        if output == "heatmap":  # the published endpoint of the original Grad-CAM tab
            gr.Button(visible=False).click(
                grad_cam,
                [*inputs[: len(COMMON[output])], method],
                [tab.gallery],
                api_name="grad_cam",
                **MODEL_WORK,
            )
    shown = [controls[p] for p in ("layer", *tab_options(output)) if p in controls]
    method.change(
        functools.partial(method_changed, output=output),
        [method],
        [tab.text, run, *shown],
        api_name=f"{key}_method_changed",
        queue=False,
        **PRIVATE,
    )
    run.click(
        chosen_method_handler(output),
        [method, *inputs],
        [tab.gallery],
        api_name=f"run_{key}",
        **PRIVATE,
        **MODEL_WORK,
    )
    return controls.get("layer"), controls["target_class"]


def example_paths() -> list[str]:
    return [str(p) for p in sorted(EXAMPLES_DIR.glob("*.jpg"))]


def filters_tab(model: gr.Dropdown) -> gr.Dropdown:
    with technique_tab("filters") as tab:
        layer = layer_picker("Convolution", "The first one looks at the photo's colours directly.")
        count = count_slider("filters")
        order = gr.Radio(
            [("strongest (largest weights)", "norm"), ("first ones", "first")],
            value="norm",
            label="Which filters",
        )
        gr.Markdown(
            "Filters belong to the model: they are the same for every photo. Only the first "
            "layer's can be read as pictures; to see what a deeper filter responds to, use "
            "the **Feature visualisation** tab."
        )
        run = run_button("Show filters")
    run.click(
        filters, [model, layer, count, order], [tab.gallery], api_name="filters", **MODEL_WORK
    )
    return layer


def feature_maps_tab(image: gr.Image, model: gr.Dropdown) -> gr.Dropdown:
    with technique_tab("feature_maps") as tab:
        layer = layer_picker(
            "Layer", "Early layers: edges and colours. Deep layers: parts and objects."
        )
        count = count_slider("channels")
        order = gr.Radio(
            [("first ones", "first"), ("most active for this photo", "most_active")],
            value="most_active",
            label="Which channels",
        )
        colormap = colormap_picker("viridis")
        run = run_button("Show feature maps")
    run.click(
        feature_maps,
        [image, model, layer, count, order, colormap],
        [tab.gallery],
        api_name="feature_maps",
        **MODEL_WORK,
    )
    return layer


def guided_backprop_tab(image: gr.Image, model: gr.Dropdown) -> gr.Dropdown:
    with technique_tab("guided_backprop") as tab:
        target = class_picker()
        run = run_button("Run guided backprop")
    run.click(
        guided_backprop,
        [image, model, target],
        [tab.gallery],
        api_name="guided_backprop",
        **MODEL_WORK,
    )
    return target


def guided_grad_cam_tab(image: gr.Image, model: gr.Dropdown) -> tuple[gr.Dropdown, gr.Dropdown]:
    with technique_tab("guided_grad_cam") as tab:
        layer = layer_picker("Grad-CAM layer", "Default: the last feature map.")
        target = class_picker()
        run = run_button("Run Guided Grad-CAM")
    run.click(
        guided_grad_cam,
        [image, model, layer, target],
        [tab.gallery],
        api_name="guided_grad_cam",
        **MODEL_WORK,
    )
    return layer, target


def deep_dream_tab(image: gr.Image, model: gr.Dropdown) -> gr.Dropdown:
    with technique_tab("deep_dream") as tab:
        layers = layer_picker(
            "Layers to excite",
            "Up to 8; middle layers give textures and object parts.",
            multiselect=True,
        )
        octaves = gr.Slider(1, 5, value=3, step=1, label="Octaves (scales, smallest first)")
        steps = gr.Slider(1, 50, value=20, step=1, label="Steps per octave")
        step_size = gr.Slider(0.001, 0.1, value=0.01, step=0.001, label="Step size")
        seed = gr.Number(
            0, label="Seed (same seed, same dream)", precision=0, minimum=0, maximum=2**31 - 1
        )
        with gr.Row():
            run = run_button("Dream")
            stop = gr.Button("Stop", variant="stop")
    dreaming = run.click(
        deep_dream,
        [image, model, layers, octaves, steps, step_size, seed],
        [tab.gallery],
        api_name="deep_dream",
        **MODEL_WORK,
    )
    stop.click(None, cancels=[dreaming], api_name="stop_dream", **PRIVATE)
    return layers


def feature_visualization_tab(model: gr.Dropdown) -> gr.Dropdown:
    with technique_tab("feature_visualization") as tab:
        target = gr.Radio(
            [("channels of a layer", "channels"), ("classes", "class")],
            value="channels",
            label="What to visualise",
        )
        layer = layer_picker(
            "Layer", "Middle layers: textures and patterns. Deep layers: object parts."
        )
        count = gr.Slider(1, MAX_FEATURE_PICTURES, value=8, step=1, label="How many channels")
        channels = gr.Textbox(
            "",
            label="Or these channels",
            placeholder="e.g. 3, 17, 42",
            info="Channel indices separated by commas; empty: the first ones.",
        )
        classes = accept_any_text(
            gr.Dropdown(
                label="Classes",
                info="Up to 16; type to search. Each picture maximises one class's logit.",
                choices=[class_choice(c.index) for c in imagenet_classes()],
                value=[class_choice(130)],  # flamingo
                multiselect=True,
                max_choices=MAX_FEATURE_PICTURES,
                allow_custom_value=True,
                visible=False,
            )
        )
        steps = gr.Slider(
            4, 512, value=128, step=4, label="Steps", info="More steps: clearer patterns."
        )
        size = gr.Slider(32, 384, value=128, step=32, label="Picture size (pixels)")
        seed = gr.Number(
            0, label="Seed (same seed, same pictures)", precision=0, minimum=0, maximum=2**31 - 1
        )
        with gr.Row():
            run = run_button("Visualise")
            stop = gr.Button("Stop", variant="stop")
    target.change(
        feature_target_changed,
        [target],
        [layer, count, channels, classes],
        api_name="feature_target_changed",
        queue=False,
        **PRIVATE,
    )
    growing = run.click(
        feature_visualization,
        [model, target, layer, count, channels, classes, steps, size, seed],
        [tab.gallery],
        api_name="feature_visualization",
        **MODEL_WORK,
    )
    stop.click(None, cancels=[growing], api_name="stop_feature_visualization", **PRIVATE)
    return layer


def feature_target_changed(target: str) -> tuple:
    """Channel controls for "channels", the class picker for "class"."""
    channels = target != "class"
    return (*[gr.update(visible=channels)] * 3, gr.update(visible=not channels))


COMPARE_TEXT = """
Is an explanation right? Three checks, each on the photo and the class chosen here:
**deletion & insertion** (do the pixels a method points at matter to the model?),
the **sanity check** (does the map change when the model's weights are destroyed?) and
the **pointing game** (is the map's strongest point on the object?).
"""
SANITY_TEXT = (
    "The layers of a copy of the model are re-drawn at random, from the classifier down "
    "to the first convolution, and each method's map is compared with the trained "
    "model's. A map that explains the model must change as its weights are destroyed: a "
    "method whose map stays the same shows the photo's edges, not what the model learnt. "
    "ρ (rho), the rank correlation with the trained model's map, should fall towards 0. "
    "*(Adebayo et al. 2018, Sanity Checks for Saliency Maps)*"
)
POINTING_TEXT = (
    "Draw over the object on the photo (a scribble or its outline will do): the box "
    "around what you draw is the object's box, and you can type or correct its corners. "
    "A method scores a hit when its map's strongest point falls in the box, or within the "
    "tolerance. *(Zhang et al. 2016, Top-down Neural Attention by Excitation Backprop)*"
)


def compare_tab(image: gr.Image, model: gr.Dropdown) -> tuple[gr.Dropdown, list]:
    """Deletion & insertion, the sanity check and the pointing game, each a tab inside
    this one, on one photo and one class. Returns the class picker and the pointing
    game's drawing area and box (they follow the photo)."""
    with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
        gr.Markdown(COMPARE_TEXT, elem_classes="technique-text")
        target = class_picker()
        with gr.Tabs():
            deletion_insertion_tab(image, model, target)
            sanity_check_tab(image, model, target)
            drawing = pointing_game_tab(image, model, target)
    return target, drawing


def quick_methods() -> tuple[list[str], str]:
    """The methods ticked by default (one or two passes each), and the others' costs."""
    costs = "; ".join(f"{cnnvis.TECHNIQUES[m].title}, {cost}" for m, cost in SLOW_METHODS.items())
    quick = [m for m in map_methods() if m not in SLOW_METHODS]
    return quick, f"Ticked: the quick ones. Slower, on a CPU: {costs}."


def deletion_insertion_tab(image: gr.Image, model: gr.Dropdown, target: gr.Dropdown) -> None:
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
        "compare",
        title="Deletion & insertion",
        key="deletion_insertion",
        gallery=ranked,
        below=[chart],
    ) as tab:
        methods = method_checklist(*quick_methods())
        steps = gr.Slider(
            4,
            100,
            value=20,
            step=1,
            label="Steps",
            info="Pixels are deleted (inserted) 1/steps at a time: one forward pass each.",
        )
        run = run_button("Compare")
    run.click(
        compare,
        [image, model, target, methods, steps],
        [tab.gallery, chart],
        api_name="compare",
        **MODEL_WORK,
    )


def sanity_check_tab(image: gr.Image, model: gr.Dropdown, target: gr.Dropdown) -> None:
    table = gr.Dataframe(
        label="Rank correlation (ρ) and similarity (SSIM) with the trained model's map",
        interactive=False,
        render=False,
    )
    with technique_tab(
        "compare", title="Sanity check", key="sanity_check", text=SANITY_TEXT, below=[table]
    ) as tab:
        methods = method_checklist(
            ["grad_cam", "guided_backprop"],
            "Up to 8. Guided backprop is the classic failure: its map barely changes.",
        )
        steps = gr.Slider(
            1,
            12,
            value=4,
            step=1,
            label="Randomisation steps",
            info="The classifier first, then groups of blocks, down to the first layer.",
        )
        seed = gr.Number(
            0, label="Seed of the random weights", precision=0, minimum=0, maximum=2**31 - 1
        )
        run = run_button("Run the sanity check")
    run.click(
        sanity_check,
        [image, model, target, methods, steps, seed],
        [tab.gallery, table],
        api_name="sanity_check",
        **MODEL_WORK,
    )


def pointing_game_tab(image: gr.Image, model: gr.Dropdown, target: gr.Dropdown) -> list:
    """The pointing game's tab; returns its drawing area and box (they follow the photo)."""
    hits = gr.Dataframe(label="Hits and misses", interactive=False, render=False)
    with technique_tab(
        "compare", title="Pointing game", key="pointing_game", text=POINTING_TEXT, below=[hits]
    ) as tab:
        drawing = gr.ImageEditor(  # the photo comes with the page (see build_demo)
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
        gr.Markdown(
            "The box, in pixels of the photo: (x0, y0) its top left corner, (x1, y1) its "
            "bottom right one.",
            elem_classes="technique-text",
        )
        with gr.Row():
            box = [
                gr.Number(None, label=name, precision=0, min_width=60)
                for name in ("x0", "y0", "x1", "y1")
            ]
        tolerance = gr.Slider(
            0,
            50,
            value=15,
            step=1,
            label="Tolerance (pixels)",
            info="A peak this close to the box still counts as a hit (15 in the paper).",
        )
        methods = method_checklist(*quick_methods())
        run = run_button("Play the pointing game")
    # "input", not "change": Gradio 6.31's editor reports no change for a drawing made on
    # a photo it received while its tab was hidden.
    # Queued, one at a time: Gradio decodes the drawing's pictures before box_drawn runs.
    drawing.input(
        box_drawn, [drawing], box, api_name="box_drawn", concurrency_id="drawing",
        concurrency_limit=1, **PRIVATE,
    )
    run.click(
        pointing_game,
        [image, model, target, methods, *box, tolerance],
        [tab.gallery, hits],
        api_name="pointing_game",
        **MODEL_WORK,
    )
    return [drawing, *box]


def shared_inputs() -> tuple[gr.Image, gr.Dropdown, gr.Markdown, gr.Label]:
    """The photo, the example photos, the model picker, its summary and its predictions."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            image = gr.Image(
                value=str(DEFAULT_EXAMPLE) if DEFAULT_EXAMPLE.is_file() else None,
                label="Photo (upload, paste or webcam)",
                type="filepath",
                image_mode=None,
                sources=["upload", "webcam", "clipboard"],
                height=340,
            )
            pass_original_upload(image)
            with gr.Column(elem_id="examples"):
                gr.Examples(
                    example_paths(),
                    inputs=[image],
                    label="Example photos (click one)",
                    cache_examples=False,  # examples only fill the photo: no model runs at launch
                )
        with gr.Column(scale=2):
            model = gr.Dropdown(
                label="Model",
                info="40 ImageNet CNNs, with the image size each one sees; type to filter.",
                choices=model_choices(),
                value=DEFAULT_MODEL,
                allow_custom_value=True,
            )
            summary = gr.Markdown("Loading the model…")
            predictions = gr.Label(
                label="What the model sees: its top-5 classes", num_top_classes=5
            )
    return image, model, summary, predictions


def apply_queue(demo: gr.Blocks, settings: Settings) -> gr.Blocks:
    """The queue's and the model lane's bounds. ``api_open=False`` closes /gradio_api/run
    and /gradio_api/api to queued events (as on a Space): they would skip the queue's
    bound on waiting requests (see SECURITY.md)."""
    LANES.define(MODEL_LANE, slots=settings.concurrency, title="The model")
    return demo.queue(
        max_size=settings.max_queue,
        default_concurrency_limit=settings.concurrency,
        api_open=False,
    )


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="cnnvis · what CNNs see", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        image, model, summary, predictions = shared_inputs()
        with gr.Tabs():
            filter_layer = filters_tab(model)
            maps_layer = feature_maps_tab(image, model)
            visualised_layer = feature_visualization_tab(model)
            backprop_class = guided_backprop_tab(image, model)
            _, attribution_class = method_tab(
                image, model, "attribution", "Attributions", "attributions"
            )
            cam_layer, cam_class = method_tab(image, model, "heatmap", "Heatmaps", "grad_cam")
            guided_cam_layer, guided_cam_class = guided_grad_cam_tab(image, model)
            dream_layers = deep_dream_tab(image, model)
            compare_class, drawing = compare_tab(image, model)

        # The predictions and the pickers follow the photo and the model (private events).
        refresh = [
            predictions,
            backprop_class,
            attribution_class,
            cam_class,
            guided_cam_class,
            compare_class,
        ]
        fill = [
            summary,
            filter_layer,
            maps_layer,
            cam_layer,
            guided_cam_layer,
            dream_layers,
            visualised_layer,
        ]
        image.change(
            show_predictions,
            [image, model],
            refresh,
            api_name="photo_predictions",
            **PRIVATE,
            **MODEL_WORK,
        )
        # The pointing game's drawing area shows the photo.
        for source, trigger in (("page", demo.load), ("photo", image.change)):
            trigger(
                photo_for_drawing, [image], drawing, api_name=f"{source}_drawing", **PRIVATE,
                **MODEL_WORK,
            )
        for source, trigger in (("page", demo.load), ("model", model.change)):
            trigger(
                model_changed, [model], fill, api_name=f"{source}_layers", **PRIVATE, **MODEL_WORK
            ).success(
                show_predictions,
                [image, model],
                refresh,
                api_name=f"{source}_predictions",
                **PRIVATE,
                **MODEL_WORK,
            )
        # /classify needs a photo; the panel above just empties without one, so the
        # endpoint gets its own (never shown) trigger.
        gr.Button(visible=False).click(
            classify, [image, model], [predictions], api_name="classify", **MODEL_WORK
        )
    return apply_queue(demo, SETTINGS)


# --------------------------------------------------------------------------- start-up


def warm_up(model: str = DEFAULT_MODEL) -> None:
    """Load ``model`` and trace the functions most requests need, off the request path."""
    try:
        with LANES[MODEL_LANE].hold("warm-up"):  # model work like any request's
            vis = get_model(model)
            height, width = vis.input_size
            blank = np.full((height or 224, width or 224, 3), 128, np.uint8)
            cnnvis.classify(vis, blank)
            cnnvis.grad_cam(vis, blank)
            cnnvis.guided_backprop(vis, blank)
        log.info("%s is ready (%s weights)", vis.name, vis.weights)
    except Exception as error:  # the app still serves; the first request will say what is wrong
        log.warning("Warm-up of %s failed: %s", model, error)


def start_warm_up(model: str = DEFAULT_MODEL) -> threading.Thread:
    thread = threading.Thread(target=warm_up, args=(model,), name="cnnvis-warm-up", daemon=True)
    thread.start()
    return thread


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = Settings.from_env()
    parser = argparse.ArgumentParser(
        description="cnnvis: see what ImageNet CNNs see, in the browser."
    )
    parser.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)"
    )
    parser.add_argument(
        "--weights-dir",
        default=env.weights_dir,
        help="folder of <Model>.weights.h5 files, searched before any download "
        "(default: $CNNVIS_WEIGHTS_DIR)",
    )
    parser.add_argument(
        "--weights",
        choices=["imagenet", "random"],
        default=env.weights,
        help="'random' runs without any weights, for demos and tests "
        "(default: $CNNVIS_APP_WEIGHTS or imagenet)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=env.concurrency,
        help="model computations at once (default: $CNNVIS_CONCURRENCY or 1)",
    )
    parser.add_argument(
        "--max-queue",
        type=_positive,
        default=env.max_queue,
        help="requests that may wait in the queue (default: $CNNVIS_MAX_QUEUE or 20)",
    )
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    args = parse_args(argv)
    configure(Settings(args.weights, args.weights_dir, args.concurrency, args.max_queue))
    apply_queue(demo, SETTINGS)
    start_warm_up()
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **LAUNCH_KWARGS)


demo = build_demo()

if __name__ == "__main__":
    main()
