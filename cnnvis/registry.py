"""The technique registry: the one source of truth for every list of techniques.

Each technique is declared once, next to its function, with :func:`technique`::

    @technique(
        title="Grad-CAM",
        output="heatmap",
        paper="Selvaraju et al. 2017",
        summary="Where in the photo the evidence for a class lies ...",
        cost="quick",
    )
    def grad_cam(model, image, *, target_class=None, layer=None) -> Heatmap: ...

The declaration holds what the app, the command line, the package's exports and the
documentation need: the name (the function's), a title, the paper, two sentences for a
student, the kind of output, the cost (``"quick"`` work or ``"long"`` work: the app runs
them in separate lanes) and the keyword options with their bounds, defaults and labels.
The decorator checks every declared option against its bounds before the function runs,
so the bounds hold for every caller (Python, the app, its HTTP API, the command line).
A technique whose core takes a batch declares its ``batch`` form too (the CAM family, the
input gradients): dataset runs call it for a batch of images, and the function itself is
its batch of one, so no list of "methods that batch" is kept anywhere else.

This module imports neither TensorFlow nor the technique modules (they import it), so
reading it never builds anything; ``cnnvis.TECHNIQUES`` is the complete registry, with
every technique module imported.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np

from .errors import ParameterError, quoted

Cost = Literal["quick", "long"]
COSTS: tuple[str, ...] = ("quick", "long")

# What a technique returns, as the app and the documentation present it.
OUTPUTS: dict[str, str] = {
    "classes": "the top classes with their probabilities",
    "filters": "a convolution's kernels",
    "maps": "a layer's feature maps",
    "heatmap": "a map in [0, 1] over the photo (one class)",
    "attribution": "a signed value per pixel and colour (one class)",
    "image": "a picture made from the photo",
    "images": "pictures made from noise, one per channel or class",
    "ranking": "methods ranked by faithfulness",
    "randomization": "maps as the model's weights are randomised",
    "pointing": "whether each method's strongest point is on the object",
    "report": "which explanation to trust, with the evidence",
}
MAP_OUTPUTS: tuple[str, ...] = ("heatmap", "attribution")  # one map per photo and class

SEED_MAX = 2**31 - 1  # the one bound of every seed (NumPy and TensorFlow both take it)


# ----- validation: the one style every bound is checked in ------------------------------
def check_int(name: str, value: Any, low: int, high: int) -> int:
    """An integer within [low, high], or a ParameterError that names the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise ParameterError(f"{name} must be a whole number from {low} to {high}; got {quoted(value)}.")
    if isinstance(value, (float, np.floating)) and (not math.isfinite(value) or value != int(value)):
        raise ParameterError(f"{name} must be a whole number from {low} to {high}; got {quoted(value)}.")
    if isinstance(value, (int, np.integer)) and not -(10**18) < int(value) < 10**18:
        raise ParameterError(f"{name} must be from {low} to {high}; got {quoted(value)}.")
    value = int(value)
    if not low <= value <= high:
        raise ParameterError(f"{name} must be from {low} to {high}; got {value}.")
    return value


def check_float(name: str, value: Any, low: float, high: float) -> float:
    """A finite number within [low, high], or a ParameterError that names the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name} must be a number from {low:g} to {high:g}; got {quoted(value)}.")
    try:
        value = float(value)
    except OverflowError:  # a huge integer
        value = math.inf
    if not math.isfinite(value) or not low <= value <= high:
        raise ParameterError(f"{name} must be a number from {low:g} to {high:g}; got {quoted(value)}.")
    return value


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices``, or a ParameterError that lists them."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(choices)}; got {quoted(value)}.")
    return value


# ----- declarations ---------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """A keyword parameter of a technique: type, bounds, default and the words the app
    shows. ``default`` is the package's (it must equal the function's own default, which
    a test checks); ``app_default`` is the app's where it differs, with the reason in
    ``info``. ``app_range`` is the (low, high, step) of the app's slider, which may be
    narrower than the package's bounds; ``None`` keeps the option out of the app."""

    name: str
    kind: type  # int, float or str
    default: Any
    label: str
    info: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    none: str | None = None  # what None means, if None is allowed ("all channels")
    app_default: Any = None
    app_range: tuple[float, float, float] | None = None
    in_app: bool = True
    # A bound that depends on the model or the other options, in words (SECURITY.md).
    bound: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in (int, float, str):
            raise TypeError(f"Option {self.name}: kind must be int, float or str")
        if self.kind is str and not self.choices and self.bound is None:
            raise TypeError(f"Option {self.name}: a text option needs choices or a bound")
        if self.kind is not str and (self.low is None or self.high is None):
            raise TypeError(f"Option {self.name}: a number needs low and high")

    @property
    def shown_default(self) -> Any:
        """The default the app starts from."""
        return self.default if self.app_default is None else self.app_default

    def check(self, value: Any) -> Any:
        """``value`` within this option's bounds (None where allowed), else a
        ParameterError of one sentence naming the option."""
        if value is None and self.none is not None:
            return None
        if self.kind is int:
            return check_int(self.name, value, int(self.low), int(self.high))
        if self.kind is float:
            return check_float(self.name, value, float(self.low), float(self.high))
        if self.choices and isinstance(value, str):
            return check_choice(self.name, value, self.choices)
        return value  # a richer value (a colour, an image) the function checks itself

    @property
    def bounds_text(self) -> str:
        """The bound as SECURITY.md states it."""
        if self.bound is not None:
            return self.bound
        if self.choices:
            text = ", ".join(f"`{c}`" for c in self.choices)
        elif self.kind is int:
            text = f"{int(self.low)} … {int(self.high)}"
        else:
            text = f"{self.low:g} … {self.high:g}"
        return f"{text} (or none: {self.none})" if self.none else text


@dataclass(frozen=True)
class Technique:
    """A technique as the app, the command line and the documentation present it."""

    name: str  # the function's name: its export, the app's api_name, the CLI's choice
    title: str
    function: Callable
    output: str  # a key of OUTPUTS
    paper: str
    summary: str  # two sentences for a student
    cost: str  # "quick" or "long": the app's lane
    options: tuple[Option, ...] = ()
    own_tab: bool = False  # the app gives it a tab of its own rather than its family's
    work: str | None = None  # a bound on the product of several options, in words
    featured: bool = False  # the method its family's tab opens on: the family at its best
    # The same computation for a batch of model-size images (dataset runs): called as
    # ``batch(model, pixels, classes, **options)`` (plus ``layer=`` when it takes one), it
    # returns ``(results, logits)``; the function itself is its batch of one. None: the
    # function runs image by image.
    batch: Callable | None = None
    # What a model needs for this technique: None (every model), or "attention" (vision
    # transformers with a class token: ViT, DeiT). Techniques with a need are left out of
    # the defaults that run on any model (the trust report's, the dataset commands').
    needs: str | None = None

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The function's keyword parameters."""
        return dict(inspect.signature(self.function).parameters)

    @property
    def takes_layer(self) -> bool:
        return "layer" in self.parameters

    @property
    def takes_class(self) -> bool:
        return "target_class" in self.parameters

    def option(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(name)


TECHNIQUES: dict[str, Technique] = {}


def checks(options: Sequence[Option]) -> Callable[[Callable], Callable]:
    """Wrap a function so that each declared option is checked against its bounds
    before the function runs (also options passed through ``**kwargs``); the signature,
    name and docstring are kept. A generator function is checked when called."""
    declared = {option.name: option for option in options}

    def wrap(function: Callable) -> Callable:
        signature = inspect.signature(function)
        parameters = signature.parameters
        extra = next((p.name for p in parameters.values() if p.kind is p.VAR_KEYWORD), None)
        missing = [n for n in declared if n not in parameters and extra is None]
        if missing:
            raise TypeError(f"{function.__name__} has no parameter {', '.join(missing)}")

        @functools.wraps(function)
        def checked(*args, **kwargs):
            bound = signature.bind_partial(*args, **kwargs)
            for key in list(bound.arguments):
                if key in declared:
                    bound.arguments[key] = declared[key].check(bound.arguments[key])
            if extra is not None and bound.arguments.get(extra):
                bound.arguments[extra] = {
                    k: declared[k].check(v) if k in declared else v
                    for k, v in bound.arguments[extra].items()
                }
            return function(*bound.args, **bound.kwargs)

        checked.options = tuple(options)  # type: ignore[attr-defined]
        return checked

    return wrap


def technique(
    *,
    title: str,
    output: str,
    paper: str,
    summary: str,
    cost: str = "quick",
    options: Sequence[Option] = (),
    own_tab: bool = False,
    work: str | None = None,
    featured: bool = False,
    name: str | None = None,
    batch: Callable | None = None,
    needs: str | None = None,
) -> Callable[[Callable], Callable]:
    """Register the decorated function as a technique (see the module docstring).

    The function is returned wrapped so that every declared option is checked first; its
    signature, name and docstring are kept."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}")
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(COSTS)}")

    def register(function: Callable) -> Callable:
        checked = checks(options)(function)
        entry = Technique(
            name=name or function.__name__,
            title=title,
            function=checked,
            output=output,
            paper=paper,
            summary=summary,
            cost=cost,
            options=tuple(options),
            own_tab=own_tab,
            work=work,
            featured=featured,
            batch=batch,
            needs=needs,
        )
        known = TECHNIQUES.get(entry.name)
        if known is not None and (known.function.__module__, known.function.__qualname__) != (
            checked.__module__,
            checked.__qualname__,
        ):
            raise ValueError(f"a technique called {entry.name} is already registered")
        TECHNIQUES[entry.name] = entry
        return checked

    return register


def unregister(name: str) -> None:
    """Remove a technique (for tests that register a throwaway one)."""
    TECHNIQUES.pop(name, None)


def of_output(*outputs: str) -> list[Technique]:
    """The registered techniques with one of these outputs, in registration order."""
    return [t for t in TECHNIQUES.values() if t.output in outputs]


def featured(output: str) -> Technique:
    """The method a family's tab opens on: the one declared ``featured``, else the
    family's first (the family: the techniques of one output without a tab of their own)."""
    family = [t for t in of_output(output) if not t.own_tab]
    if not family:
        raise KeyError(output)
    return next((t for t in family if t.featured), family[0])


def map_methods() -> dict[str, Technique]:
    """The techniques that give one map per photo and class (heatmaps and attributions):
    what the faithfulness checks, the trust report and the command line work on."""
    return {t.name: t for t in of_output(*MAP_OUTPUTS)}


def quick_map_methods() -> list[str]:
    """The names of the map methods that are quick work on every model (the defaults of
    the trust report and the checks; a method that needs attention is left out)."""
    return [name for name, t in map_methods().items() if t.cost == "quick" and t.needs is None]


def resolve_methods(methods: Sequence[str] | str | None, *, limit: int) -> dict[str, Technique]:
    """Registry names of map methods -> their techniques (when None, every map method that
    runs on any model: one that needs attention is left out), each once, at most ``limit``;
    every refusal is one sentence."""
    available = map_methods()
    if methods is None:
        names = [name for name, technique in available.items() if technique.needs is None]
    elif isinstance(methods, str):
        names = [methods]
    else:
        names = list(methods)
    if not 1 <= len(names) <= limit:
        raise ParameterError(f"Choose between 1 and {limit} methods; got {len(names)}.")
    for name in names:
        if not isinstance(name, str) or name not in available:  # quoted: at most 40 characters
            raise ParameterError(
                f"{quoted(name)} is not a heatmap or attribution method; choose from "
                f"{', '.join(available)}."
            )
    if len(set(names)) != len(names):
        raise ParameterError("Name each method once.")
    return {name: available[name] for name in names}


__all__ = [
    "COSTS",
    "MAP_OUTPUTS",
    "OUTPUTS",
    "SEED_MAX",
    "Option",
    "Technique",
    "TECHNIQUES",
    "check_choice",
    "check_float",
    "check_int",
    "featured",
    "map_methods",
    "of_output",
    "quick_map_methods",
    "resolve_methods",
    "technique",
    "unregister",
]
