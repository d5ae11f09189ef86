"""Feature visualisation: the parameterisation, the compiled ascent, bounds, real weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import cnnvis
from cnnvis.models import graph
from cnnvis.errors import ParameterError, UnknownClassError, UnknownLayerError
from cnnvis.techniques import feature_vis as fv

from .tiny import cam_model, pointwise_relu_model, wrap

FAST = dict(size=32, steps=12, seed=3)


@pytest.fixture(scope="module")
def tiny():
    return wrap(cam_model(seed=4))


# ----- the parameterisation ------------------------------------------------------------
def test_colour_matrix_comes_from_the_imagenet_covariance():
    vectors = fv.IMAGENET_RGB_EIGENVECTORS
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), atol=2e-3)  # orthonormal
    colour = fv.colour_correlation_matrix().astype(np.float64)
    np.testing.assert_allclose(colour, colour.T, atol=1e-7)  # the symmetric root
    covariance = fv.imagenet_colour_covariance()
    ratio = (colour @ colour.T) / covariance
    np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-4)  # M M^T is proportional to it
    assert np.linalg.norm(colour, axis=1).max() == pytest.approx(1.0, abs=1e-6)
    # Colours are correlated: every channel mixes in the others, positively.
    assert (colour > 0).all() and np.diag(colour).min() > colour[0, 1]


def test_spectrum_scale_falls_as_one_over_frequency_and_keeps_unit_variance():
    fourier = fv.FourierImage(64, 48)
    assert fourier.scale.shape == (64, 25)
    assert fourier.scale[0, 1] / fourier.scale[0, 2] == pytest.approx(2.0, rel=1e-5)
    assert fourier.scale[1, 0] / fourier.scale[4, 0] == pytest.approx(4.0, rel=1e-5)
    # The DC term is capped at the lowest frequency of the picture, 1 / 64 here.
    assert fourier.scale[0, 0] == pytest.approx(fourier.scale[1, 0], rel=1e-5)
    params = np.random.default_rng(0).standard_normal((8, *fourier.spectrum_shape))
    assert fourier.decorrelated(params).std() == pytest.approx(1.0, rel=0.1)


def test_parameterisation_gives_valid_pixels_and_inverts():
    fourier = fv.FourierImage(40, 40)
    rng = np.random.default_rng(1)
    wild = rng.standard_normal((2, *fourier.spectrum_shape)).astype(np.float32) * 30.0
    pixels = fourier.to_pixels(wild)
    assert pixels.shape == (2, 40, 40, 3) and pixels.dtype == np.float32
    assert np.isfinite(pixels).all() and pixels.min() >= 0.0 and pixels.max() <= 255.0
    photo = rng.uniform(3.0, 252.0, (2, 40, 40, 3))
    np.testing.assert_allclose(fourier.to_pixels(fourier.from_pixels(photo)), photo, atol=0.02)
    grey = fourier.to_pixels(np.zeros((1, *fourier.spectrum_shape), np.float32))
    np.testing.assert_allclose(grey, 127.5, atol=1e-4)


def test_tensorflow_and_numpy_parameterisations_agree():
    fourier = fv.FourierImage(32, 32)
    params = (
        np.random.default_rng(2).standard_normal((3, *fourier.spectrum_shape)).astype(np.float32)
    )
    np.testing.assert_allclose(
        fourier.to_pixels_tf(tf.constant(params)).numpy(), fourier.to_pixels(params), atol=0.05
    )


def test_identity_sampling_is_the_identity_and_shifts_move_content():
    pixels = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    identity = fv.sampling_transforms(32, 32, 1.0, np.ones(2), np.zeros(2), np.zeros((2, 2)))
    np.testing.assert_allclose(fv._warp(pixels, identity, 32).numpy(), pixels, atol=1e-4)
    shifted = fv.sampling_transforms(32, 32, 1.0, np.ones(1), np.zeros(1), np.array([[3.0, 0.0]]))
    moved = fv._warp(pixels[:1], shifted, 32).numpy()[0]
    np.testing.assert_allclose(moved[:, :-3], pixels[0, :, 3:], atol=1e-4)


# ----- the ascent on tiny models -------------------------------------------------------
def test_same_seed_same_pictures_other_seed_others(tiny):
    first = fv.feature_visualization(tiny, layer="features", channels=[0, 2], **FAST)
    second = fv.feature_visualization(tiny, layer="features", channels=[0, 2], **FAST)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.objectives, second.objectives)
    other = fv.feature_visualization(
        tiny, layer="features", channels=[0, 2], size=32, steps=12, seed=4
    )
    assert not np.allclose(first.images, other.images)


def test_objective_rises_and_result_is_described(tiny):
    result = fv.feature_visualization(tiny, layer="features", channels=[1, 3], size=32, steps=40)
    assert result.images.shape == (2, 32, 32, 3) and result.images.dtype == np.float32
    assert 0.0 <= result.images.min() and result.images.max() <= 255.0
    assert result.objectives.shape == (2, 40)
    early, late = result.objectives[:, :5].mean(axis=1), result.objectives[:, -5:].mean(axis=1)
    assert (late > early).all()
    assert (result.final > result.start).all()
    assert result.channels == (1, 3) and result.classes is None and result.layer == "features"
    assert result.labels == ("channel 1", "channel 3") and len(result.captions) == 2


def test_class_logits_rise_one_picture_per_class(tiny):
    result = fv.feature_visualization(tiny, target_class=[2, 0], size=32, steps=30, seed=1)
    assert result.classes == (2, 0) and result.channels is None and result.layer is None
    assert result.images.shape == (2, 32, 32, 3)
    assert (result.final > result.start).all()


def test_batched_channels_equal_single_channel_runs(tiny):
    batched = fv.feature_visualization(tiny, layer="features", channels=[4, 1, 5], **FAST)
    for row, channel in enumerate([4, 1, 5]):
        single = fv.feature_visualization(tiny, layer="features", channels=[channel], **FAST)
        np.testing.assert_allclose(batched.images[row], single.images[0], atol=0.05)
        np.testing.assert_allclose(
            batched.objectives[row], single.objectives[0], rtol=1e-4, atol=1e-5
        )


def test_frames_stream_progress_and_end_with_the_result(tiny):
    frames = list(
        fv.feature_visualization_frames(tiny, layer="features", channels=[0], every=4, **FAST)
    )
    assert [frame.step for frame in frames] == [4, 8, 12]
    assert [frame.final for frame in frames] == [False, False, True]
    assert frames[-1].progress == 1.0 and frames[0].progress == pytest.approx(1 / 3)
    assert frames[0].images.shape == (1, 32, 32, 3)
    direct = fv.feature_visualization(tiny, layer="features", channels=[0], **FAST)
    np.testing.assert_array_equal(frames[-1].result.images, direct.images)


def test_the_compiled_step_is_traced_once_across_requests_and_batch_sizes(tiny):
    fv.feature_visualization(tiny, layer="conv1", channels=[0, 1, 2], size=32, steps=3)
    fv.feature_visualization(tiny, layer="conv1", channels=[5], size=32, steps=4, seed=9)
    steps = [fn for key, fn in tiny._functions.items() if key[:2] == ("feature_vis_step", "conv1")]
    assert len(steps) == 1
    assert steps[0].fn.experimental_get_tracing_count() == 1


def test_a_dead_rectifier_channel_comes_alive_through_the_leak():
    w1 = np.full((3, 2), 0.01, np.float32)
    b1 = np.array([-5.0, 0.5], np.float32)  # channel 0 is off on a grey picture (z = -1.2)
    model = wrap(pointwise_relu_model("relu_layer", w1, b1, np.ones((2, 2), np.float32)))
    assert fv.pre_activation(model, "act") == "conv"
    assert fv.pre_activation(model, "conv") is None
    result = fv.feature_visualization(model, layer="act", channels=[0], size=32, steps=40)
    assert result.start[0] == 0.0
    assert result.final[0] > 0.5  # up to 2.65 on a white picture
    assert result.pre_activation == "conv"


def test_a_fixed_size_head_sees_the_picture_at_its_input_size():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="tanh", name="features")(inputs)
    x = keras.layers.Flatten()(x)
    model = wrap(keras.Model(inputs, keras.layers.Dense(3)(x)), "tf")
    assert fv.network_size(model, 48, classes=True) == (16, pytest.approx(16 / 48))
    assert fv.network_size(model, 48, classes=False) == (64, 1.0)
    result = fv.feature_visualization(model, target_class=1, size=48, steps=20)
    assert result.images.shape == (1, 48, 48, 3) and result.final[0] > result.start[0]


@pytest.mark.parametrize(
    "params, error",
    [
        (dict(steps=0), ParameterError),
        (dict(steps=5000), ParameterError),
        (dict(size=16), ParameterError),
        (dict(size=2048), ParameterError),
        (dict(learning_rate=0.0), ParameterError),
        (dict(learning_rate=3.0), ParameterError),
        (dict(jitter=-1), ParameterError),
        (dict(jitter=1000), ParameterError),
        (dict(scale=0.9), ParameterError),
        (dict(rotation=400.0), ParameterError),
        (dict(seed=-1), ParameterError),
        (dict(steps=2.5), ParameterError),
        (dict(learning_rate=float("nan")), ParameterError),
        (dict(channels=[99]), ParameterError),
        (dict(channels=list(range(6)) * 3), ParameterError),  # too many at once
        (dict(channels=[1, 1]), ParameterError),
        (dict(channels=[]), ParameterError),
        (dict(target_class=1), ParameterError),  # together with a layer
        (dict(channels=list(range(6)), steps=1000, size=256), ParameterError),  # too much work
        (dict(layer="gap"), UnknownLayerError),
        (dict(layer="nope"), UnknownLayerError),
    ],
)
def test_bounds_are_enforced(tiny, params, error):
    arguments = dict(layer="features", channels=[0], steps=2, size=32)
    arguments.update(params)
    with pytest.raises(error):
        fv.feature_visualization(tiny, **arguments)


def test_class_bounds_are_enforced(tiny):
    with pytest.raises(UnknownClassError):
        fv.feature_visualization(tiny, target_class=[7], size=32, steps=2)
    with pytest.raises(ParameterError):
        fv.feature_visualization(tiny, target_class=list(range(4)) * 5, size=32, steps=2)


# ----- real weights --------------------------------------------------------------------
def _channel_mean(model, pixels: np.ndarray, layer: str, channel: int) -> np.ndarray:
    """The channel's spatial mean, computed here without the module's code."""
    run = graph.run_graph(
        model.keras_model,
        model.preprocessing.apply(tf.constant(pixels)),
        capture=[model.layer(layer)],
        stop_when_captured=True,
    )
    return tf.reduce_mean(run[model.layer(layer)][..., channel], axis=(1, 2)).numpy()


def _logit(model, pixels: np.ndarray, klass: int) -> np.ndarray:
    return graph.run_graph(
        model.keras_model, model.preprocessing.apply(tf.constant(pixels))
    ).outputs.numpy()[:, klass]


def _starting_pictures(size: int, targets, *, seed: int, classes: bool) -> np.ndarray:
    fourier = fv.FourierImage(size, size)
    streams = fv.starting_spectra(size, targets, seed=seed, classes=classes)
    return fourier.to_pixels(np.stack([params for _, params in streams]))


def test_real_weights_mid_level_channel_rises_tenfold(mobilenet_v2):
    layer, channel = "block_7_depthwise_relu", 2
    result = cnnvis.feature_visualization(
        mobilenet_v2, layer=layer, channels=[channel], steps=48, seed=0
    )
    start = _channel_mean(
        mobilenet_v2, _starting_pictures(128, [channel], seed=0, classes=False), layer, channel
    )
    final = _channel_mean(mobilenet_v2, result.images, layer, channel)
    np.testing.assert_allclose(
        [start[0], final[0]], [result.start[0], result.final[0]], rtol=1e-3, atol=1e-4
    )
    assert start[0] > 0.0
    assert final[0] >= 10.0 * start[0], (start, final)


def test_real_weights_class_logit_rises_tenfold(mobilenet_v2):
    klass = 409  # analog clock: its logit is positive on the grey starting picture
    result = cnnvis.feature_visualization(
        mobilenet_v2, target_class="analog clock", steps=48, seed=0
    )
    assert result.classes == (klass,)
    start = _logit(mobilenet_v2, _starting_pictures(128, [klass], seed=0, classes=True), klass)
    final = _logit(mobilenet_v2, result.images, klass)
    np.testing.assert_allclose(
        [start[0], final[0]], [result.start[0], result.final[0]], rtol=1e-3, atol=1e-3
    )
    assert start[0] > 0.0
    assert final[0] >= 10.0 * start[0], (start, final)


def test_pictures_whose_activations_do_not_fit_in_memory_are_refused(tiny, monkeypatch):
    from cnnvis.techniques import compiled

    per_picture = compiled.activation_bytes(tiny, upto="features", side=32)
    assert per_picture > 0
    assert compiled.activation_bytes(tiny, side=64) == 4 * compiled.activation_bytes(tiny, side=32)
    monkeypatch.setattr(fv, "FEATURE_VIS_MEMORY", 3 * per_picture)
    fv.feature_visualization(tiny, layer="features", channels=[0, 1, 2], steps=2, size=32)
    with pytest.raises(ParameterError, match=r"ask for at most 3 at this size"):
        fv.feature_visualization(tiny, layer="features", channels=[0, 1, 2, 3], steps=2, size=32)
