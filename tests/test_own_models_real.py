"""Your own model with real weights: a stock keras.applications MobileNetV2, built the way
Keras builds it by default (a softmax head), and as a nested backbone under a new head.

Both must explain exactly what the registry's logit build explains. Skipped, with the
reason shown, where the weights directory is absent.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import cnnvis

from .conftest import EXAMPLES

EGYPTIAN_CAT, ESPRESSO = 285, 967


def stock_mobilenet_v2(weights_dir) -> keras.Model:
    """``keras.applications.MobileNetV2`` with its default ``classifier_activation="softmax"``
    and the real ImageNet weights (every variable loaded: Keras only warns otherwise)."""
    model = keras.applications.MobileNetV2(weights=None)
    assert model.get_layer("predictions").activation is keras.activations.softmax
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(str(weights_dir / "MobileNetV2.weights.h5"))
    assert not [w for w in caught if "Skipping" in str(w.message)]
    return model


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def espresso():
    return cnnvis.load_image(EXAMPLES / "espresso.jpg")


def test_a_stock_softmax_mobilenet_v2_gives_true_probabilities_and_logit_maps(
    weights_dir, mobilenet_v2, cat_image, espresso
):
    keras_model = stock_mobilenet_v2(weights_dir)
    vis = cnnvis.wrap_model(keras_model, keras.applications.mobilenet_v2.preprocess_input)
    assert vis.head.found == "softmax" and vis.head.layer == "predictions"

    top = cnnvis.classify(vis, espresso)[0]
    reference = cnnvis.classify(mobilenet_v2, espresso)[0]
    assert top.index == reference.index == ESPRESSO
    assert top.probability > 0.95  # 0.989; it was 0.0027, a softmax of the probabilities
    assert top.probability == pytest.approx(reference.probability, rel=1e-4)
    assert top.logit == pytest.approx(reference.logit, rel=1e-4)
    assert top.note == "final softmax found: gradients on the logits"
    # The model's own output, computed by Keras, is that probability.
    batch = keras.applications.mobilenet_v2.preprocess_input(
        cnnvis.images.resize_image(espresso, (224, 224))[None].astype(np.float32)
    )
    assert float(keras_model(batch).numpy()[0, ESPRESSO]) == pytest.approx(top.probability, rel=1e-4)

    ours = cnnvis.grad_cam(vis, cat_image, target_class=EGYPTIAN_CAT)
    theirs = cnnvis.grad_cam(mobilenet_v2, cat_image, target_class=EGYPTIAN_CAT)
    assert ours.layer == theirs.layer == "out_relu"
    assert correlation(ours.heatmap, theirs.heatmap) >= 0.9999  # 0.51 on the probability
    gradient = cnnvis.vanilla_gradient(vis, cat_image, target_class=EGYPTIAN_CAT).values
    reference_gradient = cnnvis.vanilla_gradient(
        mobilenet_v2, cat_image, target_class=EGYPTIAN_CAT
    ).values
    assert correlation(gradient, reference_gradient) >= 0.9999  # 0.65 on the probability


def test_a_nested_mobilenet_v2_backbone_under_a_softmax_head(
    weights_dir, mobilenet_v2, cat_image
):
    stock = stock_mobilenet_v2(weights_dir)
    backbone = keras.Model(stock.input, stock.get_layer("out_relu").output, name="backbone")
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    head = keras.layers.Dense(1000, activation="softmax", name="head")
    model = keras.Model(inputs, head(x), name="transfer")
    head.set_weights(stock.get_layer("predictions").get_weights())

    vis = cnnvis.wrap_model(model, "tf")
    assert vis.head.found == "softmax" and vis.default_layer == "backbone"
    assert "out_relu" in vis.visual_layers  # the backbone's own layers are reachable
    ours = cnnvis.grad_cam(vis, cat_image, target_class=EGYPTIAN_CAT)
    theirs = cnnvis.grad_cam(mobilenet_v2, cat_image, target_class=EGYPTIAN_CAT)
    assert correlation(ours.heatmap, theirs.heatmap) >= 0.9999
    layer = "block_13_expand_relu"  # inside the backbone
    inner = cnnvis.grad_cam(vis, cat_image, layer=layer, target_class=EGYPTIAN_CAT)
    reference = cnnvis.grad_cam(mobilenet_v2, cat_image, layer=layer, target_class=EGYPTIAN_CAT)
    assert correlation(inner.heatmap, reference.heatmap) >= 0.9999
    top = cnnvis.classify(vis, cat_image)[0]
    assert top.index == EGYPTIAN_CAT
    reference_top = cnnvis.classify(mobilenet_v2, cat_image)[0]
    assert top.probability == pytest.approx(reference_top.probability, rel=1e-4)
