"""Which explanation to trust: the faithfulness and sanity checks by registry name.

:mod:`cnnvis.evaluation.metrics` computes with functions; this module names the methods by their
registry names (``"grad_cam"``, ``"smoothgrad"``...) and registers the checks themselves
as techniques, so the app, the command line and the documentation list them like any
other technique:

- :func:`compare`: several methods ranked by deletion and insertion (Petsiuk et al. 2018);
- :func:`randomization_check`: cascading model randomisation (Adebayo et al. 2018);
- :func:`pointing_games`: the pointing game (Zhang et al. 2016) for several methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from . import metrics
from ..errors import ParameterError, quoted
from ..maps import saliency_map
from ..models.loading import VisModel, as_vis_model
from ..registry import SEED_MAX, Option, resolve_methods, technique
from ..techniques import base

# The seed of the random baseline maps; the app's Compare tab (and /compare) keep it at 0.
SEED = Option("seed", int, 0, "Seed", "The random seed.", low=0, high=SEED_MAX, in_app=False)


def _functions(methods, *, limit: int) -> tuple[dict[str, Callable], dict[str, str]]:
    """Methods given as registry names, functions, or a mapping from names to either ->
    (name -> function, name -> title). Every refusal is one sentence."""
    if methods is None or isinstance(methods, str):
        items = None
    elif isinstance(methods, Mapping):
        items = [(str(name), method) for name, method in methods.items()]
    elif callable(methods):
        items = [(getattr(methods, "__name__", "method"), methods)]
    else:
        methods = list(methods)
        if all(isinstance(m, str) for m in methods):
            items = None
        else:
            items = [(m if isinstance(m, str) else getattr(m, "__name__", "method"), m) for m in methods]
    if items is None:  # registry names only
        chosen = resolve_methods(methods, limit=limit)
        return (
            {name: t.function for name, t in chosen.items()},
            {name: t.title for name, t in chosen.items()},
        )
    for _, method in items:
        if not isinstance(method, str) and not callable(method):
            raise ParameterError(
                "Each method must be a registry name such as 'grad_cam' or a function; "
                f"got {quoted(method)}."
            )
    named = [m for _, m in items if isinstance(m, str)]
    registered = resolve_methods(named, limit=limit) if named else {}
    functions = {name: registered[m].function if isinstance(m, str) else m for name, m in items}
    titles = {name: registered[m].title if isinstance(m, str) else name for name, m in items}
    return functions, titles


@technique(
    title="Compare (faithfulness)",
    output="ranking",
    paper="Petsiuk, Das & Saenko 2018 (RISE deletion and insertion)",
    summary="Several explanation methods on one photo, ranked by how fast the class "
    "probability falls when their most important pixels are deleted and how fast it comes "
    "back when only those pixels are shown. A random map gives the baseline.",
    cost="long",
    options=(
        Option(
            "steps",
            int,
            metrics.DEFAULT_STEPS,
            "Steps",
            "Pixels are deleted (inserted) 1/steps at a time: one forward pass each.",
            low=2,
            high=metrics.MAX_STEPS,
            app_range=(4, 100, 1),
        ),
        SEED,
        Option(
            "batch_size",
            int,
            16,
            "Images per call",
            "Perturbed images per compiled forward call (speed only).",
            low=1,
            high=base.MAX_BATCH,
            in_app=False,
            bound=f"1 … {base.MAX_BATCH} (capped by pixels)",
        ),
        Option(
            "random",
            str,
            "blobs",
            "Random maps",
            "The kind of random map of the baseline: blobs at a CAM's granularity, or "
            "independent pixels.",
            choices=metrics.RANDOM_MAPS,
            in_app=False,
        ),
        Option(
            "random_maps",
            int,
            3,
            "How many random maps",
            "Random maps averaged for the baseline.",
            low=1,
            high=metrics.MAX_RANDOM_MAPS,
            in_app=False,
        ),
    ),
    work=f"1 … {metrics.MAX_METHODS} registry methods, each once; (methods + random maps) x 2 "
    f"x (steps + 1) <= {metrics.MAX_PASSES} forward passes, plus each method once at its "
    "defaults",
)
def compare(
    model: VisModel | str,
    image,
    methods: Sequence[str] | Mapping[str, Callable] | None = None,
    *,
    target_class: int | str | None = None,
    steps: int = metrics.DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = 16,
    random: str = "blobs",
    random_maps: int = 3,
) -> metrics.Comparison:
    """Rank heatmap and attribution methods of the registry by faithfulness on one photo
    (registry names, default: all of them; see :func:`cnnvis.evaluation.metrics.rank_methods`)."""
    functions, titles = _functions(methods, limit=metrics.MAX_METHODS)
    return metrics.rank_methods(
        model,
        image,
        functions,
        titles=titles,
        target_class=target_class,
        steps=steps,
        seed=seed,
        batch_size=batch_size,
        random=random,
        random_maps=random_maps,
    )


@technique(
    title="Sanity check (model randomisation)",
    output="randomization",
    paper="Adebayo et al. 2018 (Sanity Checks for Saliency Maps)",
    summary="The layers of a copy of the model are re-drawn at random, from the classifier "
    "down to the first convolution, and each method's map is compared with the trained "
    "model's. A map that explains the model must change as its weights are destroyed.",
    cost="long",
    options=(
        Option(
            "steps",
            int,
            6,
            "Randomisation steps",
            "The classifier first, then groups of blocks, down to the first layer.",
            low=1,
            high=metrics.MAX_RANDOMIZATION_STEPS,
            app_default=4,
            app_range=(1, metrics.MAX_RANDOMIZATION_STEPS, 1),
        ),
        Option(
            "seed",
            int,
            0,
            "Seed of the random weights",
            "The random seed of the new weights.",
            low=0,
            high=SEED_MAX,
        ),
    ),
    work=f"1 … {metrics.MAX_RANDOMIZATION_METHODS} methods; an independent copy of the model "
    "is built",
)
def randomization_check(
    model: VisModel | str,
    image,
    methods: Sequence[str] | Mapping[str, Callable] = ("grad_cam", "guided_backprop"),
    *,
    target_class: int | str | None = None,
    steps: int = 6,
    seed: int = 0,
) -> metrics.RandomizationCheck:
    """Cascading model-parameter randomisation of registry methods (names) or of
    functions (a mapping from names to functions); see
    :func:`cnnvis.evaluation.metrics.randomization_check`."""
    functions, _ = _functions(methods, limit=metrics.MAX_RANDOMIZATION_METHODS)
    return metrics.randomization_check(
        model, image, functions, target_class=target_class, steps=steps, seed=seed
    )


@dataclass(frozen=True)
class PointingGame:
    """One method's map, scored by the pointing game."""

    name: str
    title: str
    result: object  # the technique's result (a Heatmap or an Attribution)
    map: np.ndarray  # float32 H x W, the map that was scored
    outcome: metrics.PointingResult


@technique(
    title="Pointing game",
    output="pointing",
    paper="Zhang et al. 2016 (Top-down Neural Attention by Excitation Backprop)",
    summary="Does each method's strongest point fall on the object? A hit when the map's "
    "maximum lies in the object's box, or within a tolerance of it.",
    cost="long",
    options=(
        Option(
            "tolerance",
            float,
            float(metrics.POINTING_TOLERANCE),
            "Tolerance (pixels)",
            "A peak this close to the box still counts as a hit (15 in the paper).",
            low=0.0,
            high=1e6,
            app_range=(0, 50, 1),
            bound="0 … the image's longer side",
        ),
    ),
    work=f"1 … {metrics.MAX_METHODS} registry methods, each once at its defaults",
)
def pointing_games(
    model: VisModel | str,
    image,
    methods: Sequence[str] | None = None,
    *,
    box: Sequence[float],
    target_class: int | str | None = None,
    tolerance: float = metrics.POINTING_TOLERANCE,
) -> list[PointingGame]:
    """The pointing game (:func:`cnnvis.evaluation.metrics.pointing_game`) for each of several
    registry methods on one photo, all explaining the same class (default: the top
    class); ``box = (x0, y0, x1, y1)`` in pixels of the image."""
    model = as_vis_model(model)
    chosen = resolve_methods(methods, limit=metrics.MAX_METHODS)
    prepared = base.prepare(model, image)
    metrics.pointing_game(np.zeros(prepared.size, np.float32), box, tolerance=tolerance)  # checks
    index = base.class_index(model, prepared, target_class)
    games = []
    for name, entry in chosen.items():
        result = entry.function(model, prepared.image, target_class=index)
        values = saliency_map(result)
        outcome = metrics.pointing_game(values, box, tolerance=tolerance)
        games.append(PointingGame(name, entry.title, result, values, outcome))
    return games


__all__ = ["PointingGame", "compare", "pointing_games", "randomization_check"]
