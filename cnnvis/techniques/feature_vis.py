"""Feature visualisation: pictures that a channel, or a class logit, responds to most.

Activation maximisation as described by Olah, Mordvintsev & Schubert (2017, "Feature
Visualization", Distill): start from a nearly grey picture and follow the gradient of
an objective with respect to the picture, where

- the objective is the spatial mean of one channel of a layer, or one class logit;
- the picture is not optimised pixel by pixel but through a *decorrelated Fourier
  parameterisation* (:class:`FourierImage`): learned spectrum coefficients scaled by
  1 / spatial frequency (so that equal steps on every coefficient make pictures with
  the 1/f spectrum of natural photos rather than white noise), an inverse real FFT,
  a fixed colour-correlation matrix derived from ImageNet colour statistics (so that
  the optimiser works on decorrelated colours), and a sigmoid into pixels 0-255,
  followed by the model's own preprocessing;
- each step sees the picture through a random jitter, scaling and rotation
  (transformation robustness), so that patterns which survive small changes of
  position and size grow, not high-frequency adversarial noise;
- the spectrum is optimised with Adam.

Choices the paper leaves open, made here: on a standalone rectifier layer (ReLU, ReLU6,
swish...) the objective stays the layer's own output, but a tenth of the gradient of
the pre-activation leaks through, so a channel that is off on the starting picture
still moves and ReLU6's cap does not stop the ascent (Olah et al. optimise pre-ReLU
values for the same reason). Channels are seen at the picture's own scale (padded by
reflection to a multiple of 32); class logits too when the head pools globally, else
the picture is stretched to the model's input size.

Several channels (or classes) are visualised at once: one picture per target in one
batch, each maximising its own objective. Every picture has its own random stream,
seeded by ``(seed, target)``, so a picture does not depend on what else is in the
batch. The model runs inside one compiled step per (layer, size), whose input
signature leaves the batch free: no retracing per step or per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from ..models import graph
from ..errors import ParameterError
from ..models.loading import VisModel
from ..registry import SEED_MAX, Option, checks, technique
from . import compiled
from .base import Displayed, check_int, resolve

MAX_IMAGES = 16
MIN_SIZE, MAX_SIZE = 32, 384
MAX_STEPS = 1024
MAX_JITTER = 64
# Work one call may ask for, in picture-steps at 128 x 128 (8 pictures x 512 steps).
MAX_WORK = 8 * 512
# Activations one ascent step may keep for its backward pass (all pictures at once).
FEATURE_VIS_MEMORY = 2 * compiled.GRADIENT_MEMORY
INIT_STD = 0.01  # the starting spectrum: a nearly uniform grey picture
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8

OPTIONS = (
    Option(
        "steps",
        int,
        192,
        "Steps",
        "Optimisation steps; more steps give clearer patterns.",
        low=1,
        high=MAX_STEPS,
        app_default=128,
        app_range=(4, 512, 4),
    ),
    Option(
        "size",
        int,
        128,
        "Picture size (pixels)",
        "The side of the square pictures.",
        low=MIN_SIZE,
        high=MAX_SIZE,
        app_range=(MIN_SIZE, MAX_SIZE, 32),
    ),
    Option(
        "learning_rate",
        float,
        0.08,
        "Learning rate",
        "Adam's step size.",
        low=1e-3,
        high=1.0,
        in_app=False,
    ),
    Option(
        "jitter",
        int,
        None,
        "Jitter",
        "Pixels each step's view is shifted by, at most.",
        low=0,
        high=MAX_JITTER,
        none="an eighth of the size",
        in_app=False,
    ),
    Option(
        "scale",
        float,
        0.2,
        "Scale",
        "Each step's view is scaled by a factor within 1 +- scale.",
        low=0.0,
        high=0.5,
        in_app=False,
    ),
    Option(
        "rotation",
        float,
        20.0,
        "Rotation (degrees)",
        "Each step's view is rotated by up to this angle.",
        low=0.0,
        high=45.0,
        in_app=False,
    ),
    Option(
        "seed",
        int,
        0,
        "Seed (same seed, same pictures)",
        "The random seed of the starting noise and the transformations.",
        low=0,
        high=SEED_MAX,
    ),
    Option(
        "every",
        int,
        16,
        "Frames every",
        "Steps between two intermediate pictures.",
        low=1,
        high=MAX_STEPS,
        in_app=False,
    ),
)
WORK = (
    f"pictures x steps x (size / 128)² <= {MAX_WORK}; the pictures' activations (up to the "
    "target layer, at their size) <= 3 GB estimated: e.g. at most 1 picture of 384 px on "
    "EfficientNetB7, 16 of 128 px"
)

# ----- the colour correlation matrix -------------------------------------------------
# Origin: the principal components of the RGB values of ImageNet training pixels (pixels
# scaled to [0, 1]) published with AlexNet (Krizhevsky, Sutskever & Hinton 2012, section
# 4.1, "altering the intensities of RGB channels"), in the form commonly distributed
# for PCA colour augmentation. Columns of the eigenvector matrix are the components
# (rows are R, G, B): first the luminance direction, then two colour-opponent ones.
IMAGENET_RGB_EIGENVALUES = np.array([0.2175, 0.0188, 0.0045])
IMAGENET_RGB_EIGENVECTORS = np.array(
    [
        [-0.5675, 0.7192, 0.4009],
        [-0.5808, -0.0045, -0.8140],
        [-0.5836, -0.6948, 0.4203],
    ]
)


def imagenet_colour_covariance() -> np.ndarray:
    """The 3 x 3 covariance of ImageNet RGB pixels, ``V diag(lambda) V^T``."""
    vectors, values = IMAGENET_RGB_EIGENVECTORS, IMAGENET_RGB_EIGENVALUES
    return vectors @ np.diag(values) @ vectors.T


def colour_correlation_matrix() -> np.ndarray:
    """The fixed matrix ``M`` that mixes decorrelated colours into RGB.

    ``M`` is the symmetric square root of the ImageNet colour covariance,
    ``V diag(sqrt(lambda)) V^T``, divided by its largest row norm: white noise with unit
    variance per decorrelated channel becomes noise with ImageNet's colour correlations
    whose most variable channel has unit variance (``M M^T`` is proportional to the
    covariance). The symmetric root keeps each decorrelated channel close to one colour.
    """
    vectors, values = IMAGENET_RGB_EIGENVECTORS, IMAGENET_RGB_EIGENVALUES
    root = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    return (root / np.linalg.norm(root, axis=1).max()).astype(np.float32)


@dataclass(frozen=True)
class FourierImage:
    """The decorrelated Fourier parameterisation of ``height x width`` RGB pictures.

    Parameters have shape ``(n, 3, height, width // 2 + 1, 2)``: the real and imaginary
    parts of the real FFT of each decorrelated colour channel. The picture is

        pixels = 255 * sigmoid(M @ irfft2(params * scale))

    with ``scale = K / max(f, 1 / max(height, width))`` (``f`` the spatial frequency in
    cycles per pixel) and ``K`` chosen so that unit-variance parameters give a
    unit-variance decorrelated picture (Parseval).
    """

    height: int
    width: int

    @property
    def spectrum_shape(self) -> tuple[int, int, int, int]:
        return 3, self.height, self.width // 2 + 1, 2

    @cached_property
    def frequencies(self) -> np.ndarray:
        fy = np.fft.fftfreq(self.height)[:, None]
        fx = np.fft.rfftfreq(self.width)[None, :]
        return np.sqrt(fy**2 + fx**2)

    @cached_property
    def scale(self) -> np.ndarray:
        """The per-coefficient amplitude, ``(height, width // 2 + 1)`` float32."""
        raw = 1.0 / np.maximum(self.frequencies, 1.0 / max(self.height, self.width))
        # Each rfft column except the first (and the Nyquist one, for even widths)
        # stands for two columns of the full spectrum.
        multiplicity = np.full(raw.shape[1], 2.0)
        multiplicity[0] = 1.0
        if self.width % 2 == 0:
            multiplicity[-1] = 1.0
        power = 2.0 * float((raw**2 * multiplicity[None, :]).sum())
        return (raw * (self.height * self.width) / math.sqrt(power)).astype(np.float32)

    @cached_property
    def colour(self) -> np.ndarray:
        return colour_correlation_matrix()

    def initial(self, rng: np.random.Generator, std: float = INIT_STD) -> np.ndarray:
        """Random starting parameters for one picture, ``(3, h, w // 2 + 1, 2)``."""
        return (rng.standard_normal(self.spectrum_shape) * std).astype(np.float32)

    # NumPy: for rendering frames, for tests, and for the inverse.
    def decorrelated(self, params: np.ndarray) -> np.ndarray:
        """Parameters ``(n, 3, h, wf, 2)`` -> decorrelated picture ``(n, h, w, 3)``."""
        params = np.asarray(params, np.float64)
        spectrum = (params[..., 0] + 1j * params[..., 1]) * self.scale
        planes = np.fft.irfft2(spectrum, s=(self.height, self.width), axes=(-2, -1))
        return np.moveaxis(planes, 1, -1)

    def to_pixels(self, params: np.ndarray) -> np.ndarray:
        """Parameters ``(n, 3, h, wf, 2)`` -> float32 RGB pixels ``(n, h, w, 3)`` in (0, 255)."""
        logits = self.decorrelated(params) @ self.colour.T.astype(np.float64)
        return (255.0 / (1.0 + np.exp(-logits))).astype(np.float32)

    def from_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """The parameters of given pictures ``(n, h, w, 3)`` (0-255): the inverse of
        :meth:`to_pixels` (pixels are clipped to [0.5, 254.5] so the logit is finite)."""
        unit = np.clip(np.asarray(pixels, np.float64), 0.5, 254.5) / 255.0
        logits = np.log(unit / (1.0 - unit))
        decorrelated = logits @ np.linalg.inv(self.colour.astype(np.float64)).T
        spectrum = np.fft.rfft2(np.moveaxis(decorrelated, -1, 1), axes=(-2, -1)) / self.scale
        return np.stack([spectrum.real, spectrum.imag], axis=-1).astype(np.float32)

    # TensorFlow: inside the compiled step.
    def to_pixels_tf(self, params: tf.Tensor) -> tf.Tensor:
        scale = tf.constant(self.scale)
        spectrum = tf.complex(params[..., 0] * scale, params[..., 1] * scale)
        planes = tf.signal.irfft2d(spectrum, fft_length=[self.height, self.width])
        decorrelated = tf.transpose(planes, [0, 2, 3, 1])
        logits = tf.einsum("nhwc,dc->nhwd", decorrelated, tf.constant(self.colour))
        return 255.0 * tf.sigmoid(logits)


# ----- where the network looks at the picture ------------------------------------------
def _fixed_size_head(keras_model: keras.Model) -> bool:
    """True when the logits need the model's native input size (a Flatten or Reshape of a
    spatial map, as in VGG); global-pooling heads accept any size."""
    for layer in graph.iter_layers(keras_model):
        if isinstance(layer, (keras.layers.Flatten, keras.layers.Reshape)):
            try:
                shape = tuple(layer.input.shape)
            except (AttributeError, ValueError):
                continue
            if len(shape) == 4 and (shape[1] or 2) * (shape[2] or 2) > 1:
                return True
    return False


def _check_memory(model: VisModel, layer: str | None, count: int, size: int, out: int) -> None:
    """Refuse a batch of pictures whose activations would not fit in memory: all of them
    go through the network at once (EfficientNetB7 keeps about 180 MB per 128-pixel
    picture for the backward pass, a 384-pixel one 1.6 GB)."""
    per_picture = compiled.activation_bytes(model, upto=layer, side=out)
    if count * per_picture > FEATURE_VIS_MEMORY:
        fits = max(1, FEATURE_VIS_MEMORY // max(1, per_picture))
        raise ParameterError(
            f"{count} pictures of {size} px at once need about {count * per_picture / 2**30:.1f} GB "
            f"on {model.name}; ask for at most {fits} at this size, or a smaller size."
        )


def network_size(model: VisModel, size: int, classes: bool) -> tuple[int, float]:
    """The side of the square the network sees, and the zoom from the picture to it.

    Channels (and classes on a global-pooling head) are seen at the picture's own scale,
    the square padded by reflection to a multiple of 32 (every stride pattern fits).
    Classes on a fixed-size head, and anything on a transformer, see the picture
    stretched to the native input size.
    """
    native, native_width = model.input_size
    # A transformer's position embeddings fix its input size for channels and classes alike.
    fixed = graph.transformer_layout(model.keras_model) is not None
    if native is not None and (fixed or (classes and _fixed_size_head(model.keras_model))):
        if native != native_width:
            raise ParameterError(
                f"{model.name} needs a {native} x {native_width} input for its logits; "
                "feature visualisation of its classes needs a square input."
            )
        return int(native), native / size
    return int(-(-size // compiled.SIZE_MULTIPLE) * compiled.SIZE_MULTIPLE), 1.0


def sampling_transforms(
    size: int,
    out: int,
    zoom: float,
    scales: np.ndarray,
    angles: np.ndarray,
    shifts: np.ndarray,
) -> np.ndarray:
    """Flat projective transforms ``(n, 8)`` mapping each output pixel (x, y) of the
    network's ``out x out`` square to a point of the ``size x size`` picture: rotate by
    ``angles`` (radians) and scale by ``scales`` about the centres, then shift by
    ``shifts`` (picture pixels, (dx, dy))."""
    ratio = 1.0 / (zoom * np.asarray(scales, np.float64))
    cos, sin = np.cos(angles) * ratio, np.sin(angles) * ratio
    c_out, c_in = (out - 1) / 2.0, (size - 1) / 2.0
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = c_in + shifts[:, 0] - a0 * c_out - a1 * c_out
    b2 = c_in + shifts[:, 1] - b0 * c_out - b1 * c_out
    zeros = np.zeros_like(a0)
    return np.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1).astype(np.float32)


def _warp(pixels: tf.Tensor, transforms: tf.Tensor, out: int) -> tf.Tensor:
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=pixels,
        transforms=transforms,
        output_shape=tf.constant([out, out], tf.int32),
        fill_value=tf.constant(0.0, tf.float32),
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


LEAK = 0.1  # the gradient that leaks through the target layer's own rectifier


def pre_activation(model: VisModel, layer: str) -> str | None:
    """The layer feeding ``layer`` when ``layer`` is a standalone rectifier (a ReLU,
    ReLU6, swish... layer with the same output shape), else ``None``."""
    target = model.feature_layer(layer)
    if model.info(layer).kind == "activation" and graph.guided_rule(target) is not None:
        source = graph.input_source(model.keras_model, target)
        if source is not None and model.info(source.name).shape == model.info(layer).shape:
            return source.name
    return None


def _objective(
    model: VisModel, layer: str | None, pre: str | None, pixels: tf.Tensor, index: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """(objective, surrogate) per picture: the channel mean of ``layer`` (or the class
    logit), and the same value whose gradient also has ``LEAK`` times the gradient of
    the pre-activation's channel mean. Without the leak, a channel that is off
    everywhere on the starting picture would never get a gradient, and ReLU6's cap would
    stop the ascent at 6; the value, and so the reported objective, is unchanged."""
    if layer is None:
        logits = model.run_graph(model.preprocessing.apply(pixels)).outputs
        objective = tf.gather(logits, index, batch_dims=1)
        return objective, objective
    targets = [model.layer(layer)] + ([model.layer(pre)] if pre is not None else [])
    run = model.run_graph(
        model.preprocessing.apply(pixels),
        capture=targets,
        stop_when_captured=True,
    )
    means = [tf.gather(tf.reduce_mean(run[t], axis=(1, 2)), index, batch_dims=1) for t in targets]
    objective = means[0]
    if pre is None:
        return objective, objective
    return objective, objective + LEAK * (means[1] - tf.stop_gradient(means[1]))


def ascent_step(
    model: VisModel, layer: str | None, pre: str | None, size: int, out: int
) -> compiled.Compiled:
    """One Adam step of gradient ascent for a batch of pictures (compiled, cached).

    (params, m, v, t, learning rate, transforms, index) -> (params, m, v, objective),
    where ``objective`` is each picture's target before the step, seen through its
    transform, and ``t`` is the 1-based step number (for Adam's bias correction).
    """
    fourier = FourierImage(size, size)

    def build() -> compiled.Compiled:
        spec = tf.TensorSpec([None, *fourier.spectrum_shape], tf.float32)

        @tf.function(
            input_signature=[
                spec,
                spec,
                spec,
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([None, 8], tf.float32),
                tf.TensorSpec([None], tf.int32),
            ]
        )
        def fn(params, m, v, t, learning_rate, transforms, index):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(params)
                pixels = _warp(fourier.to_pixels_tf(params), transforms, out)
                objective, surrogate = _objective(model, layer, pre, pixels, index)
                total = tf.reduce_sum(surrogate)
            grads = tape.gradient(total, params)
            m = ADAM_BETA1 * m + (1.0 - ADAM_BETA1) * grads
            v = ADAM_BETA2 * v + (1.0 - ADAM_BETA2) * tf.square(grads)
            m_hat = m / (1.0 - tf.pow(ADAM_BETA1, t))
            v_hat = v / (1.0 - tf.pow(ADAM_BETA2, t))
            params = params + learning_rate * m_hat / (tf.sqrt(v_hat) + ADAM_EPSILON)
            return params, m, v, objective

        return compiled.Compiled(fn)

    return model.function(("feature_vis_step", layer, pre, size, out), build)


def evaluate(model: VisModel, layer: str | None, size: int, out: int) -> compiled.Compiled:
    """(params, transforms, index) -> (pixels, objective), without a gradient."""
    fourier = FourierImage(size, size)

    def build() -> compiled.Compiled:
        spec = tf.TensorSpec([None, *fourier.spectrum_shape], tf.float32)

        @tf.function(
            input_signature=[
                spec,
                tf.TensorSpec([None, 8], tf.float32),
                tf.TensorSpec([None], tf.int32),
            ]
        )
        def fn(params, transforms, index):
            pixels = fourier.to_pixels_tf(params)
            return pixels, _objective(model, layer, None, _warp(pixels, transforms, out), index)[0]

        return compiled.Compiled(fn)

    return model.function(("feature_vis_evaluate", layer, size, out), build)


# ----- results -------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureVisualization(Displayed):
    """Pictures that maximise channels of a layer, or class logits, one per target."""

    images: np.ndarray  # float32 (n, size, size, 3) RGB in [0, 255]
    objectives: np.ndarray  # float32 (n, steps): each picture's objective at every step
    start: np.ndarray  # float32 (n,): the objective on the starting picture (no transform)
    final: np.ndarray  # float32 (n,): the objective on the final picture (no transform)
    model: str
    layer: str | None  # None when class logits were maximised
    pre_activation: str | None  # the layer whose gradient leaked through the rectifier
    channels: tuple[int, ...] | None
    classes: tuple[int, ...] | None
    labels: tuple[str, ...]  # "channel 12" or the class label, per picture
    steps: int
    size: int
    seed: int

    @property
    def caption(self) -> str:
        what = self.layer if self.layer is not None else "class logits"
        return f"Feature visualisation · {self.model} · {what} · {self.steps} steps"

    @property
    def captions(self) -> tuple[str, ...]:
        return tuple(
            f"{label} · {start:.2g} -> {final:.2g}"
            for label, start, final in zip(self.labels, self.start, self.final)
        )


@dataclass(frozen=True)
class FeatureVisFrame(Displayed):
    """The pictures after ``step`` of ``steps`` optimisation steps."""

    images: np.ndarray  # float32 (n, size, size, 3) RGB in [0, 255]
    step: int
    steps: int
    objective: np.ndarray  # float32 (n,): each picture's objective at this step
    result: FeatureVisualization | None = None  # set on the final frame only
    stopped: bool = False  # the last frame of a run that ``stop`` ended early

    @property
    def final(self) -> bool:
        return self.result is not None

    @property
    def progress(self) -> float:
        return self.step / self.steps

    @property
    def where(self) -> str:
        """Where the run is (or stopped): "step 80/128"."""
        return f"step {self.step}/{self.steps}"


# ----- the public functions ------------------------------------------------------------
def _targets(
    model: VisModel, layer: str | None, channels, target_class
) -> tuple[str | None, tuple[int, ...], tuple[str, ...]]:
    """The layer (None for classes), the target indices and their labels."""
    if target_class is not None:
        if layer is not None or channels is not None:
            raise ParameterError(
                "Choose either a layer's channels or class logits as the target, not both."
            )
        wanted = (
            [target_class]
            if isinstance(target_class, (str, int, np.integer))
            else list(target_class)
        )
        targets = tuple(model.resolve_class(c) for c in wanted)
        labels = tuple(model.class_label(i) for i in targets)
        layer = None
    else:
        layer = layer if layer is not None else model.dream_layers[0]
        model.feature_layer(layer)
        count = model.info(layer).channels or 1
        if channels is None:
            channels = range(min(8, count))
        wanted = [channels] if isinstance(channels, (int, np.integer)) else list(channels)
        targets = tuple(check_int("channel", c, 0, count - 1) for c in wanted)
        labels = tuple(f"channel {c}" for c in targets)
    if not 1 <= len(targets) <= MAX_IMAGES:
        raise ParameterError(f"Visualise between 1 and {MAX_IMAGES} channels or classes at once.")
    if len(set(targets)) != len(targets):
        raise ParameterError("Each channel or class can be visualised only once per call.")
    return layer, targets, labels


def starting_spectra(size: int, targets: Sequence[int], *, seed: int, classes: bool) -> list:
    """One random stream per picture, seeded by ``(seed, kind, target)`` so that a
    picture does not depend on the rest of the batch, and each picture's starting
    parameters (drawn first from its stream). Returns ``[(rng, params), ...]``."""
    fourier = FourierImage(size, size)
    streams = []
    for target in targets:
        rng = np.random.default_rng([seed, int(classes), int(target)])
        streams.append((rng, fourier.initial(rng)))
    return streams


def _random_transforms(
    rngs: Sequence[np.random.Generator], scale: float, max_angle: float, jitter: float
) -> np.ndarray:
    """(n, 4) draws of (scale, angle, dx, dy), each picture from its own stream."""
    return np.array(
        [
            (
                rng.uniform(1.0 - scale, 1.0 + scale),
                rng.uniform(-max_angle, max_angle),
                rng.uniform(-jitter, jitter),
                rng.uniform(-jitter, jitter),
            )
            for rng in rngs
        ]
    )


@checks(OPTIONS)
def feature_visualization_frames(
    model: VisModel | str,
    *,
    layer: str | None = None,
    channels: int | Sequence[int] | None = None,
    target_class: int | str | Sequence[int | str] | None = None,
    steps: int = 192,
    size: int = 128,
    learning_rate: float = 0.08,
    jitter: int | None = None,
    scale: float = 0.2,
    rotation: float = 20.0,
    seed: int = 0,
    every: int = 16,
    stop: Callable[[], bool] | None = None,
) -> Iterator[FeatureVisFrame]:
    """Yield the pictures every ``every`` steps; the last frame carries the result.

    Targets: ``channels`` of ``layer`` (default layer: the model's first Deep Dream
    layer, a mid-level block; default channels: the first eight), or ``target_class``
    (a class or a list of classes; one picture per class, maximising its logit).
    ``size`` is the side of the square pictures; each step sees them shifted by up to
    ``jitter`` pixels (default: ``size // 8``), scaled by a factor within
    ``1 +- scale`` and rotated by up to ``rotation`` degrees. Adam's step size is
    ``learning_rate``. Stopping the iteration stops the computation; so does ``stop``,
    asked before every step: once it returns True the iteration ends with one more
    frame, marked ``stopped``, holding the pictures so far, and no final result (an
    app's Stop button sets what ``stop`` reads).
    """
    model = resolve(model)
    layer, targets, labels = _targets(model, layer, channels, target_class)
    jitter = size // 8 if jitter is None else jitter
    work = len(targets) * steps * (size / 128) ** 2
    if work > MAX_WORK:
        raise ParameterError(
            f"{len(targets)} pictures x {steps} steps at {size} px is too much work for one "
            f"call; at 128 px, pictures x steps may be at most {MAX_WORK}."
        )

    fourier = FourierImage(size, size)
    classes = layer is None
    out, zoom = network_size(model, size, classes=classes)
    _check_memory(model, layer, len(targets), size, out)
    pre = pre_activation(model, layer) if layer is not None else None
    streams = starting_spectra(size, targets, seed=seed, classes=classes)
    rngs = [rng for rng, _ in streams]
    params = tf.constant(np.stack([initial for _, initial in streams]))
    m, v = tf.zeros_like(params), tf.zeros_like(params)
    index = np.array(targets, np.int32)
    count = len(targets)
    identity = sampling_transforms(
        size, out, zoom, np.ones(count), np.zeros(count), np.zeros((count, 2))
    )
    step_fn = ascent_step(model, layer, pre, size, out)
    evaluate_fn = evaluate(model, layer, size, out)
    _, start = evaluate_fn(params, identity, index)
    rate = tf.constant(learning_rate, tf.float32)
    history = np.zeros((count, steps), np.float32)

    for step in range(1, steps + 1):
        if stop is not None and stop():
            done = history[:, step - 2].copy() if step > 1 else start.numpy()
            pictures = fourier.to_pixels(params.numpy())
            yield FeatureVisFrame(pictures, step - 1, steps, done, stopped=True)
            return
        draws = _random_transforms(rngs, scale, math.radians(rotation), jitter)
        transforms = sampling_transforms(size, out, zoom, draws[:, 0], draws[:, 1], draws[:, 2:])
        params, m, v, objective = step_fn(
            params, m, v, tf.constant(float(step), tf.float32), rate, transforms, index
        )
        history[:, step - 1] = objective.numpy()
        if step % every == 0 and step < steps:
            pictures = fourier.to_pixels(params.numpy())
            yield FeatureVisFrame(pictures, step, steps, history[:, step - 1].copy())

    pixels, final = evaluate_fn(params, identity, index)
    images = np.clip(pixels.numpy(), 0.0, 255.0).astype(np.float32)
    result = FeatureVisualization(
        images=images,
        objectives=history,
        start=start.numpy().astype(np.float32),
        final=final.numpy().astype(np.float32),
        model=model.name,
        layer=layer,
        pre_activation=pre,
        channels=None if classes else targets,
        classes=targets if classes else None,
        labels=labels,
        steps=steps,
        size=size,
        seed=seed,
    )
    yield FeatureVisFrame(images, steps, steps, history[:, -1].copy(), result)


@technique(
    title="Feature visualisation",
    output="images",
    paper="Olah, Mordvintsev & Schubert 2017 (Distill)",
    summary="A picture grown from grey noise, step by step, to excite one channel of a layer "
    "(or one class) as much as possible: what that unit looks for. Random shifts, scalings "
    "and rotations, and the colour and frequency statistics of photos, keep it free of "
    "adversarial noise.",
    cost="long",
    options=tuple(o for o in OPTIONS if o.name != "every"),
    own_tab=True,
    work=WORK,
)
def feature_visualization(
    model: VisModel | str,
    *,
    layer: str | None = None,
    channels: int | Sequence[int] | None = None,
    target_class: int | str | Sequence[int | str] | None = None,
    steps: int = 192,
    size: int = 128,
    learning_rate: float = 0.08,
    jitter: int | None = None,
    scale: float = 0.2,
    rotation: float = 20.0,
    seed: int = 0,
) -> FeatureVisualization:
    """Pictures that maximise ``channels`` of ``layer``, or class logits, one per target
    (see :func:`feature_visualization_frames` for the parameters)."""
    frames = feature_visualization_frames(
        model,
        layer=layer,
        channels=channels,
        target_class=target_class,
        steps=steps,
        size=size,
        learning_rate=learning_rate,
        jitter=jitter,
        scale=scale,
        rotation=rotation,
        seed=seed,
        every=MAX_STEPS,  # no intermediate frames needed
    )
    for frame in frames:
        if frame.result is not None:
            return frame.result
    raise AssertionError("feature_visualization_frames ended without a final frame")
