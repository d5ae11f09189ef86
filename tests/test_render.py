"""Known-answer tests for cnnvis.render (pure NumPy/matplotlib/Pillow, no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnvis import render
from cnnvis.errors import ParameterError


def assert_rgb_uint8(picture: np.ndarray) -> None:
    """Every rendered picture is C-contiguous uint8 H x W x 3."""
    assert picture.dtype == np.uint8
    assert picture.ndim == 3 and picture.shape[2] == 3
    assert picture.flags.c_contiguous


def photo(height: int = 20, width: int = 30) -> np.ndarray:
    """A deterministic non-uniform uint8 RGB picture."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- to_uint8


def test_to_uint8_rounds_and_clips_floats():
    image = np.array([[[-5.0, 0.4, 0.6], [254.6, 300.0, np.nan]]])
    result = render.to_uint8(image)
    assert_rgb_uint8(result)
    assert result.tolist() == [[[0, 0, 1], [255, 255, 0]]]


def test_to_uint8_passes_uint8_through():
    image = photo()
    np.testing.assert_array_equal(render.to_uint8(image), image)


def test_to_uint8_repeats_grey_to_three_channels():
    grey = np.array([[0.0, 128.0]])
    assert render.to_uint8(grey).tolist() == [[[0, 0, 0], [128, 128, 128]]]


# --------------------------------------------------------------------------- colorize


def test_colorize_gray_endpoints_are_black_and_white():
    result = render.colorize(np.array([[0.0, 1.0]]), "gray")
    assert_rgb_uint8(result)
    assert result[0, 0].tolist() == [0, 0, 0]
    assert result[0, 1].tolist() == [255, 255, 255]


def test_colorize_jet_is_rgb_not_bgr():
    result = render.colorize(np.array([[0.0, 1.0]]), "jet")
    low, high = result[0, 0].astype(int), result[0, 1].astype(int)
    assert high[0] > high[2] + 50  # jet's top is dark red
    assert low[2] > low[0] + 50  # jet's bottom is dark blue


def test_colorize_nan_gets_colour_of_zero_and_range_is_clipped():
    result = render.colorize(np.array([[np.nan, 0.0, -3.0, 1.0, 7.0]]), "viridis")
    np.testing.assert_array_equal(result[0, 0], result[0, 1])
    np.testing.assert_array_equal(result[0, 2], result[0, 1])
    np.testing.assert_array_equal(result[0, 4], result[0, 3])


def test_colorize_respects_vmin_vmax():
    result = render.colorize(np.array([[-2.0, 2.0]]), "gray", vmin=-2.0, vmax=2.0)
    assert result[0, 0].tolist() == [0, 0, 0]
    assert result[0, 1].tolist() == [255, 255, 255]


def test_colorize_accepts_any_matplotlib_name():
    assert_rgb_uint8(render.colorize(np.zeros((2, 2)), "cubehelix"))
    for name in render.COLORMAPS:
        assert_rgb_uint8(render.colorize(np.zeros((2, 2)), name))


def test_colorize_unknown_colormap_names_it():
    with pytest.raises(ParameterError, match="Unknown colormap 'foo'; choose one of"):
        render.colorize(np.zeros((2, 2)), "foo")


def test_colorize_rejects_wrong_shape_and_bad_range():
    with pytest.raises(ParameterError):
        render.colorize(np.zeros((2, 2, 3)))
    with pytest.raises(ParameterError):
        render.colorize(np.zeros((2, 2)), vmin=1.0, vmax=0.0)


def test_colorbar_runs_left_to_right():
    bar = render.colorbar("gray", width=100, height=7)
    assert_rgb_uint8(bar)
    assert bar.shape == (7, 100, 3)
    assert bar[0, 0].tolist() == [0, 0, 0]
    assert bar[0, -1].tolist() == [255, 255, 255]
    assert np.all(np.diff(bar[0, :, 0].astype(int)) >= 0)


def test_colorbar_rejects_zero_width():
    with pytest.raises(ParameterError):
        render.colorbar("jet", width=0)


# --------------------------------------------------------------------------- overlay


def test_overlay_alpha_zero_returns_image():
    image = photo()
    result = render.overlay(image, np.random.default_rng(1).random((20, 30)), alpha=0.0)
    assert_rgb_uint8(result)
    np.testing.assert_array_equal(result, image)


def test_overlay_alpha_one_returns_colormap():
    heat = np.random.default_rng(2).random((20, 30))
    result = render.overlay(photo(), heat, alpha=1.0, cmap="inferno")
    np.testing.assert_array_equal(result, render.colorize(heat, "inferno"))


def test_overlay_half_alpha_is_the_average():
    image = np.full((4, 4, 3), 100, dtype=np.uint8)
    heat = np.ones((4, 4))  # gray colormap: white
    result = render.overlay(image, heat, alpha=0.5, cmap="gray")
    assert np.all(np.abs(result.astype(int) - 178) <= 1)  # (100 + 255) / 2


def test_overlay_resizes_and_keeps_left_half_on_the_left():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    heat = np.zeros((7, 10))
    heat[:, :5] = 1.0
    result = render.overlay(image, heat, alpha=1.0, cmap="gray")
    assert result.shape == (40, 60, 3)
    assert np.all(result[:, :25] == 255)
    assert np.all(result[:, 35:] == 0)
    centre_of_mass = (result[..., 0].astype(float).sum(axis=0) * np.arange(60)).sum()
    centre_of_mass /= result[..., 0].astype(float).sum()
    assert abs(centre_of_mass - 14.5) < 1.0


def test_overlay_resize_is_bilinear_not_blocky():
    heat = np.array([[0.0, 1.0]])
    result = render.overlay(np.zeros((1, 8, 3), np.uint8), heat, alpha=1.0, cmap="gray")
    row = result[0, :, 0].astype(int)
    assert np.all(np.diff(row) >= 0)
    assert ((row > 0) & (row < 255)).sum() >= 2  # a ramp, not a step
    assert np.all(np.abs(row + row[::-1] - 255) <= 1)  # symmetric: alignment kept


def test_overlay_mask_below_leaves_cold_pixels_untouched():
    image = photo(10, 10)
    heat = np.zeros((10, 10))
    heat[:, 5:] = 1.0
    result = render.overlay(image, heat, alpha=1.0, cmap="jet", mask_below=0.2)
    np.testing.assert_array_equal(result[:, :5], image[:, :5])
    np.testing.assert_array_equal(result[:, 5:], render.colorize(heat, "jet")[:, 5:])


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "half"])
def test_overlay_rejects_bad_alpha(alpha):
    with pytest.raises(ParameterError):
        render.overlay(photo(), np.zeros((20, 30)), alpha=alpha)


def test_overlay_rejects_unknown_colormap():
    with pytest.raises(ParameterError, match="Unknown colormap"):
        render.overlay(photo(), np.zeros((20, 30)), cmap="nope")


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("mode", ["signed", "abs", "positive"])
def test_gradient_image_of_zeros_is_valid_and_uniform(mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division or invalid-value warnings
        result = render.gradient_image(np.zeros((8, 9, 3)), mode=mode)
    assert_rgb_uint8(result)
    assert result.shape == (8, 9, 3)
    assert np.unique(result).size == 1


def test_gradient_image_signed_zero_is_mid_grey():
    result = render.gradient_image(np.zeros((4, 4, 3)))
    assert np.all(result == 128)


def test_gradient_image_signed_preserves_sign():
    gradient = np.zeros((4, 4, 3))
    gradient[:2, :, 0] = 1.0  # positive red on the top half
    gradient[2:, :, 0] = -1.0  # negative red on the bottom half
    result = render.gradient_image(gradient, mode="signed").astype(int)
    top, bottom = result[0, 0], result[3, 0]
    assert top[0] == 255 and top[1] == 128 and top[2] == 128  # looks red
    assert bottom[0] == 0 and bottom[1] == 128 and bottom[2] == 128  # looks cyan


def test_gradient_image_positive_keeps_only_positive_part():
    gradient = np.zeros((2, 2, 3))
    gradient[0, 0, 0] = 2.0
    gradient[1, 1, 2] = -2.0
    result = render.gradient_image(gradient, mode="positive", clip_percentile=100)
    assert result[0, 0].tolist() == [255, 0, 0]
    assert result[1, 1].tolist() == [0, 0, 0]


def test_gradient_image_abs_is_grey():
    gradient = np.zeros((2, 2, 3))
    gradient[0, 0, 1] = -3.0
    result = render.gradient_image(gradient, mode="abs", clip_percentile=100)
    assert result[0, 0].tolist() == [255, 255, 255]
    assert result[1, 1].tolist() == [0, 0, 0]


def test_gradient_image_percentile_clips_outliers():
    gradient = np.full((10, 10, 3), 1.0)
    gradient[0, 0] = 1000.0
    result = render.gradient_image(gradient, clip_percentile=50)
    assert result[5, 5].tolist() == [255, 255, 255]


def test_gradient_image_rejects_bad_parameters():
    with pytest.raises(ParameterError, match="gradient mode"):
        render.gradient_image(np.zeros((2, 2, 3)), mode="sideways")
    with pytest.raises(ParameterError):
        render.gradient_image(np.zeros((2, 2, 3)), clip_percentile=0)
    with pytest.raises(ParameterError):
        render.gradient_image(np.zeros((2, 2, 3)), clip_percentile=101)
    with pytest.raises(ParameterError):
        render.gradient_image(np.zeros((2, 2, 5)))


def test_saliency_of_zeros_is_zeros():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = render.saliency(np.zeros((5, 6, 3)))
    assert result.dtype == np.float32
    assert result.shape == (5, 6)
    assert not result.any()


def test_saliency_takes_max_abs_over_channels_and_normalises():
    gradient = np.zeros((2, 2, 3))
    gradient[0, 0] = [-4.0, 1.0, 2.0]
    gradient[0, 1] = [0.0, 2.0, 0.0]
    result = render.saliency(gradient, clip_percentile=100)
    np.testing.assert_allclose(result, [[1.0, 0.5], [0.0, 0.0]])
    assert result.min() >= 0.0 and result.max() <= 1.0


def test_saliency_sparse_gradient_is_not_all_zero():
    gradient = np.zeros((100, 100, 3))
    gradient[3, 4, 0] = 5.0  # fewer non-zero pixels than 0.5 %
    result = render.saliency(gradient)
    assert result[3, 4] == pytest.approx(1.0)


# --------------------------------------------------------------------------- layers


def test_feature_map_image_constant_map_has_no_nan_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zeros = render.feature_map_image(np.zeros((6, 6)))
        fives = render.feature_map_image(np.full((6, 6), 5.0))
    assert_rgb_uint8(zeros)
    assert np.unique(zeros.reshape(-1, 3), axis=0).shape[0] == 1
    viridis = render.colorize(np.array([[0.0, 1.0]]), "viridis")
    np.testing.assert_array_equal(zeros[0, 0], viridis[0, 0])  # dead map: low colour
    np.testing.assert_array_equal(fives[0, 0], viridis[0, 1])  # positive: high colour


def test_feature_map_image_is_min_max_per_map():
    values = np.array([[10.0, 20.0]])
    result = render.feature_map_image(values, cmap="gray")
    assert result[0, 0].tolist() == [0, 0, 0]
    assert result[0, 1].tolist() == [255, 255, 255]


def test_feature_map_image_uses_shared_range():
    values = np.array([[10.0, 20.0]])
    result = render.feature_map_image(values, cmap="gray", vmin=0.0, vmax=40.0)
    assert result[0, 0].tolist() == [64, 64, 64]
    assert result[0, 1].tolist() == [128, 128, 128]


def test_feature_map_image_handles_nan():
    values = np.array([[np.nan, 1.0, 2.0]])
    result = render.feature_map_image(values)
    assert_rgb_uint8(result)


def test_kernel_image_pure_red_kernel_is_red():
    kernel = np.zeros((3, 3, 3))
    kernel[..., 0] = 1.0
    kernel[..., 1:] = -1.0
    result = render.kernel_image(kernel)
    assert_rgb_uint8(result)
    assert result.shape == (24, 24, 3)
    assert np.all(result.reshape(-1, 3) == [255, 0, 0])


def test_kernel_image_red_only_kernel_leans_red_with_grey_zero():
    kernel = np.zeros((3, 3, 3))
    kernel[1, 1, 0] = 0.5
    result = render.kernel_image(kernel, upscale=1)
    assert result[1, 1].tolist() == [255, 128, 128]
    assert result[0, 0].tolist() == [128, 128, 128]


def test_kernel_image_upscales_with_nearest_neighbour():
    kernel = np.arange(4, dtype=float).reshape(2, 2) - 1.5
    result = render.kernel_image(kernel, upscale=5)
    assert result.shape == (10, 10, 3)
    assert np.unique(result[:5, :5].reshape(-1, 3), axis=0).shape[0] == 1
    assert result[0, 0, 0] < result[9, 9, 0]  # negative darker than positive


def test_kernel_image_single_channel_zero_is_mid_grey():
    kernel = np.array([[-1.0, 0.0, 1.0]])
    result = render.kernel_image(kernel, upscale=1)
    assert result[0, 0].tolist() == [0, 0, 0]
    assert result[0, 1].tolist() == [128, 128, 128]
    assert result[0, 2].tolist() == [255, 255, 255]


def test_kernel_image_shared_scale_and_zero_kernel():
    result = render.kernel_image(np.full((1, 1, 3), 0.5), scale=2.0, upscale=1)
    assert result[0, 0].tolist() == [159, 159, 159]  # 0.5 + 0.5 * 0.25 -> 159.4
    zero = render.kernel_image(np.zeros((3, 3, 3)))
    assert np.all(zero == 128)


def test_kernel_image_rejects_bad_parameters():
    with pytest.raises(ParameterError):
        render.kernel_image(np.zeros((3, 3, 3)), upscale=0)
    with pytest.raises(ParameterError):
        render.kernel_image(np.zeros((3, 3, 3)), scale=-1.0)
    with pytest.raises(ParameterError):
        render.kernel_image(np.zeros((3, 3, 4)))


# --------------------------------------------------------------------------- layout


def test_grid_shape_arithmetic_without_captions():
    images = [np.zeros((10, 20, 3), np.uint8)] * 5
    result = render.grid(images, pad=3)
    assert_rgb_uint8(result)
    # 5 images -> 3 columns, 2 rows
    assert result.shape == (2 * 10 + 3 * 3, 3 * 20 + 4 * 3, 3)


def test_grid_uses_largest_cell_and_centres_smaller_images():
    big = np.zeros((10, 10, 3), np.uint8)
    small = np.zeros((4, 6, 3), np.uint8)
    result = render.grid([big, small], columns=2, pad=0)
    assert result.shape == (10, 20, 3)
    second = result[:, 10:, 0]
    assert np.all(second[3:7, 2:8] == 0)
    assert np.all(second[:3] == 255) and np.all(second[:, :2] == 255)


def test_grid_explicit_columns_and_background():
    images = [np.zeros((4, 4, 3), np.uint8)] * 3
    result = render.grid(images, columns=1, pad=2, background=40)
    assert result.shape == (3 * 4 + 4 * 2, 4 + 2 * 2, 3)
    assert result[0, 0].tolist() == [40, 40, 40]
    assert render.grid(images, columns=10, pad=0).shape == (4, 12, 3)  # capped at n


def test_grid_captions_draw_dark_pixels_under_each_cell():
    images = [np.full((30, 60, 3), 255, np.uint8)] * 2
    result = render.grid(images, ["cat", "dog"], columns=2, pad=0, caption_height=20)
    assert result.shape == (30 + 20, 120, 3)
    assert np.all(result[:30] == 255)  # nothing drawn over the images
    for left in (0, 60):
        band = result[30:, left : left + 60]
        assert (band < 128).any()


def test_grid_long_caption_is_shortened_to_fit():
    images = [np.full((20, 40, 3), 255, np.uint8)] * 2
    long = "an extraordinarily long caption that cannot possibly fit"
    result = render.grid(images, [long, "x"], columns=2, pad=0, caption_height=18)
    first_band = result[20:, :40]
    second_band = result[20:, 40:]
    assert (first_band < 128).any()
    # the long text must not spill into its neighbour's band beyond the short "x"
    dark_columns = np.flatnonzero((second_band < 128).any(axis=(0, 2)))
    assert dark_columns.min() > 10


def test_grid_default_caption_height_fits_text():
    result = render.grid([np.zeros((10, 10, 3), np.uint8)], ["Ag"], pad=0)
    assert result.shape[0] > 10 + 8
    assert result.shape[1] == 10


def test_grid_rejects_bad_input():
    with pytest.raises(ParameterError):
        render.grid([])
    with pytest.raises(ParameterError):
        render.grid([photo()], ["a", "b"])
    with pytest.raises(ParameterError):
        render.grid([photo()], columns=0)
    with pytest.raises(ParameterError):
        render.grid([photo()], background=300)
    with pytest.raises(ParameterError):
        render.grid([photo()], pad=-1)


def test_add_caption_adds_a_band_with_text():
    image = photo(40, 80)
    result = render.add_caption(image, "tabby cat 0.93")
    assert_rgb_uint8(result)
    assert result.shape[1] == 80 and result.shape[0] > 40
    np.testing.assert_array_equal(result[:40], image)
    assert (result[40:] < 128).any()


def test_add_caption_handles_unicode_text():
    result = render.add_caption(photo(20, 200), "café — naïve ✓")
    assert_rgb_uint8(result)


# --------------------------------------------------------------------------- isolation


def test_render_does_not_import_tensorflow():
    code = (
        "import sys, cnnvis.render; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout


# --------------------------------------------------------------------------- charts


def _chart_curves():
    x = np.linspace(0.0, 1.0, 11)
    return [("Grad-CAM", x, np.exp(-6 * x), 1 - np.exp(-6 * x)), ("Gradient", x, 1 - x, x)]


def test_deletion_insertion_chart_is_an_rgb_picture_of_the_asked_size():
    picture = render.deletion_insertion_chart(
        _chart_curves(), baseline=("random", np.linspace(0, 1, 11), np.full(11, 0.5), np.full(11, 0.5)),
        title="espresso", width=640, height=300,
    )
    assert_rgb_uint8(picture)
    assert picture.shape == (300, 640, 3)
    assert (picture == 255).all(axis=2).mean() > 0.5  # a white background with lines on it
    # The tab10 blue of the first curve is drawn on both panels.
    blue = np.all(np.abs(picture.astype(int) - [31, 119, 180]) < 30, axis=2)
    assert blue[:, :320].sum() > 50 and blue[:, 320:].sum() > 50


def test_deletion_insertion_chart_stacked_for_a_phone():
    """Deletion above insertion (what the app shows, readable at 400 pixels): the first
    curve's blue in the top half and in the bottom half; a bad font scale refused."""
    picture = render.deletion_insertion_chart(_chart_curves(), width=760, height=900, stacked=True, font_scale=1.6)
    assert picture.shape == (900, 760, 3)
    blue = np.all(np.abs(picture.astype(int) - [31, 119, 180]) < 30, axis=2)
    assert blue[:450].sum() > 50 and blue[450:].sum() > 50
    with pytest.raises(ParameterError):
        render.deletion_insertion_chart(_chart_curves(), font_scale=0)


def test_deletion_insertion_chart_depends_on_the_curves_and_leaves_pyplot_alone():
    import matplotlib.pyplot as plt

    figures = plt.get_fignums()
    first = render.deletion_insertion_chart(_chart_curves())
    again = render.deletion_insertion_chart(_chart_curves())
    x = np.linspace(0.0, 1.0, 11)
    other = render.deletion_insertion_chart([("Grad-CAM", x, x, 1 - x)])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert plt.get_fignums() == figures


@pytest.mark.parametrize(
    "curves, kwargs",
    [
        ([], {}),
        ([("a", [0, 1], [1, 0])], {}),  # three items, not four
        ([("a", [0, 0.5, 1], [1, 0], [0, 1, 1])], {}),  # lengths differ
        ([("a", [0], [1], [0])], {}),  # one point
        ([("a", [0, np.nan], [1, 0], [0, 1])], {}),
        (_chart_curves(), {"width": 10}),
        (_chart_curves(), {"height": 100000}),
        (_chart_curves(), {"dpi": 0}),
        ([("a", [0, 1], [1, 0], [0, 1])] * 40, {}),
    ],
)
def test_deletion_insertion_chart_rejects_bad_input(curves, kwargs):
    with pytest.raises(ParameterError):
        render.deletion_insertion_chart(curves, **kwargs)


def test_attribution_image_shows_the_magnitude_capped_at_the_99th_percentile():
    """The app's display default for attributions (issue 24): max |g| over the channels,
    white from the 99th percentile up, black where there is no effect, the sign left out."""
    gradient = np.zeros((10, 10, 3))
    gradient[..., 1] = np.arange(100).reshape(10, 10) / 99.0  # 0 .. 1
    gradient[0, 0] = (-1000.0, 0.0, 0.0)  # one outlier, negative: its magnitude counts
    picture = render.attribution_image(gradient)
    assert picture.shape == (10, 10, 3) and picture.dtype == np.uint8
    assert (picture[..., 0] == picture[..., 1]).all()  # grey
    assert picture[0, 0].tolist() == [255, 255, 255]  # the outlier, at the cap
    assert picture[0, 1, 0] < 5  # next to no effect: black
    p99 = np.percentile(np.abs(gradient).max(axis=2), 99)
    expected = np.rint(np.clip(gradient[5, 5, 1] / p99, 0, 1) * 255)
    assert abs(int(picture[5, 5, 0]) - expected) <= 1
    signed = render.gradient_image(gradient)  # the sign is drawn there: zero at mid-grey
    assert signed[0, 1, 0] == 128 and signed[0, 1, 1] > 128 and signed[0, 0, 0] < 128
