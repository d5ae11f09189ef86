"""Your own model: final softmax and sigmoid heads, class names and input size.

Known answers: every model with a final activation is compared with the same network
built to output logits (the same layer objects, or the same weights), whose gradients
and probabilities are computed here independently of cnnvis' head handling.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.special
import tensorflow as tf

import cnnvis
from cnnvis.models import graph
from cnnvis.models import own as own_models
from cnnvis.models import preprocessing
from cnnvis.errors import ParameterError
from cnnvis.models.loading import Head

from .tiny import cam_model, seeded_image

SOFTMAX_NOTE = "final softmax found: gradients on the logits"
SIGMOID_NOTE = "sigmoid head: one probability per class"


def _features(seed: int = 0, size: int = 16):
    """input -> conv (ReLU) -> features (ReLU) -> global average pool, seeded."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="features")(x)
    return inputs, keras.layers.GlobalAveragePooling2D(name="gap")(x)


def head_pair(form: str, classes: int = 4, seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """(a model ending in a final activation written as ``form``, the same network with
    logits). Both share every layer up to the logits; a Dense head with an activation
    gets the logit Dense's weights."""
    inputs, pooled = _features(seed)
    dense = keras.layers.Dense(classes, name="logits")
    logits = dense(pooled)
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 0.05, bias])  # logits a few units apart, not hundreds
    reference = keras.Model(inputs, logits, name="reference")
    if form in ("dense_softmax", "dense_sigmoid"):
        head = keras.layers.Dense(classes, activation=form.split("_")[1], name="head")
        outputs = head(pooled)
        head.set_weights(dense.get_weights())
    elif form == "activation_softmax":
        outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
    elif form == "activation_sigmoid":
        outputs = keras.layers.Activation("sigmoid", name="probabilities")(logits)
    elif form == "softmax_layer":
        outputs = keras.layers.Softmax(name="probabilities")(logits)
    elif form == "ops_softmax":
        outputs = keras.ops.softmax(logits)
    elif form == "ops_sigmoid":
        outputs = keras.ops.sigmoid(logits)
    elif form == "log_softmax":
        outputs = keras.layers.Activation("log_softmax", name="log_probabilities")(logits)
    else:
        raise AssertionError(form)
    return keras.Model(inputs, outputs, name=f"head_{form}"), reference


def _gradient_of(keras_model: keras.Model, image: np.ndarray, index: int) -> np.ndarray:
    """d output[index] / d pixels of the Keras model itself (identity preprocessing)."""
    pixels = tf.constant(image[None].astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(pixels)
        score = keras_model(pixels)[0, index]
    return tape.gradient(score, pixels).numpy()[0]


SOFTMAX_FORMS = ["dense_softmax", "activation_softmax", "softmax_layer", "ops_softmax", "log_softmax"]


@pytest.mark.parametrize("form", SOFTMAX_FORMS)
def test_a_final_softmax_is_found_and_gradients_are_on_the_logits(form):
    model, reference = head_pair(form)
    vis = cnnvis.wrap_model(model, "none")
    image = seeded_image(seed=3)
    assert vis.head.found == "softmax" and vis.head.rule == "softmax"
    assert vis.head.note == SOFTMAX_NOTE

    # classify: the logits are the reference's, the probabilities the softmax of them
    # (which is the model's own output; for log_softmax, its exponential).
    logits = reference(image[None].astype(np.float32)).numpy()[0].astype(np.float64)
    own = model(image[None].astype(np.float32)).numpy()[0].astype(np.float64)
    expected = np.exp(own) if form == "log_softmax" else own
    predictions = cnnvis.classify(vis, image, top=4)
    by_index = {p.index: p for p in predictions}
    np.testing.assert_allclose([by_index[i].logit for i in range(4)], logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([by_index[i].probability for i in range(4)], expected, rtol=1e-5)
    np.testing.assert_allclose(expected, scipy.special.softmax(logits), rtol=1e-5)
    assert [p.index for p in predictions] == list(np.argsort(-logits, kind="stable"))
    assert predictions[0].note == SOFTMAX_NOTE

    # Gradients of the class logit, not of its probability.
    target = int(np.argmin(logits))  # a class with a small probability: very different
    gradient = cnnvis.vanilla_gradient(vis, image, target_class=target)
    np.testing.assert_allclose(gradient.values, _gradient_of(reference, image, target), rtol=1e-4, atol=1e-7)
    assert gradient.note == SOFTMAX_NOTE
    cam = cnnvis.grad_cam(vis, image, target_class=target)
    logit_cam = cnnvis.grad_cam(cnnvis.wrap_model(reference, "none"), image, target_class=target)
    np.testing.assert_allclose(cam.heatmap, logit_cam.heatmap, atol=1e-6)
    assert cam.score == pytest.approx(logits[target], rel=1e-5, abs=1e-6)
    assert cam.caption.endswith(SOFTMAX_NOTE) and logit_cam.note == ""


def test_the_gradient_of_the_probability_would_differ():
    """The check above can fail: on the same model, the gradient of the softmax output
    is far from the gradient of the logit."""
    model, reference = head_pair("dense_softmax")
    image = seeded_image(seed=3)
    correlations = []
    for target in range(4):
        on_probability = _gradient_of(model, image, target).ravel()
        on_logit = _gradient_of(reference, image, target).ravel()
        assert not np.allclose(on_probability, on_logit, rtol=0.1, atol=1e-7)
        correlations.append(np.corrcoef(on_probability, on_logit)[0, 1])
    assert min(correlations) < 0.8


@pytest.mark.parametrize("form", ["dense_sigmoid", "activation_sigmoid", "ops_sigmoid"])
def test_a_multi_label_sigmoid_head_gives_one_probability_per_class(form):
    model, reference = head_pair(form, classes=3, seed=1)
    vis = cnnvis.wrap_model(model, "none", class_names=["cat", "dog", "outdoors"])
    image = seeded_image(seed=4)
    assert vis.head.found == "sigmoid" and vis.head.note.startswith(SIGMOID_NOTE)
    own = model(image[None].astype(np.float32)).numpy()[0].astype(np.float64)
    logits = reference(image[None].astype(np.float32)).numpy()[0].astype(np.float64)
    predictions = {p.index: p for p in cnnvis.classify(vis, image)}
    assert len(predictions) == 3  # top=5 asks for more classes than there are
    np.testing.assert_allclose([predictions[i].probability for i in range(3)], own, rtol=1e-5)
    np.testing.assert_allclose([predictions[i].logit for i in range(3)], logits, rtol=1e-5, atol=1e-6)
    assert abs(sum(own) - 1.0) > 0.05  # independent probabilities, not a softmax across them
    gradient = cnnvis.vanilla_gradient(vis, image, target_class="dog")
    np.testing.assert_allclose(gradient.values, _gradient_of(reference, image, 1), rtol=1e-4, atol=1e-7)
    assert SIGMOID_NOTE in gradient.caption


def test_a_binary_sigmoid_head_has_one_probability():
    model, reference = head_pair("dense_sigmoid", classes=1, seed=2)
    vis = cnnvis.wrap_model(model, "none", class_names=["cat"])
    image = seeded_image(seed=5)
    (prediction,) = cnnvis.classify(vis, image)
    own = float(model(image[None].astype(np.float32)).numpy()[0, 0])
    logit = float(reference(image[None].astype(np.float32)).numpy()[0, 0])
    assert prediction.label == "cat" and prediction.probability == pytest.approx(own, rel=1e-5)
    assert prediction.logit == pytest.approx(logit, rel=1e-5) and 0.01 < own < 0.99
    assert vis.head.found == "sigmoid"
    cam = cnnvis.grad_cam(vis, image)
    reference_cam = cnnvis.grad_cam(cnnvis.wrap_model(reference, "none"), image)
    assert cam.class_index == 0
    np.testing.assert_allclose(cam.heatmap, reference_cam.heatmap, atol=1e-6)


def test_a_single_output_without_activation_is_read_as_a_binary_logit():
    inputs, pooled = _features(seed=2)
    model = keras.Model(inputs, keras.layers.Dense(1, name="logit")(pooled))
    vis = cnnvis.wrap_model(model, "none")
    assert vis.head.found is None and vis.head.rule == "sigmoid" and "logit" in vis.head.note
    image = seeded_image(seed=5)
    (prediction,) = cnnvis.classify(vis, image)
    assert prediction.probability == pytest.approx(float(scipy.special.expit(prediction.logit)), rel=1e-6)


def test_a_head_without_final_activation_is_left_alone():
    keras_model = cam_model()
    vis = cnnvis.wrap_model(keras_model, "none")
    assert vis.head == Head("softmax") and vis.head.note == ""
    assert vis.run_graph.keywords["replace"] == {}
    image = seeded_image(seed=6)
    assert cnnvis.grad_cam(vis, image).note == ""
    assert cnnvis.vanilla_gradient(vis, image).note == ""
    assert cnnvis.classify(vis, image)[0].note == ""
    # A softmax that is not the last operation is not a final softmax either.
    inputs, pooled = _features()
    x = keras.layers.Dense(4, activation="softmax")(pooled)
    assert graph.final_activation(keras.Model(inputs, keras.layers.Dense(3)(x))) is None


def test_the_users_model_is_never_changed_and_its_weights_are_shared():
    model, _ = head_pair("dense_softmax")
    head = model.get_layer("head")
    image = seeded_image(seed=7)
    batch = image[None].astype(np.float32)
    before = model(batch).numpy()
    weights_before = [id(v) for v in model.weights]
    nodes_before = (len(head._inbound_nodes), len(head._outbound_nodes))
    layers_before = [layer.name for layer in model.layers]

    vis = cnnvis.wrap_model(model, "none")
    cnnvis.classify(vis, image)
    cnnvis.grad_cam(vis, image)
    cnnvis.guided_backprop(vis, image)

    np.testing.assert_array_equal(model(batch).numpy(), before)
    assert head.activation is keras.activations.softmax
    assert [id(v) for v in model.weights] == weights_before
    assert (len(head._inbound_nodes), len(head._outbound_nodes)) == nodes_before
    assert [layer.name for layer in model.layers] == layers_before
    # The clone holds the very same variables: no weight is copied.
    (clone,) = vis.run_graph.keywords["replace"].values()
    assert clone is not head and clone.activation is keras.activations.linear
    assert clone.kernel is head.kernel and clone.bias is head.bias
    assert {id(v) for v in clone.weights} == {id(v) for v in head.weights}
    assert vis.nbytes == sum(v.numpy().nbytes for v in model.weights)


def test_a_softmax_at_the_end_of_a_nested_model_is_found():
    model, reference = head_pair("activation_softmax")
    outer = keras.Sequential([keras.Input((16, 16, 3)), model], name="outer")
    vis = cnnvis.wrap_model(outer, "none")
    assert vis.head.found == "softmax" and vis.head.layer == "probabilities"
    image = seeded_image(seed=8)
    ours = cnnvis.grad_cam(vis, image, layer="features", target_class=2).heatmap
    theirs = cnnvis.grad_cam(cnnvis.wrap_model(reference, "none"), image, target_class=2).heatmap
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_probabilities_everywhere_follow_the_models_rule():
    """Deletion/insertion, occlusion and Score-CAM read probabilities by the sigmoid rule."""
    model, _ = head_pair("dense_sigmoid", classes=3, seed=1)
    vis = cnnvis.wrap_model(model, "none")
    image = seeded_image(seed=9)
    own = model(image[None].astype(np.float32)).numpy()[0].astype(np.float64)
    np.testing.assert_allclose(vis.probabilities(np.log(own / (1 - own))), own, rtol=1e-5)
    heatmap = cnnvis.grad_cam(vis, image, target_class=1).heatmap
    result = cnnvis.deletion_insertion(vis, image, heatmap, target_class=1, steps=4, random_maps=1)
    assert result.deletion.scores[0] == pytest.approx(own[1], rel=1e-5)
    occlusion = cnnvis.occlusion(vis, image, target_class=1, window=8, stride=8)
    assert occlusion.probability == pytest.approx(own[1], rel=1e-5)
    assert SIGMOID_NOTE in occlusion.note


# ----- class names, input size, and what wrap_model refuses --------------------------------
def flexible_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x), name="flexible")


def test_wrap_model_carries_class_names_and_input_size():
    vis = cnnvis.wrap_model(flexible_model(), "0-1", class_names=[" cat ", "dog"], input_size=(24, 40))
    assert vis.class_names == ("cat", "dog") and vis.input_size == (24, 40)
    image = seeded_image(60, 90, seed=10)
    cam = cnnvis.grad_cam(vis, image, target_class="dog")
    assert cam.heatmap.shape == (60, 90) and cam.label == "dog"
    maps = cnnvis.feature_maps(vis, image, "features")
    assert maps[0].shape[:2] == (24, 40)  # run at the size given
    assert cnnvis.wrap_model(flexible_model(), input_size=32).input_size == (32, 32)
    assert cnnvis.wrap_model(flexible_model()).input_size == (None, None)
    # A fixed input may be named, not changed.
    assert cnnvis.wrap_model(cam_model(), input_size=(16, 16)).input_size == (16, 16)
    with pytest.raises(ParameterError, match=r"takes \(16, 16\) inputs, so input_size cannot be 32 x 32"):
        cnnvis.wrap_model(cam_model(), input_size=32)


@pytest.mark.parametrize("size", [0, 8, 5000, 32.5, True, "32", (32,), (32, 32, 3), (32, None)])
def test_wrap_model_refuses_bad_input_sizes(size):
    with pytest.raises(ParameterError, match="input_size must be a whole number of pixels"):
        cnnvis.wrap_model(flexible_model(), input_size=size)


@pytest.mark.parametrize(
    "names, message",
    [
        ("cat dog", "not one string"),
        (["cat"], "has 2 classes but 1 class names were given"),
        (["cat", "dog", "bird"], "has 2 classes but 3 class names"),
        (["cat", ""], "Class name 2 is empty"),
        (["cat", 7], "Class name 2 is empty or not text"),
        (["cat", "d" * 101], "Class name 2 is longer than 100 characters"),
        (["cat", "dog\x00"], "Class name 2 contains control characters"),
        (42, "a list of names"),
    ],
)
def test_wrap_model_refuses_bad_class_names(names, message):
    with pytest.raises(ParameterError, match=message) as error:
        cnnvis.wrap_model(flexible_model(), class_names=names)
    assert "\n" not in str(error.value)


def _two_inputs():
    a, b = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    return keras.Model([a, b], keras.layers.Dense(2)(x))


def _text():
    inputs = keras.Input((20,), dtype="int32")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(100, 8)(inputs))
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def _grey():
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def _two_outputs():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    return keras.Model(inputs, [keras.layers.Dense(2)(x), keras.layers.Dense(3)(x)])


def _segmentation():
    inputs = keras.Input((16, 16, 3))
    return keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax")(inputs))


@pytest.mark.parametrize(
    "build, message",
    [
        (_two_inputs, "has 2 inputs; cnnvis explains models with one image input"),
        (_text, r"input has shape \(20\); cnnvis needs an image input"),
        (_grey, "takes 1-channel images; cnnvis explains models of RGB images"),
        (_two_outputs, "has 2 outputs"),
        (_segmentation, r"output has shape \(16, 16, 2\); cnnvis explains classifiers"),
    ],
)
def test_wrap_model_refuses_models_that_are_not_image_classifiers(build, message):
    with pytest.raises(ParameterError, match=message):
        cnnvis.wrap_model(build())


def test_scale_to_unit_range_is_a_preprocessing_family():
    unit = preprocessing.resolve("0-1")
    np.testing.assert_allclose(unit.apply(np.array([0.0, 127.5, 255.0], np.float32)), [0, 0.5, 1])
    np.testing.assert_allclose(unit.invert(unit.apply(np.full(3, 200.0, np.float32))), 200.0, rtol=1e-6)
    assert all(p.description for p in preprocessing.FAMILIES.values())
    assert set(own_models.PREPROCESSING_CHOICES) == set(preprocessing.FAMILIES)
