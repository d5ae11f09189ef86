"""ROAD's noisy linear imputation (Rong et al. 2022): known answers, then image statistics."""

from __future__ import annotations

import numpy as np
import pytest

import cnnvis
from cnnvis.evaluation import metrics
from cnnvis.evaluation import road
from cnnvis.errors import ParameterError

from .conftest import EXAMPLES

DIRECT, DIAGONAL = 1 / 6, 1 / 12


def plane(height: int = 12, width: int = 14) -> np.ndarray:
    """An image whose channels are linear in x and y (values well inside 0-255)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([40 + 5 * x + 3 * y, 200 - 4 * x + 2 * y, 90 + 0 * x + 7 * y], axis=2)


def test_the_reference_weights():
    offsets = {(dy, dx): w for dy, dx, w in road.NEIGHBOURS}
    assert len(offsets) == 8 and (0, 0) not in offsets
    assert sum(offsets.values()) == pytest.approx(1.0)
    for (dy, dx), weight in offsets.items():
        assert weight == pytest.approx(DIAGONAL if dy and dx else DIRECT)
    assert road.NOISE == pytest.approx(2.55)  # the reference's 0.01 on [0, 1] images


def test_one_missing_pixel_becomes_the_weighted_mean_of_its_neighbours():
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (5, 5, 3))
    removed = np.zeros((5, 5), bool)
    removed[2, 2] = True
    by_hand = DIRECT * (pixels[1, 2] + pixels[3, 2] + pixels[2, 1] + pixels[2, 3]) + DIAGONAL * (
        pixels[1, 1] + pixels[1, 3] + pixels[3, 1] + pixels[3, 3]
    )
    out = road.impute(pixels, removed, noise=0.0)
    np.testing.assert_allclose(out[2, 2], by_hand, rtol=1e-5)
    np.testing.assert_array_equal(out[~removed], pixels.astype(np.float32)[~removed])


def test_a_corner_pixel_averages_only_the_neighbours_inside_the_image():
    pixels = np.random.default_rng(1).uniform(0, 255, (4, 4, 3))
    removed = np.zeros((4, 4), bool)
    removed[0, 0] = True
    weights = DIRECT + DIRECT + DIAGONAL
    by_hand = (DIRECT * pixels[0, 1] + DIRECT * pixels[1, 0] + DIAGONAL * pixels[1, 1]) / weights
    np.testing.assert_allclose(road.impute(pixels, removed, noise=0.0)[0, 0], by_hand, rtol=1e-5)


def test_removed_neighbours_are_solved_together():
    """Two adjacent removed pixels: each is the weighted mean of all its neighbours, the
    other one included (two equations, solved by hand)."""
    pixels = np.random.default_rng(2).uniform(0, 255, (5, 6, 3))
    removed = np.zeros((5, 6), bool)
    removed[2, 2] = removed[2, 3] = True

    def known_sum(y, x):
        total = np.zeros(3)
        for dy, dx, w in road.NEIGHBOURS:
            if not removed[y + dy, x + dx]:
                total += w * pixels[y + dy, x + dx]
        return total

    # a = ka + w b, b = kb + w a, with w = 1/6 (the two are direct neighbours)
    ka, kb = known_sum(2, 2), known_sum(2, 3)
    a = (ka + DIRECT * kb) / (1 - DIRECT**2)
    b = kb + DIRECT * a
    out = road.impute(pixels, removed, noise=0.0)
    np.testing.assert_allclose(out[2, 2], a, rtol=1e-5)
    np.testing.assert_allclose(out[2, 3], b, rtol=1e-5)


def test_a_linear_image_is_reproduced_exactly_inside():
    """The weighted mean of a plane's neighbours is the plane (the weights are symmetric),
    so any hole that keeps off the border is filled with the plane itself."""
    pixels = plane()
    removed = np.zeros(pixels.shape[:2], bool)
    removed[2:9, 3:11] = True  # a big block
    removed[10, 1:13:2] = True  # scattered pixels
    out = road.impute(pixels, removed, noise=0.0)
    np.testing.assert_allclose(out, pixels, atol=1e-3)


def test_every_imputed_pixel_solves_its_equation():
    rng = np.random.default_rng(3)
    pixels = rng.uniform(0, 255, (20, 24, 3))
    removed = rng.random((20, 24)) < 0.6
    out = road.impute(pixels, removed, noise=0.0).astype(np.float64)
    for y, x in zip(*np.nonzero(removed)):
        total, weight = np.zeros(3), 0.0
        for dy, dx, w in road.NEIGHBOURS:
            if 0 <= y + dy < 20 and 0 <= x + dx < 24:
                total += w * out[y + dy, x + dx]
                weight += w
        np.testing.assert_allclose(out[y, x], total / weight, rtol=1e-4, atol=1e-3)


def test_noise_has_the_reference_scale_and_is_seeded():
    pixels = np.full((40, 40, 3), 100.0)
    removed = np.zeros((40, 40), bool)
    removed[5:35, 5:35] = True
    clean = road.impute(pixels, removed, noise=0.0)
    noisy = road.impute(pixels, removed, rng=np.random.default_rng(4))
    again = road.impute(pixels, removed, rng=np.random.default_rng(4))
    other = road.impute(pixels, removed, rng=np.random.default_rng(5))
    np.testing.assert_allclose(clean[removed], 100.0, atol=1e-3)
    assert (noisy[removed] - 100.0).std() == pytest.approx(road.NOISE, rel=0.05)
    np.testing.assert_array_equal(noisy, again)
    assert not np.array_equal(noisy, other)
    np.testing.assert_array_equal(noisy[~removed], 100.0)  # kept pixels carry no noise


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The cat at 96 x 96: a natural image with smooth regions and texture."""
    from cnnvis.images import resize_image

    return resize_image(cnnvis.load_image(EXAMPLES / "cat.jpg"), (96, 96)).astype(np.float32)


@pytest.mark.parametrize("kind", metrics.RANDOM_MAPS)
def test_no_black_holes_imputed_pixels_look_like_their_neighbourhood(photo, kind):
    """Half the photo removed by a random map of each kind: the imputed pixels stay
    within the range of the photo (no holes of black or of any constant), close to a
    local mean of the original pixels, and the image keeps its mean colour."""
    import cv2

    values = metrics.random_map(photo.shape[:2], kind, seed=0)
    ranks = metrics.pixel_ranks(values, np.random.default_rng(0))
    removed = road.removed_pixels(ranks, 0.5, "morf")
    assert removed.mean() == pytest.approx(0.5, abs=0.01)
    out = road.impute(photo, removed, rng=np.random.default_rng(1))
    low, high = photo.min(axis=(0, 1)), photo.max(axis=(0, 1))
    assert (out[removed] >= low - 4 * road.NOISE).all() and (out[removed] <= high + 4 * road.NOISE).all()
    # Compared with a local mean of the original photo (a 9 x 9 box, much smaller than a
    # blob): an imputed pixel is near what the photo looks like around it, far nearer than
    # black would be (the deletion of RISE), and nearer than the photo's mean colour.
    local = cv2.blur(photo, (9, 9))
    error = np.abs(out[removed] - local[removed]).mean()
    black = np.abs(local[removed]).mean()
    grey = np.abs(photo.mean(axis=(0, 1)) - local[removed]).mean()
    assert error < 0.2 * black, (error, black)
    assert error < (0.6 if kind == "pixels" else 0.95) * grey, (error, grey)
    shift = np.abs(out.mean(axis=(0, 1)) - photo.mean(axis=(0, 1)))
    assert shift.max() < 3.0, shift  # the image's mean colour is kept


def test_morf_and_lerf_remove_the_most_and_the_least_relevant_pixels():
    values = np.arange(100, dtype=np.float32).reshape(10, 10)  # pixel 99 most relevant
    ranks = metrics.pixel_ranks(values, np.random.default_rng(0))
    morf = road.removed_pixels(ranks, 0.3, "morf")
    lerf = road.removed_pixels(ranks, 0.3, "lerf")
    assert morf.sum() == lerf.sum() == 30
    assert values[morf].min() == 70 and values[lerf].max() == 29
    # The reference's LeRF at th_p = 0.7 keeps the 70 % most relevant: our LeRF at 0.3.
    assert np.array_equal(road.removed_pixels(ranks, 0.7, "morf") | lerf, np.ones((10, 10), bool))


def test_bad_input_is_refused_with_a_sentence():
    pixels = np.zeros((4, 4, 3))
    with pytest.raises(ParameterError, match="every pixel"):
        road.impute(pixels, np.ones((4, 4), bool))
    with pytest.raises(ParameterError):
        road.impute(pixels, np.ones((3, 4), bool))
    np.testing.assert_array_equal(road.impute(pixels, np.zeros((4, 4), bool)), pixels)
    for fractions in ([], [0.0], [0.5, 0.3], [1.0], "0.5", [0.1] * 2, list(np.linspace(0.05, 0.9, 10))):
        with pytest.raises(ParameterError):
            road.check_fractions(fractions)
    assert road.check_fractions([0.2, 0.4]) == (0.2, 0.4)
    with pytest.raises(ParameterError, match="600 x 600"):
        road.check_size((600, 600), "EfficientNetB7")
    road.check_size((400, 400))


# ----- on the torus: one factor for a mask and its moved copies (the trust report's null) -----
def test_the_torus_imputer_serves_every_moved_copy_from_one_factor():
    """A moved copy imputed with the mask's factor is exactly the copy imputed with its
    own factor; away from the border the torus changes nothing (the paper's imputation)."""
    from cnnvis.evaluation import metrics, null

    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (30, 44, 3)).astype(np.float32)
    values = metrics.random_map((30, 44), "blobs", 0, 0)
    removed = road.removed_pixels(metrics.pixel_ranks(values, rng), 0.6, "morf")
    shared = road.TorusImputer(removed)
    for _ in range(6):
        transform = null.draw_transform(values, rng)
        once = shared.impute(pixels, transform, noise=0)
        alone = road.TorusImputer(transform.apply(removed)).impute(pixels, noise=0)
        np.testing.assert_allclose(once, alone, atol=1e-3)
        kept = ~transform.apply(removed)
        np.testing.assert_array_equal(once[kept], pixels[kept])
    inner = np.zeros((30, 44), bool)
    inner[8:20, 10:30] = True
    np.testing.assert_allclose(
        road.TorusImputer(inner).impute(pixels, noise=0), road.impute(pixels, inner, noise=0), atol=1e-3
    )
    # With noise, the noise of a seed; every pixel removed is refused in one sentence.
    a = shared.impute(pixels, rng=np.random.default_rng(3))
    b = shared.impute(pixels, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ParameterError):
        road.TorusImputer(np.ones((4, 4), bool))
