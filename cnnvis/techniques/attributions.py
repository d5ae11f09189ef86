"""Gradient attributions of a class logit with respect to the input pixels.

- Vanilla gradient (Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional
  Networks"): ``d logit_c / d pixels``. The paper's saliency map is its largest absolute
  value over colour channels; we return the signed gradient and let rendering decide.
- Gradient x input: the gradient times ``image - black``, i.e. Integrated Gradients with
  a black baseline and one right-Riemann step (Shrikumar et al. 2016; Ancona et al. 2018).
- SmoothGrad (Smilkov et al. 2017): the mean gradient over copies of the image with
  Gaussian noise added, which removes much of the gradient's visual noise.
- Integrated Gradients (Sundararajan, Taly & Yan 2017): ``(x - x') * integral_0^1
  grad f(x' + a (x - x')) da`` from a baseline ``x'``, by the trapezoidal rule. Its
  attributions sum to ``f(x) - f(x')`` ("completeness"), which the result reports.

Every gradient comes from :func:`cnnvis.techniques.compiled.input_gradient` (raw RGB
pixels in, the family preprocessing inside, the class logit as objective), and the many
passes of SmoothGrad and Integrated Gradients are batched ``batch_size`` at a time
(default: 16 at 224 x 224, fewer for larger inputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ParameterError
from ..images import resize_image
from ..models.loading import VisModel
from ..registry import SEED_MAX, Option, check_choice, technique
from . import compiled
from .base import MAX_BATCH, Attribution, Prepared, class_index, prepare, requested_classes, resolve
from .gradients import input_gradients

GRADIENT_BATCH = 16  # images per compiled gradient call (bounded by MAX_BATCH)
MAX_SAMPLES = 256
MAX_STEPS = 256
BASELINES = ("black", "white", "blur")
RULES = ("trapezoid", "right", "left")
BLUR_FRACTION = 1 / 16  # Gaussian sigma of the "blur" baseline, as a fraction of the shorter side


@dataclass(frozen=True)
class IntegratedGradients(Attribution):
    """An Integrated Gradients attribution and its completeness check.

    ``score`` and ``baseline_score`` are the class logit at the image and at the
    baseline; ``total`` is the sum of the attributions at the model's input size
    (``native``; ``values``, resized to the photo, scale their sum by the area ratio). Completeness says ``total == score - baseline_score`` as ``steps`` grows.
    """

    score: float = 0.0
    baseline_score: float = 0.0
    total: float = 0.0
    steps: int = 0
    rule: str = "trapezoid"
    baseline: str = "black"

    @property
    def expected_total(self) -> float:
        """f(x) - f(baseline)."""
        return self.score - self.baseline_score

    @property
    def completeness_gap(self) -> float:
        """f(x) - f(baseline) - sum of attributions (0 for exact integration)."""
        return self.expected_total - self.total

    @property
    def relative_gap(self) -> float:
        """|gap| / |f(x) - f(baseline)| (0 when both are 0)."""
        scale = abs(self.expected_total)
        if scale == 0.0:
            return 0.0 if self.completeness_gap == 0.0 else math.inf
        return abs(self.completeness_gap) / scale


def _target(model: VisModel, index: int) -> dict:
    label = model.class_label(index)
    return {"target": f"{label} ({index})", "class_index": index, "label": label}


def _gradients(
    model: VisModel, batch: np.ndarray, index: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(d logit / d pixels, logits of the class, the resolved class) for a batch, one call."""
    fn = compiled.input_gradient(model, guided=False)
    indices = np.full(batch.shape[0], index, np.int32)
    grads, objective, _, resolved = fn(batch.astype(np.float32, copy=False), indices)
    return grads.numpy(), objective.numpy(), int(resolved.numpy()[0])


def _batch_size(model: VisModel, prepared: Prepared, batch_size: int | None, total: int) -> int:
    """The images per compiled gradient call for ``total`` images: the caller's (1 to
    MAX_BATCH, then capped by :func:`cnnvis.techniques.compiled.capped_batch_size`), else
    the default for this input size (:func:`cnnvis.techniques.compiled.batch_size_for`);
    at most what the model's activations allow in memory
    (:func:`cnnvis.techniques.compiled.gradient_batch_cap`), spread evenly over the calls."""
    if batch_size is None:
        batch_size = compiled.batch_size_for(prepared.batch.shape[1:3], GRADIENT_BATCH)
    else:
        batch_size = compiled.capped_batch_size(prepared.batch.shape[1:3], batch_size)
    batch_size = min(batch_size, compiled.gradient_batch_cap(model))
    return compiled.even_batches(total, batch_size)


def plain_gradients(
    model: VisModel,
    pixels: np.ndarray,
    classes: np.ndarray,
    *,
    times_input: bool = False,
    image_sizes=None,
    pad: bool = False,
) -> tuple[list[Attribution], np.ndarray]:
    """The gradient (or gradient x input) of each image's class logit, for a batch, by
    the one input-gradient core (:func:`cnnvis.techniques.gradients.input_gradients`)."""
    grads, _, logits, resolved, _ = input_gradients(model, pixels, classes, guided=False, pad=pad)
    sizes = image_sizes or [tuple(pixels.shape[1:3])] * len(pixels)
    method, note = ("Gradient x input", "input measured from a black image") if times_input else ("Gradient", "")
    results = []
    for i in range(len(pixels)):
        values = grads[i] * pixels[i] if times_input else grads[i]
        results.append(
            Attribution(
                native=values.astype(np.float32, copy=False),
                image_size=(int(sizes[i][0]), int(sizes[i][1])),
                method=method,
                model=model.name,
                note=model.head_note(note),
                **_target(model, int(resolved[i])),
            )
        )
    return results, logits


def _one(model, image, target_class, times_input: bool) -> Attribution:
    model = resolve(model)
    prepared = prepare(model, image)
    results, _ = plain_gradients(
        model, prepared.batch, requested_classes(model, target_class, 1), times_input=times_input,
        image_sizes=[prepared.size],
    )
    return results[0]


def _vanilla_gradient_batch(model, pixels, classes):
    return plain_gradients(model, pixels, classes, pad=True)


def _gradient_x_input_batch(model, pixels, classes):
    return plain_gradients(model, pixels, classes, times_input=True, pad=True)


@technique(
    title="Gradient",
    output="attribution",
    paper="Simonyan et al. 2014",
    summary="How much each pixel, changed a little, would change the class score. Fast and "
    "faithful to the model, but noisy.",
    batch=_vanilla_gradient_batch,
)
def vanilla_gradient(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
) -> Attribution:
    """The gradient of one class logit (default: the top class) with respect to the pixels."""
    return _one(model, image, target_class, times_input=False)


@technique(
    title="SmoothGrad",
    output="attribution",
    paper="Smilkov et al. 2017",
    summary="The gradient averaged over many noisy copies of the photo. The noise cancels "
    "out and the object's outline stands out.",
    cost="long",
    featured=True,  # the raw gradient looks like noise to a newcomer
    options=(
        Option(
            "samples",
            int,
            50,
            "Noisy copies",
            "More copies: a smoother map, one gradient each.",
            low=1,
            high=MAX_SAMPLES,
            app_range=(1, MAX_SAMPLES, 1),
        ),
        Option(
            "noise",
            float,
            0.15,
            "Noise level",
            "Standard deviation, as a fraction of the pixel range; 10-20 % works well.",
            low=0.0,
            high=1.0,
            app_range=(0.0, 0.5, 0.01),
        ),
        Option(
            "seed",
            int,
            0,
            "Seed (same seed, same noise)",
            "The random seed of the noise.",
            low=0,
            high=SEED_MAX,
        ),
        Option(
            "batch_size",
            int,
            None,
            "Images per call",
            "Images per compiled gradient call (speed only).",
            low=1,
            high=MAX_BATCH,
            none="16 at 224 x 224, fewer for larger inputs and models",
            in_app=False,
            bound=f"1 … {MAX_BATCH} (capped by pixels and by activation memory)",
        ),
    ),
    work="samples gradients, in batches capped by activation memory",
)
def smoothgrad(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    samples: int = 50,
    noise: float = 0.15,
    seed: int = 0,
    batch_size: int | None = None,
) -> Attribution:
    """SmoothGrad: the mean gradient over ``samples`` noisy copies of the image.

    The noise is Gaussian with standard deviation ``noise`` times the pixel range (255);
    the paper's 10-20 % works well. Noise is not clipped, as in the paper. Sample ``i``
    draws its noise from ``numpy.random.default_rng([seed, i])``, so the result depends
    on the seed only, not on ``batch_size``. ``noise=0`` gives the vanilla gradient.
    """
    model = resolve(model)
    prepared = prepare(model, image)
    batch_size = _batch_size(model, prepared, batch_size, samples)
    index = class_index(model, prepared, target_class)
    image_batch = prepared.batch[0]
    sigma = np.float32(noise * 255.0)
    total = np.zeros(image_batch.shape, np.float64)
    for start in range(0, samples, batch_size):
        count = min(batch_size, samples - start)
        batch = np.empty((count, *image_batch.shape), np.float32)
        for j in range(count):
            rng = np.random.default_rng([seed, start + j])
            rng.standard_normal(dtype=np.float32, out=batch[j])
            batch[j] *= sigma
            batch[j] += image_batch
        grads, _, _ = _gradients(model, batch, index)
        total += grads.sum(axis=0, dtype=np.float64)
    values = (total / samples).astype(np.float32)
    return Attribution(
        native=values,
        image_size=prepared.size,
        method="SmoothGrad",
        model=model.name,
        note=model.head_note(
            f"{samples} samples, noise {noise:.0%} of the pixel range, seed {seed}"
        ),
        **_target(model, index),
    )


def baseline_image(prepared: Prepared, baseline) -> tuple[np.ndarray, str]:
    """The Integrated Gradients baseline at the model's input size (float32 pixels) and
    its name: ``"black"``, ``"white"``, ``"blur"`` (the image under a Gaussian blur of
    sigma 1/16 of its shorter side), an RGB colour (3 values) or an RGB image (resized)."""
    image = prepared.batch[0]
    if isinstance(baseline, str):
        check_choice("baseline", baseline, BASELINES)
        if baseline == "black":
            return np.zeros_like(image), baseline
        if baseline == "white":
            return np.full_like(image, 255.0), baseline
        sigma = max(1.0, BLUR_FRACTION * min(image.shape[:2]))
        blurred = cv2.GaussianBlur(
            image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT
        )
        return blurred.astype(np.float32), baseline
    try:
        values = np.asarray(baseline, dtype=np.float32)
    except (TypeError, ValueError):
        values = np.empty((0,), np.float32)
    is_colour = values.shape == (3,)
    is_image = values.ndim == 3 and values.shape[2] == 3 and min(values.shape[:2]) >= 1
    if not (is_colour or is_image):
        raise ParameterError(
            "The baseline must be 'black', 'white', 'blur', an RGB colour (3 values) or an "
            "RGB image (H x W x 3)."
        )
    if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 255.0:
        raise ParameterError("The baseline must hold finite pixel values from 0 to 255.")
    if is_colour:
        return np.broadcast_to(values, image.shape).copy(), "colour"
    if values.shape != image.shape:
        # Resized like the photo itself; bicubic enlarging can overshoot a little.
        values = np.clip(resize_image(values, image.shape[:2]), 0.0, 255.0)
    return values.astype(np.float32), "image"


def quadrature_weights(steps: int, rule: str) -> np.ndarray:
    """Weights of the gradients at ``a = 0, 1/steps, ..., 1`` (they sum to 1)."""
    weights = np.full(steps + 1, 1.0 / steps)
    if rule == "trapezoid":
        weights[[0, -1]] = 0.5 / steps
    elif rule == "right":
        weights[0] = 0.0
    else:
        weights[-1] = 0.0
    return weights


@technique(
    title="Integrated Gradients",
    output="attribution",
    paper="Sundararajan et al. 2017",
    summary="Adds up the gradients along a straight path from a baseline (a black image) to "
    "the photo. The pixel attributions sum to the change in the class score, which the "
    "result checks.",
    cost="long",
    options=(
        Option(
            "baseline",
            str,
            "black",
            "Baseline",
            "Where the path starts: the attributions explain the change from it "
            "(black, white, or the photo blurred).",
            choices=BASELINES,
            bound="`black`, `white`, `blur`, an RGB colour or an RGB image with values 0 … 255",
        ),
        Option(
            "steps",
            int,
            50,
            "Steps on the path",
            "More steps: a smaller completeness gap (shown in the caption), one gradient each.",
            low=1,
            high=MAX_STEPS,
            app_range=(1, MAX_STEPS, 1),
        ),
        Option(
            "rule",
            str,
            "trapezoid",
            "Quadrature rule",
            "How the gradients on the path are added up.",
            choices=RULES,
            in_app=False,
        ),
        Option(
            "batch_size",
            int,
            None,
            "Images per call",
            "Images per compiled gradient call (speed only).",
            low=1,
            high=MAX_BATCH,
            none="16 at 224 x 224, fewer for larger inputs and models",
            in_app=False,
            bound=f"1 … {MAX_BATCH} (capped by pixels and by activation memory)",
        ),
    ),
    work="steps + 1 gradients, in batches capped by activation memory",
)
def integrated_gradients(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    baseline="black",
    steps: int = 50,
    rule: str = "trapezoid",
    batch_size: int | None = None,
) -> IntegratedGradients:
    """Integrated Gradients of one class logit from ``baseline`` to the image.

    ``steps`` intervals on the straight path (``steps + 1`` gradients, always including
    both ends, so ``f(baseline)`` and ``f(x)`` come for free), combined by the trapezoidal
    rule (``rule="right"`` or ``"left"`` for Riemann sums). The paper finds 20-300 steps
    enough for completeness within 5 %; the result reports the gap.
    """
    model = resolve(model)
    prepared = prepare(model, image)
    batch_size = _batch_size(model, prepared, batch_size, steps + 1)
    reference, baseline_name = baseline_image(prepared, baseline)
    index = class_index(model, prepared, target_class)
    difference = prepared.batch[0] - reference
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float64)
    weights = quadrature_weights(steps, rule)
    integral = np.zeros(difference.shape, np.float64)
    scores = np.empty(steps + 1, np.float64)
    for start in range(0, steps + 1, batch_size):
        stop = min(start + batch_size, steps + 1)
        batch = reference + alphas[start:stop, None, None, None].astype(np.float32) * difference
        grads, objective, _ = _gradients(model, batch, index)
        integral += np.tensordot(weights[start:stop], grads.astype(np.float64), axes=1)
        scores[start:stop] = objective
    attribution = (difference * integral).astype(np.float32)
    total = float(attribution.sum(dtype=np.float64))
    expected = float(scores[-1] - scores[0])
    gap = abs(expected - total) / abs(expected) if expected else 0.0
    return IntegratedGradients(
        native=attribution,
        image_size=prepared.size,
        method="Integrated Gradients",
        model=model.name,
        note=model.head_note(
            f"{steps} steps ({rule}), {baseline_name} baseline; sum {total:.4g} vs "
            f"f(x) - f(baseline) {expected:.4g} (gap {gap:.1%})"
        ),
        score=float(scores[-1]),
        baseline_score=float(scores[0]),
        total=total,
        steps=steps,
        rule=rule,
        baseline=baseline_name,
        **_target(model, index),
    )


@technique(
    title="Gradient x input",
    output="attribution",
    paper="Shrikumar et al. 2016",
    summary="The gradient multiplied by the pixel values: how much each pixel contributes "
    "compared with black. It is Integrated Gradients with a single step.",
    batch=_gradient_x_input_batch,
)
def gradient_x_input(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
) -> Attribution:
    """The gradient times the input measured from black, ``grad f(x) * (x - 0)``, in pixel
    space: Integrated Gradients with a black baseline and a single right-Riemann step."""
    return _one(model, image, target_class, times_input=True)
