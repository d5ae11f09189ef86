"""Known answers on tiny hand-built models: every number here can be checked by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.special
import tensorflow as tf

import cnnvis
from cnnvis.errors import ParameterError, UnknownLayerError
from cnnvis.techniques import compiled
from cnnvis.techniques.base import prepare
from cnnvis.techniques.gradients import input_gradient

from .tiny import cam_model, pointwise_relu_model, seeded_image, smooth_model, wrap

W1 = np.array([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 2.0]], np.float32) / 100.0
B1 = np.array([0.2137, -0.1093, 0.0571], np.float32)  # keeps every |z| away from 0
W2 = np.array([[1.5, -0.7], [-2.0, 0.3], [0.8, 1.1]], np.float32)


def hand_gradients(image: np.ndarray, derivative, guided: bool, klass: int = 0) -> np.ndarray:
    """d logit_klass / d pixels for pointwise_relu_model, computed with NumPy."""
    x = image.astype(np.float64).reshape(-1, 3)
    z = x @ W1 + B1  # pre-activation per pixel
    assert np.abs(z).min() > 1e-4, "test data too close to the ReLU kink"
    upstream = np.broadcast_to(W2[:, klass] / x.shape[0], z.shape)  # through GAP and dense
    if guided:
        upstream = np.maximum(upstream, 0.0)
    return ((upstream * derivative(z)) @ W1.T).reshape(image.shape)


RELU_PLACEMENTS = ["conv", "activation", "relu_layer"]


@pytest.mark.parametrize("placement", RELU_PLACEMENTS)
@pytest.mark.parametrize("guided", [False, True])
def test_relu_gradients_match_hand_computation(placement, guided):
    model = wrap(pointwise_relu_model(placement, W1, B1, W2))
    image = seeded_image()
    grads, index, _, gated = input_gradient(model, prepare(model, image), guided=guided, target_class=0)
    expected = hand_gradients(image, lambda z: (z > 0).astype(float), guided)
    assert index == 0
    np.testing.assert_allclose(grads, expected, rtol=1e-4, atol=1e-8)
    assert gated == ({"relu"} if guided else set())
    # The guided rule really changes something on this model (W2 has mixed signs).
    plain = hand_gradients(image, lambda z: (z > 0).astype(float), False)
    assert not np.allclose(hand_gradients(image, lambda z: (z > 0).astype(float), True), plain)


def test_relu6_cap_is_kept():
    # Big first-layer weights push some pre-activations above 6: no gradient flows there.
    w1 = W1 * 8.0
    model = wrap(pointwise_relu_model("relu6", w1, B1, W2))
    image = seeded_image(seed=3)
    z = image.astype(np.float64).reshape(-1, 3) @ w1 + B1
    assert (z > 6).any() and ((z > 0) & (z < 6)).any()
    grads, *_ = input_gradient(model, prepare(model, image), guided=True, target_class=0)
    x = image.astype(np.float64).reshape(-1, 3)
    upstream = np.maximum(np.broadcast_to(W2[:, 0] / x.shape[0], z.shape), 0)
    expected = ((upstream * ((z > 0) & (z < 6))) @ w1.T).reshape(image.shape)
    np.testing.assert_allclose(grads, expected, rtol=1e-4, atol=1e-8)
    attribution = cnnvis.guided_backprop(model, image, target_class=0)
    assert attribution.note == "guided rule at every ReLU"


def _silu_prime(z):
    s = scipy.special.expit(z)
    return s * (1 + z * (1 - s))


def _gelu_prime(z):  # Keras' "gelu" activation is the exact (erf) form
    return scipy.special.ndtr(z) + z * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)


@pytest.mark.parametrize("name, derivative", [("silu", _silu_prime), ("gelu", _gelu_prime)])
def test_generalised_guided_rule_for_smooth_activations(name, derivative):
    model = wrap(pointwise_relu_model(name, W1 * 3, B1, W2))
    image = seeded_image(seed=1)
    grads, *_ = input_gradient(model, prepare(model, image), guided=True, target_class=0)
    x = image.astype(np.float64).reshape(-1, 3)
    z = x @ (W1 * 3) + B1
    upstream = np.maximum(np.broadcast_to(W2[:, 0] / x.shape[0], z.shape), 0.0)
    expected = ((upstream * derivative(z)) @ (W1 * 3).T).reshape(image.shape)
    np.testing.assert_allclose(grads, expected, rtol=2e-3, atol=1e-7)
    attribution = cnnvis.guided_backprop(model, image, target_class=0)
    assert f"generalised to {name}" in attribution.note
    assert "positive gradients" in attribution.note


def test_guided_call_never_changes_the_cached_model():
    model = wrap(pointwise_relu_model("conv", W1, B1, W2))
    image = seeded_image()
    prepared = prepare(model, image)
    before, *_ = input_gradient(model, prepared, guided=False, target_class=0)
    keras_before = model.keras_model(prepared.batch).numpy()
    activations_before = [getattr(layer, "activation", None) for layer in model.keras_model.layers]
    cnnvis.guided_backprop(model, image, target_class=0)
    cnnvis.guided_grad_cam(model, image, target_class=0, layer="conv")
    after, *_ = input_gradient(model, prepared, guided=False, target_class=0)
    np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(keras_before, model.keras_model(prepared.batch).numpy())
    assert activations_before == [getattr(layer, "activation", None) for layer in model.keras_model.layers]
    # And the plain gradient really differs from the guided one on this model.
    guided, *_ = input_gradient(model, prepared, guided=True, target_class=0)
    assert not np.allclose(guided, after)


def test_gradients_match_central_finite_differences():
    model = wrap(smooth_model(), "tf")
    image = seeded_image(seed=2)
    prepared = prepare(model, image)
    grads, index, value, _ = input_gradient(model, prepared, guided=False, target_class=1)
    forward = compiled.forward(model)
    rng = np.random.default_rng(0)
    eps = 2.0  # grey levels; the model is smooth on this scale
    checked = 0
    for _ in range(12):
        i, j, c = rng.integers(0, 16), rng.integers(0, 16), rng.integers(0, 3)
        plus, minus = prepared.batch.copy(), prepared.batch.copy()
        plus[0, i, j, c] += eps
        minus[0, i, j, c] -= eps
        f_plus = forward(tf.constant(plus.astype(np.float64), tf.float32)).numpy()[0, 1]
        f_minus = forward(tf.constant(minus.astype(np.float64), tf.float32)).numpy()[0, 1]
        numeric = (f_plus - f_minus) / (2 * eps)
        assert grads[i, j, c] == pytest.approx(numeric, rel=2e-2, abs=2e-6)
        checked += 1
    assert checked == 12
    assert value == pytest.approx(forward(prepared.batch).numpy()[0, 1], rel=1e-5)


def test_grad_cam_equals_cam_on_gap_models():
    """Zhou et al. 2016 CAM: sum_k w_kc A_k. Grad-CAM's weights are w_kc / (h*w)."""
    keras_model = cam_model()
    model = wrap(keras_model)
    image = seeded_image(seed=4)
    for klass in range(4):
        result = cnnvis.grad_cam(model, image, target_class=klass, layer="features")
        maps = keras.Model(keras_model.input, keras_model.get_layer("features").output)(
            image[None].astype(np.float32)
        ).numpy()[0]
        dense = keras_model.get_layer("logits").get_weights()[0][:, klass]
        cam = np.maximum(maps @ dense, 0)
        if cam.max() == 0:
            assert result.heatmap.max() == 0
            continue
        np.testing.assert_allclose(result.heatmap, cam / cam.max(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.weights, dense / (16 * 16), rtol=1e-4, atol=1e-9)
        assert result.class_index == klass and result.layer == "features"


def test_default_layer_is_what_the_head_consumes():
    assert wrap(cam_model()).default_layer == "features"


def test_grad_cam_all_zero_map_is_zero_not_nan():
    keras_model = cam_model()
    # Make every logit's dense weights negative: the ReLU of the weighted sum is zero.
    dense = keras_model.get_layer("logits")
    kernel, bias = dense.get_weights()
    dense.set_weights([-np.abs(kernel), bias])
    result = cnnvis.grad_cam(wrap(keras_model), seeded_image(), target_class=0)
    assert np.isfinite(result.heatmap).all()
    assert result.heatmap.max() == 0.0


def test_grad_cam_is_returned_at_the_image_resolution_and_aligned():
    keras_model = cam_model(size=32)
    model = wrap(keras_model)
    image = np.zeros((60, 90, 3), np.uint8)
    image[:, :45] = 255  # a bright left half
    result = cnnvis.grad_cam(model, image, layer="features", target_class=0)
    assert result.heatmap.shape == (60, 90)
    assert result.heatmap.dtype == np.float32
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    # Computing at model size and upsampling must agree with the model-size map.
    small = cnnvis.grad_cam(model, cnnvis.images.resize_image(image, (32, 32)), layer="features", target_class=0)
    upsampled = cnnvis.images.resize_map(small.heatmap, (60, 90))
    np.testing.assert_allclose(result.heatmap, upsampled, atol=1e-5)


def test_a_result_carries_its_native_map_and_brings_it_to_any_size():
    """The one result contract: the map as computed (a CAM at its layer's grid, a gradient
    at the model's input), and ``.at(size)``: area averaging down, bilinear up."""
    model = wrap(cam_model(size=32))
    image = seeded_image(60, 90, seed=3)
    cam = cnnvis.grad_cam(model, image, layer="features", target_class=1)
    assert cam.native.shape == (32, 32) and cam.image_size == (60, 90)
    np.testing.assert_array_equal(cam.heatmap, cam.at((60, 90)))
    np.testing.assert_array_equal(cam.heatmap, np.clip(cnnvis.images.resize_map(cam.native, (60, 90)), 0, 1))
    np.testing.assert_allclose(cam.at((8, 8)), cam.native.reshape(8, 4, 8, 4).mean(axis=(1, 3)), atol=1e-6)
    gradient = cnnvis.vanilla_gradient(model, image, target_class=1)
    assert gradient.native.shape == (32, 32, 3) and gradient.values.shape == (60, 90, 3)
    np.testing.assert_allclose(gradient.at((16, 16)), gradient.native.reshape(16, 2, 16, 2, 3).mean(axis=(1, 3)), atol=1e-6)
    combined = cnnvis.guided_grad_cam(model, image, layer="features", target_class=1)
    guided = cnnvis.guided_backprop(model, image, target_class=1)
    np.testing.assert_allclose(combined.native, guided.native * cam.native[..., None], rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(combined.at((32, 32)), combined.native)
    prepared = prepare(model, image)
    assert prepare(model, prepared) is prepared  # one request prepares its photo once
    np.testing.assert_array_equal(cnnvis.grad_cam(model, prepared, layer="features", target_class=1).heatmap, cam.heatmap)


def test_the_top_class_is_decided_one_way_on_every_path():
    """Tied logits: the compiled functions (in the graph), classify and the dataset rows
    all take the first largest logit, the rule of cnnvis.models.heads."""
    keras_model = cam_model(classes=4)
    kernel, bias = keras_model.get_layer("logits").get_weights()
    keras_model.get_layer("logits").set_weights([np.zeros_like(kernel), np.array([0.0, 2.0, 2.0, 1.0], np.float32)])
    model, image = wrap(keras_model), seeded_image(seed=4)
    assert cnnvis.models.heads.top_class(np.array([0.0, 2.0, 2.0, 1.0])) == 1
    assert cnnvis.classify(model, image)[0].index == 1
    assert cnnvis.grad_cam(model, image, layer="features").class_index == 1
    assert cnnvis.vanilla_gradient(model, image).class_index == 1
    assert cnnvis.smoothgrad(model, image, samples=2).class_index == 1
    assert cnnvis.occlusion(model, image, window=8, stride=8).class_index == 1


def test_guided_grad_cam_is_the_product_of_its_parts():
    model = wrap(cam_model())
    image = seeded_image(seed=5)
    combined = cnnvis.guided_grad_cam(model, image, target_class=2, layer="features")
    cam = cnnvis.grad_cam(model, image, target_class=2, layer="features")
    guided = cnnvis.guided_backprop(model, image, target_class=2)
    np.testing.assert_allclose(combined.values, guided.values * cam.heatmap[..., None], rtol=1e-6)
    assert combined.class_index == 2


def test_guided_backprop_of_a_channel():
    model = wrap(pointwise_relu_model("activation", W1, B1, W2))
    image = seeded_image()
    attribution = cnnvis.guided_backprop(model, image, layer="act", channel=2)
    x = image.astype(np.float64).reshape(-1, 3)
    z = x @ W1 + B1
    upstream = np.zeros_like(z)
    upstream[:, 2] = 1.0 / x.shape[0]  # d mean(channel 2) / d activation
    expected = ((upstream * (z > 0)) @ W1.T).reshape(image.shape)
    np.testing.assert_allclose(attribution.values, expected, rtol=1e-4, atol=1e-9)
    assert attribution.target == "act channel 2" and attribution.channel == 2
    with pytest.raises(ParameterError):
        cnnvis.guided_backprop(model, image, layer="act", channel=3)
    with pytest.raises(ParameterError):
        cnnvis.guided_backprop(model, image, target_class=0, layer="act")


def test_feature_maps_equal_a_keras_sub_model():
    keras_model = cam_model()
    model = wrap(keras_model)
    image = seeded_image(seed=6)
    results = cnnvis.feature_maps(model, image, ["conv1", "features"], count=3, order="most_active")
    reference = keras.Model(
        keras_model.input, [keras_model.get_layer(n).output for n in ("conv1", "features")]
    )(image[None].astype(np.float32))
    for result, expected in zip(results, reference):
        expected = expected.numpy()[0]
        means = expected.mean(axis=(0, 1))
        assert list(result.channels) == list(np.argsort(-means, kind="stable")[:3])
        np.testing.assert_allclose(result.maps, expected[..., result.channels].transpose(2, 0, 1), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.mean_activation, means, rtol=1e-5, atol=1e-6)
    first = cnnvis.feature_maps(model, image, "conv1", count=5)[0]
    assert list(first.channels) == [0, 1, 2, 3, 4]
    chosen = cnnvis.feature_maps(model, image, "conv1", channels=[7, 1])[0]
    assert list(chosen.channels) == [7, 1]
    with pytest.raises(UnknownLayerError):
        cnnvis.feature_maps(model, image, "gap")  # not a 2-D feature map
    with pytest.raises(UnknownLayerError):
        cnnvis.feature_maps(model, image, "nope")


def test_first_layer_filters_are_shown_in_rgb_pixel_space():
    keras_model = cam_model()
    kernel = keras_model.get_layer("conv1").get_weights()[0]
    caffe = cnnvis.filters(wrap(keras_model, "caffe"), count=8)
    assert caffe.rgb and caffe.layer == "conv1"
    # caffe models read BGR: the picture's red channel is the kernel's third input slot.
    np.testing.assert_allclose(caffe.kernels[..., 0], kernel[:, :, 2, :8].transpose(2, 0, 1), rtol=1e-5)
    np.testing.assert_allclose(caffe.kernels[..., 2], kernel[:, :, 0, :8].transpose(2, 0, 1), rtol=1e-5)
    tf_family = cnnvis.filters(wrap(keras_model, "tf"), count=8)
    np.testing.assert_allclose(tf_family.kernels, kernel[..., :8].transpose(3, 0, 1, 2) / 127.5, rtol=1e-5)
    by_norm = cnnvis.filters(wrap(keras_model, "none"), count=3, order="norm")
    norms = np.sqrt((kernel.astype(np.float64) ** 2).sum(axis=(0, 1, 2)))
    assert list(by_norm.filter_indices) == list(np.argsort(-norms)[:3])


def test_deeper_filters_per_input_channel_and_depthwise():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="c1")(inputs)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    x = keras.layers.Conv2D(6, 3, name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = wrap(keras.Model(inputs, keras.layers.Dense(2)(x)))
    c2 = cnnvis.filters(model, "c2", count=2, input_channels=3)
    kernel = model.layer("c2").kernel.numpy()
    assert not c2.rgb and c2.kernels.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(c2.kernels[1], kernel[:, :, :3, 1].transpose(2, 0, 1))
    dw = cnnvis.filters(model, "dw", count=8)
    dw_kernel = model.layer("dw").kernel.numpy()  # (3, 3, 4, 2): output c*2+m reads input c
    assert dw.kernels.shape == (8, 1, 3, 3)
    np.testing.assert_allclose(dw.kernels[5, 0], dw_kernel[:, :, 2, 1])
    assert dw.input_channels[5, 0] == 2


def test_classify_uses_softmax_of_logits():
    keras_model = cam_model()
    model = cnnvis.wrap_model(keras_model, "none", class_names=["a", "b", "c", "d"])
    image = seeded_image(seed=7)
    logits = keras_model(image[None].astype(np.float32)).numpy()[0]
    predictions = cnnvis.classify(model, image, top=4)
    probabilities = scipy.special.softmax(logits.astype(np.float64))
    assert [p.index for p in predictions] == list(np.argsort(-probabilities))
    assert sum(p.probability for p in predictions) == pytest.approx(1.0)
    assert predictions[0].label == "abcd"[predictions[0].index]
    assert predictions[0].logit == pytest.approx(float(logits.max()), rel=1e-5)
    assert predictions[0].wnid is None
    assert cnnvis.grad_cam(model, image, target_class="c").class_index == 2
