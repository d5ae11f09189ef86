"""The trust report: for one photo and class, which explanation to believe, and why.

:func:`trust_report` runs several heatmap and attribution methods on one photo, for one
class, and puts each map through four published tests:

- **Sanity check** (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): the
  network's layers are re-drawn at random from the top down, on an independent copy of
  the model kept between reports (:mod:`cnnvis.evaluation.sanity`), and each method's map is
  computed again. A map that keeps its ranking of the pixels (Spearman rank correlation)
  once the weights it claims to explain are gone shows the image, not the model.
- **Deletion and insertion** (Petsiuk, Das & Saenko 2018, "RISE"): the class
  probability as the map's most important pixels are set to black, or copied into a
  blurred photo (:mod:`cnnvis.evaluation.metrics`).
- **ROAD** (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for
  Attribution Methods"): pixels removed most relevant first (MoRF) and least relevant
  first (LeRF) and filled by noisy linear imputation, so the model sees no black holes
  whose shape gives the map away (:mod:`cnnvis.evaluation.road`).
- **Pointing game** (Zhang et al. 2016, "Top-down Neural Attention by Excitation
  Backprop"), when the object's box is given: does the map's peak fall on the object?

Every curve is compared with a **band of random maps** (several seeded random maps, see
:func:`cnnvis.evaluation.metrics.random_map`), not one, of the method's own granularity by default
(``random="auto"``): random blobs at the scale of a CAM for heatmaps (and plain H x W
maps), random pixels for pixel attributions. Like is compared with like: scattered
pixels set to black destroy a prediction faster than any region does, and under ROAD
scattered pixels are the easiest to impute, so a pixel map measured against blobs would
win deletion and lose ROAD for its granularity alone. For a random map, removing "most
relevant first" and "least relevant first" are the same experiment (the reverse of a
random order is random), so one set of random ROAD curves is the band for both orders.

The verdict of each method ("trusted", "use with care" or "not trusted") follows the
rule of :mod:`cnnvis.evaluation.verdict`, with one sentence saying why; every number it uses is on
the result (``MethodTrust.evidence``, each with its test's paper). A method that fails
the sanity check is never trusted, and never ranked above one that passes it.

Cost: all the perturbed images of all methods and all curves go through one stream of
batched compiled forward passes (:mod:`cnnvis.evaluation.perturbation`); the work is bounded by
``MAX_PASSES`` forward passes and ``MAX_IMPUTED_PIXELS`` imputed pixels, checked before
any map is computed. With the defaults (the 8 quick methods of the registry, 6 of them
heatmaps, 2 bands of 4 random maps, 16 deletion steps, 5 ROAD fractions) a report on a
224 x 224 model makes 664 forward passes and 120 imputations, and computes each map
``1 + sanity_steps`` times; ``benchmarks/bench_trust.py`` times it.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from . import metrics
from . import road
from ..errors import ParameterError, quoted
from ..images import resize_map
from ..models.loading import VisModel, as_vis_model
from .perturbation import perturbation_curves
from ..registry import (
    SEED_MAX,
    Option,
    check_choice,
    check_int,
    map_methods,
    quick_map_methods,
    technique,
)
from ..techniques.base import MAX_BATCH, DisplayedAsHtml, class_index, prepare
from .sanity import cascading_randomisation
from .verdict import (
    AXES,
    BETTER,
    CURVE_TESTS,
    DECISION_RULE,
    RHO_LIMIT,
    SPREAD_FLOOR,
    TITLES,
    VERDICTS,
    Z_LIMIT,
    Band,
    Evidence,
    curve_area,
    curve_evidence,
    decide,
    mean_margin,
    pointing_evidence,
    rank_key,
    sanity_evidence,
)

DEFAULT_RANDOM_MAPS = 4  # per band
DEFAULT_STEPS = 16  # deletion and insertion steps
DEFAULT_SANITY_STEPS = 3  # the classifier, then the network in two halves
RANDOM_KINDS = ("auto", *metrics.RANDOM_MAPS)
MAX_SANITY_STEPS = metrics.MAX_RANDOMIZATION_STEPS
MAX_METHODS = metrics.MAX_METHODS
MAX_PASSES = 4096  # forward passes of perturbed images in one report
MAX_IMPUTED_PIXELS = 8_000_000  # pixels imputed by ROAD in one report (3 million by default)

HOW_TO_READ = (
    "Each method's map is put through four tests. The sanity check re-draws the network's "
    "weights at random: a map that hardly changes cannot be explaining what the network "
    "learned, so it is never trusted. The curves remove the pixels the map calls "
    "important (deletion sets them to black; ROAD fills them in from their neighbours, so "
    "the model sees no telltale holes) or keep them to the last (insertion adds them to a "
    "blurred copy first; ROAD least relevant first removes the others first), and watch the "
    "class probability; the shaded band is what random maps "
    "do. A method is trusted when it passes the sanity check and its curves lie clearly "
    "outside the band on the good side: the probability falls faster when its important "
    "pixels go, and stays up longer when only they stay. Inside the band, the map is no "
    "better than random on this photo, however convincing it looks. A verdict is about this "
    "photo, this class and this model, not about the method in general."
)


# ----- results -------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodTrust:
    """One method's map, its curves, the evidence and the verdict."""

    name: str
    title: str
    paper: str  # the method's own paper
    map: np.ndarray  # float32 H x W at the photo's resolution
    band: str  # the kind of random maps it is compared with: "blobs" or "pixels"
    verdict: str  # one of VERDICTS
    reason: str  # one sentence
    rank: int  # 1 = first in the report
    curves: Mapping[str, metrics.Curve]  # per curve test
    evidence: tuple[Evidence, ...]
    sanity_spearman: np.ndarray  # float32 (steps,): rank correlation per randomisation step
    sanity_ssim: np.ndarray  # float32 (steps,): structural similarity per step
    pointing: metrics.PointingResult | None
    seconds: float  # time the method took on the trained model

    def evidence_for(self, test: str) -> Evidence | None:
        return next((e for e in self.evidence if e.test == test), None)

    @property
    def passed_sanity(self) -> bool:
        sanity = self.evidence_for("sanity")
        return sanity is not None and sanity.outcome == "pass"

    @property
    def faithfulness(self) -> float:
        """The mean margin over the four curves, each clipped to +-Z_CLIP spreads."""
        return mean_margin(self.evidence)


@dataclass(frozen=True)
class TrustReport(DisplayedAsHtml):
    """The trust report of several methods on one photo and class (see the module)."""

    model: str
    class_index: int
    label: str
    probability: float  # the class probability on the photo
    seed: int
    steps: int  # deletion / insertion steps
    road_fractions: tuple[float, ...]
    random: str  # "auto" (each method against its own granularity), "blobs" or "pixels"
    random_maps: int  # per band
    sanity_steps: tuple[str, ...]  # per step, the deepest layer randomised so far
    layers_randomised: tuple[int, ...]  # per step, how many layers are random
    box: tuple[float, float, float, float] | None
    methods: tuple[MethodTrust, ...]  # ranked
    bands: Mapping[str, Mapping[str, Band]]  # kind of random map -> curve test -> band
    passes: int  # forward passes of perturbed images
    imputations: int
    imputed_pixels: int
    # "maps", "sanity", "perturbations" (the stream of perturbed images), "imputation"
    # (time spent imputing, overlapped with the stream's forward passes), "waiting for
    # imputation" (what the forward passes waited for it), "total"
    seconds: Mapping[str, float]

    rule: str = DECISION_RULE
    # the photo (uint8 H x W x 3), for drawing each method's map over it
    image: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False, kw_only=True)

    @property
    def ranking(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.methods)

    def method(self, name: str) -> MethodTrust:
        for entry in self.methods:
            if entry.name == name:
                return entry
        raise ParameterError(f"{quoted(name)} is not in this report.")

    @property
    def caption(self) -> str:
        return f"Trust report · {self.model} · {self.label} ({self.class_index})"

    @property
    def summary(self) -> str:
        """One sentence: how many methods are trusted, and which."""
        trusted = [m.title for m in self.methods if m.verdict == "trusted"]
        target = f"{self.label} ({self.class_index}) on {self.model}"
        if not trusted:
            return f"None of the {len(self.methods)} methods is trusted for {target}."
        return (
            f"{len(trusted)} of {len(self.methods)} methods trusted for {target}: "
            f"{', '.join(trusted)}."
        )

    @property
    def note(self) -> str:
        """Says where the ranking puts a method that fails the sanity check."""
        failing = [m.title for m in self.methods if not m.passed_sanity]
        if not failing:
            return "Every method passes the sanity check."
        return (
            f"{', '.join(failing)} fail{'s' if len(failing) == 1 else ''} the sanity check and "
            "rank below every method that passes it, whatever their curves."
        )

    @property
    def table(self) -> list[dict]:
        """One row per method, ranked: the numbers of the verdict, for a table widget."""
        rows = []
        for m in self.methods:
            row = {"rank": m.rank, "method": m.title, "verdict": m.verdict, "band": m.band}
            for e in m.evidence:
                row[e.test] = round(e.value, 3) if e.test != "pointing" else e.outcome
                if e.z is not None:
                    row[f"{e.test}_z"] = round(e.z, 1)
            row["reason"] = m.reason
            rows.append(row)
        return rows

    @property
    def panels(self) -> list[dict]:
        """The four curve panels for :func:`cnnvis.render.trust_chart`: per test the
        band (mean, spread, range per fraction) and each method's curve with its area."""
        panels = []
        for test in CURVE_TESTS:
            bands = [(kind, by_test[test]) for kind, by_test in self.bands.items()]
            panels.append(
                {
                    "title": TITLES[test],
                    "xlabel": AXES[test],
                    "better": BETTER[test],
                    "fractions": bands[0][1].fractions,
                    "bands": [
                        {
                            "label": f"{len(band.areas)} random maps ({kind})",
                            "mean": band.mean,
                            "std": band.std,
                            "low": band.low,
                            "high": band.high,
                            "area": band.area_mean,
                        }
                        for kind, band in bands
                    ],
                    "curves": [
                        (m.title, m.curves[test].scores, m.evidence_for(test).value)
                        for m in self.methods
                    ],
                }
            )
        return panels

    def to_dict(self, *, maps: bool = False) -> dict:
        """Everything as JSON-able numbers, lists and strings (``maps=True`` adds each
        method's map as nested lists, rounded to 3 decimals)."""
        return {
            "model": self.model,
            "class_index": self.class_index,
            "label": self.label,
            "probability": self.probability,
            "seed": self.seed,
            "steps": self.steps,
            "road_fractions": list(self.road_fractions),
            "random": self.random,
            "random_maps": self.random_maps,
            "sanity_steps": list(self.sanity_steps),
            "layers_randomised": list(self.layers_randomised),
            "box": list(self.box) if self.box is not None else None,
            "rule": self.rule,
            "thresholds": {"rho_limit": RHO_LIMIT, "z_limit": Z_LIMIT, "spread_floor": SPREAD_FLOOR},
            "summary": self.summary,
            "note": self.note,
            "methods": [_method_dict(m, maps) for m in self.methods],
            "bands": {
                kind: {test: _band_dict(band) for test, band in by_test.items()}
                for kind, by_test in self.bands.items()
            },
            "cost": {
                "passes": self.passes,
                "imputations": self.imputations,
                "imputed_pixels": self.imputed_pixels,
                "seconds": {k: float(v) for k, v in self.seconds.items()},
            },
        }


def _floats(values) -> list:
    return [float(v) for v in np.asarray(values, np.float64).ravel()]


def _band_dict(band: Band) -> dict:
    return {
        "fractions": _floats(band.fractions),
        "mean": _floats(band.mean),
        "std": _floats(band.std),
        "low": _floats(band.low),
        "high": _floats(band.high),
        "scores": [_floats(row) for row in band.scores],
        "areas": _floats(band.areas),
        "area_mean": band.area_mean,
        "area_spread": band.area_spread,
    }


def _method_dict(m: MethodTrust, maps: bool) -> dict:
    entry = {
        "name": m.name,
        "title": m.title,
        "paper": m.paper,
        "band": m.band,
        "rank": m.rank,
        "verdict": m.verdict,
        "reason": m.reason,
        "faithfulness": m.faithfulness,
        "evidence": [
            {
                "test": e.test,
                "title": e.title,
                "paper": e.paper,
                "value": float(e.value),
                "better": e.better,
                "reference": float(e.reference),
                "spread": None if e.spread is None else float(e.spread),
                "z": None if e.z is None else float(e.z),
                "outcome": e.outcome,
                "detail": e.detail,
            }
            for e in m.evidence
        ],
        "curves": {
            test: {"fractions": _floats(c.fractions), "scores": _floats(c.scores)}
            for test, c in m.curves.items()
        },
        "sanity": {"spearman": _floats(m.sanity_spearman), "ssim": _floats(m.sanity_ssim)},
        "pointing": None
        if m.pointing is None
        else {
            "hit": bool(m.pointing.hit),
            "peak": list(m.pointing.peak),
            "distance": float(m.pointing.distance),
            "tolerance": float(m.pointing.tolerance),
        },
        "seconds": float(m.seconds),
    }
    if maps:
        entry["map"] = np.round(m.map.astype(np.float64), 3).tolist()
    return entry

# ----- the methods ---------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """A method as the report calls it: ``function(model, image, target_class=...)``."""

    name: str
    title: str
    paper: str
    function: Callable
    band: str | None = None  # "blobs" for a heatmap, "pixels" for an attribution, else unknown


BAND_OF_OUTPUT = {"heatmap": "blobs", "attribution": "pixels"}


def band_of(result) -> str:
    """The granularity of a method's result: "blobs" for a heatmap (or a plain H x W
    map), "pixels" for a per-pixel attribution (H x W x 3)."""
    if hasattr(result, "heatmap"):
        return "blobs"
    values = getattr(result, "values", result)
    return "pixels" if np.ndim(values) == 3 else "blobs"


def default_methods() -> list[str]:
    """The registry's quick heatmap and attribution methods, in registry order."""
    return quick_map_methods()


def resolve_methods(methods) -> list[Method]:
    """Registry names, functions, or a mapping from names to either, as :class:`Method`s
    (``None``: :func:`default_methods`). A registry technique's function keeps its title
    and paper."""
    available = map_methods()
    by_function = {t.function: t for t in available.values()}
    if methods is None:
        methods = default_methods()
    if isinstance(methods, Mapping):
        items = list(methods.items())
    else:
        if isinstance(methods, str) or callable(methods):
            methods = [methods]
        items = [(m if isinstance(m, str) else None, m) for m in methods]
    if not 1 <= len(items) <= MAX_METHODS:
        raise ParameterError(f"A trust report takes from 1 to {MAX_METHODS} methods.")
    resolved = []
    for name, method in items:
        if isinstance(method, str):
            if method not in available:
                raise ParameterError(
                    f"{quoted(method)} is not a heatmap or attribution method; choose from "
                    f"{', '.join(available)}."
                )
            method = available[method].function
        if not callable(method):
            raise ParameterError(
                f"Each method must be a registry name or a function; got {quoted(method)}."
            )
        technique = by_function.get(method)
        if technique is not None:
            resolved.append(
                Method(
                    name or technique.name,
                    technique.title,
                    technique.paper,
                    method,
                    BAND_OF_OUTPUT.get(technique.output),
                )
            )
        else:
            label = str(name or getattr(method, "__name__", "method"))
            resolved.append(Method(label, label, str(getattr(method, "paper", "")), method))
    if len({m.name for m in resolved}) != len(resolved):
        raise ParameterError("Give each method a different name.")
    return resolved


# ----- cost ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Work:
    """What a report will do, counted before anything runs."""

    passes: int
    imputations: int
    imputed_pixels: int
    map_calls: int


def planned_work(
    methods: int,
    random_maps: int,
    steps: int,
    fractions: Sequence[float],
    pixels: int,
    sanity_steps: int,
) -> Work:
    """Forward passes: (methods + random maps) x 2 x (steps + 1) for deletion and
    insertion, plus (2 x methods + random maps) x fractions for ROAD (the random maps'
    curves serve both orders); as many imputations as ROAD passes; maps: each method on
    the trained model and after each randomisation step. ``random_maps`` counts the
    maps of every band."""
    road_curves = 2 * methods + random_maps
    removed = sum(road.removal_count(pixels, f) for f in fractions)
    return Work(
        passes=(methods + random_maps) * 2 * (steps + 1) + road_curves * len(fractions),
        imputations=road_curves * len(fractions),
        imputed_pixels=road_curves * removed,
        map_calls=methods * (1 + sanity_steps),
    )


def check_work(work: Work) -> None:
    if work.passes > MAX_PASSES or work.imputed_pixels > MAX_IMPUTED_PIXELS:
        raise ParameterError(
            f"This report would need {work.passes} forward passes and impute "
            f"{work.imputed_pixels / 1e6:.1f} million pixels (at most {MAX_PASSES} and "
            f"{MAX_IMPUTED_PIXELS / 1e6:.0f} million): use fewer methods, steps, ROAD "
            "fractions or random maps."
        )

# ----- the report ----------------------------------------------------------------------
def _stage(progress, low: float, high: float) -> Callable[[float, str], None] | None:
    """A progress callback for one stage, mapping its [0, 1] onto [low, high]."""
    if progress is None:
        return None
    return lambda done, text: progress(low + (high - low) * min(max(done, 0.0), 1.0), text)


def _check_box(box, size: tuple[int, int]) -> tuple[float, float, float, float] | None:
    if box is None:
        return None
    return metrics.pointing_game(np.zeros(size, np.float32), box).box


def _planned_bands(methods: Sequence[Method], random: str) -> set[str]:
    """The kinds of random band a report may need (both when a method's kind is unknown
    until it runs)."""
    if random != "auto":
        return {random}
    kinds = {m.band for m in methods}
    return set(metrics.RANDOM_MAPS) if None in kinds else kinds  # type: ignore[return-value]


def _bands(curves: Sequence[dict[str, metrics.Curve]]) -> dict[str, Band]:
    """The band of each curve test from the random maps' curves (ROAD's LeRF band is
    the MoRF band: for a random map the two orders are the same experiment)."""
    bands = {}
    for test in CURVE_TESTS:
        source = [c["road_morf" if test == "road_lerf" else test] for c in curves]
        bands[test] = Band(
            test=test,
            fractions=source[0].fractions,
            scores=np.stack([c.scores for c in source]),
            areas=np.array([curve_area(c) for c in source]),
        )
    return bands


@technique(
    title="Trust report",
    output="report",
    paper="Petsiuk et al. 2018 (RISE); Rong et al. 2022 (ROAD); Adebayo et al. 2018; "
    "Zhang et al. 2016",
    summary="Which explanation of this photo to believe: each method's map is checked by "
    "deleting, inserting and imputing its most and least important pixels against a band "
    "of random maps, and by randomising the model, which a faithful map must notice.",
    cost="long",
    options=(
        Option(
            "steps",
            int,
            DEFAULT_STEPS,
            "Deletion and insertion steps",
            "Pixels are deleted (inserted) 1/steps at a time: one forward pass each.",
            low=2,
            high=metrics.MAX_STEPS,
            app_range=(4, 64, 1),
        ),
        Option(
            "seed",
            int,
            0,
            "Seed",
            "Seeds the random maps, ROAD's noise and the randomised weights.",
            low=0,
            high=SEED_MAX,
        ),
        Option(
            "random",
            str,
            "auto",
            "Random maps",
            "The kind of random maps in each band: auto (blobs for heatmaps, pixels for "
            "attributions), blobs or pixels.",
            choices=RANDOM_KINDS,
            in_app=False,
        ),
        Option(
            "random_maps",
            int,
            DEFAULT_RANDOM_MAPS,
            "Random maps per band",
            "How many seeded random maps make each band.",
            low=1,
            high=metrics.MAX_RANDOM_MAPS,
            in_app=False,
        ),
        Option(
            "sanity_steps",
            int,
            DEFAULT_SANITY_STEPS,
            "Randomisation steps",
            "Layer groups of the cascading randomisation.",
            low=1,
            high=MAX_SANITY_STEPS,
            in_app=False,
        ),
        Option(
            "batch_size",
            int,
            16,
            "Images per call",
            "Perturbed images per compiled forward call (speed only).",
            low=1,
            high=MAX_BATCH,
            in_app=False,
            bound=f"1 … {MAX_BATCH} (capped by pixels)",
        ),
    ),
    work=f"1 … {MAX_METHODS} registry methods or functions, each once; <= {MAX_PASSES} forward "
    f"passes of perturbed images and <= {MAX_IMPUTED_PIXELS:,} imputed pixels, checked before "
    "any map is computed (defaults on a 224 x 224 model: 664 passes, 3 million pixels in 120 "
    "imputations); each method runs 1 + sanity_steps times; ROAD imputes at the model's input "
    f"size, at most {road.MAX_PIXELS:,} pixels (one sparse LU factor per imputation: about "
    "45 MB at 224 x 224, two at a time); `road_fractions`: 1 … 9 increasing fractions in "
    f"(0, {road.MAX_FRACTION:g}]",
)
def trust_report(
    model: VisModel | str,
    image,
    methods=None,
    target_class: int | str | None = None,
    box: Sequence[float] | None = None,
    seed: int = 0,
    *,
    steps: int = DEFAULT_STEPS,
    road_fractions: Sequence[float] = road.DEFAULT_FRACTIONS,
    random: str = "auto",
    random_maps: int = DEFAULT_RANDOM_MAPS,
    sanity_steps: int = DEFAULT_SANITY_STEPS,
    batch_size: int = 16,
    progress: Callable[[float, str], None] | None = None,
) -> TrustReport:
    """Which explanation of ``image``'s class to trust: see the module for the tests and
    the decision rule.

    ``methods``: registry names of heatmap and attribution techniques, functions called
    as ``f(model, image, target_class=index)`` (returning a map, an attribution or a
    technique's result), or a mapping from names to either; default: the registry's quick
    heatmap and attribution methods (:func:`default_methods`). Every map explains one
    class (default: the top class). ``box = (x0, y0, x1, y1)``: the object, in the
    photo's pixels, for the pointing game. ``seed`` seeds the random maps, the ties of
    pixel ranks, ROAD's noise and the randomised weights; a method's numbers depend on
    its name and the seed, not on the other methods of the report. ``steps``: deletion and
    insertion steps; ``road_fractions``: ROAD's removal fractions; ``random``: the kind
    of random maps ("auto": blobs for heatmaps, pixels for attributions; see
    :func:`cnnvis.evaluation.metrics.random_map`) and ``random_maps`` how many in each band;
    ``sanity_steps``: layer groups of the cascading randomisation (see
    :func:`cnnvis.evaluation.metrics.randomization_groups`). ``progress(fraction, text)`` is called
    as the work advances (for ``gr.Progress``).
    """
    began = time.perf_counter()
    model = as_vis_model(model)
    chosen = resolve_methods(methods)
    random = check_choice("random", random, RANDOM_KINDS)
    steps, seed, batch_size, _, random_maps = metrics.check_common(
        steps, seed, batch_size, metrics.RANDOM_MAPS[0], random_maps
    )
    fractions = road.check_fractions(road_fractions)
    sanity_steps = check_int("sanity_steps", sanity_steps, 1, MAX_SANITY_STEPS)
    prepared = prepare(model, image)
    pixels = prepared.batch[0]
    shape = pixels.shape[:2]
    road.check_size(shape, model.name)
    planned = len(_planned_bands(chosen, random)) * random_maps
    check_work(planned_work(len(chosen), planned, steps, fractions, shape[0] * shape[1], sanity_steps))
    box = _check_box(box, prepared.size)
    say = progress or (lambda fraction, text: None)

    # 1. The maps on the trained model.
    klass = class_index(model, prepared, target_class)
    maps, kinds, seconds = [], [], []
    for i, method in enumerate(chosen):
        say(0.15 * i / len(chosen), f"Computing {method.title}")
        start = time.perf_counter()
        result = metrics.call_with_class(method.function, model, prepared.image, klass)
        seconds.append(time.perf_counter() - start)
        maps.append(metrics.map_for(prepared.size, result))
        kinds.append(random if random != "auto" else method.band or band_of(result))
    maps_done = time.perf_counter()

    # 2. The sanity check, on the kept randomisation copy.
    say(0.15, "Sanity check: randomising a copy of the model from the top")
    sanity = cascading_randomisation(
        model,
        prepared.image,
        [m.function for m in chosen],
        maps,
        klass,
        steps=sanity_steps,
        seed=seed,
        progress=_stage(progress, 0.15, 0.35),
    )
    sanity_done = time.perf_counter()

    # 3. Deletion, insertion and ROAD of every map and every random map, one stream.
    say(0.35, "Deletion, insertion and ROAD")
    used = [kind for kind in metrics.RANDOM_MAPS if kind in kinds]
    random_maps_of = {
        kind: [metrics.random_map(shape, kind, seed, i) for i in range(random_maps)] for kind in used
    }
    band_maps = [m for kind in used for m in random_maps_of[kind]]
    curves, cost = perturbation_curves(
        model,
        pixels,
        [resize_map(m, shape) for m in maps] + band_maps,
        [CURVE_TESTS] * len(chosen) + [("deletion", "insertion", "road_morf")] * len(band_maps),
        klass,
        keys=[(0, zlib.crc32(m.name.encode())) for m in chosen]
        + [(1 + metrics.RANDOM_MAPS.index(kind), j) for kind in used for j in range(random_maps)],
        steps=steps,
        fractions=fractions,
        seed=seed,
        batch_size=batch_size,
        progress=_stage(progress, 0.35, 0.98),
    )
    offset = len(chosen)
    bands = {}
    for kind in used:
        bands[kind] = _bands(curves[offset : offset + random_maps])
        offset += random_maps

    # 4. Evidence, verdicts, ranking.
    entries = []
    for i, method in enumerate(chosen):
        band = bands[kinds[i]]
        evidence = [sanity_evidence(sanity.spearman[i])]
        evidence += [curve_evidence(t, curve_area(curves[i][t]), band[t]) for t in CURVE_TESTS]
        pointing = metrics.pointing_game(maps[i], box) if box is not None else None
        if pointing is not None:
            evidence.append(pointing_evidence(pointing))
        verdict, reason = decide(evidence)
        entries.append(
            MethodTrust(
                name=method.name,
                title=method.title,
                paper=method.paper,
                map=maps[i],
                band=kinds[i],
                verdict=verdict,
                reason=reason,
                rank=0,
                curves=curves[i],
                evidence=tuple(evidence),
                sanity_spearman=sanity.spearman[i],
                sanity_ssim=sanity.ssim[i],
                pointing=pointing,
                seconds=seconds[i],
            )
        )
    entries.sort(key=rank_key)
    ranked = tuple(dataclasses.replace(e, rank=rank) for rank, e in enumerate(entries, 1))
    finished = time.perf_counter()
    say(1.0, "Trust report ready")
    return TrustReport(
        model=model.name,
        class_index=klass,
        label=model.class_label(klass),
        probability=float(curves[0]["deletion"].scores[0]),
        seed=seed,
        steps=steps,
        road_fractions=fractions,
        random=random,
        random_maps=random_maps,
        sanity_steps=sanity.steps,
        layers_randomised=sanity.layers_randomised,
        box=box,
        methods=ranked,
        bands=bands,
        passes=cost.passes,
        imputations=cost.imputations,
        imputed_pixels=cost.imputed_pixels,
        seconds={
            "maps": maps_done - began,
            "sanity": sanity_done - maps_done,
            "perturbations": cost.seconds,
            "imputation": cost.imputation_seconds,
            "waiting for imputation": cost.waiting_seconds,
            "total": finished - began,
        },
        image=prepared.image,
    )


__all__ = [
    "trust_report",
    "TrustReport",
    "MethodTrust",
    "Evidence",
    "Band",
    "VERDICTS",
    "DECISION_RULE",
    "HOW_TO_READ",
    "default_methods",
    "resolve_methods",
    "planned_work",
]
