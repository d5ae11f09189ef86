"""The model-randomisation sanity check of the trust report, on a kept copy.

Cascading randomisation (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"), as
:func:`cnnvis.evaluation.metrics.randomization_check` does it (the same layer groups and the same
random weights for a seed), but on one independent copy per model that later reports
reuse with its compiled functions, against maps already computed on the trained model.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from . import metrics
from ..models.loading import VisModel

KEEP_COPY_BYTES = 256 * 2**20  # the randomisation copy is kept for models up to this size


@dataclass
class _KeptCopy:
    copy: VisModel
    lock: threading.Lock


@contextlib.contextmanager
def randomisation_copy(model: VisModel) -> Iterator[VisModel]:
    """An independent copy of ``model`` holding the trained weights, to randomise.

    For models of at most ``KEEP_COPY_BYTES`` of weights the copy is built once and kept
    in the model's own cache of compiled functions (so it goes when the model leaves the
    model cache), with its compiled functions: later reports only copy the weights back
    (0.1 s on MobileNetV2) instead of building and tracing again. One report at a time
    uses it. Larger models get a fresh copy per report."""
    if model.nbytes > KEEP_COPY_BYTES:
        yield metrics.independent_copy(model)
        return
    kept = model.function(
        ("trust", "randomisation copy"),
        lambda: _KeptCopy(metrics.independent_copy(model), threading.Lock()),
    )
    with kept.lock:
        kept.copy.keras_model.set_weights(model.keras_model.get_weights())
        yield kept.copy


@dataclass(frozen=True)
class SanityResult:
    """Per method and randomisation step, how similar the map stays to the trained one."""

    steps: tuple[str, ...]  # per step, the deepest layer randomised so far
    layers_randomised: tuple[int, ...]  # per step, how many layers are random
    spearman: np.ndarray  # float32 (methods, steps): rank correlation
    ssim: np.ndarray  # float32 (methods, steps): structural similarity


def cascading_randomisation(
    model: VisModel,
    image: np.ndarray,
    functions: Sequence[Callable],
    originals: Sequence[np.ndarray],
    class_index: int,
    *,
    steps: int,
    seed: int,
    progress: Callable[[float, str], None] | None = None,
) -> SanityResult:
    """Adebayo et al.'s cascading randomisation, as :func:`cnnvis.evaluation.metrics.randomization_check`
    does it (the same layer groups and the same random weights for a seed), on the kept
    copy, against maps already computed on the trained model (``originals``)."""
    size = originals[0].shape
    rho: list[list[float]] = []  # per step, per method
    similarity: list[list[float]] = []
    labels: list[str] = []
    counts: list[int] = []
    with randomisation_copy(model) as copy:
        groups = metrics.randomization_groups(copy, steps)
        rng = np.random.default_rng(seed)
        done = 0
        for step, group in enumerate(groups):
            if progress is not None:
                progress(step / len(groups), f"randomising down to {group[-1]}")
            metrics.randomise(copy, group, rng)
            done += len(group)
            labels.append(group[-1])
            counts.append(done)
            maps = [
                metrics.map_for(size, metrics.call_with_class(fn, copy, image, class_index))
                for fn in functions
            ]
            rho.append([metrics.spearman(o, m) for o, m in zip(originals, maps)])
            similarity.append([metrics.ssim(o, m) for o, m in zip(originals, maps)])
    return SanityResult(
        tuple(labels),
        tuple(counts),
        np.array(rho, np.float32).T.reshape(len(functions), len(labels)),
        np.array(similarity, np.float32).T.reshape(len(functions), len(labels)),
    )


__all__ = ["KEEP_COPY_BYTES", "randomisation_copy", "cascading_randomisation", "SanityResult"]
