"""The trust report's decision rule: the evidence for one method and its verdict.

Each curve of a method (deletion and insertion: Petsiuk, Das & Saenko 2018, RISE; ROAD
most and least relevant first: Rong et al. 2022) is measured as an **area**: the mean
class probability along the curve (the trapezoid rule over the fractions divided by the
length of the axis, so every area lies in [0, 1] whatever the axis). Each area is
compared with the areas of the **null** of :mod:`cnnvis.evaluation.null`: the report's
own maps of the same kind, flipped and moved across the photo, which keep the map's
shape and lose its place. The evidence of a curve is the share of the null maps the
method beats on it (ties count half); the **placement** test combines the four curves
into one rank test with a stated false-positive rate (``ALPHA`` = 5 % with the default
19 null maps).

The rule (:func:`decide`):

1. **Sanity check** (Adebayo et al. 2018, "Sanity Checks for Saliency Maps") over
   several draws: the classifier head of a copy of the network is re-drawn at random
   ``draws`` times (8 by default), independently, and each time the Spearman rank
   correlation between the map on the trained and on the randomised model is measured;
   the map *survives* a draw when it reaches ``RHO_LIMIT`` = 0.5. The check **passes**
   when the map survives at most a quarter of the draws, **fails** when it survives at
   least three quarters, and is **mixed** otherwise (a map that survives about half the
   draws depends on the class only partly: on MobileNetV2 Grad-CAM does on some photos).
   0.5 lies between what guided backpropagation keeps (0.99: it shows edges, not the
   model) and what the gradient keeps (near 0).
2. **Placement** (:func:`cnnvis.evaluation.null.combined_share`): the method's share of
   the null it beats on the four curves combined, and the permutation p-value. It
   **passes** when the p-value is at most ``ALPHA`` (with 19 null maps: it beats all of
   them), is **weak** when the share is at least ``CARE_SHARE`` = 0.75, and **fails**
   below: the same map moved elsewhere does as well, so where it puts its weight does
   not matter to the model.
3. **Trusted** = the sanity check passes, the placement test passes, the method beats at
   least half of the null under ROAD in both orders (the debiased curves must not
   contradict the others) and, when a box is given, it hits the box in the pointing
   game (Zhang et al. 2016). Chance alone makes a map trusted at most ``ALPHA`` of the
   time (the placement test's false-positive rate; the other conditions only lower it).
4. **Not trusted** = the sanity check fails, or the class probability does not move on
   any curve (nothing can be shown), or the placement test fails.
5. **Use with care** = everything else; the reason names what kept it from "trusted"
   (the sanity check's mixed draws, then weak placement, then ROAD, then the pointing
   game).

Methods are ranked (:func:`rank_key`) by verdict, trusted first, then those whose sanity
check passes before the others, then by their placement share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import metrics
from ..errors import ParameterError
from .null import beaten_share, combined_share

RHO_LIMIT = 0.5
PASS_SHARE, FAIL_SHARE = 0.25, 0.75  # of the sanity draws in which the map survives
ALPHA = 0.05  # the placement test's false-positive rate
CARE_SHARE = 0.75  # below this share of the null beaten, the placement test fails
CURVE_BETTER, CURVE_WORSE = 0.9, 0.1  # a curve's share: better / worse than the null
FLAT = 1e-6  # areas closer than this are one number: the probability did not move

VERDICTS = ("trusted", "use with care", "not trusted")
CURVE_TESTS = ("deletion", "insertion", "road_morf", "road_lerf")
TESTS = ("sanity", *CURVE_TESTS, "placement", "pointing")
TITLES = {
    "sanity": "Sanity check",
    "deletion": "Deletion",
    "insertion": "Insertion",
    "road_morf": "ROAD, most relevant first",
    "road_lerf": "ROAD, least relevant first",
    "placement": "Placement (the four curves against the moved maps)",
    "pointing": "Pointing game",
}
PAPERS = {
    "sanity": "Adebayo et al. 2018, Sanity Checks for Saliency Maps",
    "deletion": "Petsiuk, Das & Saenko 2018, RISE",
    "insertion": "Petsiuk, Das & Saenko 2018, RISE",
    "road_morf": "Rong et al. 2022, A Consistent and Efficient Evaluation Strategy for Attribution Methods",
    "road_lerf": "Rong et al. 2022, A Consistent and Efficient Evaluation Strategy for Attribution Methods",
    "placement": "Alexander-Bloch et al. 2018 (spatial permutation nulls); Phipson & Smyth 2010 "
    "(Monte Carlo permutation p-values)",
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
AREA_LABEL = "mean probability"  # what an area is called wherever it is shown
DECISION_RULE = (
    "A method is trusted when its map changes when the classifier is re-drawn at random "
    f"(rank correlation below {RHO_LIMIT} in at least {1 - PASS_SHARE:.0%} of the draws), beats "
    "every one of the same maps moved across the photo on the four curves combined (a permutation test: chance passes "
    f"it at most {ALPHA:.0%} of the time), beats at least half of them under ROAD in both "
    "orders, and hits the box when one is given. It is not trusted when its map survives "
    f"{FAIL_SHARE:.0%} of the draws or more, when the probability does not move, or when it "
    f"beats fewer than {CARE_SHARE:.0%} of the moved maps. Anything else is use with care, with the reason."
)


@dataclass(frozen=True)
class Band:
    """The curves of the null maps of one kind for one test: per null map, per fraction."""

    test: str
    fractions: np.ndarray  # float32 (F,)
    scores: np.ndarray  # float32 (null maps, F): the class probability
    areas: np.ndarray  # float64 (null maps,): each null map's area

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
    def area_median(self) -> float:
        return float(np.median(self.areas))


@dataclass(frozen=True)
class Evidence:
    """One number that goes into a verdict, with what it was compared with."""

    test: str  # one of TESTS
    title: str
    paper: str
    value: float  # the area; the median rank correlation; the placement share; the distance
    better: str  # "lower" or "higher"
    reference: float  # the null's median area; RHO_LIMIT; ALPHA; the pointing tolerance
    share: float | None  # curves and placement: the share of the null maps beaten
    p_value: float | None  # placement: the permutation p-value
    samples: tuple[float, ...]  # curves: the null maps' areas; sanity: each draw's correlation
    outcome: str  # curves: better/within/worse; sanity: pass/mixed/fail;
    # placement: pass/weak/fail; pointing: hit/miss
    detail: str  # the numbers in words

    @property
    def better_than_random(self) -> bool:
        return self.outcome == "better"

    @property
    def worse_than_random(self) -> bool:
        return self.outcome == "worse"


def curve_area(curve: metrics.Curve) -> float:
    """The area of a curve, as every part of cnnvis reports it: the mean class
    probability along the curve (trapezoid area divided by the length of its axis)."""
    return metrics.curve_mean(curve.fractions, curve.scores)


def curve_evidence(test: str, area: float, band: Band) -> Evidence:
    """The method's area against the null maps' areas on one curve."""
    share = beaten_share(area, band.areas, BETTER[test] == "higher")
    outcome = "better" if share >= CURVE_BETTER else "worse" if share <= CURVE_WORSE else "within"
    return Evidence(
        test=test,
        title=TITLES[test],
        paper=PAPERS[test],
        value=float(area),
        better=BETTER[test],
        reference=band.area_median,
        share=share,
        p_value=None,
        samples=tuple(float(a) for a in band.areas),
        outcome=outcome,
        detail=(
            f"{AREA_LABEL} {area:.3f} ({BETTER[test]} is better); the {len(band.areas)} moved "
            f"maps: median {band.area_median:.3f}, from {band.areas.min():.3f} to "
            f"{band.areas.max():.3f}; it beats {share:.0%} of them"
        ),
    )


def placement_evidence(curves: Sequence[Evidence]) -> Evidence:
    """The four curves combined into one rank test against the null maps
    (:func:`cnnvis.evaluation.null.combined_share`)."""
    sign = {t: 1.0 if BETTER[t] == "higher" else -1.0 for t in CURVE_TESTS}
    method = np.array([sign[e.test] * e.value for e in curves])
    null = np.array([[sign[e.test] * a for a in e.samples] for e in curves]).T  # (null maps, curves)
    share, p_value, _ = combined_share(method, null)
    outcome = "pass" if p_value <= ALPHA + 1e-12 else "weak" if share >= CARE_SHARE else "fail"
    return Evidence(
        test="placement",
        title=TITLES["placement"],
        paper=PAPERS["placement"],
        value=share,
        better="higher",
        reference=ALPHA,
        share=share,
        p_value=p_value,
        samples=(),
        outcome=outcome,
        detail=(
            f"on the four curves combined it beats {share:.0%} of {len(null)} moved copies of "
            f"its map (permutation p = {p_value:.2f}; at most {ALPHA:g} to pass, a share "
            f"below {CARE_SHARE:.0%} fails)"
        ),
    )


def sanity_evidence(spearman: Sequence[float]) -> Evidence:
    """The rank correlations of the draws (one per independent re-drawing)."""
    rho = np.asarray(spearman, np.float64).ravel()
    survived = int(np.sum(rho >= RHO_LIMIT))
    share = survived / rho.size
    outcome = "pass" if share <= PASS_SHARE else "fail" if share >= FAIL_SHARE else "mixed"
    median = float(np.median(rho))
    spread = f"from {rho.min():.2f} to {rho.max():.2f} over {rho.size} draws" if rho.size > 1 else "in one draw"
    return Evidence(
        test="sanity",
        title=TITLES["sanity"],
        paper=PAPERS["sanity"],
        value=median,
        better="lower",
        reference=RHO_LIMIT,
        share=None,
        p_value=None,
        samples=tuple(float(r) for r in rho),
        outcome=outcome,
        detail=(
            f"rank correlation with the trained model's map once the classifier is re-drawn: "
            f"median {median:.2f}, {spread}; {survived} of {rho.size} reach the limit {RHO_LIMIT}"
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
        share=None,
        p_value=None,
        samples=(),
        outcome="hit" if result.hit else "miss",
        detail=(
            f"the map's peak at ({result.peak[0]}, {result.peak[1]}) is "
            + ("inside the box" if result.distance == 0 else f"{result.distance:.0f} pixels from the box")
            + f" (tolerance {result.tolerance:g})"
        ),
    )


def placement_share(evidence: Sequence[Evidence]) -> float:
    """The placement share of a method's evidence (0 when it has none)."""
    found = [e.share for e in evidence if e.test == "placement" and e.share is not None]
    return float(found[0]) if found else 0.0


def _shares(items: Sequence[Evidence], last: str = "and") -> str:
    """"deletion (95 %), insertion (100 %) and ROAD ..." for a sentence."""
    parts = [f"{PHRASES[e.test]} ({e.share:.0%})" for e in items]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} {last} {parts[-1]}"


def decide(evidence: Sequence[Evidence]) -> tuple[str, str]:
    """(verdict, one sentence why) from a method's evidence, by the module's rule."""
    by_test = {e.test: e for e in evidence}
    missing = [t for t in ("sanity", *CURVE_TESTS, "placement") if t not in by_test]
    if missing:
        raise ParameterError(f"A verdict needs the {', '.join(missing)} evidence.")
    sanity, placement = by_test["sanity"], by_test["placement"]
    curves = [by_test[t] for t in CURVE_TESTS]
    road = [by_test["road_morf"], by_test["road_lerf"]]
    pointing = by_test.get("pointing")
    draws = len(sanity.samples) or 1
    survived = sum(r >= RHO_LIMIT for r in sanity.samples)
    if sanity.outcome == "fail":
        return "not trusted", (
            "Its map keeps its ranking of the pixels when the classifier is re-drawn at random "
            f"(rank correlation {_range(sanity)}, limit {RHO_LIMIT}, in {survived} of {draws} "
            f"draw{'s' if draws > 1 else ''}), so it shows the image more than what the model "
            "learned."
        )
    if sanity.outcome == "pass":
        passed = (
            f"It passes the sanity check (rank correlation {_range(sanity)} over {draws} draws, "
            f"{survived} reaching {RHO_LIMIT})"
        )
    else:
        passed = (
            f"Its map survives {survived} of {draws} re-drawings of the classifier (rank "
            f"correlation {_range(sanity)}, limit {RHO_LIMIT})"
        )
    if all(max(abs(a - e.value) for a in e.samples) < FLAT for e in curves if e.samples):
        return "not trusted", (
            f"{passed}, but the class probability does not move on any curve, so no map can "
            "be shown to explain it."
        )
    beats = f"beats {placement.share:.0%} of {_null_size(curves)} copies of its map moved across the photo"
    if placement.outcome == "fail":
        why = (
            "its copies do better: the model looks elsewhere than where the map points"
            if placement.share < 0.25
            else "so where it puts its weight does not matter to the model"
        )
        return "not trusted", f"{passed}, but it {beats} (p = {placement.p_value:.2f}), {why}."
    if sanity.outcome == "mixed":
        return "use with care", f"{passed}, so it follows the class only in part; it {beats}."
    if placement.outcome != "pass":
        return "use with care", (
            f"{passed}, but it {beats}, not all (p = {placement.p_value:.2f}, at most "
            f"{ALPHA:g} needed): the evidence that its place matters is weak."
        )
    short = [e for e in road if e.share is not None and e.share < 0.5]
    if short:
        return "use with care", (
            f"{passed} and beats every moved copy of its map on the curves combined, but under ROAD it "
            f"beats only {_shares(short)} of them."
        )
    if pointing is not None and pointing.outcome != "hit":
        return "use with care", (
            f"{passed} and beats every moved copy of its map, but its peak lies {pointing.value:.0f} "
            "pixels outside the object's box (the model, or the map, looks elsewhere)."
        )
    return "trusted", (
        f"{passed} and beats every moved copy of its map on the curves combined (p = "
        f"{placement.p_value:.2f}): {_shares(curves)}."
    )


def _null_size(curves: Sequence[Evidence]) -> int:
    return len(curves[0].samples)


def _range(sanity: Evidence) -> str:
    values = sanity.samples or (sanity.value,)
    low, high = min(values), max(values)
    return f"{low:.2f}" if len(values) == 1 or high - low < 0.005 else f"{low:.2f} to {high:.2f}"


def rank_key(entry) -> tuple:
    """Sort key of a :class:`cnnvis.evaluation.trust.MethodTrust`: verdict (trusted first), then
    the sanity check (pass, mixed, fail), then the placement share, highest first."""
    sanity = entry.evidence_for("sanity")
    order = ("pass", "mixed", "fail").index(sanity.outcome) if sanity is not None else 2
    return (VERDICTS.index(entry.verdict), order, -entry.faithfulness)


__all__ = [
    "RHO_LIMIT",
    "PASS_SHARE",
    "FAIL_SHARE",
    "ALPHA",
    "CARE_SHARE",
    "VERDICTS",
    "CURVE_TESTS",
    "TESTS",
    "PAPERS",
    "AREA_LABEL",
    "DECISION_RULE",
    "Band",
    "Evidence",
    "curve_area",
    "curve_evidence",
    "placement_evidence",
    "sanity_evidence",
    "pointing_evidence",
    "placement_share",
    "decide",
    "rank_key",
]
