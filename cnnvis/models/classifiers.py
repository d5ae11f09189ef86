"""What cnnvis can explain: one RGB image in, one score per class out.

The checks shared by :func:`cnnvis.wrap_model` and :func:`cnnvis.load_keras_file`: the
model's input and output, the input size a flexible model is run at, and class names.
Every refusal is one sentence.
"""

from __future__ import annotations

import numbers
import unicodedata
from typing import Sequence

import keras

from ..errors import ParameterError
from ..images import DEFAULT_MIN_SIDE

MAX_CLASSES = 10_000
"""Most classes (outputs) and class names."""
MAX_CLASS_NAME_LENGTH = 100
"""Longest class name, in characters."""
MIN_INPUT_SIDE = DEFAULT_MIN_SIDE
"""Smallest input side (pixels) a model may fix or be given."""
MAX_INPUT_SIDE = 1024
"""Largest input side (pixels) a model may fix or be given (the registry's largest is 600)."""


def _shape(tensor) -> tuple:
    return tuple(tensor.shape)


def _words(shape: Sequence) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"


def check_image_classifier(keras_model: keras.Model, error: type = ParameterError) -> None:
    """Refuse, with one sentence (an ``error``), a model that is not an image classifier
    cnnvis can explain: one RGB image in, one score per class out."""
    inputs, outputs = keras_model.inputs, keras_model.outputs
    if len(inputs) != 1:
        raise error(
            f"The model has {len(inputs)} inputs; cnnvis explains models with one image input."
        )
    shape = _shape(inputs[0])
    if len(shape) != 4:
        raise error(
            f"The model's input has shape {_words(shape[1:])}; cnnvis needs an image input "
            "of shape (height, width, 3)."
        )
    if shape[3] != 3:
        channels = f"{shape[3]}-channel" if shape[3] is not None else "any-channel"
        raise error(
            f"The model takes {channels} images; cnnvis explains models of RGB images (3 channels)."
        )
    for side in shape[1:3]:
        if side is not None and not MIN_INPUT_SIDE <= side <= MAX_INPUT_SIDE:
            raise error(
                f"The model's input is {shape[1]} x {shape[2]} pixels; cnnvis accepts sides "
                f"from {MIN_INPUT_SIDE} to {MAX_INPUT_SIDE} pixels."
            )
    if len(outputs) != 1:
        raise error(
            f"The model has {len(outputs)} outputs; cnnvis explains classifiers with one output."
        )
    out = _shape(outputs[0])
    if len(out) != 2 or out[1] is None or out[1] < 1:
        raise error(
            f"The model's output has shape {_words(out[1:])}; cnnvis explains classifiers, "
            "whose output is one score per class."
        )
    if out[1] > MAX_CLASSES:
        raise error(f"The model has {out[1]:,} classes; cnnvis accepts at most {MAX_CLASSES:,}.")


def check_input_size(
    input_size: int | Sequence[int] | None, model_shape: Sequence
) -> tuple[int, int] | None:
    """``input_size`` as (height, width), checked against the model's input shape
    ``(batch, height, width, channels)``; ``None`` stays ``None``."""
    if input_size is None:
        return None
    sides = [input_size] * 2 if isinstance(input_size, (numbers.Number, str)) else input_size
    try:
        sides = list(sides)
    except TypeError:
        sides = []
    whole = [isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sides]
    if len(sides) != 2 or not all(whole) or not all(
        MIN_INPUT_SIDE <= s <= MAX_INPUT_SIDE for s in sides
    ):
        raise ParameterError(
            f"input_size must be a whole number of pixels, or (height, width), from "
            f"{MIN_INPUT_SIDE} to {MAX_INPUT_SIDE}."
        )
    fixed = tuple(model_shape[1:3])
    if any(f is not None and f != s for f, s in zip(fixed, sides)):
        raise ParameterError(
            f"The model takes {_words(fixed)} inputs, so input_size cannot be "
            f"{sides[0]} x {sides[1]}; leave it out, or give a size only for a flexible input."
        )
    return int(sides[0]), int(sides[1])


def check_class_names(names, num_classes: int | None = None) -> tuple[str, ...]:
    """Class names as a tuple of stripped strings: at most :data:`MAX_CLASSES`, each of
    1 to :data:`MAX_CLASS_NAME_LENGTH` printable characters, one per class when
    ``num_classes`` is given."""
    if isinstance(names, (str, bytes)):
        raise ParameterError("class_names must be a list of names, one per class, not one string.")
    try:
        names = list(names)
    except TypeError:
        raise ParameterError("class_names must be a list of names, one per class.") from None
    if len(names) > MAX_CLASSES:
        raise ParameterError(
            f"There are {len(names):,} class names; at most {MAX_CLASSES:,} are accepted."
        )
    cleaned = []
    for number, name in enumerate(names, start=1):
        if not isinstance(name, str) or not name.strip():
            raise ParameterError(
                f"Class name {number} is empty or not text; give one name per class."
            )
        name = name.strip()
        if len(name) > MAX_CLASS_NAME_LENGTH:
            raise ParameterError(
                f"Class name {number} is longer than {MAX_CLASS_NAME_LENGTH} characters."
            )
        if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
            raise ParameterError(f"Class name {number} contains control characters.")
        cleaned.append(name)
    if num_classes is not None and len(cleaned) != num_classes:
        raise ParameterError(
            f"The model has {num_classes} classes but {len(cleaned)} class names were given; "
            "give one name per class, in the order of the model's outputs."
        )
    return tuple(cleaned)
