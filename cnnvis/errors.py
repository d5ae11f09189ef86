"""Exceptions that carry one sentence a person understands.

Every error cnnvis raises on purpose derives from :class:`CnnvisError`; its message is
meant to be shown to a user as it is (the app turns it into a ``gr.Error``). Each one
also derives from the matching built-in exception, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


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


class WeightsUnavailableError(CnnvisError, RuntimeError):
    """Pretrained weights for a model could not be obtained (names the model and the remedy)."""


class ComputeError(CnnvisError, RuntimeError):
    """The computation itself failed (for example out of memory); the model cache is intact."""
