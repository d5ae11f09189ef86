"""The heatmap and attribution techniques computed for a batch of images per call.

There is no second implementation here. A technique that registers a batch form
(:attr:`cnnvis.registry.Technique.batch`: the CAM family, Guided Grad-CAM, guided
backprop, the gradient and gradient x input) computes the batch with the very core its
single-photo function runs as a batch of one (:func:`cnnvis.techniques.cam.class_activation_maps`,
:func:`cnnvis.techniques.gradients.input_gradients`); every other registered heatmap or
attribution method (SmoothGrad, Integrated Gradients, occlusion, and any technique added
later) runs its package function per image, on the photo at the model's input size
(their many passes are batched inside).

Either way the results are the techniques' own :class:`~cnnvis.techniques.base.Heatmap`
and :class:`~cnnvis.techniques.base.Attribution`, at their native resolution; ``.at(size)``
brings them to a row's map size or a preview's, as the package brings them to a photo.
The logits come with them, and the row's probability comes from
:meth:`~cnnvis.models.loading.VisModel.probability` (the model's head), as in
:func:`cnnvis.classify`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..models.loading import VisModel
from ..techniques import compiled
from ..techniques.base import chunk_for, top_class

# Parameters the dataset run sets itself, never through per-method options: the class
# and the layer are the run's, and a seeded method gets each image's own seed.
RESERVED = ("target_class", "layer", "seed")


@dataclass
class Batch:
    """Images at the model's input size, each with its class (-1: its top class) and seed."""

    model: VisModel
    pixels: np.ndarray  # float32 N x h x w x 3, raw RGB 0-255
    classes: np.ndarray  # int32 N
    seeds: np.ndarray  # int64 N, one per image (see cnnvis.datasets.decode.image_seed)
    _logits: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def logits(self) -> np.ndarray:
        """The clean images' logits (float64 N x classes), computed once."""
        if self._logits is None:
            chunk = chunk_for(self.model, self.pixels.shape[1:3], gradients=False)
            (logits,) = compiled.run_chunked(compiled.forward(self.model), chunk, self.pixels, pad=True)
            self._logits = logits.astype(np.float64)
        return self._logits


def run_options(technique) -> tuple[str, ...]:
    """The declared options of a technique that a run may set per method."""
    return tuple(option.name for option in technique.options if option.name not in RESERVED)


def uses_layer(technique) -> bool:
    """Whether the run's ``--layer`` is the technique's CAM layer (its batch form, else
    its function, takes a ``layer``; guided backprop's ``layer`` names a channel's layer
    and is not set by a run, so its batch form takes none)."""
    function = technique.batch if technique.batch is not None else technique.function
    return "layer" in inspect.signature(function).parameters


def compute(batch: Batch, technique, layer: str | None, options: Mapping) -> tuple[list, np.ndarray]:
    """``(results, logits)`` of one registered technique for every image of ``batch``:
    its batch form when it has one, else its package function image by image."""
    if technique.batch is not None:
        kwargs = dict(options)
        if uses_layer(technique):
            kwargs["layer"] = layer
        return technique.batch(batch.model, batch.pixels, batch.classes, **kwargs)
    return per_image(batch, technique.function, layer, options), batch.logits()


def per_image(batch: Batch, function: Callable, layer: str | None, options: Mapping) -> list:
    """``function(model, photo at model size, target_class=..., **options)`` per image;
    a ``seed`` parameter gets the image's seed, a ``layer`` parameter the run's layer."""
    parameters = inspect.signature(function).parameters
    results = []
    for i in range(len(batch)):
        kwargs = dict(options)
        if "seed" in parameters:
            kwargs["seed"] = int(batch.seeds[i])
        if "layer" in parameters and layer is not None:
            kwargs["layer"] = layer
        if "target_class" in parameters:
            kwargs["target_class"] = None if batch.classes[i] < 0 else int(batch.classes[i])
        results.append(function(batch.model, batch.pixels[i].astype(np.uint8), **kwargs))
    return results


def explained_class(result, logits: np.ndarray) -> int:
    """The class a result explains (its own, else the image's top class)."""
    index = getattr(result, "class_index", None)
    return int(index) if index is not None else top_class(logits)


__all__ = ["Batch", "compute", "explained_class", "run_options", "uses_layer"]
