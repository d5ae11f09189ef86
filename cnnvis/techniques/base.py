"""What every technique shares: input preparation, targets, bounds and result types.

A technique computes; it never draws. It takes a model and an image (anything
:func:`cnnvis.load_image` accepts; normally uint8 RGB H x W x 3) plus keyword-only
parameters, and returns a result with the metadata needed for captions.

The one result contract: a result carries its map at its **native** resolution, computed
once (``.native``: a CAM at its layer's grid, e.g. 7 x 7; a gradient at the model's input
size; the image is resized whole, aspect ratio not kept, to the model's input size), and
the size of the photo it explains. ``.at(size)`` brings it to any size with the one
resize of :func:`cnnvis.maps.at_size` (area averaging down, bilinear up); ``.heatmap``
(heatmaps) and ``.values`` (attributions) are ``.at(photo size)``, computed on first use
and kept. Metrics and dataset runs use ``.native`` (or ``.at`` their own size), so no
map is resized up to the photo and back down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from ..images import fit_within, load_image, resize_image
from ..maps import at_size
from ..models.heads import top_class  # noqa: F401 - the one top-class rule, used here
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
        """The photo's (height, width): where a result's ``.heatmap``/``.values`` lie."""
        return self.image.shape[0], self.image.shape[1]


def as_image(image) -> np.ndarray:
    """uint8 RGB H x W x 3 from anything the loader accepts (a valid array passes cheaply;
    a :class:`Prepared` gives its photo)."""
    if isinstance(image, Prepared):
        return image.image
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
    """The photo decoded and resized to the model's input size; a :class:`Prepared` that
    already fits the model is returned as it is, so that one request prepares once."""
    if isinstance(image, Prepared) and image.batch.shape[1:3] == model_input_size(model, image.image):
        return image
    image = as_image(image)
    size = model_input_size(model, image)
    resized = image if image.shape[:2] == size else resize_image(image, size)
    return Prepared(image=image, batch=resized[None].astype(np.float32))


def chunk_for(model: VisModel, size: Sequence[int], *, gradients: bool) -> int:
    """Images per compiled call at input ``size``: bounded by pixels, and for a gradient
    by the model's activation memory (:func:`cnnvis.techniques.compiled.gradient_batch_cap`)."""
    chunk = compiled.capped_batch_size(size, MAX_BATCH)
    return min(chunk, compiled.gradient_batch_cap(model)) if gradients else chunk


def requested_classes(model: VisModel, target_class, count: int) -> np.ndarray:
    """int32 class per image for the compiled functions: the one asked for, or -1 (each
    image's top class, resolved in the graph by the rule of :mod:`cnnvis.models.heads`)."""
    index = -1 if target_class is None else model.resolve_class(target_class)
    return np.full(count, index, np.int32)


def resolve(model) -> VisModel:
    return as_vis_model(model)


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
    """A class-discriminative map (Grad-CAM and friends) at its native resolution (the
    CAM layer's grid, or the model's input for occlusion), for a photo of ``image_size``."""

    native: np.ndarray  # float32 h x w in [0, 1]
    image_size: tuple[int, int]  # the photo's (height, width)
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

    def at(self, size: tuple[int, int]) -> np.ndarray:
        """The map at ``size`` (height, width), float32 in [0, 1] (:func:`cnnvis.maps.at_size`)."""
        return np.clip(at_size(self.native, size), 0.0, 1.0)

    @cached_property
    def heatmap(self) -> np.ndarray:
        """float32 H x W in [0, 1], aligned with the photo: ``at(image_size)``, kept."""
        return self.at(self.image_size)

    @property
    def caption(self) -> str:
        text = f"{self.method} · {self.model} · {self.layer} · {self.label} ({self.class_index})"
        return f"{text} · {self.note}" if self.note else text


@dataclass(frozen=True)
class Attribution(Displayed):
    """A signed per-pixel gradient-like attribution at its native resolution (the model's
    input size), for a photo of ``image_size``.

    A composed attribution (Guided Grad-CAM) keeps its ``factors``, the attribution and
    the heatmap grid it is multiplied by: ``at`` resizes each and multiplies, so the
    product at the photo's size is the product of its parts there; ``native`` is that
    product at the model's input size.
    """

    native: np.ndarray  # float32 h x w x 3, signed
    image_size: tuple[int, int]  # the photo's (height, width)
    method: str
    model: str
    target: str  # what was differentiated, in words
    class_index: int | None = None
    label: str | None = None
    layer: str | None = None
    channel: int | None = None
    note: str = ""
    factors: tuple[np.ndarray, np.ndarray] | None = None  # (h x w x 3 values, heatmap grid)

    def at(self, size: tuple[int, int]) -> np.ndarray:
        """The attribution at ``size`` (height, width), float32 (:func:`cnnvis.maps.at_size`)."""
        if self.factors is None:
            return at_size(self.native, size)
        values, gate = self.factors
        return (at_size(values, size) * np.clip(at_size(gate, size), 0.0, 1.0)[..., None]).astype(np.float32)

    @cached_property
    def values(self) -> np.ndarray:
        """float32 H x W x 3, signed, aligned with the photo: ``at(image_size)``, kept."""
        return self.at(self.image_size)

    @property
    def caption(self) -> str:
        text = f"{self.method} · {self.model} · {self.target}"
        return f"{text} · {self.note}" if self.note else text


def gated(values: np.ndarray, gate: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``(native, factors)`` of an attribution ``values`` (h x w x 3) multiplied by a
    heatmap grid ``gate`` (any size, in [0, 1]), for :class:`Attribution`."""
    values = np.asarray(values, np.float32)
    product = values * np.clip(at_size(gate, values.shape[:2]), 0.0, 1.0)[..., None]
    return product.astype(np.float32), (values, np.asarray(gate, np.float32))


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
