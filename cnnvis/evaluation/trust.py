"""The trust report: for one photo and class, which explanation to believe, and why.

:func:`trust_report` runs several heatmap and attribution methods on one photo, for one
class, and puts each map through published tests, each against a null with a stated
false-positive rate (the rule and its numbers: :mod:`cnnvis.evaluation.verdict`; the
reading guide: docs/trust.md):

- **Sanity check** (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): the
  classifier head of an independent copy of the model, kept between reports
  (:mod:`cnnvis.evaluation.sanity`), is re-drawn at random several times, independently,
  and each method's map is computed again each time. A map that keeps its ranking of the
  pixels (Spearman rank correlation) once the weights it claims to explain are gone
  shows the image, not the model. Every draw is reported, not one.
- **Deletion and insertion** (Petsiuk, Das & Saenko 2018, "RISE"): the class
  probability as the map's most important pixels are set to black, or copied into a
  blurred photo.
- **ROAD** (Rong et al. 2022): pixels removed most relevant first (MoRF) and least
  relevant first (LeRF) and filled by noisy linear imputation
  (:mod:`cnnvis.evaluation.road`).
- **Pointing game** (Zhang et al. 2016), when the object's box is given.

Every curve is summarised by its area (the mean class probability along it, in [0, 1])
and compared with a **null that keeps the map's shape** (:mod:`cnnvis.evaluation.null`):
the method's own map flipped and moved across the photo, 19 times by default. What is
tested is therefore *where* a map puts its weight, not how sparse or edge-like it is.
The four curves are combined into one permutation test (chance alone passes it at most
5 % of the time).

The verdict of each method ("trusted", "use with care" or "not trusted") comes with one
sentence saying why; every number it uses is on the result (``MethodTrust.evidence``,
each with its test's paper). A method whose sanity check fails is never trusted, and
never ranked above one whose check passes.

Cost: all perturbed images of all maps (the methods' and the null's) go through one
stream of batched compiled forward passes (:mod:`cnnvis.evaluation.perturbation`); the
images no map changes (the photo, the black and the blurred photo) go through once.
The work is bounded by ``MAX_PASSES`` forward passes and ``MAX_IMPUTED_PIXELS`` imputed
pixels, checked before any map is computed. With the defaults (the 8 quick methods of the
registry, 19 moved copies of each map, 4 deletion steps, 3 ROAD fractions, 8 sanity
draws) a report on a 224 x 224 model makes 1923 forward passes of perturbed images and
960 imputations, and computes each map ``1 + sanity_draws`` times;
``benchmarks/bench_trust.py`` times it against a bare forward pass.
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
    check_int,
    map_methods,
    quick_map_methods,
    technique,
)
from ..techniques.base import MAX_BATCH, DisplayedAsHtml, class_index, prepare
from . import null
from .sanity import classifier_draws
from .verdict import (
    ALPHA,
    AREA_LABEL,
    AXES,
    BETTER,
    CARE_SHARE,
    CURVE_TESTS,
    DECISION_RULE,
    RHO_LIMIT,
    TITLES,
    VERDICTS,
    Band,
    Evidence,
    curve_area,
    curve_evidence,
    decide,
    placement_evidence,
    placement_share,
    pointing_evidence,
    rank_key,
    sanity_evidence,
)

DEFAULT_NULL_MAPS = 19  # moved copies of each map: 1 / (19 + 1) = the 5 % of the placement test
MIN_NULL_MAPS, MAX_NULL_MAPS = 19, 39  # fewer than 19 could never reach p = 0.05
DEFAULT_STEPS = 4  # deletion and insertion steps: 3 images per map each (the ends are shared)
DEFAULT_FRACTIONS = (0.25, 0.5, 0.75)  # ROAD's removal fractions in the report
DEFAULT_DRAWS = 8  # independent re-drawings of the classifier for the sanity check
MAX_DRAWS = 16
MAX_METHODS = metrics.MAX_METHODS
MAX_PASSES = 4096  # forward passes of perturbed images in one report
MAX_IMPUTED_PIXELS = 40_000_000  # pixels imputed by ROAD in one report (24 million by default)

HOW_TO_READ = (
    "Each method's map is put through four tests. The sanity check re-draws the network's "
    "classifier at random several times: a map that hardly changes cannot be explaining what "
    "the network learned, so it is never trusted, and a map that survives a good part of the "
    "draws is used with care. The curves remove the pixels the map calls important (deletion sets "
    "them to black; ROAD fills them in from their neighbours, so the model sees no telltale "
    "holes) or keep them to the last (insertion adds them to a blurred copy first; ROAD least "
    "relevant first removes the others first), and watch the class probability; each curve's "
    "area is its mean probability. The shaded band is what the same maps do when moved and "
    "flipped across the photo: same shape, wrong place. A method is trusted when it passes "
    "the sanity check and beats every moved map on the curves combined (chance does that at "
    "most 1 time in 20). A map that does no better than its moved copies is no explanation "
    "of this photo, however convincing it looks. A verdict is about this photo, this class "
    "and this model, not about the method in general."
)


# ----- results -------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodTrust:
    """One method's map, its curves, the evidence and the verdict."""

    name: str
    title: str
    paper: str  # the method's own paper
    map: np.ndarray  # float32 H x W at the photo's resolution
    band: str  # the kind of its map, and of the null it is compared with: "blobs" or "pixels"
    verdict: str  # one of VERDICTS
    reason: str  # one sentence
    rank: int  # 1 = first in the report
    curves: Mapping[str, metrics.Curve]  # per curve test
    evidence: tuple[Evidence, ...]
    sanity_spearman: np.ndarray  # float32 (draws,): rank correlation per randomisation draw
    sanity_ssim: np.ndarray  # float32 (draws,): structural similarity per draw
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
        """The placement share: the part of the null maps it beats on the curves combined."""
        return placement_share(self.evidence)


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
    null_maps: int  # moved copies of each map
    sanity_draws: int
    sanity_layers: tuple[str, ...]  # the layers each draw re-draws (the classifier head)
    box: tuple[float, float, float, float] | None
    methods: tuple[MethodTrust, ...]  # ranked
    bands: Mapping[str, Mapping[str, Band]]  # method name -> curve test -> its null's curves
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
        one = len(failing) == 1
        return (
            f"{', '.join(failing)} do{'es' if one else ''} not pass the sanity check and "
            f"rank{'s' if one else ''} below every method that does, whatever "
            f"{'its' if one else 'their'} curves."
        )

    @property
    def table(self) -> list[dict]:
        """One row per method, ranked: the numbers of the verdict, for a table widget."""
        rows = []
        for m in self.methods:
            row = {"rank": m.rank, "method": m.title, "verdict": m.verdict, "band": m.band}
            for e in m.evidence:
                row[e.test] = round(e.value, 3) if e.test != "pointing" else e.outcome
                if e.share is not None and e.test != "placement":
                    row[f"{e.test}_share"] = round(e.share, 2)
                if e.p_value is not None:
                    row[f"{e.test}_p"] = round(e.p_value, 3)
            row["reason"] = m.reason
            rows.append(row)
        return rows

    @property
    def panels(self) -> list[dict]:
        """The four curve panels for :func:`cnnvis.render.trust_chart`: per test the
        null's band (mean, spread, range per fraction) and each method's curve with its
        area (the mean probability). The band drawn is the null of the first-ranked
        method of each kind (blobs, pixels): one band per kind keeps the chart readable;
        every method's null is in ``bands``."""
        shown = {}
        for m in self.methods:
            shown.setdefault(m.band, m)
        panels = []
        for test in CURVE_TESTS:
            bands = [(m.title, self.bands[m.name][test]) for m in shown.values()]
            panels.append(
                {
                    "title": TITLES[test],
                    "xlabel": AXES[test],
                    "better": BETTER[test],
                    "fractions": bands[0][1].fractions,
                    "bands": [
                        {
                            "label": f"{len(band.areas)} moved copies of {title}",
                            "mean": band.mean,
                            "std": band.std,
                            "low": band.low,
                            "high": band.high,
                            "area": band.area_mean,
                        }
                        for title, band in bands
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
            "null_maps": self.null_maps,
            "sanity_draws": self.sanity_draws,
            "sanity_layers": list(self.sanity_layers),
            "box": list(self.box) if self.box is not None else None,
            "rule": self.rule,
            "area": f"{AREA_LABEL}: the trapezoid area under a curve divided by the length of its axis",
            "thresholds": {"rho_limit": RHO_LIMIT, "alpha": ALPHA, "care_share": CARE_SHARE},
            "summary": self.summary,
            "note": self.note,
            "methods": [_method_dict(m, maps) for m in self.methods],
            "bands": {
                name: {test: _band_dict(band) for test, band in by_test.items()}
                for name, by_test in self.bands.items()
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
        "area_median": band.area_median,
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
                "share": None if e.share is None else float(e.share),
                "p_value": None if e.p_value is None else float(e.p_value),
                "samples": _floats(e.samples),
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
    null_maps: int,
    steps: int,
    fractions: Sequence[float],
    pixels: int,
    draws: int,
) -> Work:
    """Forward passes: the 3 images no map changes (photo, black, blurred), then per map
    (the methods' and their ``null_maps`` moved copies) ``steps - 1`` deletion and as many
    insertion images and one imputed image per ROAD fraction and order; maps: each method
    on the trained model and after each sanity draw."""
    maps = methods + null_maps
    removed = sum(road.removal_count(pixels, f) for f in fractions)
    return Work(
        passes=3 + maps * (2 * (steps - 1) + 2 * len(fractions)),
        imputations=maps * 2 * len(fractions),
        imputed_pixels=maps * 2 * removed,
        map_calls=methods * (1 + draws),
    )


def check_work(work: Work) -> None:
    if work.passes > MAX_PASSES or work.imputed_pixels > MAX_IMPUTED_PIXELS:
        raise ParameterError(
            f"This report would need {work.passes} forward passes and impute "
            f"{work.imputed_pixels / 1e6:.1f} million pixels (at most {MAX_PASSES} and "
            f"{MAX_IMPUTED_PIXELS / 1e6:.0f} million): use fewer methods, steps, ROAD "
            "fractions or null maps."
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


def _bands(curves: Sequence[dict[str, metrics.Curve]]) -> dict[str, Band]:
    """The null's band of each curve test from the null maps' curves."""
    return {
        test: Band(
            test=test,
            fractions=curves[0][test].fractions,
            scores=np.stack([c[test].scores for c in curves]),
            areas=np.array([curve_area(c[test]) for c in curves]),
        )
        for test in CURVE_TESTS
    }


@technique(
    title="Trust report",
    output="report",
    # The paper list and summary are kept word for word: README.md's technique table is
    # generated from them and is being rewritten elsewhere (issue 22's report proposes
    # the new summary: "... against copies of the same map moved across the photo, and by
    # re-drawing the classifier several times ...").
    paper="Petsiuk et al. 2018 (RISE); Rong et al. 2022 (ROAD); Adebayo et al. 2018; "
    "Zhang et al. 2016",
    summary="Which explanation of this photo to believe: each method's map is checked by "
    "deleting, inserting and imputing its most and least important pixels against copies of "
    "the same map moved across the photo, and by re-drawing the classifier several times, "
    "which a faithful map must notice.",
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
            "Seeds the moved maps, ROAD's noise and the randomised weights.",
            low=0,
            high=SEED_MAX,
        ),
        Option(
            "null_maps",
            int,
            DEFAULT_NULL_MAPS,
            "Moved copies per map",
            "How many moved and flipped copies of each map make its null "
            f"(19: a {ALPHA:.0%} test).",
            low=MIN_NULL_MAPS,
            high=MAX_NULL_MAPS,
            in_app=False,
        ),
        Option(
            "sanity_draws",
            int,
            DEFAULT_DRAWS,
            "Sanity-check draws",
            "Independent re-drawings of the classifier for the sanity check.",
            low=1,
            high=MAX_DRAWS,
            in_app=False,
        ),
        Option(
            "batch_size",
            int,
            64,
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
    "any map is computed (defaults on a 224 x 224 model: 1923 passes, 24 million pixels in 960 "
    "imputed images from 48 sparse LU factors, one per map, order and fraction, shared by its "
    "moved copies); each method runs 1 + sanity_draws times; ROAD imputes at the model's input "
    f"size, at most {road.MAX_PIXELS:,} pixels; `road_fractions`: 1 … 9 increasing fractions in "
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
    road_fractions: Sequence[float] = DEFAULT_FRACTIONS,
    null_maps: int = DEFAULT_NULL_MAPS,
    sanity_draws: int = DEFAULT_DRAWS,
    batch_size: int = 64,
    progress: Callable[[float, str], None] | None = None,
) -> TrustReport:
    """Which explanation of ``image``'s class to trust: see the module for the tests and
    :mod:`cnnvis.evaluation.verdict` for the decision rule.

    ``methods``: registry names of heatmap and attribution techniques, functions called
    as ``f(model, image, target_class=index)`` (returning a map, an attribution or a
    technique's result), or a mapping from names to either; default: the registry's quick
    heatmap and attribution methods (:func:`default_methods`). Every map explains one
    class (default: the top class). ``box = (x0, y0, x1, y1)``: the object, in the
    photo's pixels, for the pointing game. ``seed`` seeds the moved maps of the null, the
    ties of pixel ranks, ROAD's noise and the randomised weights; a method's own curves
    and its null depend on its map, its name and the seed only, not on the other methods.
    ``steps``: deletion and insertion steps; ``road_fractions``: ROAD's removal
    fractions; ``null_maps``: moved copies of each map (19 or more: the placement test needs
    ``1 / (null_maps + 1) <= 0.05``); ``sanity_draws``: independent re-drawings of the
    classifier. ``progress(fraction, text)`` is called as the work advances (for
    ``gr.Progress``).
    """
    began = time.perf_counter()
    model = as_vis_model(model)
    chosen = resolve_methods(methods)
    steps, seed, batch_size, _, _ = metrics.check_common(
        steps, seed, batch_size, metrics.RANDOM_MAPS[0], 1
    )
    null_maps = check_int("null_maps", null_maps, MIN_NULL_MAPS, MAX_NULL_MAPS)
    sanity_draws = check_int("sanity_draws", sanity_draws, 1, MAX_DRAWS)
    fractions = road.check_fractions(road_fractions)
    prepared = prepare(model, image)
    pixels = prepared.batch[0]
    shape = pixels.shape[:2]
    road.check_size(shape, model.name)
    planned = len(chosen) * null_maps
    check_work(planned_work(len(chosen), planned, steps, fractions, shape[0] * shape[1], sanity_draws))
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
        kinds.append(method.band or band_of(result))
    maps_done = time.perf_counter()

    # 2. The sanity check: several independent draws of the classifier, on the kept copy.
    say(0.15, "Sanity check: re-drawing the classifier of a copy of the model")
    sanity = classifier_draws(
        model,
        prepared.image,
        [m.function for m in chosen],
        maps,
        klass,
        draws=sanity_draws,
        seed=seed,
        progress=_stage(progress, 0.15, 0.35),
    )
    sanity_done = time.perf_counter()

    # 3. Deletion, insertion and ROAD of every map and every null map, one stream.
    say(0.35, "Deletion, insertion and ROAD")
    model_maps = [resize_map(m, shape) for m in maps]
    keys = [(0, zlib.crc32(m.name.encode())) for m in chosen]
    moved = [
        (i, transform)
        for i, (values, key) in enumerate(zip(model_maps, keys))
        for transform in null.null_transforms(values, null_maps, seed, key)
    ]
    curves, cost = perturbation_curves(
        model,
        pixels,
        model_maps,
        [CURVE_TESTS] * len(model_maps),
        klass,
        keys=keys + [(1, *key, j) for key in keys for j in range(null_maps)],
        steps=steps,
        fractions=fractions,
        seed=seed,
        batch_size=batch_size,
        progress=_stage(progress, 0.35, 0.98),
        moved=moved,
        torus=True,
    )
    bands = {}
    for i, method in enumerate(chosen):
        start = len(chosen) + i * null_maps
        bands[method.name] = _bands(curves[start : start + null_maps])

    # 4. Evidence, verdicts, ranking.
    entries = []
    for i, method in enumerate(chosen):
        band = bands[method.name]
        on_curves = [curve_evidence(t, curve_area(curves[i][t]), band[t]) for t in CURVE_TESTS]
        evidence = [sanity_evidence(sanity.spearman[i]), *on_curves, placement_evidence(on_curves)]
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
        null_maps=null_maps,
        sanity_draws=sanity_draws,
        sanity_layers=sanity.layers,
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
