"""The names a dataset run accepts, known without TensorFlow: models, methods, options,
metrics. The command line checks them (and the inputs) before TensorFlow loads, so that
``cnnvis --help`` answers at once and a mistake is reported in a second, not after the
ten seconds TensorFlow takes to start.

The registries are the truth: the techniques (:mod:`cnnvis.registry`, which imports
TensorFlow) and the models (:mod:`cnnvis.models.specs`, which imports Keras). This module
holds their names as plain data, and ``tests/test_cli_start.py`` checks that they are the
registries' names, so a technique added without updating :data:`MAP_METHODS` fails a test
(its message prints the new table). The model names come from
``cnnvis/models/data/weights.tsv`` (:func:`cnnvis.models.availability.weights_table`),
which lists every registry model and is checked against the registry by its own test.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from ..errors import ParameterError, UnknownModelError, quoted

MAX_METHODS = 16

# Every heatmap and attribution technique of the registry (the choices of --methods), in
# the registry's order, with the options a run may set for it (its declared options but
# the class, the layer and the seed, which the run sets itself).
MAP_METHODS: dict[str, tuple[str, ...]] = {
    "guided_backprop": (),
    "grad_cam": (),
    "grad_cam_plus_plus": (),
    "layer_cam": (),
    "score_cam": ("max_channels", "batch_size", "score"),
    "eigen_cam": (),
    "guided_grad_cam": (),
    "occlusion": ("window", "stride", "fill", "batch_size"),
    "vanilla_gradient": (),
    "smoothgrad": ("samples", "noise", "batch_size"),
    "integrated_gradients": ("baseline", "steps", "rule", "batch_size"),
    "gradient_x_input": (),
    "attention_rollout": (),
}

# The metrics of `cnnvis evaluate` (cnnvis.datasets.evaluation.METRICS), in its order.
METRICS: tuple[str, ...] = ("deletion_insertion", "road")

MODEL_FILE_EXTENSIONS = (".keras",)


def model_names() -> list[str]:
    """The registry's model names (from weights.tsv, read without Keras)."""
    from ..models.availability import weights_table

    return sorted(weights_table())


def check_model(name: str) -> None:
    """A registry name, or a ``.keras`` file that exists; else the sentence that
    :func:`cnnvis.models.specs.get_spec` or the dataset run would give."""
    if os.path.splitext(str(name))[1].lower() in MODEL_FILE_EXTENSIONS:
        path = os.path.abspath(os.path.expanduser(name))
        if not os.path.isfile(path):
            from .files import shown_name

            raise ParameterError(f"The model file {quoted(shown_name(os.path.basename(path)))} does not exist.")
        return
    names = model_names()
    if name not in names:
        close = [n for n in names if n.lower() == str(name).lower()]
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnknownModelError(
            f"There is no model called {quoted(name)}; choose one of the {len(names)} models "
            f"from cnnvis.list_models().{hint}"
        )


def check_weights(model: str, weights: str | None) -> None:
    """``--weights`` as :meth:`cnnvis.datasets.source.ModelSource.parse` takes it:
    imagenet, random, or a weights file that exists (registry models only)."""
    if weights in (None, "imagenet", "random"):
        return
    if os.path.splitext(str(model))[1].lower() in MODEL_FILE_EXTENSIONS:
        raise ParameterError("--weights is for registry models; a model file holds its own weights.")
    path = os.path.abspath(os.path.expanduser(weights))
    if not os.path.isfile(path):
        from ..errors import WeightsUnavailableError

        raise WeightsUnavailableError(
            f"The weights file {quoted(os.path.basename(path))} does not exist "
            "(--weights takes imagenet, random or a weights file)."
        )


def check_names(
    methods: Sequence[str], options: Mapping[str, object], table: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    """The methods as a tuple, each a key of ``table`` (method -> its option names),
    named once, with options only for those methods and only of their names; else a
    :class:`~cnnvis.errors.ParameterError`. The option values are checked later, against
    the registry's bounds (:meth:`cnnvis.datasets.explain.ExplainSettings.checked`)."""
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if not 1 <= len(methods) <= MAX_METHODS:
        raise ParameterError(f"Choose between 1 and {MAX_METHODS} methods.")
    for name in methods:
        if name not in table:
            raise ParameterError(
                f"There is no heatmap or attribution method called {quoted(name)}; "
                f"choose from {', '.join(table)}."
            )
    if len(set(methods)) != len(methods):
        raise ParameterError("Name each method once.")
    for name, values in dict(options or {}).items():
        if name not in methods:
            raise ParameterError(f"Options were given for {quoted(name)}, which is not among the methods.")
        if not isinstance(values, Mapping):
            raise ParameterError(f"The options of {name} must be a mapping of names to values.")
        allowed = tuple(table[name])
        for key in values:
            if key not in allowed:
                choices = ", ".join(allowed) if allowed else "none"
                raise ParameterError(f"{name} has no option {quoted(key)}; its options: {choices}.")
    return methods


def check_metrics(names: Sequence[str] | str | None, available: Sequence[str] = METRICS) -> list[str]:
    """The metric names as a list (all of them for None); else a ParameterError."""
    names = list(available) if names is None else ([names] if isinstance(names, str) else list(names))
    for name in names:
        if name not in available:
            raise ParameterError(f"There is no metric called {quoted(name)}; choose from {', '.join(available)}.")
    if not names or len(set(names)) != len(names):
        raise ParameterError("Name each metric once.")
    return names


__all__ = ["MAP_METHODS", "MAX_METHODS", "METRICS", "check_metrics", "check_model", "check_names", "check_weights", "model_names"]
