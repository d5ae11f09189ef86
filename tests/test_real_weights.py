"""Real ImageNet weights (MobileNetV2 from the weights directory): real behaviour.

Skipped, with the reason shown, where the weights directory is absent.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

import cnnvis
from cnnvis.images import resize_image
from cnnvis.models.loading import get_spec

from .conftest import EXAMPLES

EGYPTIAN_CAT, TABBY, TIGER_CAT, ESPRESSO, MILITARY_UNIFORM = 285, 281, 282, 967, 652


def side_by_side(left: np.ndarray, right: np.ndarray, size: int = 224) -> np.ndarray:
    return np.concatenate([resize_image(left, (size, size)), resize_image(right, (size, size))], axis=1)


@pytest.mark.parametrize(
    "photo, expected",
    [("cat.jpg", EGYPTIAN_CAT), ("espresso.jpg", ESPRESSO), ("grace_hopper.jpg", MILITARY_UNIFORM)],
)
def test_example_photos_are_classified_correctly(mobilenet_v2, photo, expected):
    predictions = cnnvis.classify(mobilenet_v2, cnnvis.load_image(EXAMPLES / photo))
    assert predictions[0].index == expected
    assert predictions[0].probability > 0.5


def test_cat_is_a_cat(mobilenet_v2, cat_image):
    top = cnnvis.classify(mobilenet_v2, cat_image, top=3)
    assert {p.index for p in top} <= {EGYPTIAN_CAT, TABBY, TIGER_CAT, 287}
    assert top[0].label == "Egyptian cat" and top[0].wnid == "n02124075"


def test_grad_cam_finds_the_cat_and_the_cup(mobilenet_v2, cat_image):
    """A cat on the left, an espresso on the right: each class's map lies on its object."""
    scene = side_by_side(cat_image, cnnvis.load_image(EXAMPLES / "espresso.jpg"))
    half = scene.shape[1] // 2
    for klass, side in ((EGYPTIAN_CAT, "left"), (ESPRESSO, "right")):
        heatmap = cnnvis.grad_cam(mobilenet_v2, scene, target_class=klass).heatmap
        assert heatmap.shape == scene.shape[:2]
        _, peak_x = np.unravel_index(heatmap.argmax(), heatmap.shape)
        left_mass = heatmap[:, :half].sum() / heatmap.sum()
        if side == "left":
            assert peak_x < half and left_mass > 0.7
        else:
            assert peak_x >= half and left_mass < 0.3


def _randomised_copy(weights_dir, layers_from: str) -> cnnvis.VisModel:
    """A fresh MobileNetV2 with real weights whose layers from ``layers_from`` to the top
    are re-initialised (cascading randomisation, Adebayo et al. 2018)."""
    keras_model = get_spec("MobileNetV2").build()
    keras_model.load_weights(str(weights_dir / "MobileNetV2.weights.h5"))
    rng = np.random.default_rng(0)
    names = [layer.name for layer in keras_model.layers]
    for layer in keras_model.layers[names.index(layers_from):]:
        for variable in getattr(layer, "kernel", None), getattr(layer, "bias", None):
            if variable is not None:
                value = np.asarray(variable)
                variable.assign(rng.normal(0, value.std() + 1e-3, value.shape).astype(value.dtype))
    return cnnvis.wrap_model(keras_model, "tf", name="MobileNetV2 (randomised top)")


def test_randomising_the_top_layers_changes_grad_cam(mobilenet_v2, cat_image, weights_dir):
    original = cnnvis.grad_cam(mobilenet_v2, cat_image, target_class=EGYPTIAN_CAT).heatmap
    randomised_model = _randomised_copy(weights_dir, "block_15_expand")
    randomised = cnnvis.grad_cam(randomised_model, cat_image, target_class=EGYPTIAN_CAT).heatmap
    correlation = spearmanr(original.ravel(), randomised.ravel()).statistic
    assert correlation < 0.5, f"Grad-CAM barely changed (Spearman {correlation:.2f})"
    # The cached model is untouched by building the randomised copy.
    again = cnnvis.grad_cam(mobilenet_v2, cat_image, target_class=EGYPTIAN_CAT).heatmap
    np.testing.assert_array_equal(original, again)


def test_deep_dream_objective_rises(mobilenet_v2, cat_image):
    dream = cnnvis.deep_dream(mobilenet_v2, cat_image, octaves=1, steps=12, max_side=224, seed=1)
    losses = np.array(dream.losses)
    assert len(losses) == 12
    assert losses[-1] > 1.2 * losses[0]
    assert spearmanr(np.arange(len(losses)), losses).statistic > 0.9
    assert dream.image.shape == (149, 224, 3)
    assert not np.allclose(dream.image, resize_image(cat_image, (149, 224)).astype(np.float32), atol=2)


def test_deep_dream_is_reproducible_with_a_seed(mobilenet_v2, cat_image):
    params = dict(octaves=2, steps=3, max_side=160, jitter=8)
    first = cnnvis.deep_dream(mobilenet_v2, cat_image, seed=7, **params).image
    second = cnnvis.deep_dream(mobilenet_v2, cat_image, seed=7, **params).image
    other = cnnvis.deep_dream(mobilenet_v2, cat_image, seed=8, **params).image
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_first_layer_filters_of_real_weights_are_coloured_edges(mobilenet_v2):
    result = cnnvis.filters(mobilenet_v2, count=32)
    assert result.rgb and result.kernels.shape == (32, 3, 3, 3)
    # Trained first-layer kernels have structure: not all filters are flat.
    spatial_spread = result.kernels.std(axis=(1, 2)).mean(axis=-1)
    assert (spatial_spread > 0.01 * np.abs(result.kernels).max()).sum() > 16


def test_readme_python_examples_run(weights_dir, monkeypatch):
    """The Python API page's blocks, as written (they load MobileNetV2's real weights)."""
    from pathlib import Path

    section = (Path(__file__).resolve().parents[1] / "docs" / "python-api.md").read_text()
    blocks = [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
    # Your own model's block builds one; an HTTP block needs a server (tests/test_api.py runs those).
    runnable = [block for block in blocks if "wrap_model" not in block and "client." not in block]
    assert len(runnable) == 2
    monkeypatch.setenv("CNNVIS_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    namespace: dict = {}
    exec(compile("\n".join(runnable), "docs/python-api.md", "exec"), namespace)
    assert namespace["cam"].heatmap.shape == namespace["image"].shape[:2]
    assert abs(namespace["ig"].completeness_gap) < 0.1 * abs(namespace["ig"].expected_total)
    assert namespace["vis"].images.shape[0] == 2
