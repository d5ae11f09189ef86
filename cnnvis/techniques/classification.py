"""Top-k classification: the model's logits, and probabilities by the model's own rule
(a softmax over the logits, or one sigmoid per class for a sigmoid head; see
:class:`cnnvis.models.loading.Head`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.loading import VisModel
from ..models.heads import sigmoid, softmax  # noqa: F401 - the package's one rule of each
from ..registry import Option, technique
from . import compiled
from .base import DisplayedAsHtml, check_int, prepare, resolve


@dataclass(frozen=True)
class Prediction:
    """One of the model's top classes for an image."""

    rank: int
    index: int
    wnid: str | None  # ImageNet id (e.g. "n02124075"), None for a model with its own classes
    label: str
    probability: float
    logit: float  # the pre-activation (before a final softmax or sigmoid)
    note: str = ""  # what was done to the model's head (see cnnvis.models.loading.Head)


class Predictions(DisplayedAsHtml, list):
    """The top classes, most probable first: a plain list of :class:`Prediction` that a
    notebook shows as a table (and ``show()`` / ``save()`` as a bar chart)."""

    def __init__(self, predictions=(), *, model: str = "") -> None:
        super().__init__(predictions)
        self.model = model

    @property
    def caption(self) -> str:
        return f"Top {len(self)} · {self.model}" if self.model else f"Top {len(self)}"


def logits(model: VisModel | str, image) -> np.ndarray:
    """The model's logits for one image (float32 vector)."""
    model = resolve(model)
    prepared = prepare(model, image)
    return compiled.forward(model)(prepared.batch).numpy()[0]


def predictions_from_logits(model: VisModel, values: np.ndarray, top: int) -> Predictions:
    """The ``top`` classes by logit (the one top-class rule: the largest logit, also the
    most probable class; ties go to the lower index, as ``argmax``)."""
    probabilities = model.probabilities(values)
    order = np.argsort(-values.astype(np.float64), kind="stable")[:top]
    wnids = None
    if model.uses_imagenet_classes:
        from ..models.labels import imagenet_classes

        wnids = [c.wnid for c in imagenet_classes()]
    rows = [
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
    return Predictions(rows, model=model.name)


@technique(
    title="Predictions",
    output="classes",
    paper="Krizhevsky et al. 2012; Deng et al. 2009 (ImageNet)",
    summary="The model's five most probable ImageNet classes for the photo. Probabilities "
    "come from a softmax over the model's logits (for a model of your own with a sigmoid "
    "head, one sigmoid per class).",
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
def classify(model: VisModel | str, image, *, top: int = 5) -> Predictions:
    """The ``top`` most probable classes for ``image``, most probable first (all of them
    when the model has fewer; up to 5 is accepted for any model)."""
    model = resolve(model)
    top = min(check_int("top", top, 1, max(model.num_classes, 5)), model.num_classes)
    return predictions_from_logits(model, logits(model, image), top)
