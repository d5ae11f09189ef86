"""What comes in: the photo, class and layer names as a picker or an API caller gives them,
and the component patches that make Gradio hand such values to cnnvis unchanged.

cnnvis checks every value itself and explains each refusal in one sentence, so the
patches below only keep Gradio from refusing (or re-encoding) first, in words of its own:

- :func:`pass_original_upload`: the uploaded file itself reaches ``cnnvis.load_image``.
- :func:`accept_any_text`, :func:`accept_any_names`: pickers whose API accepts more than
  the choices shown when the page was built (any layer of any model, a class by label).

(Patched on the instances: a subclass of a Gradio component makes Gradio write a ``.pyi``
file next to the module that defines it.) Every value of every route was screened before
(:mod:`cnnvis.serving.screening`: files only from this server's uploads, numbers in range,
names of bounded length), so these patches never see what screening refuses.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np

from ..errors import CnnvisError, ImageError, ParameterError, quoted
from ..images import load_image
from ..models.labels import imagenet_classes
from ..serving.values import file_problem, received_roots
from .settings import EXAMPLES_DIR
from ..serving.gradio_compat import replace_api_info, replace_preprocess

if TYPE_CHECKING:
    from ..models.loading import VisModel

MAX_SIDE = 1024  # photos are shrunk to this longest side: results stay quick to draw and send
TOP_CLASS = "top class"


# ----- the photo ------------------------------------------------------------------------


def pass_original_upload(image: gr.Image) -> gr.Image:
    """Make ``image`` hand the uploaded file itself to ``cnnvis.load_image``.

    Why a patch: ``gr.Image(type="filepath")`` opens the file with its own PIL code before
    handing the path on, so a text file or a decompression bomb would fail there with a
    message of Gradio's (or none); this way the original file reaches cnnvis, which applies
    EXIF orientation, the pixel cap and the truncation checks, and explains every refusal
    in one sentence. Gradio has no option to pass an upload on unopened, and a gr.Image
    subclass would make Gradio write a .pyi file. Every route's photo was screened already
    (only files this server received); the check is repeated here so that the patch is
    safe even in a server launched without LAUNCH_KWARGS.
    """

    def preprocess(payload):
        if payload is None:
            return None
        problem, _ = file_problem(payload.model_dump(), received_roots([EXAMPLES_DIR]))
        if problem:
            message = f"The photo must be a file uploaded to this server; got {problem}."
            raise gr.Error(message, print_exception=False)
        return str(payload.path)

    replace_preprocess(image, preprocess)
    return image


@functools.lru_cache(maxsize=8)
def _decoded(path: str, mtime_ns: int, size: int) -> np.ndarray:
    image = load_image(path, max_side=MAX_SIDE)  # shrunk while decoding
    image.setflags(write=False)  # shared by the requests that reuse this upload
    return image


def read_image(path: str | None) -> np.ndarray:
    """The photo of an upload (decoded once per file), at most MAX_SIDE pixels long."""
    if not path:
        raise ImageError("Upload a photo first, or click one of the example photos.")
    try:
        stat = os.stat(path)
    except OSError:
        return load_image(path)  # raises the package's sentence for a missing file
    return _decoded(str(path), stat.st_mtime_ns, stat.st_size)


def photo_or_none(path: str | None) -> np.ndarray | None:
    """The photo, or None where there is none or it cannot be read (another panel says
    why)."""
    try:
        return read_image(path) if path else None
    except CnnvisError:
        return None


# ----- classes, layers, methods, channels, a box -----------------------------------------


def class_choice(index: int, vis: VisModel | None = None) -> str:
    """A class as the pickers show it: "285 · Egyptian cat" (by the model's own class
    names where ``vis``, a VisModel, has them: an uploaded model's "0 · cat")."""
    label = imagenet_classes()[index].label if vis is None else vis.class_label(index)
    return f"{index} · {label}"


def parse_class(choice: str | int | None) -> int | str | None:
    """A picker value ("285 · Egyptian cat"), an index, a label or an ImageNet id, as
    cnnvis takes it; None for the top class."""
    text = "" if choice is None else str(choice).strip()
    if not text or text.lower() == TOP_CLASS:
        return None
    match = re.fullmatch(r"(\d+)\s*·.*", text)
    return int(match.group(1)) if match else text


def layer_name(layer: str | None) -> str | None:
    """A layer picker's value as cnnvis takes it: a name (an API caller may send a number,
    which is looked up as a name), or None for the model's default."""
    return None if layer is None or layer == "" else str(layer)


def layer_list(layers: str | Sequence[str] | None) -> list[str] | None:
    """Layer names from a multiselect (or an API caller's single name); None: the default."""
    if isinstance(layers, (str, int, float)):
        layers = [layers]
    return [str(name) for name in layers or () if name] or None


def method_list(methods: str | Sequence[str] | None) -> list[str]:
    """The ticked methods (an API caller may give one name as a string)."""
    names = [methods] if isinstance(methods, str) else list(methods or [])
    if not names:
        raise ParameterError("Tick at least one method.")
    return names


def parse_channels(text: str | None) -> list[int]:
    """Channel indices typed as "3, 17, 42" (commas or spaces)."""
    parts = [part for part in re.split(r"[,;\s]+", str(text or "").strip()) if part]
    if not all(part.isdigit() for part in parts):
        raise ParameterError("Channels must be whole numbers separated by commas, e.g. 3, 17, 42.")
    if any(len(part) > 6 for part in parts):  # no layer has a million channels
        raise ParameterError(f"No layer has a channel {quoted(max(parts, key=len))}.")
    return [int(part) for part in parts]


def box_drawn(drawing: Mapping | None) -> tuple[int, int, int, int] | None:
    """The box (x0, y0, x1, y1) around everything drawn on the photo, or None."""
    ink = [
        np.asarray(layer)[..., 3] > 0
        for layer in (drawing or {}).get("layers") or ()
        if layer is not None and np.ndim(layer) == 3 and np.shape(layer)[2] == 4
    ]
    if not ink or len({mask.shape for mask in ink}) != 1:
        return None
    ys, xs = np.nonzero(np.logical_or.reduce(ink))
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


# ----- what the components accept ---------------------------------------------------------


def accept_any_text(dropdown: gr.Dropdown) -> gr.Dropdown:
    """Document a dropdown's API type as a plain string (or list of strings), not an enum.

    Layer and class pickers accept more than their current choices (any layer of any
    model, a class index or label) and cnnvis checks the value. With
    ``allow_custom_value=True`` Gradio 6 accepts any value but still documents the
    choices present when the page was built (none, for the layer pickers, which are
    filled per model), and no parameter changes that.
    """
    text = {"type": "string"}
    schema = {"type": "array", "items": text} if dropdown.multiselect else text
    replace_api_info(dropdown, lambda: schema)
    return dropdown


def accept_any_names(group: gr.CheckboxGroup) -> gr.CheckboxGroup:
    """Let a method checklist pass any names (or one name as a string) to cnnvis, which
    says which ones it knows, and document it as a list of strings: Gradio's CheckboxGroup
    refuses a name that is not a choice with a message of its own, and has no option to
    do otherwise."""

    def preprocess(payload):
        return [payload] if isinstance(payload, str) else list(payload or [])

    replace_preprocess(group, preprocess)
    replace_api_info(group, lambda: {"type": "array", "items": {"type": "string"}})
    return group
