"""Top-k classification: the model's logits, and probabilities by the model's own rule
(a softmax over the logits, or one sigmoid per class for a sigmoid head; see
:class:`cnnvis.models.Head`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import VisModel
from . import compiled
from .base import check_int, prepare, resolve


@dataclass(frozen=True)
class Prediction:
    """One of the model's top classes for an image."""

    rank: int
    index: int
    wnid: str | None  # ImageNet id (e.g. "n02124075"), None for a model with its own classes
    label: str
    probability: float
    logit: float  # the pre-activation (before a final softmax or sigmoid)
    note: str = ""  # what was done to the model's head (see cnnvis.models.Head)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The logistic function, elementwise (``tanh`` form: no overflow for any input)."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def logits(model: VisModel | str, image) -> np.ndarray:
    """The model's logits for one image (float32 vector)."""
    model = resolve(model)
    prepared = prepare(model, image)
    return compiled.forward(model)(prepared.batch).numpy()[0]


def predictions_from_logits(model: VisModel, values: np.ndarray, top: int) -> list[Prediction]:
    """The ``top`` classes by logit (the one top-class rule: the largest logit, also the
    most probable class; ties go to the lower index, as ``argmax``)."""
    probabilities = model.probabilities(values)
    order = np.argsort(-values.astype(np.float64), kind="stable")[:top]
    wnids = None
    if model.uses_imagenet_classes:
        from ..labels import imagenet_classes

        wnids = [c.wnid for c in imagenet_classes()]
    return [
        Prediction(
            rank=rank + 1,
            index=int(i),
            wnid=wnids[i] if wnids else None,
            label=model.class_label(int(i)),
            probability=float(probabilities[i]),
            logit=float(values[i]),
            note=model.head.note,
        )
        for rank, i in enumerate(order)
    ]


def classify(model: VisModel | str, image, *, top: int = 5) -> list[Prediction]:
    """The ``top`` most probable classes for ``image``, most probable first (all of them
    when the model has fewer; up to 5 is accepted for any model)."""
    model = resolve(model)
    top = min(check_int("top", top, 1, max(model.num_classes, 5)), model.num_classes)
    return predictions_from_logits(model, logits(model, image), top)
