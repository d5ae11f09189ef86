"""Class activation maps: Grad-CAM and Guided Grad-CAM.

Every CAM is "feature maps + gradients -> channel weights -> weighted sum -> ReLU ->
normalise"; the variants differ only in how the channel weights are computed.
Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization") weights each channel by the spatial mean of the gradient
of the class *logit*. Guided Grad-CAM is guided backpropagation multiplied by the
upsampled Grad-CAM map (same paper), composed from the two techniques.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..models import VisModel
from . import compiled
from .base import Attribution, Heatmap, Prepared, prepare, resolve
from .gradients import guided_backprop_prepared

EPSILON = 1e-12

Weighting = Callable[[np.ndarray, np.ndarray], np.ndarray]


def gradcam_weights(maps: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Grad-CAM: the spatial mean of the gradient, per channel."""
    return grads.mean(axis=(0, 1))


def combine(maps: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ReLU of the channel-weighted sum of ``maps`` (h x w x C), scaled to [0, 1].

    An all-zero (or all-negative) map stays zero instead of becoming NaN."""
    cam = np.maximum(np.tensordot(maps, weights, axes=([2], [0])), 0.0)
    peak = float(cam.max()) if cam.size else 0.0
    return (cam / peak if peak > EPSILON else np.zeros_like(cam)).astype(np.float32)


def class_activation_map(
    model: VisModel,
    prepared: Prepared,
    *,
    layer: str,
    target_class,
    weighting: Weighting,
    method: str,
) -> Heatmap:
    """The shared CAM core: one compiled pass gives maps, gradients and logits."""
    index = -1 if target_class is None else model.resolve_class(target_class)
    maps, grads, logits, resolved = compiled.cam(model, layer)(
        prepared.batch, np.array([index], np.int32)
    )
    maps, grads = maps.numpy()[0], grads.numpy()[0]
    index = int(resolved.numpy()[0])
    weights = weighting(maps, grads).astype(np.float32)
    cam = combine(maps, weights)
    return Heatmap(
        heatmap=np.clip(prepared.to_image_size(cam), 0.0, 1.0),
        method=method,
        model=model.name,
        layer=layer,
        class_index=index,
        label=model.class_label(index),
        score=float(logits.numpy()[0, index]),
        weights=weights,
    )


def grad_cam(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    layer: str | None = None,
) -> Heatmap:
    """Grad-CAM of one class (default: the top class) at ``layer`` (default: the feature
    map the classifier head consumes), at the image's resolution, in [0, 1]."""
    model = resolve(model)
    layer = layer or model.default_layer
    model.feature_layer(layer)
    return class_activation_map(
        model,
        prepare(model, image),
        layer=layer,
        target_class=target_class,
        weighting=gradcam_weights,
        method="Grad-CAM",
    )


def guided_grad_cam(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    layer: str | None = None,
) -> Attribution:
    """Guided backpropagation times the Grad-CAM map, for the same class."""
    model = resolve(model)
    layer = layer or model.default_layer
    model.feature_layer(layer)
    prepared = prepare(model, image)
    cam = class_activation_map(
        model,
        prepared,
        layer=layer,
        target_class=target_class,
        weighting=gradcam_weights,
        method="Grad-CAM",
    )
    guided = guided_backprop_prepared(model, prepared, target_class=cam.class_index)
    return Attribution(
        values=(guided.values * cam.heatmap[..., None]).astype(np.float32),
        method="Guided Grad-CAM",
        model=model.name,
        target=guided.target,
        class_index=cam.class_index,
        label=cam.label,
        layer=cam.layer,
        note=guided.note,
    )
