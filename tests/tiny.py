"""Tiny hand-built Keras models with known weights, for known-answer tests."""

from __future__ import annotations

import keras
import numpy as np

import cnnvis


def seeded_image(height: int = 16, width: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def pointwise_relu_model(placement: str, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, size: int = 16):
    """x -> 1x1 conv (w1, b1) -> rectifier -> global average pool -> dense (w2, no bias).

    ``placement`` puts the rectifier in the conv (``"conv"``), in an ``Activation``
    layer (``"activation"``), in a ``ReLU`` layer (``"relu_layer"``), in ``ReLU(6)``
    (``"relu6"``), or uses another activation by name (``"silu"``, ``"gelu"``...).
    """
    hidden = w1.shape[1]
    inputs = keras.Input((size, size, 3))
    conv_activation = "relu" if placement == "conv" else None
    x = keras.layers.Conv2D(hidden, 1, activation=conv_activation, name="conv")(inputs)
    if placement == "activation":
        x = keras.layers.Activation("relu", name="act")(x)
    elif placement == "relu_layer":
        x = keras.layers.ReLU(name="act")(x)
    elif placement == "relu6":
        x = keras.layers.ReLU(max_value=6.0, name="act")(x)
    elif placement != "conv":
        x = keras.layers.Activation(placement, name="act")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(w2.shape[1], use_bias=False, name="logits")(x)
    model = keras.Model(inputs, outputs, name=f"tiny_{placement}")
    model.get_layer("conv").set_weights([w1.reshape(1, 1, 3, hidden), b1])
    model.get_layer("logits").set_weights([w2])
    return model


def cam_model(seed: int = 0, size: int = 16, channels: int = 6, classes: int = 4):
    """conv -> ReLU -> global average pool -> dense: the architecture where CAM is defined."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny_cam")


def smooth_model(seed: int = 0, size: int = 16):
    """A differentiable everywhere (tanh/softplus) conv net for finite-difference checks."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="conv1")(inputs)
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="softplus", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny_smooth")


def wrap(model, preprocessing="none"):
    return cnnvis.wrap_model(model, preprocessing)
