"""What every technique shares: input preparation, targets, bounds and result types.

A technique computes; it never draws. It takes a model and an image (anything
:func:`cnnvis.load_image` accepts; normally uint8 RGB H x W x 3) plus keyword-only
parameters, and returns float32 arrays with the metadata needed for captions.
Maps and gradients are returned at the input image's resolution, aligned with it: the
image is resized (whole, aspect ratio not kept) to the model's input size, and results
are resized back with bilinear interpolation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..images import fit_within, load_image, resize_image, resize_map
from ..models.loading import VisModel, as_vis_model
from ..registry import check_choice, check_float, check_int  # noqa: F401 - the one style
from . import compiled

# Bounds enforced for every caller (the app's sliders cannot be bypassed through the API).
MAX_BATCH = 256
FLEXIBLE_INPUT_MAX_SIDE = 512


@dataclass(frozen=True)
class Prepared:
    """An image ready for the model: the photo as given and the model-sized batch."""

    image: np.ndarray  # uint8 H x W x 3, the caller's image
    batch: np.ndarray  # float32 1 x h x w x 3, raw RGB pixels at the model's input size

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]

    def to_image_size(self, values: np.ndarray) -> np.ndarray:
        """Resize a map (h x w or h x w x c) computed at model size back onto the photo."""
        if values.shape[:2] == self.size:
            return values.astype(np.float32, copy=False)
        return resize_map(values.astype(np.float32, copy=False), self.size)


def as_image(image) -> np.ndarray:
    """uint8 RGB H x W x 3 from anything the loader accepts (a valid array passes cheaply)."""
    return load_image(image)


def model_input_size(model: VisModel, image: np.ndarray) -> tuple[int, int]:
    """The (height, width) the model is run at: its fixed input size, else the image's own
    size shrunk to at most FLEXIBLE_INPUT_MAX_SIDE on the longer side."""
    height, width = model.input_size
    if height is not None and width is not None:
        return int(height), int(width)
    fitted = fit_within(image, FLEXIBLE_INPUT_MAX_SIDE)
    return fitted.shape[0], fitted.shape[1]


def prepare(model: VisModel, image) -> Prepared:
    image = as_image(image)
    size = model_input_size(model, image)
    resized = image if image.shape[:2] == size else resize_image(image, size)
    return Prepared(image=image, batch=resized[None].astype(np.float32))


def resolve(model) -> VisModel:
    return as_vis_model(model)


def top_class(logits: np.ndarray) -> int:
    """The package's one top-class rule: the index of the largest logit (the first one on
    a tie), for one image's logits."""
    return int(np.argmax(np.asarray(logits)))


def class_index(model: VisModel, prepared: Prepared, target_class) -> int:
    """The class to explain: the one asked for, else the model's top class for the
    prepared image (fixed once, so that noisy or perturbed copies all explain it)."""
    if target_class is not None:
        return model.resolve_class(target_class)
    return top_class(compiled.forward(model)(prepared.batch).numpy()[0])


class Displayed:
    """A result that shows itself: as its picture in Jupyter (``_repr_png_``, or
    ``_repr_html_`` where a table says more), with :meth:`show` and :meth:`save` in
    scripts. The drawing is :mod:`cnnvis.render`'s (:func:`cnnvis.render.result_picture`);
    it is imported only here, when a result is displayed, so techniques never draw."""

    def _repr_png_(self) -> bytes:
        from .. import render  # display only: the drawing lives in render

        return render.png_bytes(render.result_picture(self))

    def picture(self) -> np.ndarray:
        """The result drawn as one uint8 RGB picture with its caption."""
        from .. import render  # display only

        return render.result_picture(self)

    def show(self) -> None:
        """Show the picture: inline in a notebook, else in the system's image viewer."""
        from .. import render  # display only

        render.show(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the picture to ``path`` (``.png``, ``.jpg``...; ``.html`` for the page a
        notebook shows) and return the path."""
        from .. import render  # display only

        return render.save(self, path)


class DisplayedAsHtml(Displayed):
    """A result a notebook shows as HTML (a table with its picture), PNG elsewhere."""

    def _repr_html_(self) -> str:
        from .. import render  # display only

        return render.result_html(self)


@dataclass(frozen=True)
class Heatmap(Displayed):
    """A class-discriminative map (Grad-CAM and friends) at the image's resolution."""

    heatmap: np.ndarray  # float32 H x W in [0, 1]
    method: str
    model: str
    layer: str
    class_index: int
    label: str
    score: float  # the class logit the map explains
    weights: np.ndarray | None = None  # per-channel weights of the CAM, when defined
    note: str = ""
    # the photo the map explains (uint8 H x W x 3), for drawing the map over it
    image: np.ndarray | None = field(default=None, repr=False, compare=False, kw_only=True)

    @property
    def caption(self) -> str:
        text = f"{self.method} · {self.model} · {self.layer} · {self.label} ({self.class_index})"
        return f"{text} · {self.note}" if self.note else text


@dataclass(frozen=True)
class Attribution(Displayed):
    """A signed per-pixel gradient-like attribution at the image's resolution."""

    values: np.ndarray  # float32 H x W x 3, signed
    method: str
    model: str
    target: str  # what was differentiated, in words
    class_index: int | None = None
    label: str | None = None
    layer: str | None = None
    channel: int | None = None
    note: str = ""

    @property
    def caption(self) -> str:
        text = f"{self.method} · {self.model} · {self.target}"
        return f"{text} · {self.note}" if self.note else text


def guided_note(gated: Sequence[str]) -> str:
    """Words for which guided rule was applied, for captions and the UI."""
    generalised = sorted(set(gated) - {"relu", "relu6"})
    if not gated:
        return "no ReLU-like activation found: plain gradient"
    if generalised:
        return (
            "guided rule generalised to "
            + ", ".join(generalised)
            + " (only positive gradients pass through the activation's own derivative)"
        )
    return "guided rule at every ReLU"
