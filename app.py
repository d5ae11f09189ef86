"""cnnvis web app: see what the ImageNet CNNs of keras.applications see.

A thin Gradio face over the ``cnnvis`` package: one shared photo, model picker and
example photos, then one tab per technique. Every tab is also an API endpoint with a
stable name (``/classify``, ``/filters``, ``/feature_maps``, ``/guided_backprop``,
``/grad_cam``, ``/guided_grad_cam``, ``/deep_dream``) for ``gradio_client``.

Run ``python app.py --help`` for the options; importing this module builds ``demo``
but loads no model (``main()`` warms the default model up in a background thread).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import logging
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

import cnnvis  # light: TensorFlow loads when a model is first touched
from cnnvis import render
from cnnvis.errors import CnnvisError, ImageError, ParameterError
from cnnvis.images import fit_within
from cnnvis.labels import imagenet_classes

# Opt-in telemetry: the app works offline and behind firewalls, so it does not phone
# home unless GRADIO_ANALYTICS_ENABLED says otherwise (Gradio reads it at launch).
# TensorFlow (imported later, when build_demo lists the models) logs less, and takes GPU
# memory as it needs it even if something initialises the GPU before compute_device().
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")

log = logging.getLogger("cnnvis.app")

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "examples"
DEFAULT_MODEL = "MobileNetV2"
DEFAULT_EXAMPLE = EXAMPLES_DIR / "cat.jpg"
TOP_CLASS = "top class"
MAX_SIDE = 1024  # photos are shrunk to this longest side: results stay quick to draw and send
MAX_DREAM_LAYERS = 8
# Heatmap techniques offered by the Grad-CAM tab's method picker (registry names, output
# "heatmap"). Offering another CAM from cnnvis.TECHNIQUES means adding its name here.
HEATMAP_METHODS: tuple[str, ...] = ("grad_cam",)
API_NAMES = (
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
MEMORY_ERROR = (
    "The server ran out of memory for this request; try a smaller model, fewer layers "
    "or fewer steps."
)

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


# --------------------------------------------------------------------------- inputs


def pass_original_upload(image: gr.Image) -> gr.Image:
    """Make ``image`` hand the uploaded file itself to ``cnnvis.load_image``.

    ``gr.Image`` would open (and for some modes re-encode) the upload with its own PIL
    code first, so a text file or a decompression bomb would fail there with a message of
    Gradio's. This way the original file reaches cnnvis, which applies EXIF orientation,
    the pixel cap and the truncation checks, and explains every refusal in one sentence.
    (Patched on the instance: a gr.Image subclass would make Gradio write an app.pyi.)
    """
    gradio_preprocess = image.preprocess

    def preprocess(payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return gradio_preprocess(payload)  # no photo, or a data: URL

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
    image = fit_within(cnnvis.load_image(path), MAX_SIDE)
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
        (name or "").strip() or DEFAULT_MODEL, weights=weights, weights_dir=SETTINGS.weights_dir
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


def layer_list(layers: str | Sequence[str] | None) -> list[str] | None:
    """Layer names from a multiselect (or an API caller's single name); None: the default."""
    if isinstance(layers, str):
        layers = [layers]
    return [name for name in layers or () if name] or None


def caption(model: cnnvis.VisModel, text: str) -> str:
    return f"{text} · random weights" if model.weights == "random" else text


def heatmap_technique(method: str | None) -> cnnvis.techniques.Technique:
    name = method or HEATMAP_METHODS[0]
    if name not in HEATMAP_METHODS:
        raise ParameterError(
            f"The method must be one of {', '.join(HEATMAP_METHODS)}; got '{name}'."
        )
    return cnnvis.TECHNIQUES[name]


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


# --------------------------------------------------------------------------- handlers
# Each public handler is one API endpoint; its docstring is the endpoint's description.


@friendly_errors
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


@friendly_errors
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
    result = cnnvis.filters(vis, layer or None, count=count, order=order)
    shown = f"{len(result.filter_indices)} of {result.total_filters} filters, each on its own scale"
    if result.rgb:
        shown += " (grey = 0)"
    else:
        shown += f", first {result.kernels.shape[1]} input channels (red +, white 0, blue -)"
    return [(filters_picture(result), caption(vis, f"{result.caption} · {shown}"))]


@friendly_errors
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
    [result] = cnnvis.feature_maps(vis, photo, layer or None, count=count, order=order)
    text = caption(vis, result.caption)
    overlay, channel = strongest_channel_overlay(photo, result, colormap)
    return [
        (
            maps_picture(result, colormap),
            f"{text} · {len(result.channels)} channels, bright = strong response",
        ),
        (overlay, f"{text} · channel {channel}, the most active shown, over the photo"),
    ]


@friendly_errors
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


@friendly_errors
def grad_cam(
    image: str | None,
    model: str,
    layer: str | None,
    target_class: str | None,
    colormap: str,
    opacity: float,
    method: str = HEATMAP_METHODS[0],
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
        method: the heatmap method: "grad_cam".
    """
    technique = heatmap_technique(method)
    vis = load(model, progress)
    photo = read_image(image)
    working(progress, f"Computing {technique.title}")
    options = {"target_class": parse_class(target_class)}
    if "layer" in inspect.signature(technique.function).parameters:  # occlusion has none
        options["layer"] = layer or None
    result = technique.function(vis, photo, **options)
    return heatmap_gallery(vis, photo, result, colormap, opacity)


@friendly_errors
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
        vis, photo, target_class=parse_class(target_class), layer=layer or None
    )
    return attribution_gallery(vis, result, f" · Grad-CAM at {result.layer}")


@friendly_errors
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


# UI helpers (private events): they fill pickers and the model summary.


@friendly_errors
def show_predictions(image: str | None, model: str, progress: gr.Progress = gr.Progress()):
    """The Top-5 panel and the class pickers' entries (empty while there is no photo)."""
    if not image:
        return (None, *[gr.update(choices=class_choices())] * CLASS_PICKERS)
    vis = load(model, progress)
    predictions = cnnvis.classify(vis, read_image(image), top=5)
    label = {class_choice(p.index): p.probability for p in predictions}
    return (label, *[gr.update(choices=class_choices(predictions))] * CLASS_PICKERS)


@friendly_errors
def model_changed(model: str, progress: gr.Progress = gr.Progress()):
    """The model summary and every layer picker filled (and preselected) for ``model``."""
    try:
        vis = load(model, progress)
    except CnnvisError as error:  # say it where the model is chosen; the pickers stay
        return (f"⚠️ {error}", *[gr.update()] * 5)
    layers = layer_choices(vis, vis.visual_layers)
    return (
        model_summary(vis),
        gr.update(choices=layer_choices(vis, vis.filter_layers), value=vis.first_conv),
        gr.update(choices=layers, value=vis.default_layer),  # feature maps
        gr.update(choices=layers, value=vis.default_layer),  # Grad-CAM
        gr.update(choices=layers, value=vis.default_layer),  # Guided Grad-CAM
        gr.update(choices=layers, value=list(vis.dream_layers)),  # Deep Dream
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
def method_changed(method: str | None) -> tuple[str, dict]:
    """The Grad-CAM tab's explanation and button for the chosen heatmap method."""
    technique = heatmap_technique(method)
    return technique_text(technique.name), gr.update(value=f"Run {technique.title}")


def technique_text(name: str) -> str:
    technique = cnnvis.TECHNIQUES[name]
    return f"{technique.summary} *({technique.paper})*"


# --------------------------------------------------------------------------- interface

CLASS_PICKERS = 3  # Guided backprop, Grad-CAM and Guided Grad-CAM each have one
MODEL_WORK = {"concurrency_id": "model"}  # every event that runs a model shares one limit
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
}


def layer_picker(label: str, info: str, multiselect: bool = False) -> gr.Dropdown:
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


@contextlib.contextmanager
def technique_tab(name: str) -> Iterator[TabParts]:
    """A tab: the technique's explanation, then controls (built by the caller) beside a
    results gallery of lossless PNGs with captions, downloadable one by one or all."""
    gallery = gr.Gallery(
        label=cnnvis.TECHNIQUES[name].title,
        format="png",
        columns=2,
        height=560,
        object_fit="contain",
        preview=True,  # the first picture large, its caption in full, the others below
        selected_index=0,
        buttons=["download", "download_all", "fullscreen"],
        interactive=False,
        render=False,
    )
    with gr.Tab(cnnvis.TECHNIQUES[name].title, id=name, elem_id=f"tab-{name}"):
        text = gr.Markdown(technique_text(name), elem_classes="technique-text")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                yield TabParts(gallery, text)
            with gr.Column(scale=2):
                gallery.render()


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
        gr.Markdown("Filters belong to the model: they are the same for every photo.")
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


def grad_cam_tab(image: gr.Image, model: gr.Dropdown) -> tuple[gr.Dropdown, gr.Dropdown]:
    with technique_tab("grad_cam") as tab:
        method = gr.Dropdown(
            label="Method",
            choices=[(cnnvis.TECHNIQUES[m].title, m) for m in HEATMAP_METHODS],
            value=HEATMAP_METHODS[0],
            filterable=False,
        )
        layer = layer_picker(
            "Layer", "Default: the last feature map, the one the classifier reads."
        )
        target = class_picker()
        colormap = colormap_picker("jet")
        opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Heatmap opacity over the photo")
        run = run_button("Run Grad-CAM")
    method.change(
        method_changed, [method], [tab.text, run], api_name="method_changed", queue=False, **PRIVATE
    )
    run.click(
        grad_cam,
        [image, model, layer, target, colormap, opacity, method],
        [tab.gallery],
        api_name="grad_cam",
        **MODEL_WORK,
    )
    return layer, target


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
    return demo.queue(max_size=settings.max_queue, default_concurrency_limit=settings.concurrency)


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="cnnvis · what CNNs see", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        image, model, summary, predictions = shared_inputs()
        with gr.Tabs():
            filter_layer = filters_tab(model)
            maps_layer = feature_maps_tab(image, model)
            backprop_class = guided_backprop_tab(image, model)
            cam_layer, cam_class = grad_cam_tab(image, model)
            guided_cam_layer, guided_cam_class = guided_grad_cam_tab(image, model)
            dream_layers = deep_dream_tab(image, model)

        # The predictions and the pickers follow the photo and the model (private events).
        refresh = [predictions, backprop_class, cam_class, guided_cam_class]
        fill = [summary, filter_layer, maps_layer, cam_layer, guided_cam_layer, dream_layers]
        image.change(
            show_predictions,
            [image, model],
            refresh,
            api_name="photo_predictions",
            **PRIVATE,
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
