"""The model-randomisation sanity check of the trust report, on a kept copy.

Model-parameter randomisation (Adebayo et al. 2018, "Sanity Checks for Saliency Maps")
of the classifier head, the first step of their cascade (the layer groups of
:func:`cnnvis.evaluation.metrics.randomization_groups`), repeated over several
independent draws: one draw is a coin toss for a map that depends on the class only
partly (on MobileNetV2, Grad-CAM's rank correlation after one draw ranges from -0.2 to
0.95 on one photo), so the report gives every draw and decides on all of them. It runs
on one independent copy per model that later reports reuse with its compiled
functions, against maps already computed on the trained model; the full cascade, layer
group by layer group, is :func:`cnnvis.evaluation.metrics.randomization_check`.
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
    """Per method and randomisation draw, how similar the map stays to the trained one."""

    layers: tuple[str, ...]  # the layers re-drawn in each draw (the classifier head)
    draws: int
    spearman: np.ndarray  # float32 (methods, draws): rank correlation
    ssim: np.ndarray  # float32 (methods, draws): structural similarity


def head_layers(copy: VisModel) -> list[str]:
    """The top group of Adebayo et al.'s cascade: the classifier head (the weighted
    layers after the default Grad-CAM layer), see :func:`metrics.randomization_groups`."""
    return metrics.randomization_groups(copy, 2)[0]


def classifier_draws(
    model: VisModel,
    image: np.ndarray,
    functions: Sequence[Callable],
    originals: Sequence[np.ndarray],
    class_index: int,
    *,
    draws: int,
    seed: int,
    progress: Callable[[float, str], None] | None = None,
) -> SanityResult:
    """Adebayo et al.'s model-parameter randomisation, repeated: ``draws`` independent
    re-drawings of the classifier head (the first step of their cascade, where a map
    that does not depend on the class already fails), each from the trained weights,
    on the kept copy; each method's map after each draw is compared with its map on the
    trained model (``originals``). Draw ``d`` uses ``numpy.random.default_rng([seed,
    17, d])``, so a draw does not depend on the others."""
    size = originals[0].shape
    rho = np.zeros((len(functions), draws), np.float32)
    similarity = np.zeros((len(functions), draws), np.float32)
    with randomisation_copy(model) as copy:
        names = head_layers(copy)
        trained = {name: [np.array(v.numpy()) for v in copy.layer(name).weights] for name in names}
        for draw in range(draws):
            if progress is not None:
                progress(draw / draws, f"re-drawing the classifier ({draw + 1} of {draws})")
            for name in names:
                for variable, value in zip(copy.layer(name).weights, trained[name]):
                    variable.assign(value)
            metrics.randomise(copy, names, np.random.default_rng([seed, 17, draw]))
            for i, fn in enumerate(functions):
                values = metrics.map_for(size, metrics.call_with_class(fn, copy, image, class_index))
                rho[i, draw] = metrics.spearman(originals[i], values)
                similarity[i, draw] = metrics.ssim(originals[i], values)
    return SanityResult(tuple(names), draws, rho, similarity)


__all__ = [
    "KEEP_COPY_BYTES",
    "randomisation_copy",
    "classifier_draws",
    "head_layers",
    "SanityResult",
]
