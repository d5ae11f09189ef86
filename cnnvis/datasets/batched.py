"""The heatmap and attribution techniques computed for a batch of images per call.

The compiled functions of :mod:`cnnvis.techniques.compiled` already take a batch
dimension; this module feeds them a batch of photos (each with its own class) and then
applies, per image, the very weighting and combination functions the single-image
techniques use, so the numbers are theirs:

- the CAM family (Grad-CAM, Grad-CAM++, LayerCAM, Eigen-CAM, Score-CAM): one
  :func:`~cnnvis.techniques.compiled.cam` pass for the batch, then the technique's own
  weighting (:mod:`cnnvis.techniques.cam`) and :func:`~cnnvis.techniques.cam.combine` per
  image (Score-CAM's weighting then runs its masked passes per image, batched over
  channels, as :func:`cnnvis.score_cam` does);
- guided backprop, the vanilla gradient and gradient x input: one
  :func:`~cnnvis.techniques.compiled.input_gradient` pass for the batch;
- Guided Grad-CAM: both of the above, composed as :func:`cnnvis.guided_grad_cam` does;
- every other registered heatmap or attribution method (SmoothGrad, Integrated
  Gradients, occlusion, and any technique added later): its package function, per
  image, on the photo at the model's input size (their many passes are batched inside).

Each result is a :class:`RawMap` at the technique's own resolution (the CAM's layer
grid, or the model's input), and :meth:`RawMap.at` brings it to any size exactly as the
package functions bring theirs to the photo's size; tests check that both agree.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..images import resize_map
from ..models.loading import VisModel
from ..techniques import compiled
from ..registry import check_int
from ..techniques.base import MAX_BATCH, Prepared, top_class
from ..techniques.cam import (
    SCORE_CAM_BATCH,
    CamContext,
    combine,
    eigencam_weights,
    gradcam_plus_plus_weights,
    gradcam_weights,
    layercam_weights,
    scorecam_weights,
)

# Parameters the dataset run sets itself, never through per-method options: the class
# and the layer are the run's, and a seeded method gets each image's own seed.
RESERVED = ("target_class", "layer", "seed")


@dataclass(frozen=True)
class RawMap:
    """One image's map at the technique's own resolution, and what it explains."""

    values: np.ndarray  # h x w (heatmap, before upsampling) or H x W x 3 (attribution)
    output: str  # "heatmap" or "attribution"
    class_index: int
    logit: float  # the class logit the map explains
    probability: float  # its probability by the model's head (cnnvis.models.heads)
    layer: str | None = None
    gate: np.ndarray | None = None  # a CAM grid multiplied in after resizing (Guided Grad-CAM)

    def at(self, size: tuple[int, int]) -> np.ndarray:
        """The map at ``size`` (height, width), as the package function returns it for
        a photo of that size: bilinear resizing, heatmaps clipped to [0, 1]."""
        size = (int(size[0]), int(size[1]))

        def resized(values: np.ndarray) -> np.ndarray:
            if values.shape[:2] == size:
                return values.astype(np.float32, copy=False)
            return resize_map(values.astype(np.float32, copy=False), size)

        values = resized(self.values)
        if self.output == "heatmap":
            values = np.clip(values, 0.0, 1.0)
        if self.gate is not None:
            values = (values * np.clip(resized(self.gate), 0.0, 1.0)[..., None]).astype(np.float32)
        return values


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
            size = self.pixels.shape[1:3]
            chunk = compiled.capped_batch_size(size, MAX_BATCH)
            (self._logits,) = run_chunked(compiled.forward(self.model), chunk, self.pixels)
            self._logits = self._logits.astype(np.float64)
        return self._logits


def run_chunked(fn: Callable, chunk: int, pixels: np.ndarray, *rest: np.ndarray) -> list[np.ndarray]:
    """``fn(pixels, *rest)`` over the batch, ``chunk`` images per call (evenly split),
    outputs concatenated along the batch axis.

    A call of one image is padded to two (the image twice, the copy dropped): on CPUs,
    TensorFlow's kernels may round differently for a batch of one, and padding makes
    every image's numbers independent of how the batch was split (``--batch-size``).
    """
    total = pixels.shape[0]
    chunk = compiled.even_batches(total, max(1, chunk))
    parts: list[list[np.ndarray]] = []
    for start in range(0, total, chunk):
        args = [a[start : start + chunk] for a in (pixels, *rest)]
        single = args[0].shape[0] == 1
        if single:
            args = [np.concatenate([a, a]) for a in args]
        outputs = fn(*args)
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        parts.append([o.numpy()[:1] if single else o.numpy() for o in outputs])
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def _gradient_chunk(model: VisModel, size) -> int:
    """Images per compiled gradient call: bounded by pixels and by activation memory."""
    return min(compiled.capped_batch_size(size, MAX_BATCH), compiled.gradient_batch_cap(model))




# ----- the CAM family -------------------------------------------------------------------
def cam_maps(
    batch: Batch, layer: str, weighting: Callable, *, gradients: bool = True
) -> list[RawMap]:
    """One compiled CAM pass for the batch, then ``weighting`` and ``combine`` per image
    (the body of :func:`cnnvis.techniques.cam.class_activation_map`)."""
    model = batch.model
    size = batch.pixels.shape[1:3]
    chunk = _gradient_chunk(model, size) if gradients else compiled.capped_batch_size(size, MAX_BATCH)
    fn = compiled.cam(model, layer, gradients=gradients)
    maps, grads, logits, resolved = run_chunked(fn, chunk, batch.pixels, batch.classes)
    results = []
    for i in range(len(batch)):
        index = int(resolved[i])
        prepared = Prepared(image=batch.pixels[i].astype(np.uint8), batch=batch.pixels[i : i + 1])
        context = CamContext(model, prepared, index)
        weights = np.asarray(weighting(maps[i], grads[i], context)).astype(np.float32)
        results.append(
            RawMap(
                values=combine(maps[i], weights),
                output="heatmap",
                class_index=index,
                logit=float(logits[i][index]),
                probability=model.probability(logits[i], index),
                layer=layer,
            )
        )
    return results


def score_cam_weighting(model: VisModel, layer: str, options: Mapping) -> Callable:
    """Score-CAM's weighting with the options :func:`cnnvis.score_cam` takes (already
    checked against their declared bounds), as that function applies them."""
    size = model.input_size
    batch_size = options.get("batch_size")
    if batch_size is None:
        batch_size = compiled.batch_size_for(size, SCORE_CAM_BATCH)
    batch_size = compiled.capped_batch_size(size, batch_size)
    max_channels = options.get("max_channels")
    if max_channels is not None:
        max_channels = check_int("max_channels", max_channels, 1, model.info(layer).channels or 1)
    score = options.get("score", "logit")
    return functools.partial(
        scorecam_weights, batch_size=batch_size, max_channels=max_channels, score=score
    )


# ----- input gradients ------------------------------------------------------------------
def input_gradients(batch: Batch, classes: np.ndarray, *, guided: bool):
    """(d logit / d pixels, logits, resolved classes) for the batch."""
    fn = compiled.input_gradient(batch.model, guided=guided)
    chunk = _gradient_chunk(batch.model, batch.pixels.shape[1:3])
    grads, _, logits, resolved = run_chunked(fn, chunk, batch.pixels, classes.astype(np.int32))
    return grads, logits, resolved


def gradient_maps(batch: Batch, *, guided: bool, times_input: bool = False) -> list[RawMap]:
    grads, logits, resolved = input_gradients(batch, batch.classes, guided=guided)
    results = []
    for i in range(len(batch)):
        index = int(resolved[i])
        values = grads[i] * batch.pixels[i] if times_input else grads[i]
        results.append(
            RawMap(
                values=values.astype(np.float32, copy=False),
                output="attribution",
                class_index=index,
                logit=float(logits[i][index]),
                probability=batch.model.probability(logits[i], index),
            )
        )
    return results


def guided_grad_cam_maps(batch: Batch, layer: str) -> list[RawMap]:
    """Guided backprop of the class Grad-CAM resolved, gated by the Grad-CAM map."""
    cams = cam_maps(batch, layer, gradcam_weights)
    classes = np.array([c.class_index for c in cams], np.int32)
    grads, _, _ = input_gradients(batch, classes, guided=True)
    return [
        RawMap(
            values=grads[i].astype(np.float32, copy=False),
            output="attribution",
            class_index=cam.class_index,
            logit=cam.logit,
            probability=cam.probability,
            layer=layer,
            gate=cam.values,
        )
        for i, cam in enumerate(cams)
    ]


# ----- everything else: the package function, per image ---------------------------------
def run_options(technique) -> tuple[str, ...]:
    """The declared options of a technique that a run may set per method."""
    return tuple(option.name for option in technique.options if option.name not in RESERVED)


def per_image_maps(
    batch: Batch, function: Callable, output: str, layer: str | None, options: Mapping
) -> list[RawMap]:
    """``function(model, photo at model size, target_class=..., **options)`` per image;
    a ``seed`` parameter gets the image's seed, a ``layer`` parameter the run's layer."""
    parameters = inspect.signature(function).parameters
    logits = batch.logits()
    results = []
    for i in range(len(batch)):
        kwargs = dict(options)
        if "seed" in parameters:
            kwargs["seed"] = int(batch.seeds[i])
        if "layer" in parameters and layer is not None:
            kwargs["layer"] = layer
        if "target_class" in parameters:
            kwargs["target_class"] = None if batch.classes[i] < 0 else int(batch.classes[i])
        result = function(batch.model, batch.pixels[i].astype(np.uint8), **kwargs)
        index = int(result.class_index) if result.class_index is not None else top_class(logits[i])
        if output == "heatmap":
            values, logit = result.heatmap, float(result.score)
        else:
            values, logit = result.values, float(logits[i][index])
        results.append(
            RawMap(
                values=np.asarray(values, np.float32),
                output=output,
                class_index=index,
                logit=logit,
                probability=batch.model.probability(logits[i], index),
                layer=getattr(result, "layer", None),
            )
        )
    return results


# ----- the table of batched implementations ---------------------------------------------
BatchedFunction = Callable[[Batch, "str | None", Mapping], "list[RawMap]"]


@dataclass(frozen=True)
class Batched:
    """How one registered technique is computed for a batch."""

    compute: BatchedFunction
    uses_layer: bool  # the run's --layer is its CAM layer
    options: tuple[str, ...] = ()  # the declared options it applies (a test checks: all of them)


def _cam(weighting: Callable, gradients: bool = True) -> Batched:
    return Batched(lambda b, layer, _: cam_maps(b, layer, weighting, gradients=gradients), True)


BATCHED: dict[str, Batched] = {
    "grad_cam": _cam(gradcam_weights),
    "grad_cam_plus_plus": _cam(gradcam_plus_plus_weights),
    "layer_cam": _cam(layercam_weights),
    "eigen_cam": _cam(eigencam_weights, gradients=False),
    "score_cam": Batched(
        lambda b, layer, options: cam_maps(
            b, layer, score_cam_weighting(b.model, layer, options), gradients=False
        ),
        True,
        ("batch_size", "max_channels", "score"),
    ),
    "guided_grad_cam": Batched(lambda b, layer, _: guided_grad_cam_maps(b, layer), True),
    "guided_backprop": Batched(lambda b, _, __: gradient_maps(b, guided=True), False),
    "vanilla_gradient": Batched(lambda b, _, __: gradient_maps(b, guided=False), False),
    "gradient_x_input": Batched(
        lambda b, _, __: gradient_maps(b, guided=False, times_input=True), False
    ),
}


def implementation(name: str, technique) -> Batched:
    """The batched implementation of a registered technique (its package function per
    image when it has no batched one)."""
    if name in BATCHED:
        return BATCHED[name]
    function, output = technique.function, technique.output
    return Batched(
        lambda b, layer, options: per_image_maps(b, function, output, layer, options),
        technique.takes_layer,
        run_options(technique),
    )


__all__ = ["BATCHED", "Batch", "Batched", "RawMap", "implementation", "run_chunked"]
