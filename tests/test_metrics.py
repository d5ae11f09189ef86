"""Faithfulness and sanity metrics: known answers on hand-made models, then real weights."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest
from scipy.stats import spearmanr

import cnnvis
from cnnvis.evaluation import metrics
from cnnvis.errors import ParameterError
from cnnvis import TECHNIQUES, registry
from cnnvis.evaluation import checks

from .conftest import EXAMPLES
from .tiny import cam_model, seeded_image, wrap

SIZE = 32
SLOPE, OFFSET = 0.5, -4.0  # logit 0 = SLOPE * mean(relu(grey - 128) over the quadrant) + OFFSET


def quadrant_model():
    """Class 0's logit depends only on the top-left quadrant's bright detail:
    relu(grey - 128) averaged over the quadrant; class 1's logit is 0."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(1, 1, activation="relu", name="detail")(inputs)
    x = keras.layers.Cropping2D(((0, SIZE // 2), (0, SIZE // 2)), name="quadrant")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, name="logits")(x)
    model = keras.Model(inputs, outputs, name="quadrant")
    model.get_layer("detail").set_weights(
        [np.full((1, 1, 3, 1), 1 / 3, np.float32), np.array([-128.0], np.float32)]
    )
    model.get_layer("logits").set_weights(
        [np.array([[SLOPE, 0.0]], np.float32), np.array([OFFSET, 0.0], np.float32)]
    )
    return wrap(model)


def hand_probability(pixels: np.ndarray) -> float:
    grey = pixels.astype(np.float64).mean(axis=2)
    detail = np.maximum(grey - 128.0, 0.0)[: SIZE // 2, : SIZE // 2].mean()
    return float(1.0 / (1.0 + np.exp(-(SLOPE * detail + OFFSET))))


@pytest.fixture(scope="module")
def quadrant():
    return quadrant_model()


@pytest.fixture(scope="module")
def noise_image():
    return seeded_image(SIZE, SIZE, seed=5)


def true_map() -> np.ndarray:
    values = np.zeros((SIZE, SIZE), np.float32)
    values[: SIZE // 2, : SIZE // 2] = 1.0
    return values


# ----- areas and curves ----------------------------------------------------------------
def test_trapezoid_areas_by_hand():
    assert metrics.area_under_curve([0.0, 0.5, 1.0], [1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert metrics.area_under_curve([0.0, 0.25, 1.0], [1.0, 0.0, 0.0]) == pytest.approx(0.125)
    # (0.2 + 0.6) / 2 * 0.5 + (0.6 + 1.0) / 2 * 0.5 = 0.2 + 0.4
    assert metrics.area_under_curve([0.0, 0.5, 1.0], [0.2, 0.6, 1.0]) == pytest.approx(0.6)
    curve = metrics.Curve(
        np.array([0.0, 0.5, 1.0], np.float32), np.array([1.0, 1.0, 0.0], np.float32)
    )
    assert curve.auc == pytest.approx(0.75)
    with pytest.raises(ParameterError):
        metrics.area_under_curve([0.0], [1.0])


def test_deletion_and_insertion_curves_match_a_hand_computation(quadrant, noise_image):
    """Four steps of 256 pixels: the true map's first step is exactly the quadrant."""
    result = metrics.deletion_insertion(quadrant, noise_image, true_map(), target_class=0, steps=4)
    original = hand_probability(noise_image)
    off = 1.0 / (1.0 + np.exp(-OFFSET))  # quadrant black: no detail left
    blurred = hand_probability(cv2.GaussianBlur(noise_image.astype(np.float32), (11, 11), 5.0))
    np.testing.assert_allclose(result.deletion.fractions, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(result.deletion.scores, [original, off, off, off, off], rtol=1e-4)
    np.testing.assert_allclose(result.insertion.scores, [blurred] + [original] * 4, rtol=1e-4)
    by_hand = 0.25 * ((original + off) / 2 + 3 * off)
    assert result.deletion.auc == pytest.approx(by_hand, rel=1e-4)
    assert result.insertion.auc == pytest.approx(
        0.25 * ((blurred + original) / 2 + 3 * original), rel=1e-4
    )
    assert original > 0.9 and blurred < 0.5 and off < 0.02  # the set-up means something


def test_the_true_region_beats_a_random_map_on_both_curves(quadrant, noise_image):
    for random in metrics.RANDOM_MAPS:
        result = metrics.deletion_insertion(
            quadrant, noise_image, true_map(), target_class=0, steps=16, random=random
        )
        assert result.deletion.auc < result.random_deletion.auc - 0.1, random
        assert result.insertion.auc > result.random_insertion.auc + 0.1, random
        assert result.score > 0 and "deletion" in result.caption


def test_a_wrong_map_loses_to_the_true_one(quadrant, noise_image):
    wrong = 1.0 - true_map()  # the three quadrants the model ignores
    right = metrics.deletion_insertion(quadrant, noise_image, true_map(), target_class=0, steps=8)
    bad = metrics.deletion_insertion(quadrant, noise_image, wrong, target_class=0, steps=8)
    assert right.deletion.auc < bad.deletion.auc and right.insertion.auc > bad.insertion.auc


def test_maps_are_taken_at_the_image_resolution_and_from_results(noise_image):
    model = wrap(cam_model(seed=1, size=16))
    photo = seeded_image(40, 24, seed=2)  # resized to 16 x 16 for the model
    cam = cnnvis.grad_cam(model, photo)
    result = metrics.deletion_insertion(model, photo, cam, steps=4)
    assert result.method == "Grad-CAM" and result.class_index == cam.class_index
    from_array = metrics.deletion_insertion(
        model, photo, cam.heatmap, steps=4, target_class=cam.class_index
    )
    np.testing.assert_allclose(from_array.deletion.scores, result.deletion.scores)
    attribution = cnnvis.guided_backprop(model, photo)
    np.testing.assert_allclose(
        metrics.saliency_map(attribution), cnnvis.render.saliency(attribution.values)
    )
    with pytest.raises(ParameterError, match="image's resolution"):
        metrics.deletion_insertion(model, photo, np.zeros((16, 16)), steps=4)


def test_random_baseline_is_seeded(quadrant, noise_image):
    first = metrics.deletion_insertion(quadrant, noise_image, true_map(), steps=8, seed=3)
    again = metrics.deletion_insertion(quadrant, noise_image, true_map(), steps=8, seed=3)
    other = metrics.deletion_insertion(quadrant, noise_image, true_map(), steps=8, seed=4)
    np.testing.assert_array_equal(first.random_deletion.scores, again.random_deletion.scores)
    assert not np.array_equal(first.random_deletion.scores, other.random_deletion.scores)
    blobs = metrics.random_map((64, 96), "blobs", 0)
    assert blobs.shape == (64, 96) and np.abs(np.diff(blobs, axis=1)).max() < 0.2  # smooth
    pixels = metrics.random_map((64, 96), "pixels", 0)
    assert np.abs(np.diff(pixels, axis=1)).mean() > 0.2


@pytest.mark.parametrize(
    "params",
    [
        dict(steps=1),
        dict(steps=1000),
        dict(batch_size=0),
        dict(seed=-1),
        dict(random="gauss"),
        dict(random_maps=0),
        dict(random_maps=50),
    ],
)
def test_deletion_bounds_are_enforced(quadrant, noise_image, params):
    with pytest.raises(ParameterError):
        metrics.deletion_insertion(quadrant, noise_image, true_map(), **params)


# ----- compare -------------------------------------------------------------------------
def test_compare_ranks_registry_methods_by_insertion_minus_deletion():
    model = wrap(cam_model(seed=2, size=32))
    image = seeded_image(32, 32, seed=7)
    result = checks.compare(model, image, ["grad_cam", "guided_backprop"], steps=6)
    assert {row.name for row in result.rows} == {"grad_cam", "guided_backprop"}
    scores = [row.score for row in result.rows]
    assert scores == sorted(scores, reverse=True)
    assert all(
        row.score == pytest.approx(row.insertion.auc - row.deletion.auc) for row in result.rows
    )
    assert result.ranking == tuple(row.name for row in result.rows)
    assert all(row.map.shape == (32, 32) for row in result.rows)
    title, x, deletion, insertion = result.curves[0]
    assert title == result.rows[0].title and x.shape == deletion.shape == insertion.shape == (7,)
    assert result.baseline[0].startswith("random map")
    # Every method explains the same class.
    cam = cnnvis.grad_cam(model, image, target_class=result.class_index)
    row = next(r for r in result.rows if r.name == "grad_cam")
    np.testing.assert_allclose(row.map, cam.heatmap)


def test_compare_defaults_to_every_map_method_of_the_registry():
    names = {name for name, t in registry.map_methods().items() if t.needs is None}
    assert {"grad_cam", "guided_backprop"} <= names
    assert all(TECHNIQUES[name].output in ("heatmap", "attribution") for name in names)
    assert "compare" in TECHNIQUES and TECHNIQUES["compare"].function is checks.compare
    model = wrap(cam_model(seed=3, size=32))
    result = checks.compare(model, seeded_image(32, 32, seed=1), steps=4, random_maps=1)
    assert {row.name for row in result.rows} == names


@pytest.mark.parametrize(
    "methods", [["nope"], ["feature_maps"], ["grad_cam", "grad_cam"], [], ["grad_cam"] * 20]
)
def test_compare_refuses_unknown_or_repeated_methods(methods):
    with pytest.raises(ParameterError):
        checks.compare(wrap(cam_model(seed=0)), seeded_image(), methods, steps=4)


def test_compare_refuses_too_much_work_before_doing_any(monkeypatch):
    def explode(*args, **kwargs):
        raise AssertionError("a method ran")

    model = wrap(cam_model(seed=0))
    monkeypatch.setattr(metrics, "call_with_class", explode)
    with pytest.raises(ParameterError, match="too much work"):
        checks.compare(
            model, seeded_image(), ["grad_cam", "guided_backprop"], steps=224, random_maps=8
        )


# ----- the pointing game ---------------------------------------------------------------
def peaked_map(x: int, y: int, height: int = 60, width: int = 80) -> np.ndarray:
    values = np.zeros((height, width), np.float32)
    values[y, x] = 1.0
    return values


def test_pointing_game_hits_inside_and_within_the_tolerance():
    values = peaked_map(x=10, y=5)
    inside = metrics.pointing_game(values, (5, 0, 20, 10))
    assert inside.hit and inside.peak == (10, 5) and inside.distance == 0.0
    near = metrics.pointing_game(values, (22, 0, 40, 10))  # 12 pixels to the right
    assert near.hit and near.distance == pytest.approx(12.0)
    corner = metrics.pointing_game(values, (20, 15, 40, 30))  # (10, 10) away: 14.14
    assert corner.hit and corner.distance == pytest.approx(np.hypot(10, 10))
    far = metrics.pointing_game(values, (30, 0, 40, 10))  # 20 pixels away
    assert not far.hit and far.distance == pytest.approx(20.0)
    strict = metrics.pointing_game(values, (22, 0, 40, 10), tolerance=0)
    assert not strict.hit
    edge = metrics.pointing_game(values, (10, 5, 30, 30), tolerance=0)  # edges count as inside
    assert edge.hit


def test_pointing_game_accepts_heatmaps_and_refuses_bad_boxes():
    model = wrap(cam_model(seed=1, size=16))
    cam = cnnvis.grad_cam(model, seeded_image(16, 16))
    y, x = np.unravel_index(np.argmax(cam.heatmap), cam.heatmap.shape)
    assert metrics.pointing_game(cam, (x, y, x, y), tolerance=0).hit
    values = peaked_map(3, 3)
    for box in [(10, 0, 5, 10), (0, 0, 5), (100, 100, 120, 120), ("a", 0, 1, 1)]:
        with pytest.raises(ParameterError):
            metrics.pointing_game(values, box)
    with pytest.raises(ParameterError):
        metrics.pointing_game(values, (0, 0, 5, 5), tolerance=-1)


# ----- similarity ----------------------------------------------------------------------
def test_spearman_with_numpy_ranks_equals_scipy():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (20, 30)).astype(np.float32)  # many ties
    b = a + rng.normal(0, 2, a.shape)
    assert metrics.spearman(a, b) == pytest.approx(
        spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-9
    )
    np.testing.assert_allclose(metrics.ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
    assert metrics.spearman(a, a) == pytest.approx(1.0)
    assert metrics.spearman(a, -a) == pytest.approx(-1.0)
    assert metrics.spearman(np.zeros((3, 3)), a[:3, :3]) == 0.0


def test_ssim_is_one_for_equal_maps_and_lower_for_others():
    rng = np.random.default_rng(1)
    a = cv2.GaussianBlur(rng.random((40, 40)), (9, 9), 3)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, 3 * a + 1) == pytest.approx(1.0)  # each map is scaled to [0, 1]
    assert metrics.ssim(a, rng.random((40, 40))) < 0.3


# ----- model randomisation -------------------------------------------------------------
def residual_model():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inputs)
    for block in (1, 2):
        y = keras.layers.Conv2D(4, 1, activation="relu", name=f"b{block}_expand")(x)
        y = keras.layers.Conv2D(4, 3, padding="same", name=f"b{block}_conv")(y)
        y = keras.layers.BatchNormalization(name=f"b{block}_bn")(y)
        x = keras.layers.Add(name=f"b{block}_add")([x, y])
    x = keras.layers.Conv2D(6, 1, activation="relu", name="top")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def test_randomisation_groups_run_from_the_head_down_in_whole_blocks():
    model = wrap(residual_model())
    groups = metrics.randomization_groups(model, 3)
    assert groups == [["logits"], ["top", "b2_conv", "b2_expand"], ["b1_conv", "b1_expand", "stem"]]
    assert all("bn" not in name for group in groups for name in group)  # statistics are kept
    many = metrics.randomization_groups(model, 12)
    assert [name for group in many for name in group] == [
        "logits",
        "top",
        "b2_conv",
        "b2_expand",
        "b1_conv",
        "b1_expand",
        "stem",
    ]
    assert len(many) <= 4  # cuts only at the two block outputs
    assert metrics.randomization_groups(model, 1) == [[name for group in many for name in group]]


def test_randomisation_leaves_the_cached_model_untouched_and_destroys_a_weight_dependent_map():
    keras_model = cam_model(seed=6, size=16)
    model = wrap(keras_model)
    image = seeded_image(16, 16, seed=8)
    before = [w.copy() for w in keras_model.get_weights()]
    cam_before = cnnvis.grad_cam(model, image, target_class=1).heatmap

    def brightness(vis_model, photo, target_class):
        return photo.astype(np.float32).mean(axis=2)  # ignores the model entirely

    result = checks.randomization_check(
        model, image, {"Grad-CAM": "grad_cam", "brightness": brightness}, target_class=1, steps=3
    )
    for old, new in zip(before, keras_model.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(cnnvis.grad_cam(model, image, target_class=1).heatmap, cam_before)

    assert result.methods == ("Grad-CAM", "brightness")
    assert result.steps == ("trained copy", "logits", "features", "conv1")
    assert result.layers_randomised == (0, 1, 2, 3)
    assert result.spearman.shape == result.ssim.shape == (2, 4)
    # The untouched copy reproduces the map exactly; the randomised ones do not.
    assert result.spearman[0, 0] == pytest.approx(1.0) and result.ssim[0, 0] == pytest.approx(1.0)
    assert result.spearman[0, -1] < 0.5 < result.spearman[0, 0]
    assert result.spearman[0, 1:].mean() < result.spearman[0, 0]
    # A map that does not depend on the weights stays identical: the check can tell.
    np.testing.assert_allclose(result.spearman[1], 1.0)
    np.testing.assert_allclose(result.maps[1][-1], result.original_maps[1])


def test_independent_copy_shares_no_variables():
    model = wrap(residual_model())
    copy = metrics.independent_copy(model)
    assert not {id(v) for v in model.keras_model.weights} & {
        id(v) for v in copy.keras_model.weights
    }
    for a, b in zip(model.keras_model.get_weights(), copy.keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_randomisation_bounds_are_enforced():
    model = wrap(cam_model(seed=0))
    with pytest.raises(ParameterError):
        checks.randomization_check(model, seeded_image(), ["grad_cam"], steps=0)
    with pytest.raises(ParameterError):
        checks.randomization_check(model, seeded_image(), ["grad_cam"], steps=100)
    with pytest.raises(ParameterError):
        checks.randomization_check(model, seeded_image(), ["classify"])
    with pytest.raises(ParameterError):
        checks.randomization_check(model, seeded_image(), [42])


# ----- real weights --------------------------------------------------------------------
@pytest.fixture(scope="module")
def espresso_image():
    return cnnvis.load_image(EXAMPLES / "espresso.jpg")


def test_real_weights_grad_cam_deletes_espresso_faster_than_random(mobilenet_v2, espresso_image):
    cam = cnnvis.grad_cam(mobilenet_v2, espresso_image)
    assert cam.label == "espresso"
    for random in metrics.RANDOM_MAPS:
        result = metrics.deletion_insertion(mobilenet_v2, espresso_image, cam, random=random)
        assert result.deletion.auc < result.random_deletion.auc, (random, result.caption)
        assert result.insertion.auc > result.random_insertion.auc, (random, result.caption)


def test_real_weights_grad_cam_on_the_cat(mobilenet_v2, cat_image):
    """The cat fills the photo: deleting Grad-CAM's peak (the face) first leaves enough fur
    for the class, so against random maps only insertion is won (see the xfail below);
    against its own reverse order Grad-CAM wins deletion too."""
    cam = cnnvis.grad_cam(mobilenet_v2, cat_image)
    assert cam.label == "Egyptian cat"
    result = metrics.deletion_insertion(mobilenet_v2, cat_image, cam, random="pixels")
    assert result.insertion.auc > result.random_insertion.auc
    reverse = metrics.deletion_insertion(mobilenet_v2, cat_image, 1.0 - cam.heatmap, random_maps=1)
    assert result.deletion.auc < reverse.deletion.auc - 0.1


def test_real_weights_grad_cam_deletes_faster_than_random_on_the_example_photos(mobilenet_v2):
    """Over all example photos (each explained for its own top class), Grad-CAM's deletion
    area is below the random map's on most of them and far below on average. (Measured:
    7 of 8; the exception is the cat, which fills the frame, so deleting its face first
    leaves enough fur for the class.)"""
    ours, randoms = [], []
    for path in sorted(EXAMPLES.glob("*.jpg")):
        image = cnnvis.load_image(path)
        result = metrics.deletion_insertion(mobilenet_v2, image, cnnvis.grad_cam(mobilenet_v2, image))
        ours.append(result.deletion.auc)
        randoms.append(result.random_deletion.auc)
    ours, randoms = np.array(ours), np.array(randoms)
    assert len(ours) >= 6
    assert (ours < randoms).sum() >= len(ours) - 2, (ours, randoms)
    assert ours.mean() < 0.5 * randoms.mean(), (ours, randoms)


def test_real_weights_randomisation_changes_grad_cam_more_than_guided_backprop(
    mobilenet_v2, cat_image
):
    before = mobilenet_v2.keras_model.get_layer("predictions").get_weights()[0].copy()
    result = checks.randomization_check(
        mobilenet_v2, cat_image, ["grad_cam", "guided_backprop"], steps=2
    )
    np.testing.assert_array_equal(
        mobilenet_v2.keras_model.get_layer("predictions").get_weights()[0], before
    )
    assert result.steps[0] == "trained copy" and result.steps[1] == "predictions"
    grad_cam_rho, guided_rho = result.spearman
    assert grad_cam_rho[0] > 0.99 and guided_rho[0] > 0.99
    assert grad_cam_rho[-1] < 0.5
    assert grad_cam_rho[-1] < guided_rho[-1]


def test_an_area_has_one_definition_the_mean_probability():
    """Issue 22: every curve's area is the trapezoid divided by its axis' length (the mean
    class probability), whatever the axis; Curve.auc stays the raw trapezoid."""
    road_like = metrics.Curve(np.array([0.0, 0.3, 0.9], np.float32), np.array([1.0, 0.5, 0.2], np.float32))
    trapezoid = 0.3 * (1.0 + 0.5) / 2 + 0.6 * (0.5 + 0.2) / 2
    assert road_like.auc == pytest.approx(trapezoid)
    assert road_like.area == pytest.approx(trapezoid / 0.9) == metrics.curve_mean(road_like.fractions, road_like.scores)
    unit = metrics.Curve(np.linspace(0, 1, 5, dtype=np.float32), np.full(5, 0.4, np.float32))
    assert unit.area == pytest.approx(unit.auc) == pytest.approx(0.4)
    from cnnvis.evaluation import verdict

    assert verdict.curve_area(road_like) == road_like.area
