"""Class activation maps: Grad-CAM, Grad-CAM++, LayerCAM, Score-CAM, Eigen-CAM, and
Guided Grad-CAM.

Every CAM is "feature maps (+ gradients) -> weights -> weighted sum -> ReLU -> normalise",
computed by one core, :func:`class_activation_map`; the variants differ only in the
weighting function, which returns either one weight per channel (``C``) or one weight
per position and channel (``h x w x C``, LayerCAM):

- Grad-CAM (Selvaraju et al. 2017): the spatial mean of the gradient of the class logit.
- Grad-CAM++ (Chattopadhay et al. 2018): a weighted mean of the positive gradients, with
  per-position weights ``alpha`` given in closed form by the second and third powers of
  the first-order gradient (the paper's derivation with an exponential class score).
- LayerCAM (Jiang et al. 2021): per position, the ReLU of the gradient.
- Score-CAM (Wang et al. 2020): no gradient; each channel, upsampled and scaled to
  [0, 1], masks the input, and the channel's weight is the softmax over channels of the
  increase in the class score (logit, or softmax probability) that the masked input obtains.
- Eigen-CAM (Muhammad & Yeasin 2020): no gradient, no class; the activations projected
  on their first principal direction.

Guided Grad-CAM is guided backpropagation multiplied by the upsampled Grad-CAM map
(Selvaraju et al. 2017), composed from the two techniques.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..images import resize_map
from ..models.loading import VisModel
from . import compiled
from ..registry import Option, technique
from .base import MAX_BATCH, Attribution, Heatmap, Prepared, check_int, prepare, resolve
from ..models.heads import softmax
from .gradients import guided_backprop_prepared

EPSILON = 1e-12
SCORE_CAM_BATCH = 32  # masked copies per compiled forward call at 224 x 224
SCORE_CAM_SCORES = ("logit", "probability")


@dataclass(frozen=True)
class CamContext:
    """What a weighting may need besides the maps and the gradients (Score-CAM runs the
    model on masked copies of the input)."""

    model: VisModel
    prepared: Prepared
    class_index: int


# (maps h x w x C, gradients h x w x C, context) -> weights, shape C or h x w x C.
Weighting = Callable[[np.ndarray, np.ndarray, CamContext], np.ndarray]


def gradcam_weights(
    maps: np.ndarray, grads: np.ndarray, context: CamContext | None = None
) -> np.ndarray:
    """Grad-CAM: the spatial mean of the gradient, per channel."""
    return grads.mean(axis=(0, 1))


def gradcam_plus_plus_weights(
    maps: np.ndarray, grads: np.ndarray, context: CamContext | None = None
) -> np.ndarray:
    """Grad-CAM++: ``w_k = sum_ij alpha_ij^k relu(g_ij^k)`` with
    ``alpha_ij^k = g^2 / (2 g^2 + sum_ab A_ab^k g^3)``, ``g = d logit / d A_ij^k``.

    With the class score ``exp(logit)`` the second and third derivatives are ``exp(logit)``
    times the second and third powers of ``g`` (Chattopadhay et al. 2018); the
    common factor ``exp(logit) > 0`` scales every weight alike and vanishes in the
    normalisation. Where the denominator is zero (``g = 0``) ``alpha`` is zero.
    """
    g = grads.astype(np.float64)
    g2 = g * g
    denominator = 2.0 * g2 + maps.astype(np.float64).sum(axis=(0, 1)) * g2 * g
    safe = np.where(denominator != 0.0, denominator, 1.0)
    alpha = np.where(denominator != 0.0, g2 / safe, 0.0)
    return (alpha * np.maximum(g, 0.0)).sum(axis=(0, 1))


def layercam_weights(
    maps: np.ndarray, grads: np.ndarray, context: CamContext | None = None
) -> np.ndarray:
    """LayerCAM: a weight per position and channel, the ReLU of the gradient there."""
    return np.maximum(grads, 0.0)


def eigencam_weights(
    maps: np.ndarray, grads: np.ndarray | None = None, context: CamContext | None = None
) -> np.ndarray:
    """Eigen-CAM: the first right-singular vector ``v_1`` of the (h*w) x C activation
    matrix ``O = U S V^T``, so that ``O v_1`` is the projection on the first principal
    direction (the paper takes the SVD of ``O`` itself, without mean-centring).

    A singular vector's sign is arbitrary: it is chosen so that the projection correlates
    positively with the mean activation over channels (ties: non-negative dot product).
    """
    matrix = maps.reshape(-1, maps.shape[-1]).astype(np.float64)
    if not np.any(matrix):
        return np.zeros(maps.shape[-1], np.float64)
    _, _, vt = np.linalg.svd(matrix, full_matrices=False)
    direction = vt[0]
    projection = matrix @ direction
    mean = matrix.mean(axis=1)
    agreement = float(np.dot(projection - projection.mean(), mean - mean.mean()))
    if agreement < 0 or (agreement == 0 and float(np.dot(projection, mean)) < 0):
        direction = -direction
    return direction


def zero_input_pixel(model: VisModel) -> np.ndarray:
    """The RGB pixel whose model input is 0 in every channel (grey for the ``tf`` family,
    the ImageNet mean colour for ``caffe`` and ``torch``, black for ``none``)."""
    return model.preprocessing.invert(np.zeros((3,), np.float32)).astype(np.float32)


def score_cam_channels(maps: np.ndarray, max_channels: int | None) -> np.ndarray:
    """The channels Score-CAM scores: all of them, or the ``max_channels`` with the
    highest spatial variance of activation (Faster Score-CAM), in channel order."""
    count = maps.shape[-1]
    if max_channels is None or max_channels >= count:
        return np.arange(count)
    variance = maps.astype(np.float64).var(axis=(0, 1))
    return np.sort(np.argsort(-variance, kind="stable")[:max_channels])


def score_cam_masks(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Channels (h x w x n) upsampled to ``size`` and min-max scaled to [0, 1] each
    (a constant channel gives an all-zero mask). Returns n x H x W float32."""
    upsampled = resize_map(maps.astype(np.float32), size)
    if upsampled.ndim == 2:
        upsampled = upsampled[..., None]
    low = upsampled.min(axis=(0, 1))
    span = upsampled.max(axis=(0, 1)) - low
    scaled = (upsampled - low) / np.where(span > EPSILON, span, 1.0)
    scaled[..., span <= EPSILON] = 0.0
    return np.ascontiguousarray(scaled.transpose(2, 0, 1), dtype=np.float32)


def scorecam_weights(
    maps: np.ndarray,
    grads: np.ndarray | None,
    context: CamContext,
    *,
    batch_size: int = SCORE_CAM_BATCH,
    max_channels: int | None = None,
    score: str = "logit",
) -> np.ndarray:
    """Score-CAM: ``w_k = softmax_k(f_c(X_b + H_k (X - X_b)) - f_c(X_b))``.

    ``H_k`` is channel ``k`` upsampled to the input size and scaled to [0, 1]; ``f_c`` the
    class logit (``score="logit"``) or its probability (``"probability"``, by the model's own rule);
    ``X_b`` the baseline, the image whose model input is zero (multiplying the model's
    input by ``H_k``, as the paper does, is exactly this blend toward ``X_b`` in pixel
    space). The softmax over channels is shift-invariant, so the baseline's own score
    ``f_c(X_b)`` drops out of the weights and is not computed. Channels left out by
    ``max_channels`` get weight 0. The masked copies go through the compiled forward
    pass ``batch_size`` at a time.
    """
    model, prepared, index = context.model, context.prepared, context.class_index
    chosen = score_cam_channels(maps, max_channels)
    image = prepared.batch[0]
    size = image.shape[:2]
    baseline = zero_input_pixel(model)
    difference = image - baseline
    forward = compiled.forward(model)

    def class_scores(batch: np.ndarray) -> np.ndarray:
        logits = forward(batch).numpy().astype(np.float64)
        return (model.probabilities(logits) if score == "probability" else logits)[:, index]

    # A constant channel gives an all-zero mask, i.e. the baseline image itself: its score
    # is computed once instead of once per such channel (often a third of a ReLU layer).
    span = maps[..., chosen].max(axis=(0, 1)) - maps[..., chosen].min(axis=(0, 1))
    varying = chosen[span > EPSILON]
    scores = np.empty(maps.shape[-1], np.float64)
    if len(varying) < len(chosen):
        scores[chosen[span <= EPSILON]] = class_scores(np.broadcast_to(baseline, (1, *image.shape)))[0]
    buffer = np.empty((min(batch_size, max(len(varying), 1)), *image.shape), np.float32)
    for start in range(0, len(varying), batch_size):
        channels = varying[start : start + batch_size]
        masks = score_cam_masks(maps[..., channels], size)
        batch = np.multiply(masks[..., None], difference, out=buffer[: len(channels)])
        batch += baseline
        scores[channels] = class_scores(batch)
    weights = np.zeros(maps.shape[-1], np.float64)
    weights[chosen] = softmax(scores[chosen])
    return weights


def combine(maps: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ReLU of the weighted sum over channels of ``maps`` (h x w x C), scaled to [0, 1].

    ``weights`` holds one weight per channel (C) or per position and channel (h x w x C).
    An all-zero (or all-negative) map stays zero instead of becoming NaN."""
    if weights.ndim == 1:
        total = np.tensordot(maps, weights, axes=([2], [0]))
    else:
        total = (maps * weights).sum(axis=-1)
    cam = np.maximum(total, 0.0)
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
    gradients: bool = True,
    note: str = "",
) -> Heatmap:
    """The shared CAM core: one compiled pass gives maps, gradients (unless the weighting
    needs none) and logits; ``weighting`` turns them into weights; :func:`combine` does
    the rest."""
    index = -1 if target_class is None else model.resolve_class(target_class)
    maps, grads, logits, resolved = compiled.cam(model, layer, gradients=gradients)(
        prepared.batch, np.array([index], np.int32)
    )
    maps, grads, logits = maps.numpy()[0], grads.numpy()[0], logits.numpy()[0]
    index = int(resolved.numpy()[0])
    context = CamContext(model, prepared, index)
    weights = np.asarray(weighting(maps, grads, context)).astype(np.float32)
    cam = combine(maps, weights)
    return Heatmap(
        heatmap=np.clip(prepared.to_image_size(cam), 0.0, 1.0),
        method=method,
        model=model.name,
        layer=layer,
        class_index=index,
        label=model.class_label(index),
        score=float(logits[index]),
        weights=weights if weights.ndim == 1 else None,
        note=model.head_note(note),
        image=prepared.image,
    )


def _cam(model, image, target_class, layer, weighting, method, **options) -> Heatmap:
    model = resolve(model)
    layer = layer or model.default_layer
    model.feature_layer(layer)
    return class_activation_map(
        model,
        prepare(model, image),
        layer=layer,
        target_class=target_class,
        weighting=weighting,
        method=method,
        **options,
    )


@technique(
    title="Grad-CAM",
    output="heatmap",
    paper="Selvaraju et al. 2017",
    summary="Where in the photo the evidence for a class lies, from the gradient of the class "
    "score at a deep feature map. Coarse but class-specific.",
    featured=True,
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
    return _cam(model, image, target_class, layer, gradcam_weights, "Grad-CAM")


@technique(
    title="Grad-CAM++",
    output="heatmap",
    paper="Chattopadhay et al. 2018",
    summary="Like Grad-CAM, but each channel's weight counts only positive gradients, each "
    "position weighted by a closed-form factor. It covers more of an object, and several "
    "objects of the same class, better than Grad-CAM.",
)
def grad_cam_plus_plus(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    layer: str | None = None,
) -> Heatmap:
    """Grad-CAM++ of one class (default: the top class) at ``layer`` (default: the head's
    feature map). Same cost as Grad-CAM: one pass, backpropagation stops at the layer."""
    return _cam(model, image, target_class, layer, gradcam_plus_plus_weights, "Grad-CAM++")


@technique(
    title="LayerCAM",
    output="heatmap",
    paper="Jiang et al. 2021",
    summary="Weights every position of every channel by its own positive gradient instead "
    "of one weight per channel. It stays sharp at early layers, where Grad-CAM blurs.",
)
def layer_cam(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    layer: str | None = None,
) -> Heatmap:
    """LayerCAM of one class at ``layer``: ``ReLU(sum_k ReLU(g^k) * A^k)`` position by
    position. Unlike Grad-CAM it stays sharp at shallow layers; ``weights`` is ``None``
    (the weights are per position). The paper's tanh rescaling applies only when maps of
    several layers are fused, which this single-layer function does not do."""
    return _cam(model, image, target_class, layer, layercam_weights, "LayerCAM")


@technique(
    title="Score-CAM",
    output="heatmap",
    paper="Wang et al. 2020",
    summary="Shows the photo to the model through each channel's map used as a mask, and "
    "weights the channel by how much the class score rises. No gradients, but one forward "
    "pass per channel, so it is slower.",
    cost="long",
    options=(
        Option(
            "max_channels",
            int,
            None,
            "Channels to score (0 = all)",
            "Score-CAM runs the model once per channel it scores: the channels whose "
            "activation varies most (Faster Score-CAM) take about a second per 64; all of "
            "them, as in the paper (1280 at MobileNetV2's last layer), about 25 s on a CPU.",
            low=1,
            high=1_000_000,
            none="all the layer's channels, as in the paper",
            app_default=64,
            app_range=(0, 2048, 1),
            bound="1 … channels of the layer (or none: all of them)",
        ),
        Option(
            "batch_size",
            int,
            None,
            "Masked copies per call",
            "Masked copies of the photo per compiled forward call (speed only).",
            low=1,
            high=MAX_BATCH,
            none="32 at 224 x 224, fewer for larger inputs",
            in_app=False,
            bound=f"1 … {MAX_BATCH} (capped by pixels)",
        ),
        Option(
            "score",
            str,
            "logit",
            "Class score",
            "The score whose increase weights a channel: the logit (class-discriminative) "
            "or the softmax probability.",
            choices=SCORE_CAM_SCORES,
            in_app=False,
        ),
    ),
    work="one forward pass per non-constant channel of the layer (1280 on MobileNetV2's "
    "default layer, 4032 on NASNetLarge's)",
)
def score_cam(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    layer: str | None = None,
    batch_size: int | None = None,
    max_channels: int | None = None,
    score: str = "logit",
) -> Heatmap:
    """Score-CAM of one class at ``layer`` (gradient-free).

    Each channel, upsampled and scaled to [0, 1], masks the input; the channel's weight
    is the softmax over channels of the class score the masked input obtains, minus the
    baseline's (see :func:`scorecam_weights`). The class score is the logit by default
    (as we read the paper's algorithm), which gives class-discriminative weights;
    ``score="probability"`` uses the softmax probability instead, whose increases (at
    most 1) make the softmax over hundreds of channels nearly uniform (weights within a
    factor e of each other) and the map nearly class-agnostic.

    Cost: one forward pass per channel of ``layer`` (1280 on MobileNetV2's default layer,
    2048 on ResNet50's), run ``batch_size`` masked copies per compiled call (default: 32
    at 224 x 224, fewer for larger inputs). The default is faithful to the paper (all
    channels); ``max_channels`` keeps only the channels with the highest activation
    variance (Faster Score-CAM), dividing the cost accordingly.
    """
    model = resolve(model)
    layer = layer or model.default_layer
    model.feature_layer(layer)
    channels = model.info(layer).channels or 1
    prepared = prepare(model, image)
    if batch_size is None:
        batch_size = compiled.batch_size_for(prepared.batch.shape[1:3], SCORE_CAM_BATCH)
    batch_size = compiled.capped_batch_size(prepared.batch.shape[1:3], batch_size)
    if max_channels is not None:
        max_channels = check_int("max_channels", max_channels, 1, channels)
    used = channels if max_channels is None else max_channels
    note = f"{score} scores; a masked forward pass per non-constant channel, {batch_size} per batch"
    if used < channels:
        note += f"; {used} of {channels} channels (highest activation variance)"
    weighting = functools.partial(
        scorecam_weights, batch_size=batch_size, max_channels=max_channels, score=score
    )
    return class_activation_map(
        model,
        prepared,
        layer=layer,
        target_class=target_class,
        weighting=weighting,
        method="Score-CAM",
        gradients=False,
        note=note,
    )


@technique(
    title="Eigen-CAM",
    output="heatmap",
    paper="Muhammad & Yeasin 2020",
    summary="The main pattern of a layer's activations (their first principal component), "
    "shown as a map. It needs no gradient and no class: it shows what stands out to the "
    "network, the same for every class.",
)
def eigen_cam(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    layer: str | None = None,
) -> Heatmap:
    """Eigen-CAM at ``layer``: the activations projected on their first principal direction.

    Class-agnostic: the map is the same for every class; ``target_class`` (default: the
    top class) only names the class reported with it. No gradient is computed.
    """
    return _cam(
        model,
        image,
        target_class,
        layer,
        eigencam_weights,
        "Eigen-CAM",
        gradients=False,
        note="class-agnostic (the same map for every class)",
    )


@technique(
    title="Guided Grad-CAM",
    output="attribution",
    paper="Selvaraju et al. 2017",
    summary="Guided backprop multiplied by the Grad-CAM map: fine detail, restricted to the "
    "region that supports the class.",
    own_tab=True,
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
