"""The trust report's decision rule: the evidence for one method and its verdict.

Each curve of a method (deletion and insertion: Petsiuk, Das & Saenko 2018, RISE; ROAD
most and least relevant first: Rong et al. 2022) is compared with a **band of random
maps**: the margin is ``z = (band mean area - method area) / band spread`` where lower
is better (deletion, MoRF), the opposite sign where higher is better (insertion, LeRF),
so ``z > 0`` always means "better than random". The spread is the sample standard
deviation of the random maps' areas, at least ``SPREAD_FLOOR``. An area is the mean
class probability along the curve (trapezoid rule over the fractions, divided by the
length of the axis).

The rule (:func:`decide`):

1. **Sanity gate** (Adebayo et al. 2018). A method fails when the Spearman rank
   correlation between its map on the trained model and on a copy randomised from the
   top reaches ``RHO_LIMIT`` = 0.5 at any step of the cascade. Adebayo et al. show that
   guided backprop's maps barely change as the top layers are re-drawn while the
   gradient's and Grad-CAM's change completely; on examples/cat.jpg with MobileNetV2
   we measure 0.996 for guided backprop and 0.21 for Grad-CAM once the classifier is
   re-drawn. 0.5 lies between: above it the randomised model's map still orders most
   pixels as the trained one did. A method that fails is **not trusted**, whatever its
   curves say.
2. **Beating the random band.** A curve counts as *better* than random when ``z >=
   Z_LIMIT`` = 2, *worse* when ``z <= -2``, *no better than random* in between: with a
   band of 4 random maps, another random map lands 2 spreads better than the band's mean
   about once in 12 (Student's t with 3 degrees of freedom), and "trusted" asks for three
   such curves at once.
3. **Trusted** = passes the sanity check, beats the band under ROAD in both orders (the
   debiased test: Rong et al. show that most- and least-relevant-first then agree), beats
   it on deletion or insertion, is worse than it on none of the four curves, and, when a
   box is given, hits it in the pointing game (Zhang et al. 2016).
4. **Not trusted** = fails the sanity check, or beats the band on none of the four
   curves, or is worse than it under ROAD in both orders.
5. **Use with care** = everything else; the reason names the first test that kept it
   from "trusted" (ROAD, then curves worse than random, then deletion and insertion,
   then the pointing game).

Methods are ranked (:func:`rank_key`) by verdict, trusted first, then those that pass
the sanity check before those that fail it, then by their mean margin over the curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import metrics
from ..errors import ParameterError

RHO_LIMIT = 0.5
Z_LIMIT = 2.0
SPREAD_FLOOR = 0.01  # probability-area units: smaller differences are not evidence
Z_CLIP = 10.0  # margins are clipped to +-10 spreads when methods are ranked by their mean

VERDICTS = ("trusted", "use with care", "not trusted")
CURVE_TESTS = ("deletion", "insertion", "road_morf", "road_lerf")
TESTS = ("sanity", *CURVE_TESTS, "pointing")
TITLES = {
    "sanity": "Sanity check",
    "deletion": "Deletion",
    "insertion": "Insertion",
    "road_morf": "ROAD, most relevant first",
    "road_lerf": "ROAD, least relevant first",
    "pointing": "Pointing game",
}
PAPERS = {
    "sanity": "Adebayo et al. 2018, Sanity Checks for Saliency Maps",
    "deletion": "Petsiuk, Das & Saenko 2018, RISE",
    "insertion": "Petsiuk, Das & Saenko 2018, RISE",
    "road_morf": "Rong et al. 2022, A Consistent and Efficient Evaluation Strategy for Attribution Methods",
    "road_lerf": "Rong et al. 2022, A Consistent and Efficient Evaluation Strategy for Attribution Methods",
    "pointing": "Zhang et al. 2016, Top-down Neural Attention by Excitation Backprop",
}
BETTER = {"deletion": "lower", "insertion": "higher", "road_morf": "lower", "road_lerf": "higher"}
AXES = {
    "deletion": "fraction of pixels set to black",
    "insertion": "fraction of pixels copied into the blurred photo",
    "road_morf": "fraction removed, most relevant first (imputed)",
    "road_lerf": "fraction removed, least relevant first (imputed)",
}
PHRASES = {  # a curve's name inside a sentence
    "deletion": "deletion",
    "insertion": "insertion",
    "road_morf": "ROAD most relevant first",
    "road_lerf": "ROAD least relevant first",
}
DECISION_RULE = (
    f"A method is trusted when it passes the sanity check (rank correlation below {RHO_LIMIT} "
    "with its map on a randomised model), beats the band of random maps by at least "
    f"{Z_LIMIT:g} spreads under ROAD in both orders and on deletion or insertion, is worse "
    "than the band on no curve, and hits the box when one is given. It is not trusted when "
    "it fails the sanity check, beats the band on no curve, or is worse than it under ROAD "
    "in both orders. Anything else is use with care."
)


@dataclass(frozen=True)
class Band:
    """The curves of the random maps for one test: per random map and per fraction."""

    test: str
    fractions: np.ndarray  # float32 (F,)
    scores: np.ndarray  # float32 (random maps, F): the class probability
    areas: np.ndarray  # float64 (random maps,): each random map's area

    @property
    def mean(self) -> np.ndarray:
        return self.scores.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        """The sample standard deviation per fraction (0 for a band of one map)."""
        return self.scores.std(axis=0, ddof=1) if len(self.scores) > 1 else np.zeros_like(self.mean)

    @property
    def low(self) -> np.ndarray:
        return self.scores.min(axis=0)

    @property
    def high(self) -> np.ndarray:
        return self.scores.max(axis=0)

    @property
    def area_mean(self) -> float:
        return float(self.areas.mean())

    @property
    def area_spread(self) -> float:
        """The sample standard deviation of the areas, at least ``SPREAD_FLOOR``."""
        spread = float(self.areas.std(ddof=1)) if len(self.areas) > 1 else 0.0
        return max(spread, SPREAD_FLOOR)


@dataclass(frozen=True)
class Evidence:
    """One number that goes into a verdict, with what it was compared with."""

    test: str  # one of TESTS
    title: str
    paper: str
    value: float  # the method's area; the largest rank correlation; the distance in pixels
    better: str  # "lower" or "higher"
    reference: float  # the band's mean area; RHO_LIMIT; the pointing tolerance
    spread: float | None  # the band's spread (curves only)
    z: float | None  # the margin in spreads, > 0 = better than random (curves only)
    outcome: str  # "better" / "within" / "worse"; "pass" / "fail"; "hit" / "miss"
    detail: str  # the numbers in words

    @property
    def better_than_random(self) -> bool:
        return self.outcome == "better"

    @property
    def worse_than_random(self) -> bool:
        return self.outcome == "worse"


def curve_area(curve: metrics.Curve) -> float:
    """The mean class probability along the curve: trapezoid area / axis length."""
    span = float(curve.fractions[-1] - curve.fractions[0])
    return curve.auc / span


def curve_evidence(test: str, area: float, band: Band) -> Evidence:
    """The method's area against the band: margin ``z`` in spreads (> 0 = better)."""
    sign = 1.0 if BETTER[test] == "lower" else -1.0
    z = sign * (band.area_mean - area) / band.area_spread
    outcome = "better" if z >= Z_LIMIT else "worse" if z <= -Z_LIMIT else "within"
    return Evidence(
        test=test,
        title=TITLES[test],
        paper=PAPERS[test],
        value=float(area),
        better=BETTER[test],
        reference=band.area_mean,
        spread=band.area_spread,
        z=float(z),
        outcome=outcome,
        detail=(
            f"area {area:.3f} vs {band.area_mean:.3f} ± {band.area_spread:.3f} for "
            f"{len(band.areas)} random maps ({BETTER[test]} is better): z = {z:+.1f}"
        ),
    )


def sanity_evidence(spearman: Sequence[float]) -> Evidence:
    rho = float(np.max(spearman))
    passed = rho < RHO_LIMIT
    return Evidence(
        test="sanity",
        title=TITLES["sanity"],
        paper=PAPERS["sanity"],
        value=rho,
        better="lower",
        reference=RHO_LIMIT,
        spread=None,
        z=None,
        outcome="pass" if passed else "fail",
        detail=(
            f"rank correlation with the trained model's map up to {rho:.2f} as the layers "
            f"are randomised from the top (it must stay below {RHO_LIMIT})"
        ),
    )


def pointing_evidence(result: metrics.PointingResult) -> Evidence:
    return Evidence(
        test="pointing",
        title=TITLES["pointing"],
        paper=PAPERS["pointing"],
        value=result.distance,
        better="lower",
        reference=result.tolerance,
        spread=None,
        z=None,
        outcome="hit" if result.hit else "miss",
        detail=(
            f"the map's peak at ({result.peak[0]}, {result.peak[1]}) is "
            + ("inside the box" if result.distance == 0 else f"{result.distance:.0f} pixels from the box")
            + f" (tolerance {result.tolerance:g})"
        ),
    )


def mean_margin(evidence: Sequence[Evidence]) -> float:
    margins = [float(np.clip(e.z, -Z_CLIP, Z_CLIP)) for e in evidence if e.test in CURVE_TESTS]
    return float(np.mean(margins)) if margins else 0.0


def _z_list(items: Sequence[Evidence], last: str = "and") -> str:
    """"deletion (z = +3.1), insertion (z = +2.4) and ROAD ..." for a sentence."""
    parts = [f"{PHRASES[e.test]} (z = {e.z:+.1f})" for e in items]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} {last} {parts[-1]}"


def decide(evidence: Sequence[Evidence]) -> tuple[str, str]:
    """(verdict, one sentence why) from a method's evidence, by the module's rule."""
    by_test = {e.test: e for e in evidence}
    missing = [t for t in ("sanity", *CURVE_TESTS) if t not in by_test]
    if missing:
        raise ParameterError(f"A verdict needs the {', '.join(missing)} evidence.")
    sanity = by_test["sanity"]
    curves = [by_test[t] for t in CURVE_TESTS]
    morf, lerf = by_test["road_morf"], by_test["road_lerf"]
    rise = [by_test["deletion"], by_test["insertion"]]
    pointing = by_test.get("pointing")
    if sanity.outcome != "pass":
        return "not trusted", (
            "Its map keeps much of its ranking of the pixels when the model's weights are "
            f"randomised (rank correlation up to {sanity.value:.2f}, limit {RHO_LIMIT}), so "
            "it shows the image more than what the model learned."
        )
    passed = f"It passes the sanity check (rank correlation at most {sanity.value:.2f})"
    if not any(e.better_than_random for e in curves):
        best = max(curves, key=lambda e: e.z)
        return "not trusted", (
            f"{passed}, but it beats the random maps on none of the four curves (the best is "
            f"{PHRASES[best.test]}, z = {best.z:+.1f}; {Z_LIMIT:g} is needed)."
        )
    if morf.worse_than_random and lerf.worse_than_random:
        return "not trusted", (
            f"{passed}, but it is worse than the random maps on {_z_list([morf, lerf])}."
        )
    road_short = [e for e in (morf, lerf) if not e.better_than_random]
    if road_short:
        worse_road = [e for e in road_short if e.worse_than_random]
        within = [e for e in road_short if not e.worse_than_random]
        parts = [f"no better than the random maps on {_z_list(within)}"] if within else []
        if worse_road:
            them = "them" if within else "the random maps"
            parts.append(f"worse than {them} on {_z_list(worse_road)}")
        return "use with care", f"{passed}, but it is {' and '.join(parts)}."
    worse = [e for e in curves if e.worse_than_random]
    if worse:
        return "use with care", (
            f"{passed} and beats the random maps under ROAD, but it is worse than them on "
            f"{_z_list(worse)}."
        )
    if not any(e.better_than_random for e in rise):
        return "use with care", (
            f"{passed} and beats the random maps under ROAD, but it beats them on neither "
            f"{_z_list(rise, 'nor')}, where {Z_LIMIT:g} is needed."
        )
    if pointing is not None and pointing.outcome != "hit":
        return "use with care", (
            f"{passed} and beats the random maps, but its peak lies {pointing.value:.0f} pixels "
            "outside the object's box (the model, or the map, looks elsewhere)."
        )
    won = [e for e in curves if e.better_than_random]
    return "trusted", f"{passed} and beats the random maps on {_z_list(won)}."


def rank_key(entry) -> tuple:
    """Sort key of a :class:`cnnvis.evaluation.trust.MethodTrust`: verdict (trusted first), then
    passing the sanity check before failing it, then the mean margin, highest first."""
    return (VERDICTS.index(entry.verdict), not entry.passed_sanity, -entry.faithfulness)


__all__ = [
    "RHO_LIMIT",
    "Z_LIMIT",
    "SPREAD_FLOOR",
    "VERDICTS",
    "CURVE_TESTS",
    "TESTS",
    "PAPERS",
    "DECISION_RULE",
    "Band",
    "Evidence",
    "curve_area",
    "curve_evidence",
    "sanity_evidence",
    "pointing_evidence",
    "decide",
    "rank_key",
]
