"""Every model of the registry, with random weights: builds, layers, preprocessing, maps.

The registry is checked against Keras itself, so a Keras upgrade that adds or drops a
model fails here instead of silently changing the app.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import cnnvis
from cnnvis.models.loading import REGISTRY, get_spec, list_models
from cnnvis.techniques import compiled

# Known answers from the literature and the Keras sources (see the design notes).
KNOWN_DEFAULT_LAYERS = {
    "VGG16": "block5_pool",
    "ResNet50": "conv5_block3_out",
    "InceptionV3": "mixed10",
    "Xception": "block14_sepconv2_act",
    "EfficientNetB0": "top_activation",
    "DenseNet121": "relu",
    "MobileNet": "conv_pw_13_relu",
    "MobileNetV2": "out_relu",
    "ResNet50V2": "post_relu",
    "InceptionResNetV2": "conv_7b_ac",
}
NORMALISATION_TYPES = ("BatchNormalization", "LayerNormalization", "Normalization", "Rescaling")


def keras_classifiers() -> set[str]:
    """Every ImageNet classifier constructor of the installed keras.applications."""
    found = set()
    for name in dir(keras.applications):
        obj = getattr(keras.applications, name)
        if callable(obj) and name[0].isupper():
            parameters = inspect.signature(obj).parameters
            if "classifier_activation" in parameters and "include_top" in parameters:
                found.add(name)
    return found


def family_representatives() -> list[str]:
    """One model per family of the registry (the Keras module that builds it: ``efficientnet``,
    ``resnet_v2``, ...), the one with the fewest parameters. The members of a family are one
    constructor at other depths and widths: the graph rules (default layer, visual layers,
    legible layer, dream layers) meet the same layer types in the same order."""
    table = cnnvis.models.availability.weights_table()
    families: dict[str, str] = {}
    for name in sorted(REGISTRY, key=lambda n: (table[n].parameters, n)):
        families.setdefault(get_spec(name).constructor.__module__, name)
    return sorted(families.values())


def test_every_family_has_a_representative_and_the_known_layers_are_checked():
    representatives = family_representatives()
    assert len(representatives) == 15
    missing = set(KNOWN_DEFAULT_LAYERS) - set(representatives)
    assert not missing, f"known default layers of models not built by the slow test: {missing}"


def test_the_weights_table_was_made_with_the_pinned_keras():
    """The table is derived from Keras (scripts/make_weights_table.py builds every model);
    a Keras upgrade must rebuild it, and this says so."""
    assert cnnvis.models.availability.weights_table_keras() == keras.__version__, (
        "Keras changed: run python scripts/make_weights_table.py"
    )


def test_registry_is_exactly_what_keras_offers():
    derived = keras_classifiers()
    assert len(derived) == 40
    assert set(REGISTRY) == derived, (
        f"missing: {sorted(derived - set(REGISTRY))}, invented: {sorted(set(REGISTRY) - derived)}"
    )
    assert list_models() == sorted(derived)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_family_preprocessing_equals_keras_and_inverts(name):
    spec = get_spec(name)
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (2, 5, 7, 3)).astype(np.float32)
    ours = spec.preprocessing.apply(pixels)
    theirs = np.asarray(spec.keras_module.preprocess_input(pixels.copy()))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(spec.preprocessing.invert(ours), pixels, rtol=1e-5, atol=1e-3)
    as_tensor = spec.preprocessing.invert(spec.preprocessing.apply(tf.constant(pixels)))
    np.testing.assert_allclose(as_tensor.numpy(), pixels, rtol=1e-5, atol=1e-3)


def test_unknown_model_names_fail_clearly():
    with pytest.raises(cnnvis.UnknownModelError, match="mobilenetv2.*Did you mean 'MobileNetV2'"):
        cnnvis.load_model("mobilenetv2", weights=None)


@pytest.mark.slow
@pytest.mark.parametrize("name", family_representatives())
def test_every_family_builds_and_explains(name):
    spec = get_spec(name)
    model = cnnvis.load_model(name, weights=None)
    keras_model = model.keras_model
    assert model.input_size == (spec.input_size, spec.input_size)
    # Built with logits: the last operation applies no softmax, and none is taken off.
    assert getattr(keras_model.layers[-1], "activation", None) in (None, keras.activations.linear)
    assert model.head.found is None and model.head.rule == "softmax" and not model.head.note

    # The default Grad-CAM layer is a real feature map that the head consumes.
    default = model.default_layer
    height, width, channels = model.info(default).shape
    assert height > 1 and width > 1 and channels > 1
    if name in KNOWN_DEFAULT_LAYERS:
        assert default == KNOWN_DEFAULT_LAYERS[name]

    # Layers worth visualising: feature maps only, no normalisation layers, convs included.
    infos = {info.name: info for info in model.layer_infos}
    visual = model.visual_layers
    assert default in visual
    assert not [n for n in visual if infos[n].type in NORMALISATION_TYPES]
    assert all(infos[n].is_feature_map for n in visual)
    assert sum(infos[n].kind == "conv" for n in visual) >= 5
    assert model.filter_layers and model.first_conv == model.filter_layers[0]

    # Grad-CAM at a non-square image size: finite, in [0, 1], at the image's resolution.
    image = np.random.default_rng(1).integers(0, 256, (97, 131, 3), dtype=np.uint8)
    result = cnnvis.grad_cam(model, image)
    assert result.heatmap.shape == (97, 131)
    assert np.isfinite(result.heatmap).all()
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    assert result.layer == default and 0 <= result.class_index < 1000

    # The headless walk for Deep Dream runs at an arbitrary size on the default layers.
    assert model.dream_layers and len(model.dream_layers) <= 4
    step = compiled.dream_step(model, model.dream_layers)
    low, high = (b.astype(np.float32) for b in model.preprocessing.pixel_bounds())
    dream = model.preprocessing.apply(image[:77, :101].astype(np.float32))[None]
    loss, stepped = step(
        dream, np.ones(len(model.dream_layers), np.float32), np.full(3, 0.01, np.float32),
        np.zeros(2, np.int32), low, high,
    )
    assert np.isfinite(loss.numpy()) and stepped.shape == dream.shape

    # The feature-map tab opens on maps that read as pictures: a quarter of the input's
    # resolution (with valid padding's few pixels less), past the first layer, before
    # the middle of the network.
    legible = model.info(model.legible_layer)
    assert legible.kind in ("activation", "block") or legible.activation is not None
    assert legible.name in visual
    assert min(legible.shape[:2]) >= 0.85 * spec.input_size / 4
    assert model.legible_layer != visual[0]
    assert list(infos).index(legible.name) < 0.5 * len(infos)

    # The weights table knows the model, with its real size.
    known = cnnvis.models.availability.weights_table()[name]
    assert known.parameters == keras_model.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("name", family_representatives())
def test_the_weights_table_names_the_file_keras_downloads(name):
    assert cnnvis.models.availability.weights_table()[name].keras_file == (
        cnnvis.models.availability.keras_weights_file(get_spec(name))
    )


@pytest.mark.fullsize
def test_nested_layers_are_listed_and_usable():
    """ConvNeXt's stem is a nested Sequential: its convolution is visible and usable."""
    model = cnnvis.load_model("ConvNeXtTiny", weights=None)
    assert model.head.found is None  # built with logits: nothing to take off
    assert "convnext_tiny_stem_conv" in model.visual_layers
    assert model.first_conv == "convnext_tiny_stem_conv"
    image = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    maps = cnnvis.feature_maps(model, image, ["convnext_tiny_stem_conv", model.default_layer], count=4)
    assert maps[0].shape == (56, 56, 96) and maps[1].shape == (7, 7, 768)
    filters = cnnvis.filters(model, count=4)
    assert filters.rgb and filters.kernels.shape == (4, 4, 4, 3)


@pytest.mark.fullsize
def test_auto_generated_layer_names_do_not_depend_on_build_order():
    first = get_spec("NASNetMobile").build()
    keras.layers.Activation("relu")  # bump Keras' global name counter in between
    get_spec("MobileNetV3Small").build()
    second = get_spec("NASNetMobile").build()
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers]
    assert "activation_187" in {layer.name for layer in first.layers}
