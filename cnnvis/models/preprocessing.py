"""Input preprocessing as exact, invertible per-channel affine maps.

Every ``keras.applications`` family maps raw RGB pixels (0-255) to the model's input by
an optional channel reorder followed by ``y = x * scale + offset`` per channel:

- ``caffe`` (VGG, ResNet): RGB -> BGR, subtract the ImageNet mean (Jia et al. 2014).
- ``tf`` (Inception, Xception, MobileNet v1/v2, ResNetV2, NASNet): scale to [-1, 1].
- ``torch`` (DenseNet): scale to [0, 1], then ImageNet mean/std.
- ``none`` (EfficientNet, EfficientNetV2, MobileNetV3, ConvNeXt): the model normalises
  inside itself, so the input is raw pixels.
- ``0-1`` (no ``keras.applications`` model; common in models people train themselves,
  e.g. after ``keras.utils.image_dataset_from_directory`` and a division by 255):
  scale to [0, 1].

Because the map is affine we can put it *inside* every differentiated function (so
gradients are taken with respect to raw RGB pixels for every family alike) and invert it
exactly (Deep Dream's de-processing, feature visualisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import ParameterError

_IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406])
_IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225])
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])


@dataclass(frozen=True)
class Preprocessing:
    """``y[..., c] = x[..., order[c]] * scale[c] + offset[c]`` for raw RGB pixels ``x``."""

    name: str
    order: tuple[int, int, int] = (0, 1, 2)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    description: str = field(default="", compare=False)  # in words, for a menu

    @property
    def reorders(self) -> bool:
        return self.order != (0, 1, 2)

    @property
    def inverse_order(self) -> tuple[int, int, int]:
        inverse = [0, 0, 0]
        for out_channel, in_channel in enumerate(self.order):
            inverse[in_channel] = out_channel
        return tuple(inverse)  # type: ignore[return-value]

    def apply(self, x):
        """Raw RGB pixels -> model input. Works on NumPy arrays and TensorFlow tensors."""
        if isinstance(x, np.ndarray):
            x = x.astype(np.float32, copy=False)
            if self.reorders:
                x = x[..., list(self.order)]
            return x * np.asarray(self.scale, np.float32) + np.asarray(self.offset, np.float32)
        import tensorflow as tf

        x = tf.cast(x, tf.float32)
        if self.reorders:
            x = tf.gather(x, list(self.order), axis=-1)
        return x * tf.constant(self.scale, tf.float32) + tf.constant(self.offset, tf.float32)

    def invert(self, y):
        """Model input -> raw RGB pixels (the exact inverse of :meth:`apply`)."""
        if isinstance(y, np.ndarray):
            x = (y.astype(np.float32, copy=False) - np.asarray(self.offset, np.float32)) / np.asarray(
                self.scale, np.float32
            )
            return x[..., list(self.inverse_order)] if self.reorders else x
        import tensorflow as tf

        x = (tf.cast(y, tf.float32) - tf.constant(self.offset, tf.float32)) / tf.constant(
            self.scale, tf.float32
        )
        return tf.gather(x, list(self.inverse_order), axis=-1) if self.reorders else x

    def pixel_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel (low, high) in model-input space of the pixel range [0, 255]."""
        low = self.apply(np.zeros((3,), np.float32))
        high = self.apply(np.full((3,), 255.0, np.float32))
        return np.minimum(low, high), np.maximum(low, high)

    def units_per_pixel(self) -> np.ndarray:
        """How many model-input units one grey level is worth, per model-input channel."""
        return np.abs(np.asarray(self.scale, np.float32))


CAFFE = Preprocessing(
    "caffe",
    order=(2, 1, 0),
    offset=tuple(float(-m) for m in _CAFFE_MEAN_BGR),
    description="BGR, minus the ImageNet mean (VGG, ResNet)",
)
TF = Preprocessing(
    "tf",
    scale=(1 / 127.5,) * 3,
    offset=(-1.0,) * 3,
    description="scale to -1..1 (Inception, Xception, MobileNet, MobileNetV2, ResNetV2, NASNet)",
)
TORCH = Preprocessing(
    "torch",
    scale=tuple(float(1 / (255.0 * s)) for s in _IMAGENET_STD_RGB),
    offset=tuple(float(-m / s) for m, s in zip(_IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB)),
    description="scale to 0..1, then the ImageNet mean and standard deviation (DenseNet)",
)
UNIT = Preprocessing("0-1", scale=(1 / 255.0,) * 3, description="scale to 0..1 (pixels / 255)")
NONE = Preprocessing(
    "none",
    description="raw pixels 0..255 (the model normalises inside: EfficientNet, ConvNeXt...)",
)

FAMILIES: dict[str, Preprocessing] = {p.name: p for p in (CAFFE, TF, TORCH, UNIT, NONE)}


def _family_names() -> str:
    return ", ".join(f"'{name}'" for name in FAMILIES)


def from_function(fn: Callable[[np.ndarray], np.ndarray], name: str = "custom") -> Preprocessing:
    """Identify a user's ``preprocess_input``-style function as an exact affine map.

    The function is probed on a few images; if it is a per-channel affine map with an
    optional channel permutation (true of every Keras family and of most hand-written
    ones) the equivalent :class:`Preprocessing` is returned. Otherwise a
    :class:`ParameterError` says so, since a non-affine map has no exact inverse.
    """
    rng = np.random.default_rng(0)
    probe = rng.uniform(0, 255, size=(2, 4, 4, 3)).astype(np.float32)
    zero = np.zeros((1, 1, 1, 3), np.float32)
    f0 = np.asarray(fn(zero.copy()), np.float64).reshape(3)
    order: list[int] = []
    scale: list[float] = []
    for out_c in range(3):
        # Find which input channel drives this output channel and with what slope.
        best = None
        for in_c in range(3):
            unit = zero.copy()
            unit[..., in_c] = 100.0
            delta = np.asarray(fn(unit), np.float64).reshape(3)[out_c] - f0[out_c]
            if abs(delta) > 1e-9:
                if best is not None:
                    best = None
                    break
                best = (in_c, delta / 100.0)
        if best is None:
            raise ParameterError(
                f"The preprocessing function '{name}' is not a per-channel affine map; "
                f"pass a cnnvis.Preprocessing or one of {_family_names()} instead."
            )
        order.append(best[0])
        scale.append(best[1])
    candidate = Preprocessing(name, tuple(order), tuple(scale), tuple(float(v) for v in f0))  # type: ignore[arg-type]
    expected = np.asarray(fn(probe.copy()), np.float64)
    if not np.allclose(candidate.apply(probe), expected, rtol=1e-4, atol=1e-3):
        raise ParameterError(
            f"The preprocessing function '{name}' is not a per-channel affine map; "
            f"pass a cnnvis.Preprocessing or one of {_family_names()} instead."
        )
    return candidate


def resolve(preprocessing: "Preprocessing | str | Callable | None") -> Preprocessing:
    """Accept a :class:`Preprocessing`, a family name, a function, or ``None`` (identity)."""
    if preprocessing is None:
        return NONE
    if isinstance(preprocessing, Preprocessing):
        return preprocessing
    if isinstance(preprocessing, str):
        try:
            return FAMILIES[preprocessing]
        except KeyError:
            raise ParameterError(
                f"Unknown preprocessing family '{preprocessing}'; choose one of "
                f"{', '.join(sorted(FAMILIES))}."
            ) from None
    if callable(preprocessing):
        return from_function(preprocessing, getattr(preprocessing, "__name__", "custom"))
    raise ParameterError("preprocessing must be a family name, a Preprocessing or a function.")
