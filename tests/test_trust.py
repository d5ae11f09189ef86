"""The trust report: known answers on a hand-built model, the decision rule, cost,
serialisation and drawing, then one real-weights check."""

from __future__ import annotations

import hashlib
import json
import zlib

import keras
import numpy as np
import pytest

import cnnvis
from cnnvis import render
from cnnvis.evaluation import metrics
from cnnvis.evaluation import null
from cnnvis.evaluation import road
from cnnvis.evaluation import sanity
from cnnvis.evaluation import trust
from cnnvis.evaluation import verdict
from cnnvis.errors import ParameterError
from cnnvis import TECHNIQUES

from .tiny import cam_model, seeded_image, wrap

SIZE = 32
SLOPE, OFFSET = 0.25, -3.0  # logit 0 = SLOPE * mean(relu(grey - 128) over the quadrant) + OFFSET


def quadrant_model():
    """Only the top-left quadrant can change class 0's logit, and only through its
    weights (not the architecture): a 1 x 1 convolution keeps the bright detail
    ``relu(grey - 128)`` everywhere, and the dense layer reads it only in the quadrant.
    Re-drawing the dense layer at random makes every pixel count, so a map that follows
    the model must change; class 1's logit is 0."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(1, 1, activation="relu", name="detail")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    outputs = keras.layers.Dense(2, name="logits")(x)
    model = keras.Model(inputs, outputs, name="quadrant_dense")
    grey = np.array([0.3, 0.35, 0.35], np.float32).reshape(1, 1, 3, 1)
    model.get_layer("detail").set_weights([grey, np.array([-128.0], np.float32)])
    kernel = np.zeros((SIZE, SIZE, 2), np.float32)
    kernel[: SIZE // 2, : SIZE // 2, 0] = SLOPE / (SIZE * SIZE / 4)
    model.get_layer("logits").set_weights(
        [kernel.reshape(SIZE * SIZE, 2), np.array([OFFSET, 0.0], np.float32)]
    )
    return wrap(model)


def region(model, image, target_class=None):
    """The right answer, drawn by hand: it ignores the model, so it cannot follow it."""
    values = np.zeros(image.shape[:2], np.float32)
    values[: SIZE // 2, : SIZE // 2] = 1.0
    return values


def model_noise(model, image, target_class=None):
    """A random attribution that depends on the model's weights (so it changes when they
    are randomised) but says nothing about the pixels."""
    weights = b"".join(np.asarray(w).tobytes() for w in model.keras_model.get_weights())
    seed = int.from_bytes(hashlib.sha256(weights).digest()[:8], "little")
    return np.random.default_rng(seed).random((*image.shape[:2], 3)).astype(np.float32)


@pytest.fixture(scope="module")
def quadrant():
    return quadrant_model()


@pytest.fixture(scope="module")
def noise_image():
    return seeded_image(SIZE, SIZE, seed=5)


@pytest.fixture(scope="module")
def known(quadrant, noise_image):
    methods = {"gradient": cnnvis.vanilla_gradient, "noise": model_noise, "region": region}
    return trust.trust_report(quadrant, noise_image, methods, target_class=0)


# ----- known answers -------------------------------------------------------------------
def test_the_method_that_finds_the_region_is_trusted(known):
    gradient = known.method("gradient")
    assert gradient.verdict == "trusted", gradient.reason
    assert gradient.passed_sanity and gradient.band == "pixels"
    assert all(gradient.evidence_for(t).outcome == "better" for t in verdict.CURVE_TESTS)
    # It really is the quadrant: all of the map's mass lies there.
    assert gradient.map[: SIZE // 2, : SIZE // 2].sum() == pytest.approx(gradient.map.sum())
    assert (gradient.map[: SIZE // 2, : SIZE // 2] > 0).mean() > 0.3  # the bright half of it
    assert known.ranking[0] == "gradient" and gradient.rank == 1


def test_a_random_map_that_follows_the_model_is_not_trusted(known):
    noise = known.method("noise")
    assert noise.passed_sanity  # it changes with the weights...
    assert noise.verdict == "not trusted", noise.reason  # ...but its place does not matter
    assert noise.evidence_for("placement").outcome == "fail"
    assert "moved across the photo" in noise.reason and "does not matter" in noise.reason


def test_a_map_that_ignores_the_model_is_never_trusted_however_faithful(known):
    fixed = known.method("region")
    assert fixed.evidence_for("sanity").value == pytest.approx(1.0)
    assert fixed.evidence_for("sanity").outcome == "fail"
    assert fixed.verdict == "not trusted" and "re-drawn at random" in fixed.reason
    # Its curves are excellent (it is the right answer), and still it ranks last.
    assert fixed.evidence_for("road_morf").better_than_random
    assert fixed.evidence_for("deletion").better_than_random
    assert known.ranking[-1] == "region" and fixed.faithfulness > known.method("noise").faithfulness
    assert "region" in known.note and "sanity" in known.note


def test_every_number_of_a_verdict_is_on_the_result_with_its_paper(known):
    for entry in known.methods:
        tests = [e.test for e in entry.evidence]
        assert tests == ["sanity", *verdict.CURVE_TESTS, "placement"]
        for e in entry.evidence:
            assert e.paper == verdict.PAPERS[e.test] and e.paper
            assert np.isfinite(e.value) and e.detail
        for test in verdict.CURVE_TESTS:
            e = entry.evidence_for(test)
            band = known.bands[entry.name][test]
            area = verdict.curve_area(entry.curves[test])
            assert e.value == pytest.approx(area)
            # The area is the mean probability: the trapezoid over the axis' length.
            assert area == pytest.approx(entry.curves[test].auc / float(entry.curves[test].fractions[-1]))
            assert e.reference == pytest.approx(np.median(band.areas))
            higher = e.better == "higher"
            wins = np.sum(band.areas < e.value) if higher else np.sum(band.areas > e.value)
            ties = np.sum(band.areas == e.value)
            assert e.share == pytest.approx((wins + ties / 2) / known.null_maps)
            assert e.samples == tuple(band.areas)
        sanity_e = entry.evidence_for("sanity")
        assert sanity_e.value == pytest.approx(np.median(entry.sanity_spearman))
        assert sanity_e.samples == pytest.approx(tuple(entry.sanity_spearman))
        assert len(sanity_e.samples) == known.sanity_draws == trust.DEFAULT_DRAWS == 8
        placement = entry.evidence_for("placement")
        assert placement.p_value >= 1 / (known.null_maps + 1) and placement.p_value <= 1
        road_axis = entry.curves["road_morf"].fractions
        np.testing.assert_allclose(road_axis, (0.0, *trust.DEFAULT_FRACTIONS), atol=1e-7)
        assert entry.curves["road_morf"].scores[0] == entry.curves["road_lerf"].scores[0] == pytest.approx(known.probability)
        assert verdict.decide(entry.evidence) == (entry.verdict, entry.reason)
    assert TECHNIQUES["vanilla_gradient"].paper == known.method("gradient").paper


def test_each_method_has_its_own_null_of_moved_copies(known, quadrant, noise_image):
    assert set(known.bands) == {"gradient", "noise", "region"}
    for name, by_test in known.bands.items():
        assert set(by_test) == set(verdict.CURVE_TESTS)
        for test, band in by_test.items():
            assert band.scores.shape == (trust.DEFAULT_NULL_MAPS, band.fractions.size)
            assert band.areas.shape == (trust.DEFAULT_NULL_MAPS,)
    # The null of the region map is its own map moved: every copy keeps its values (a
    # quarter of the photo at 1), and lies elsewhere, so each does worse than the map.
    region_map = known.method("region").map
    copies = null.null_maps(region_map, trust.DEFAULT_NULL_MAPS, 0, (0, zlib.crc32(b"region")))
    for copy in copies:
        assert np.sort(copy.ravel()).tolist() == np.sort(region_map.ravel()).tolist()
        assert (copy * region_map).sum() < region_map.sum()  # moved off the quadrant, partly at least
    deletion = known.bands["region"]["deletion"].areas
    assert (deletion > known.method("region").evidence_for("deletion").value).all()
    maps = len(known.methods) * (1 + known.null_maps)
    work = trust.planned_work(len(known.methods), len(known.methods) * known.null_maps, known.steps,
                              known.road_fractions, SIZE * SIZE, known.sanity_draws)
    assert known.passes == work.passes == 3 + maps * (2 * (known.steps - 1) + 2 * len(known.road_fractions))
    assert known.imputations == work.imputations == maps * 2 * len(known.road_fractions)


def test_the_sanity_check_is_adebayos_over_independent_draws_on_a_kept_copy(quadrant, noise_image, known):
    """Each draw re-draws the classifier head from the trained weights with its own
    seed, as metrics.randomise does on a fresh independent copy; the model itself is
    untouched and the kept copy gets the trained weights back before each use."""
    before = [w.copy() for w in quadrant.keras_model.get_weights()]
    original = metrics.map_for((SIZE, SIZE), cnnvis.vanilla_gradient(quadrant, noise_image, target_class=0))
    expected = []
    for draw in range(trust.DEFAULT_DRAWS):
        copy = metrics.independent_copy(quadrant)
        metrics.randomise(copy, ["logits"], np.random.default_rng([0, 17, draw]))
        again = metrics.map_for((SIZE, SIZE), cnnvis.vanilla_gradient(copy, noise_image, target_class=0))
        expected.append(metrics.spearman(original, again))
    np.testing.assert_allclose(known.method("gradient").sanity_spearman, expected, atol=1e-6)
    assert len(set(np.round(expected, 6))) == len(expected)  # the draws differ
    assert known.sanity_layers == ("logits",)
    with sanity.randomisation_copy(quadrant) as first:
        pass
    with sanity.randomisation_copy(quadrant) as second:
        assert second is first and second.keras_model is not quadrant.keras_model
        for a, b in zip(second.keras_model.get_weights(), quadrant.keras_model.get_weights()):
            np.testing.assert_array_equal(a, b)  # trained weights back before each use
    for old, new in zip(before, quadrant.keras_model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_a_methods_numbers_do_not_depend_on_the_other_methods(quadrant, noise_image, known):
    alone = trust.trust_report(quadrant, noise_image, {"gradient": cnnvis.vanilla_gradient}, target_class=0)
    assert alone.methods[0].evidence == known.method("gradient").evidence
    assert alone.methods[0].reason == known.method("gradient").reason


def test_large_models_get_a_fresh_copy_instead_of_a_kept_one(monkeypatch):
    model = wrap(cam_model(seed=4, size=16))
    monkeypatch.setattr(sanity, "KEEP_COPY_BYTES", 0)
    with sanity.randomisation_copy(model) as first:
        pass
    with sanity.randomisation_copy(model) as second:
        assert second is not first
    assert model.compiled_count == 0  # nothing kept with the model


def test_results_are_reproducible_for_a_seed(quadrant, noise_image, known):
    methods = {"gradient": cnnvis.vanilla_gradient, "noise": model_noise, "region": region}
    again = trust.trust_report(quadrant, noise_image, methods, target_class=0).to_dict()
    first = known.to_dict()
    first.pop("cost"), again.pop("cost")
    for entry in first["methods"] + again["methods"]:
        entry.pop("seconds")
    assert again == first
    other = trust.trust_report(quadrant, noise_image, methods, target_class=0, seed=1)
    assert not np.array_equal(
        other.bands["gradient"]["road_morf"].scores, known.bands["gradient"]["road_morf"].scores
    )


def test_the_pointing_game_enters_the_verdict_when_a_box_is_given(quadrant, noise_image):
    methods = {"gradient": cnnvis.vanilla_gradient}
    inside = trust.trust_report(quadrant, noise_image, methods, target_class=0, box=(0, 0, 15, 15))
    outside = trust.trust_report(quadrant, noise_image, methods, target_class=0, box=(20, 20, 31, 31))
    hit, miss = inside.methods[0], outside.methods[0]
    assert hit.evidence_for("pointing").outcome == "hit" and hit.verdict == "trusted"
    assert miss.evidence_for("pointing").outcome == "miss" and miss.verdict == "use with care"
    assert "box" in miss.reason and miss.pointing.distance > 0
    assert outside.box == (20.0, 20.0, 31.0, 31.0)


# ----- the decision rule on hand-made evidence -----------------------------------------
NULL_AREAS = tuple(np.linspace(0.3, 0.7, 19))


def evidence(rho=(0.1, 0.2, 0.1, 0.2), deletion=1.0, insertion=1.0, morf=1.0, lerf=1.0,
             placement=1.0, p_value=0.05, pointing=None, flat=False):
    """Hand-made evidence: per curve the share of the null beaten; placement's share and
    p-value; the draws' rank correlations."""
    def curve(test, share):
        outcome = "better" if share >= 0.9 else "worse" if share <= 0.1 else "within"
        samples = (0.5,) * 19 if flat else NULL_AREAS
        return verdict.Evidence(test, test, "", 0.5, verdict.BETTER[test], 0.5, share, None,
                                samples, outcome, "")

    rho = tuple(rho) if np.ndim(rho) else (rho,)
    share = sum(r >= verdict.RHO_LIMIT for r in rho) / len(rho)
    sanity_outcome = "pass" if share <= 0.25 else "fail" if share >= 0.75 else "mixed"
    place = "pass" if p_value <= verdict.ALPHA else "weak" if placement >= verdict.CARE_SHARE else "fail"
    items = [
        verdict.Evidence("sanity", "", "", float(np.median(rho)), "lower", verdict.RHO_LIMIT, None,
                         None, rho, sanity_outcome, ""),
        curve("deletion", deletion),
        curve("insertion", insertion),
        curve("road_morf", morf),
        curve("road_lerf", lerf),
        verdict.Evidence("placement", "", "", placement, "higher", verdict.ALPHA, placement, p_value,
                         (), place, ""),
    ]
    if pointing is not None:
        items.append(verdict.Evidence("pointing", "", "", 0.0 if pointing else 30.0, "lower", 15,
                                      None, None, (), "hit" if pointing else "miss", ""))
    return items


@pytest.mark.parametrize(
    "case, expected, words",
    [
        (dict(), "trusted", "beats every moved copy of its map on the curves combined (p = 0.05)"),
        (dict(rho=(0.5, 0.6, 0.9, 0.7)), "not trusted", "in 4 of 4 draws"),
        (dict(rho=(0.5, 0.6, 0.1, 0.7)), "not trusted", "0.10 to 0.70, limit 0.5, in 3 of 4 draws"),
        (dict(rho=0.9), "not trusted", "in 1 of 1 draw)"),
        (dict(rho=(0.1, 0.6, 0.2, 0.3)), "trusted", "0.10 to 0.60 over 4 draws, 1 reaching 0.5"),
        (dict(rho=(0.1, 0.6, 0.2, 0.8)), "use with care", "survives 2 of 4 re-drawings"),
        (dict(rho=(0.1, 0.6, 0.2, 0.8), placement=0.5, p_value=0.5), "not trusted", "does not matter"),
        (dict(flat=True, placement=0.5, p_value=0.5), "not trusted", "does not move on any curve"),
        (dict(placement=0.74, p_value=0.3), "not trusted", "beats 74% of 19 copies"),
        (dict(placement=0.1, p_value=0.9), "not trusted", "the model looks elsewhere than where the map points"),
        (dict(placement=0.9, p_value=0.15), "use with care", "the evidence that its place matters is weak"),
        (dict(morf=0.4), "use with care", "under ROAD it beats only ROAD most relevant first (40%)"),
        (dict(morf=0.3, lerf=0.2), "use with care", "(30%) and ROAD least relevant first (20%)"),
        (dict(deletion=0.0), "trusted", "deletion (0%)"),  # the rule is the combined test
        (dict(pointing=False), "use with care", "box"),
        (dict(pointing=True), "trusted", ""),
    ],
)
def test_the_decision_rule(case, expected, words):
    got, reason = verdict.decide(evidence(**case))
    assert got == expected and words in reason, reason
    assert reason.endswith(".") and reason.count(". ") == 0  # one sentence


def test_a_method_that_fails_the_sanity_check_never_ranks_above_one_that_passes():
    def entry(name, outcome, rho, z):
        items = evidence(rho=rho, placement=z / 9.0, p_value=1.0 - z / 9.0)
        return trust.MethodTrust(name, name, "", np.zeros((2, 2)), "blobs", outcome, "", 0, {},
                                 tuple(items), np.zeros(1), np.zeros(1), None, 0.0)

    entries = [
        entry("failing but faithful", "not trusted", 0.9, 9.0),
        entry("passing, unfaithful", "not trusted", 0.1, 0.0),
        entry("careful", "use with care", 0.1, 1.0),
        entry("trusted", "trusted", 0.1, 3.0),
    ]
    ranked = sorted(entries, key=verdict.rank_key)
    assert [e.name for e in ranked] == ["trusted", "careful", "passing, unfaithful", "failing but faithful"]
    with pytest.raises(ParameterError):
        verdict.decide(evidence()[:3])


# ----- the null and its rank test ------------------------------------------------------
def test_a_moved_map_keeps_its_values_and_lies_elsewhere():
    values = np.random.default_rng(0).random((40, 60)).astype(np.float32)
    rng = np.random.default_rng(1)
    for _ in range(50):
        copy = null.moved(values, rng)
        assert copy.shape == values.shape
        np.testing.assert_array_equal(np.sort(copy.ravel()), np.sort(values.ravel()))
    spot = np.zeros((40, 60), np.float32)
    spot[0, 0] = 1.0
    rng = np.random.default_rng(2)
    for _ in range(200):
        y, x = np.argwhere(null.moved(spot, rng) == 1.0)[0]
        # flipped to a corner, then moved a quarter to three quarters of each side
        assert min(y, 39 - y) >= 9 and min(x, 59 - x) >= 14
    a = null.null_maps(values, 5, 3, (1, 2))
    b = null.null_maps(values, 5, 3, (1, 2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(null.null_maps(values, 1, 4, (1, 2))[0], a[0])


def test_the_placement_test_has_its_stated_false_positive_rate():
    """Under the null (the method's scores exchangeable with the moved maps'), the
    p-value is at most 0.05 in 5 % of the cases (one in N + 1 = 20), however the curves
    are correlated; a method that wins every curve gets p = 1 / 20."""
    rng = np.random.default_rng(0)
    trials, hits = 4000, 0
    for _ in range(trials):
        common = rng.normal(size=(20, 1))
        table = common + 0.5 * rng.normal(size=(20, 4))  # four correlated curves
        share, p_value, _ = null.combined_share(table[0], table[1:])
        hits += p_value <= 0.05
        assert 0 <= share <= 1
    assert abs(hits / trials - 0.05) < 0.012
    share, p_value, each = null.combined_share(np.full(4, 9.0), rng.normal(size=(19, 4)))
    assert (share, p_value) == (1.0, 0.05) and (each == 1.0).all()
    share, p_value, _ = null.combined_share(np.zeros(4), np.zeros((19, 4)))
    assert share == 0.5 and p_value == 1.0  # ties: no evidence either way


# ----- methods, cost and bounds --------------------------------------------------------
def test_the_default_methods_are_the_registrys_quick_maps():
    names = trust.default_methods()
    assert names and all(TECHNIQUES[n].output in ("heatmap", "attribution") for n in names)
    for name, technique in TECHNIQUES.items():
        if technique.output in ("heatmap", "attribution"):
            assert (name in names) == (technique.cost == "quick" and technique.needs is None)
    assert "score_cam" not in names and "grad_cam" in names
    resolved = trust.resolve_methods(None)
    assert [m.name for m in resolved] == names
    assert all(m.title == TECHNIQUES[m.name].title and m.paper for m in resolved)


def test_the_report_defaults_to_the_quick_methods_on_a_tiny_model():
    model = wrap(cam_model(seed=3, size=32))
    steps = []
    report = trust.trust_report(
        model, seeded_image(32, 32, seed=1), steps=2, road_fractions=[0.5],
        sanity_draws=1, progress=lambda fraction, text: steps.append((fraction, text)),
    )
    assert set(report.ranking) == set(trust.default_methods())
    assert [m.rank for m in report.methods] == list(range(1, len(report.methods) + 1))
    assert {m.band for m in report.methods} == {"blobs", "pixels"}
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] == 1.0
    assert all(isinstance(text, str) and text for _, text in steps)


def test_too_much_work_is_refused_before_any_map_is_computed(quadrant, noise_image):
    calls = []

    def counted(model, image, target_class=None):
        calls.append(1)
        return region(model, image)

    many = {f"m{i}": counted for i in range(16)}
    with pytest.raises(ParameterError, match="forward passes") as error:
        trust.trust_report(quadrant, noise_image, many, steps=100, null_maps=39)
    message = str(error.value)
    assert message.endswith("null maps.") and "at most 4096" in message and ". " not in message
    assert not calls
    work = trust.planned_work(8, 8 * 19, 4, trust.DEFAULT_FRACTIONS, 224 * 224, 4)
    assert (work.passes, work.imputations, work.map_calls) == (1923, 960, 40)
    assert work.imputed_pixels < trust.MAX_IMPUTED_PIXELS


@pytest.mark.parametrize(
    "params",
    [
        dict(null_maps=18),
        dict(null_maps=40),
        dict(sanity_draws=0),
        dict(sanity_draws=17),
        dict(steps=1),
        dict(road_fractions=[1.0]),
        dict(box=(100, 100, 120, 120)),
        dict(methods=["feature_maps"]),
        dict(methods=[]),
        dict(methods={"a": 42}),
        dict(methods=["grad_cam", "grad_cam"]),
    ],
)
def test_bad_parameters_get_one_sentence(quadrant, noise_image, params):
    params = {"methods": {"region": region}, **params}
    with pytest.raises(ParameterError):
        trust.trust_report(quadrant, noise_image, **params)


# ----- the result as data and as a picture ---------------------------------------------
def test_the_report_serialises_to_json(known):
    data = json.loads(json.dumps(known.to_dict()))
    assert data["label"] == known.label and data["thresholds"]["rho_limit"] == verdict.RHO_LIMIT
    assert data["thresholds"]["alpha"] == 0.05 and "mean probability" in data["area"]
    assert [m["name"] for m in data["methods"]] == list(known.ranking)
    first = data["methods"][0]
    assert first["verdict"] in trust.VERDICTS and first["reason"] == known.methods[0].reason
    assert {e["test"] for e in first["evidence"]} == {"sanity", *verdict.CURVE_TESTS, "placement"}
    assert all(e["paper"] for e in first["evidence"])
    assert len(data["bands"]["gradient"]["road_morf"]["scores"]) == trust.DEFAULT_NULL_MAPS
    assert "map" not in first
    with_maps = known.to_dict(maps=True)["methods"][0]["map"]
    assert np.array(with_maps).shape == known.methods[0].map.shape
    table = known.table
    assert [row["rank"] for row in table] == [1, 2, 3]
    assert {"verdict", "reason", "sanity", "road_morf_share", "placement", "placement_p"} <= set(table[0])
    assert known.summary.startswith("1 of 3 methods trusted")


def test_the_chart_shades_the_band(known):
    picture = render.trust_chart(known.panels, title=known.caption, width=900, height=300)
    assert picture.shape == (300, 900, 3) and picture.dtype == np.uint8
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 50  # lines, bands, text
    panels = known.panels
    assert [p["title"] for p in panels] == [verdict.TITLES[t] for t in verdict.CURVE_TESTS]
    assert len(panels[0]["bands"]) == 2 and len(panels[0]["curves"]) == 3
    broken = [dict(panels[0], curves=[("x", [0.0, 1.0], 0.5)])]
    with pytest.raises(ParameterError, match="one number per fraction"):
        render.trust_chart(broken)
    with pytest.raises(ParameterError):
        render.trust_chart([])
    with pytest.raises(ParameterError):
        render.trust_chart(panels, width=10)


def test_the_chart_in_rows_for_a_phone(known, tmp_path):
    """Two panels a row (what the app shows, readable at 400 pixels): the asked size, the
    four panels drawn in a 2 x 2 grid (ink in each quadrant), bad layouts refused."""
    picture = render.trust_chart(known.panels, width=760, height=900, columns=2, font_scale=1.5)
    assert picture.shape == (900, 760, 3)
    ink = (picture < 200).any(axis=2)
    for rows in (slice(0, 400), slice(400, 800)):
        for cols in (slice(0, 380), slice(380, 760)):
            assert ink[rows, cols].mean() > 0.01, (rows, cols)
    assert not np.array_equal(picture, render.trust_chart(known.panels, width=760, height=900))
    for bad in ({"columns": 0}, {"font_scale": 10}, {"font_scale": "big"}):
        with pytest.raises(ParameterError):
            render.trust_chart(known.panels, **bad)


def test_the_package_exports_the_report():
    assert cnnvis.trust_report is trust.trust_report
    assert cnnvis.TrustReport is trust.TrustReport
    assert "trust_report" in cnnvis.__all__ and "TrustReport" in cnnvis.__all__


# ----- real weights --------------------------------------------------------------------
def test_real_weights_on_the_cat_guided_backprop_fails_every_draw_and_grad_cam_does_not(
    mobilenet_v2, cat_image
):
    """Lighter curves than the defaults (the sanity check is the point here): guided
    backpropagation keeps its map whatever the classifier (Adebayo et al.), Grad-CAM's
    map moves with it."""
    report = trust.trust_report(
        mobilenet_v2, cat_image, ["grad_cam", "guided_backprop"], steps=2,
        road_fractions=[0.5], sanity_draws=3,
    )
    assert report.label == "Egyptian cat"
    grad_cam, guided = report.method("grad_cam"), report.method("guided_backprop")
    assert guided.evidence_for("sanity").outcome == "fail" and min(guided.sanity_spearman) > 0.9
    assert guided.verdict == "not trusted"
    assert grad_cam.evidence_for("sanity").outcome != "fail", grad_cam.evidence_for("sanity").detail
    assert max(grad_cam.sanity_spearman) < min(guided.sanity_spearman)
    assert report.ranking == ("grad_cam", "guided_backprop")
    assert report.sanity_layers == ("predictions",)
    assert grad_cam.band == "blobs" and guided.band == "pixels"


def test_real_weights_a_map_of_another_photo_is_never_trusted(mobilenet_v2, cat_image):
    """Grad-CAM and the gradient of examples/espresso.jpg laid on the cat: they follow the
    model (they pass the sanity check as often as the real maps) but not this photo."""
    from pathlib import Path

    from cnnvis.images import resize_map
    from cnnvis.maps import saliency_map

    other = cnnvis.load_image(Path(__file__).resolve().parents[1] / "examples" / "espresso.jpg")
    klass = 285  # Egyptian cat

    def foreign(method):
        def run(model, image, target_class=None):
            values = saliency_map(method(model, other, target_class=klass))
            return resize_map(values, np.asarray(image).shape[:2])

        return run

    methods = {"grad_cam of the espresso": foreign(cnnvis.grad_cam),
               "gradient of the espresso": foreign(cnnvis.vanilla_gradient)}
    for seed in (0, 1):
        report = trust.trust_report(mobilenet_v2, cat_image, methods, target_class=klass, seed=seed,
                                    sanity_draws=1)
        for entry in report.methods:
            assert entry.verdict != "trusted", (seed, entry.name, entry.reason)
