"""The trust report: known answers on a hand-built model, the decision rule, cost,
serialisation and drawing, then one real-weights check."""

from __future__ import annotations

import hashlib
import json

import keras
import numpy as np
import pytest

import cnnvis
from cnnvis import render
from cnnvis.evaluation import metrics
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
    assert noise.verdict == "not trusted", noise.reason  # ...but is no better than random
    assert not any(noise.evidence_for(t).better_than_random for t in verdict.CURVE_TESTS)
    assert "none of the four curves" in noise.reason


def test_a_map_that_ignores_the_model_is_never_trusted_however_faithful(known):
    fixed = known.method("region")
    assert fixed.evidence_for("sanity").value == pytest.approx(1.0)
    assert fixed.verdict == "not trusted" and "randomised" in fixed.reason
    # Its curves are excellent (it is the right answer), and still it ranks last.
    assert fixed.evidence_for("road_morf").better_than_random
    assert fixed.evidence_for("deletion").better_than_random
    assert known.ranking[-1] == "region" and fixed.faithfulness > known.method("noise").faithfulness
    assert "region" in known.note and "fail" in known.note


def test_every_number_of_a_verdict_is_on_the_result_with_its_paper(known):
    for entry in known.methods:
        tests = [e.test for e in entry.evidence]
        assert tests == ["sanity", *verdict.CURVE_TESTS]
        for e in entry.evidence:
            assert e.paper == verdict.PAPERS[e.test] and e.paper
            assert np.isfinite(e.value) and e.detail
        for test in verdict.CURVE_TESTS:
            e = entry.evidence_for(test)
            band = known.bands[entry.band][test]
            assert e.value == pytest.approx(verdict.curve_area(entry.curves[test]))
            assert e.reference == pytest.approx(band.area_mean)
            sign = 1 if e.better == "lower" else -1
            assert e.z == pytest.approx(sign * (band.area_mean - e.value) / band.area_spread)
        assert entry.evidence_for("sanity").value == pytest.approx(entry.sanity_spearman.max())
        road_axis = entry.curves["road_morf"].fractions
        np.testing.assert_allclose(road_axis, (0.0, *road.DEFAULT_FRACTIONS), atol=1e-7)
        assert entry.curves["road_morf"].scores[0] == entry.curves["road_lerf"].scores[0] == pytest.approx(known.probability)
        assert verdict.decide(entry.evidence) == (entry.verdict, entry.reason)
    assert TECHNIQUES["vanilla_gradient"].paper == known.method("gradient").paper


def test_the_band_has_its_random_maps_and_serves_both_road_orders(known, quadrant, noise_image):
    assert set(known.bands) == {"blobs", "pixels"}  # the region map is a plain H x W map
    for kind, by_test in known.bands.items():
        assert set(by_test) == set(verdict.CURVE_TESTS)
        for test, band in by_test.items():
            assert band.scores.shape == (trust.DEFAULT_RANDOM_MAPS, band.fractions.size)
            assert band.areas.shape == (trust.DEFAULT_RANDOM_MAPS,)
        np.testing.assert_array_equal(by_test["road_lerf"].scores, by_test["road_morf"].scores)
    three = trust.trust_report(
        quadrant, noise_image, {"gradient": cnnvis.vanilla_gradient}, target_class=0, random_maps=3
    )
    assert set(three.bands) == {"pixels"}
    assert three.bands["pixels"]["deletion"].scores.shape[0] == 3
    # The random maps' deletion and insertion curves are those of metrics.curves_for_maps
    # (their values have no ties, so no tie-breaking stream is involved), exactly.
    maps = [metrics.random_map((SIZE, SIZE), "pixels", 0, i) for i in range(3)]
    pixels = noise_image.astype(np.float32)
    expected = metrics.curves_for_maps(quadrant, pixels, maps, 0, steps=three.steps, seed=0)
    for i in range(3):
        for side, test in enumerate(("deletion", "insertion")):
            np.testing.assert_array_equal(three.bands["pixels"][test].scores[i], expected[i][side].scores)
    assert three.passes == 4 * 2 * (three.steps + 1) + (2 + 3) * len(road.DEFAULT_FRACTIONS)
    assert three.imputations == (2 + 3) * len(road.DEFAULT_FRACTIONS)


def test_the_sanity_check_is_adebayos_on_a_kept_copy(quadrant, noise_image, known):
    """The same numbers as metrics.randomization_check for a seed (which builds a copy of
    its own), from one kept copy that reports reuse; the model itself is untouched."""
    before = [w.copy() for w in quadrant.keras_model.get_weights()]
    reference = metrics.randomization_check(
        quadrant, noise_image, {"gradient": cnnvis.vanilla_gradient}, target_class=0, steps=3
    )
    np.testing.assert_allclose(known.method("gradient").sanity_spearman, reference.spearman[0, 1:], atol=1e-6)
    np.testing.assert_allclose(known.method("gradient").sanity_ssim, reference.ssim[0, 1:], atol=1e-6)
    assert known.sanity_steps == reference.steps[1:]
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
        other.bands["pixels"]["road_morf"].scores, known.bands["pixels"]["road_morf"].scores
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
def evidence(rho=0.1, deletion=3.0, insertion=3.0, morf=3.0, lerf=3.0, pointing=None):
    def curve(test, z):
        outcome = "better" if z >= verdict.Z_LIMIT else "worse" if z <= -verdict.Z_LIMIT else "within"
        return verdict.Evidence(test, test, "", 0.5, verdict.BETTER[test], 0.5, 0.1, z, outcome, "")

    items = [
        verdict.Evidence("sanity", "", "", rho, "lower", verdict.RHO_LIMIT, None, None,
                       "pass" if rho < verdict.RHO_LIMIT else "fail", ""),
        curve("deletion", deletion),
        curve("insertion", insertion),
        curve("road_morf", morf),
        curve("road_lerf", lerf),
    ]
    if pointing is not None:
        items.append(verdict.Evidence("pointing", "", "", 0.0 if pointing else 30.0, "lower", 15,
                                    None, None, "hit" if pointing else "miss", ""))
    return items


@pytest.mark.parametrize(
    "case, expected, words",
    [
        (dict(), "trusted", "beats the random maps on deletion"),
        (dict(rho=0.5), "not trusted", "randomised"),
        (dict(rho=0.9, deletion=9, insertion=9, morf=9, lerf=9), "not trusted", "randomised"),
        (dict(deletion=1, insertion=1, morf=1.9, lerf=-5), "not trusted", "none of the four"),
        (dict(deletion=4, insertion=4, morf=-2, lerf=-2), "not trusted", "worse than the random maps"),
        (dict(lerf=1.0), "use with care", "no better than the random maps on ROAD least relevant first (z = +1.0)"),
        (dict(morf=-3, lerf=3), "use with care", "worse than the random maps on ROAD most relevant first"),
        (dict(morf=1, lerf=-3), "use with care", "no better than the random maps on ROAD most relevant first (z = +1.0) and worse than them on ROAD least"),
        (dict(deletion=-2.5), "use with care", "worse than them on deletion"),
        (dict(deletion=1, insertion=0), "use with care", "neither deletion"),
        (dict(deletion=1), "trusted", "insertion"),
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
        items = evidence(rho=rho, deletion=z, insertion=z, morf=z, lerf=z)
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


# ----- methods, cost and bounds --------------------------------------------------------
def test_the_default_methods_are_the_registrys_quick_maps():
    names = trust.default_methods()
    assert names and all(TECHNIQUES[n].output in ("heatmap", "attribution") for n in names)
    for name, technique in TECHNIQUES.items():
        if technique.output in ("heatmap", "attribution"):
            assert (name in names) == (technique.cost == "quick")
    assert "score_cam" not in names and "grad_cam" in names
    resolved = trust.resolve_methods(None)
    assert [m.name for m in resolved] == names
    assert all(m.title == TECHNIQUES[m.name].title and m.paper for m in resolved)


def test_the_report_defaults_to_the_quick_methods_on_a_tiny_model():
    model = wrap(cam_model(seed=3, size=32))
    steps = []
    report = trust.trust_report(
        model, seeded_image(32, 32, seed=1), steps=4, road_fractions=[0.5], random_maps=2,
        sanity_steps=1, progress=lambda fraction, text: steps.append((fraction, text)),
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
        trust.trust_report(quadrant, noise_image, many, steps=100, random_maps=8)
    message = str(error.value)
    assert message.endswith("random maps.") and "at most 4096" in message and ". " not in message
    assert not calls
    work = trust.planned_work(8, 8, 16, road.DEFAULT_FRACTIONS, 224 * 224, 3)
    assert (work.passes, work.imputations) == (664, 120)
    assert work.imputed_pixels < trust.MAX_IMPUTED_PIXELS


@pytest.mark.parametrize(
    "params",
    [
        dict(random="gauss"),
        dict(random_maps=0),
        dict(random_maps=9),
        dict(sanity_steps=0),
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
    assert [m["name"] for m in data["methods"]] == list(known.ranking)
    first = data["methods"][0]
    assert first["verdict"] in trust.VERDICTS and first["reason"] == known.methods[0].reason
    assert {e["test"] for e in first["evidence"]} == {"sanity", *verdict.CURVE_TESTS}
    assert all(e["paper"] for e in first["evidence"])
    assert len(data["bands"]["pixels"]["road_morf"]["scores"]) == trust.DEFAULT_RANDOM_MAPS
    assert "map" not in first
    with_maps = known.to_dict(maps=True)["methods"][0]["map"]
    assert np.array(with_maps).shape == known.methods[0].map.shape
    table = known.table
    assert [row["rank"] for row in table] == [1, 2, 3]
    assert {"verdict", "reason", "sanity", "road_morf_z"} <= set(table[0])
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
def test_real_weights_on_the_cat_grad_cam_passes_the_sanity_check_guided_backprop_fails(
    mobilenet_v2, cat_image
):
    """Lighter curves than the defaults (the sanity check is the point here); two
    randomisation steps: the classifier, then the rest of the network."""
    report = trust.trust_report(
        mobilenet_v2, cat_image, ["grad_cam", "guided_backprop"], steps=8,
        road_fractions=[0.1, 0.5], random_maps=2, sanity_steps=2,
    )
    assert report.label == "Egyptian cat"
    grad_cam, guided = report.method("grad_cam"), report.method("guided_backprop")
    assert grad_cam.passed_sanity, grad_cam.evidence_for("sanity").detail
    assert not guided.passed_sanity and guided.evidence_for("sanity").value > 0.9
    assert guided.verdict == "not trusted"
    assert report.ranking == ("grad_cam", "guided_backprop")
    assert report.sanity_steps[0] == "predictions" and report.layers_randomised[-1] > 50
    assert grad_cam.band == "blobs" and guided.band == "pixels"
