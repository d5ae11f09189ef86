"""From logits to the top class and to probabilities: the package's one rule of each.

Every path (the single-photo techniques, :func:`cnnvis.classify`, the dataset runs and
the trust report) asks this module which class is on top and how probable a class is,
so that a Parquet row, a caption and the predictions never disagree:

- the top class is the index of the largest logit, the first one on a tie (``argmax``;
  the compiled functions resolve "the top class" in the graph with ``tf.argmax``, the
  same rule);
- probabilities follow the model's head (:class:`cnnvis.models.loading.Head`): a
  softmax across classes (Keras applications, a final softmax), or one sigmoid per
  class (a sigmoid head, binary or multi-label).
"""

from __future__ import annotations

import numpy as np

SOFTMAX, SIGMOID = "softmax", "sigmoid"  # the two rules (cnnvis.models.graph names them too)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The logistic function, elementwise (``tanh`` form: no overflow for any input)."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def probabilities(logits: np.ndarray, rule: str) -> np.ndarray:
    """Class probabilities (float64, ``(..., classes)``) from logits by ``rule``:
    ``"softmax"`` across classes or ``"sigmoid"`` per class."""
    if rule not in (SOFTMAX, SIGMOID):
        raise ValueError(f"unknown probability rule {rule!r}")
    values = np.asarray(logits, np.float64)
    return sigmoid(values) if rule == SIGMOID else softmax(values)


def ranked(logits: np.ndarray, top: int | None = None) -> np.ndarray:
    """Class indices of one image's logits, largest first (ties: the lower index first,
    so ``ranked(l)[0] == top_class(l)``); the first ``top`` of them when given."""
    order = np.argsort(-np.asarray(logits, np.float64), kind="stable")
    return order if top is None else order[:top]


def top_class(logits: np.ndarray) -> int:
    """The top class of one image's logits: the largest logit, the first one on a tie."""
    return int(np.argmax(np.asarray(logits)))
