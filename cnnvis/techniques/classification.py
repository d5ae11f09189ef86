"""Top-k classification with our own softmax over the model's logits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import VisModel
from ..registry import Option, technique
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
    logit: float


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def logits(model: VisModel | str, image) -> np.ndarray:
    """The model's logits for one image (float32 vector)."""
    model = resolve(model)
    prepared = prepare(model, image)
    return compiled.forward(model)(prepared.batch).numpy()[0]


def predictions_from_logits(model: VisModel, values: np.ndarray, top: int) -> list[Prediction]:
    probabilities = softmax(values.astype(np.float64))
    order = np.argsort(-probabilities, kind="stable")[:top]
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
        )
        for rank, i in enumerate(order)
    ]


@technique(
    title="Predictions",
    output="classes",
    paper="Krizhevsky et al. 2012; Deng et al. 2009 (ImageNet)",
    summary="The model's five most probable ImageNet classes for the photo. Probabilities "
    "come from a softmax over the model's logits.",
    options=(
        Option(
            "top",
            int,
            5,
            "Classes shown",
            "How many of the most probable classes.",
            low=1,
            high=100_000,
            in_app=False,
            bound="1 … number of classes",
        ),
    ),
)
def classify(model: VisModel | str, image, *, top: int = 5) -> list[Prediction]:
    """The ``top`` most probable classes for ``image``, most probable first."""
    model = resolve(model)
    top = check_int("top", top, 1, model.num_classes)
    return predictions_from_logits(model, logits(model, image), top)
