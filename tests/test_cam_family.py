"""The CAM family (Grad-CAM++, LayerCAM, Score-CAM, Eigen-CAM): known answers on tiny
models, the conditions under which the gradient CAMs must coincide, bounds, and real
weights.

On ``conv -> ReLU -> global average pool -> dense`` the gradient of logit ``c`` with
respect to ``A_ij^k`` is ``w_kc / (h w)`` at every position (spatially uniform). Then

- Grad-CAM weights are ``w_kc / (h w)``;
- LayerCAM is ``ReLU(sum_k ReLU(w_kc) A^k) / (h w)``: equal to Grad-CAM exactly when every
  ``w_kc >= 0`` (the activations being >= 0 after the ReLU);
- Grad-CAM++ has ``alpha_ij^k = 1 / (2 + w_kc mean(A^k))``, so its weights are
  ``ReLU(w_kc) / (2 + w_kc mean(A^k))``: proportional to Grad-CAM's (same map) exactly when
  every ``w_kc > 0`` and every channel contributes the same ``w_kc mean(A^k)`` to the logit.
"""

from __future__ import annotations


import keras
import numpy as np
import pytest
import tensorflow as tf

import cnnvis
from cnnvis.errors import ParameterError
from cnnvis.images import resize_image
from cnnvis.techniques import compiled
from cnnvis.techniques.base import prepare
from cnnvis.techniques.cam import score_cam_channels

from .conftest import EXAMPLES
from .tiny import seeded_image, wrap

EGYPTIAN_CAT, ESPRESSO = 285, 967
SIZE = 16


def feature_model(head: str = "gap", *, stride: int = 1, channels: int = 5, classes: int = 3,
                  activation: str | None = "relu", seed: int = 0) -> keras.Model:
    """input -> 3x3 conv ("features", bias 0.5 keeps every channel alive) -> head -> dense.

    ``head`` is ``"gap"`` (global average pooling) or ``"flatten"``. Without an activation
    in the features, a ReLU layer follows them so the head still sees a rectified map.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(
        channels, 3, strides=stride, padding="same", activation=activation,
        bias_initializer=keras.initializers.Constant(0.5), name="features",
    )(inputs)
    if activation is None:
        x = keras.layers.ReLU(name="rectified")(x)
    x = keras.layers.GlobalAveragePooling2D()(x) if head == "gap" else keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"features_{head}")


def features_of(model: keras.Model, pixels: np.ndarray, preprocess, layer: str = "features") -> np.ndarray:
    """A layer's output for one image, with a plain Keras sub-model."""
    sub = keras.Model(model.input, model.get_layer(layer).output)
    return sub(preprocess(pixels[None].astype(np.float32))).numpy()[0].astype(np.float64)


def tf_pre(x):
    return x / 127.5 - 1.0


def set_class_weights(model: keras.Model, klass: int, column: np.ndarray) -> None:
    kernel, bias = model.get_layer("logits").get_weights()
    kernel[:, klass] = column
    model.get_layer("logits").set_weights([kernel, bias])


def count_forward_batches(monkeypatch) -> list[int]:
    """Record the batch size of every call of the compiled forward pass."""
    sizes: list[int] = []
    real_forward = compiled.forward

    def counting_forward(vis_model):
        fn = real_forward(vis_model)

        def call(batch):
            sizes.append(len(batch))
            return fn(batch)

        return call

    monkeypatch.setattr(compiled, "forward", counting_forward)
    return sizes


def cam_gradients(model, image, layer: str, klass: int) -> np.ndarray:
    prepared = prepare(model, image)
    _, grads, _, _ = compiled.cam(model, layer)(prepared.batch, np.array([klass], np.int32))
    return grads.numpy()[0]


# ----- where the gradient CAMs must agree, and where they must not --------------------------


def test_gap_head_gives_spatially_uniform_gradients_and_not_flatten():
    image = seeded_image(SIZE, SIZE, seed=1)
    gap = feature_model("gap")
    grads = cam_gradients(wrap(gap, "tf"), image, "features", 0)
    kernel = gap.get_layer("logits").get_weights()[0]
    np.testing.assert_allclose(grads, np.broadcast_to(kernel[:, 0] / SIZE**2, grads.shape), rtol=1e-5)
    flat = cam_gradients(wrap(feature_model("flatten"), "tf"), image, "features", 0)
    assert np.ptp(flat, axis=(0, 1)).min() > 1e-3  # every channel's gradient varies in space


def test_layer_cam_equals_grad_cam_when_class_weights_are_non_negative():
    keras_model = feature_model("gap")
    set_class_weights(keras_model, 1, np.abs(keras_model.get_layer("logits").get_weights()[0][:, 1]))
    model, image = wrap(keras_model, "tf"), seeded_image(SIZE, SIZE, seed=2)
    assert (keras_model.get_layer("logits").get_weights()[0][:, 1] >= 0).all()  # the condition
    grad = cnnvis.grad_cam(model, image, target_class=1)
    layer = cnnvis.layer_cam(model, image, target_class=1)
    assert grad.heatmap.max() == pytest.approx(1.0)
    np.testing.assert_allclose(layer.heatmap, grad.heatmap, atol=1e-6)
    assert layer.weights is None and layer.method == "LayerCAM"


def test_layer_cam_differs_from_grad_cam_with_mixed_sign_weights():
    keras_model = feature_model("gap", seed=3)
    model, image = wrap(keras_model, "tf"), seeded_image(SIZE, SIZE, seed=3)
    kernel = keras_model.get_layer("logits").get_weights()[0][:, 0]
    set_class_weights(keras_model, 0, np.where(np.arange(len(kernel)) % 2, -1.0, 1.0) * np.abs(kernel))
    kernel = keras_model.get_layer("logits").get_weights()[0][:, 0]
    assert (kernel < 0).any() and (kernel > 0).any()  # the condition is broken
    maps = features_of(keras_model, image, tf_pre)
    expected = np.maximum(maps @ np.maximum(kernel, 0), 0)  # LayerCAM's closed form here
    layer = cnnvis.layer_cam(model, image, target_class=0)
    np.testing.assert_allclose(layer.heatmap, expected / expected.max(), rtol=1e-4, atol=1e-6)
    grad = cnnvis.grad_cam(model, image, target_class=0)
    assert np.abs(layer.heatmap - grad.heatmap).max() > 0.1


def test_layer_cam_differs_from_grad_cam_when_gradients_vary_in_space():
    keras_model = feature_model("flatten", seed=4)
    dense = keras_model.get_layer("logits")
    kernel, bias = dense.get_weights()
    dense.set_weights([np.abs(kernel), bias])  # all-positive weights: only uniformity is broken
    model, image = wrap(keras_model, "tf"), seeded_image(SIZE, SIZE, seed=4)
    grad = cnnvis.grad_cam(model, image, target_class=0)
    layer = cnnvis.layer_cam(model, image, target_class=0)
    assert np.abs(layer.heatmap - grad.heatmap).max() > 0.1


def test_grad_cam_plus_plus_closed_form_on_a_gap_model():
    keras_model = feature_model("gap", seed=5)
    model, image = wrap(keras_model, "tf"), seeded_image(SIZE, SIZE, seed=5)
    maps = features_of(keras_model, image, tf_pre)
    for klass in range(3):
        w = keras_model.get_layer("logits").get_weights()[0][:, klass].astype(np.float64)
        expected = np.maximum(w, 0) / (2.0 + w * maps.mean(axis=(0, 1)))
        result = cnnvis.grad_cam_plus_plus(model, image, target_class=klass)
        np.testing.assert_allclose(result.weights, expected, rtol=2e-4, atol=1e-9)
        cam = np.maximum(maps @ expected, 0)
        np.testing.assert_allclose(result.heatmap, cam / cam.max(), rtol=1e-4, atol=1e-6)
        assert result.class_index == klass and result.method == "Grad-CAM++"


def test_grad_cam_plus_plus_equals_grad_cam_when_channels_contribute_equally():
    keras_model = feature_model("gap", seed=6)
    model, image = wrap(keras_model, "tf"), seeded_image(SIZE, SIZE, seed=6)
    means = features_of(keras_model, image, tf_pre).mean(axis=(0, 1))
    assert (means > 0).all()
    set_class_weights(keras_model, 2, 3.0 / means)  # w_k mean(A^k) = 3 for every channel
    grad = cnnvis.grad_cam(model, image, target_class=2)
    plus = cnnvis.grad_cam_plus_plus(model, image, target_class=2)
    np.testing.assert_allclose(plus.heatmap, grad.heatmap, atol=2e-6)
    ratio = plus.weights / grad.weights
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)

    # Unequal contributions (all weights still positive): the maps differ.
    set_class_weights(keras_model, 2, np.linspace(0.2, 30.0, len(means)) / means)
    grad = cnnvis.grad_cam(model, image, target_class=2)
    plus = cnnvis.grad_cam_plus_plus(model, image, target_class=2)
    assert np.abs(plus.heatmap - grad.heatmap).max() > 0.05
    # And LayerCAM, which needs only non-negative weights, still equals Grad-CAM.
    np.testing.assert_allclose(cnnvis.layer_cam(model, image, target_class=2).heatmap, grad.heatmap, atol=1e-6)


# ----- Score-CAM ----------------------------------------------------------------------------


def reference_score_cam_weights(keras_model, image, klass, score, channels=None):
    """Score-CAM weights with plain Keras calls: the model's input (``tf`` family) times
    each upsampled, min-max scaled channel; baseline = the all-zero input."""
    x = tf_pre(image[None].astype(np.float32))
    maps = features_of(keras_model, image, tf_pre)
    upsampled = tf.image.resize(maps.astype(np.float32), (SIZE, SIZE), method="bilinear").numpy()
    channels = np.arange(maps.shape[-1]) if channels is None else channels
    values = []
    for k in channels:
        m = upsampled[..., k]
        mask = (m - m.min()) / (m.max() - m.min())
        values.append(keras_model(x * mask[None, :, :, None]).numpy()[0])
    values = np.array(values, np.float64)
    baseline = keras_model(np.zeros_like(x)).numpy().astype(np.float64)
    if score == "probability":
        values, baseline = scipy_softmax(values), scipy_softmax(baseline)
    increase = values[:, klass] - baseline[0, klass]
    weights = np.zeros(maps.shape[-1])
    weights[channels] = np.exp(increase - increase.max()) / np.exp(increase - increase.max()).sum()
    return weights, maps


def scipy_softmax(x):
    import scipy.special

    return scipy.special.softmax(x, axis=-1)


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_score_cam_weights_are_softmaxed_score_increases(score):
    keras_model = feature_model("gap", stride=2, channels=6, seed=7)  # 6 x 6 maps, upsampled
    model, image = wrap(keras_model, "tf"), seeded_image(SIZE, SIZE, seed=7)
    result = cnnvis.score_cam(model, image, target_class=1, score=score, batch_size=4)
    expected, maps = reference_score_cam_weights(keras_model, image, 1, score)
    np.testing.assert_allclose(result.weights, expected, rtol=1e-4, atol=1e-7)
    cam = np.maximum(maps @ expected, 0)[..., None].astype(np.float32)
    upsampled = tf.image.resize(cam / cam.max(), (SIZE, SIZE), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(result.heatmap, upsampled, atol=1e-5)
    assert result.method == "Score-CAM" and result.class_index == 1
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-5)


def test_score_cam_max_channels_keeps_the_highest_variance_channels():
    keras_model = feature_model("gap", stride=2, channels=6, seed=8)
    model, image = wrap(keras_model, "tf"), seeded_image(SIZE, SIZE, seed=8)
    maps = features_of(keras_model, image, tf_pre)
    top3 = np.sort(np.argsort(-maps.var(axis=(0, 1)))[:3])
    np.testing.assert_array_equal(score_cam_channels(maps, 3), top3)
    result = cnnvis.score_cam(model, image, target_class=0, max_channels=3)
    expected, _ = reference_score_cam_weights(keras_model, image, 0, "logit", channels=top3)
    np.testing.assert_allclose(result.weights, expected, rtol=1e-4, atol=1e-7)
    assert np.count_nonzero(result.weights) == 3
    assert "3 of 6 channels" in result.note


def test_score_cam_batches_its_forward_passes(monkeypatch):
    model, image = wrap(feature_model("gap", channels=6, seed=9), "tf"), seeded_image(SIZE, SIZE)
    sizes = count_forward_batches(monkeypatch)
    unbatched = cnnvis.score_cam(model, image, target_class=0, batch_size=1)
    assert sizes == [1] * 6
    sizes.clear()
    batched = cnnvis.score_cam(model, image, target_class=0, batch_size=4)
    assert sizes == [4, 2]
    np.testing.assert_allclose(batched.weights, unbatched.weights, rtol=1e-5)


# ----- Eigen-CAM ----------------------------------------------------------------------------


def numpy_eigen_cam(maps: np.ndarray) -> np.ndarray:
    """First principal direction from the eigenvectors of O^T O (not an SVD), sign fixed
    to correlate positively with the mean activation, then ReLU and scaling to [0, 1]."""
    matrix = maps.reshape(-1, maps.shape[-1])
    _, vectors = np.linalg.eigh(matrix.T @ matrix)
    direction = vectors[:, -1]
    projection = matrix @ direction
    if np.corrcoef(projection, matrix.mean(axis=1))[0, 1] < 0:
        projection = -projection
    cam = np.maximum(projection, 0).reshape(maps.shape[:2])
    return cam / cam.max()


def test_eigen_cam_is_the_first_principal_component_projection():
    # A linear feature layer (signed activations): the sign of the direction matters.
    keras_model = feature_model("gap", activation=None, seed=10)
    model, image = wrap(keras_model, "tf"), seeded_image(SIZE, SIZE, seed=10)
    maps = features_of(keras_model, image, tf_pre)
    assert (maps < 0).any() and (maps > 0).any()
    result = cnnvis.eigen_cam(model, image, layer="features")
    np.testing.assert_allclose(result.heatmap, numpy_eigen_cam(maps), atol=1e-5)
    projection = maps.reshape(-1, maps.shape[-1]) @ result.weights
    assert np.corrcoef(projection, maps.reshape(-1, maps.shape[-1]).mean(axis=1))[0, 1] > 0
    # Class-agnostic: the same map for every class; the class only names the result.
    other = cnnvis.eigen_cam(model, image, layer="features", target_class=2)
    np.testing.assert_array_equal(other.heatmap, result.heatmap)
    assert other.class_index == 2 and "class-agnostic" in other.note


def test_eigen_cam_of_an_all_zero_layer_is_zero_not_nan():
    keras_model = feature_model("gap", seed=11)
    conv = keras_model.get_layer("features")
    conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    result = cnnvis.eigen_cam(wrap(keras_model, "tf"), seeded_image(SIZE, SIZE))
    assert np.isfinite(result.heatmap).all() and result.heatmap.max() == 0.0


# ----- bounds and registration --------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"batch_size": 0}, {"batch_size": 10**6}, {"batch_size": 2.5}, {"batch_size": True},
        {"max_channels": 0}, {"max_channels": 6}, {"max_channels": float("nan")},
        {"score": "odds"},
    ],
)
def test_score_cam_parameters_are_bounded(options):
    model = wrap(feature_model("gap", seed=12), "tf")
    with pytest.raises(ParameterError):
        cnnvis.score_cam(model, seeded_image(SIZE, SIZE), **options)


def test_the_cam_family_is_registered_and_exported():
    for name in ("grad_cam_plus_plus", "layer_cam", "score_cam", "eigen_cam"):
        technique = cnnvis.TECHNIQUES[name]
        assert technique.output == "heatmap" and technique.function is getattr(cnnvis, name)
        assert technique.paper and technique.summary.count(". ") >= 1
        assert name in cnnvis.__all__


# ----- real weights ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cat_and_espresso(cat_image):
    espresso = cnnvis.load_image(EXAMPLES / "espresso.jpg")
    return np.concatenate([resize_image(cat_image, (224, 224)), resize_image(espresso, (224, 224))], axis=1)


@pytest.mark.parametrize("method", ["grad_cam_plus_plus", "layer_cam"])
def test_gradient_cams_find_the_cat(mobilenet_v2, cat_and_espresso, method):
    heatmap = getattr(cnnvis, method)(mobilenet_v2, cat_and_espresso, target_class=EGYPTIAN_CAT).heatmap
    half = cat_and_espresso.shape[1] // 2
    _, peak_x = np.unravel_index(heatmap.argmax(), heatmap.shape)
    assert peak_x < half and heatmap[:, :half].sum() > heatmap[:, half:].sum()


def test_score_cam_finds_the_cat_with_every_channel_batched(mobilenet_v2, cat_and_espresso, monkeypatch):
    sizes = count_forward_batches(monkeypatch)
    result = cnnvis.score_cam(mobilenet_v2, cat_and_espresso, target_class=EGYPTIAN_CAT)
    maps = cnnvis.feature_maps(mobilenet_v2, cat_and_espresso, "out_relu", count=1)[0]
    constant = int((maps.mean_activation == 0).sum())  # ReLU channels that are zero everywhere
    assert constant > 100  # so the saving below is real
    # Every non-constant channel gets its masked pass, batched by 32; the constant ones
    # (all-zero masks: the baseline image) share one pass.
    assert sizes[0] == 1 and sum(sizes[1:]) <= 1280 - constant and max(sizes) == 32
    heatmap, half = result.heatmap, cat_and_espresso.shape[1] // 2
    _, peak_x = np.unravel_index(heatmap.argmax(), heatmap.shape)
    assert peak_x < half and heatmap[:, :half].sum() > 2 * heatmap[:, half:].sum()
    # ... and the espresso for the espresso class (fewer channels: Faster Score-CAM).
    cup = cnnvis.score_cam(mobilenet_v2, cat_and_espresso, target_class=ESPRESSO, max_channels=256).heatmap
    assert np.unravel_index(cup.argmax(), cup.shape)[1] >= half


def test_eigen_cam_finds_the_cat_and_ignores_the_class(mobilenet_v2, cat_image, cat_and_espresso):
    # Class-agnostic, so next to a plain grey square the one object must stand out.
    scene = np.concatenate([resize_image(cat_image, (224, 224)), np.full((224, 224, 3), 128, np.uint8)], axis=1)
    heatmap = cnnvis.eigen_cam(mobilenet_v2, scene).heatmap
    _, peak_x = np.unravel_index(heatmap.argmax(), heatmap.shape)
    assert peak_x < 224 and heatmap[:, :224].sum() > 2 * heatmap[:, 224:].sum()
    cat = cnnvis.eigen_cam(mobilenet_v2, cat_and_espresso, target_class=EGYPTIAN_CAT)
    cup = cnnvis.eigen_cam(mobilenet_v2, cat_and_espresso, target_class=ESPRESSO)
    np.testing.assert_array_equal(cat.heatmap, cup.heatmap)
