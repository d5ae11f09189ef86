"""Exceptions that carry one sentence a person understands.

Every error cnnvis raises on purpose derives from :class:`CnnvisError`; its message is
meant to be shown to a user as it is (the app turns it into a ``gr.Error``). Each one
also derives from the matching built-in exception, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import sys


class CnnvisError(Exception):
    """Base class: ``str(error)`` is one clear sentence, safe to show to a user."""


class ImageError(CnnvisError, ValueError):
    """The input could not be used as an image."""


class NotAnImageError(ImageError):
    """The bytes are not an image format we can decode (or the file is empty)."""


class TruncatedImageError(ImageError):
    """The image file is cut short or corrupt."""


class ImageTooSmallError(ImageError):
    """The image is too small to mean anything to an ImageNet model."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the cap (decompression-bomb guard)."""


class UnknownModelError(CnnvisError, ValueError):
    """The model name is not in the registry."""


class UnknownLayerError(CnnvisError, ValueError):
    """The layer name does not exist in the model, or cannot be used for this method."""


class UnknownClassError(CnnvisError, ValueError):
    """The class index, ImageNet id or label is not one of the model's classes."""


class ParameterError(CnnvisError, ValueError):
    """A numeric or choice parameter is outside its documented bounds."""


class ModelFileError(CnnvisError, ValueError):
    """A model file (or its class-names file) is refused: unsafe, too large, or not an
    image classifier cnnvis can explain (see :mod:`cnnvis.models.own`)."""


class WeightsUnavailableError(CnnvisError, RuntimeError):
    """Pretrained weights for a model could not be obtained (names the model and the remedy)."""


class ComputeError(CnnvisError, RuntimeError):
    """The computation itself failed (for example out of memory); the model cache is intact."""


def out_of_memory_message(model: str = "") -> str:
    """The one sentence of a :class:`ComputeError` for a computation that ran out of memory
    (the app shows the same sentence for any out-of-memory error)."""
    on = f" on {model}" if model else ""
    return (
        f"The computation{on} ran out of memory; try a smaller model, a smaller image or "
        "batch size, or fewer steps, samples or layers."
    )


def is_out_of_memory(error: BaseException | None) -> bool:
    """Whether ``error``, or an error it was raised from, is an out-of-memory error
    (``MemoryError`` or TensorFlow's ``ResourceExhaustedError``): the package's one
    detector. TensorFlow is not imported for this; if it is not loaded, its error
    cannot have happened."""
    tf = sys.modules.get("tensorflow")
    kinds: tuple[type, ...] = (MemoryError,)
    if tf is not None:
        kinds += (tf.errors.ResourceExhaustedError,)
    for _ in range(8):  # the error and the ones it was raised from
        if error is None:
            return False
        if isinstance(error, kinds):
            return True
        error = error.__cause__ or error.__context__
    return False


def quoted(value, limit: int = 40) -> str:
    """A caller's value inside a message: quoted, on one line, at most ``limit`` characters
    (a name sent through an API may be anything, of any length)."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"
