"""From logits to probabilities: the package's one softmax and one sigmoid."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The logistic function, elementwise (``tanh`` form: no overflow for any input)."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits))
