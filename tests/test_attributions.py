"""Gradient attributions (vanilla gradient, gradient x input, SmoothGrad, Integrated
Gradients) and occlusion sensitivity: known answers on tiny models, completeness,
seeding, batching, bounds, and real weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.special
import tensorflow as tf

import cnnvis
from cnnvis.errors import ParameterError
from cnnvis.images import resize_image
from cnnvis.techniques import compiled
from cnnvis.techniques.occlusion import window_starts

from .conftest import EXAMPLES
from .tiny import cam_model, seeded_image, smooth_model, wrap

EGYPTIAN_CAT = 285


def tf_pre(x):
    return x / 127.5 - 1.0


def tape_gradient(keras_model, pixels: np.ndarray, klass: int, preprocess=tf_pre) -> np.ndarray:
    """d logit / d pixels for each image of a batch, with a plain GradientTape."""
    x = tf.constant(pixels.astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(keras_model(preprocess(x))[:, klass])
    return tape.gradient(total, x).numpy()


def count_batches(monkeypatch, module, name: str) -> list[int]:
    """Record the batch size of every call of a compiled function builder's result."""
    sizes: list[int] = []
    real = getattr(module, name)

    def counting(*args, **kwargs):
        fn = real(*args, **kwargs)

        def call(batch, *rest):
            sizes.append(len(batch))
            return fn(batch, *rest)

        return call

    monkeypatch.setattr(module, name, counting)
    return sizes


# ----- vanilla gradient and gradient x input ----------------------------------------------


def test_vanilla_gradient_and_gradient_x_input_match_a_plain_tape():
    keras_model = smooth_model(seed=1)
    model, image = wrap(keras_model, "tf"), seeded_image(seed=1)
    expected = tape_gradient(keras_model, image[None], 2)[0]
    gradient = cnnvis.vanilla_gradient(model, image, target_class=2)
    np.testing.assert_allclose(gradient.values, expected, rtol=1e-4, atol=1e-9)
    assert gradient.class_index == 2 and gradient.values.shape == (16, 16, 3)
    times_input = cnnvis.gradient_x_input(model, image, target_class=2)
    np.testing.assert_allclose(times_input.values, expected * image, rtol=1e-4, atol=1e-7)
    top = int(np.argmax(keras_model(tf_pre(image[None].astype(np.float32))).numpy()))
    assert cnnvis.vanilla_gradient(model, image).class_index == top


def test_gradient_x_input_is_integrated_gradients_with_one_step_from_black():
    keras_model = cam_model(seed=2)
    model, image = wrap(keras_model, "tf"), seeded_image(seed=2)
    times_input = cnnvis.gradient_x_input(model, image, target_class=1)
    one_step = cnnvis.integrated_gradients(model, image, target_class=1, baseline="black", steps=1, rule="right")
    np.testing.assert_allclose(one_step.values, times_input.values, rtol=1e-5, atol=1e-9)
    # The trapezoid with one step averages the gradients at both ends: not the same here.
    trapezoid = cnnvis.integrated_gradients(model, image, target_class=1, baseline="black", steps=1)
    assert not np.allclose(trapezoid.values, times_input.values, rtol=1e-3)


# ----- Integrated Gradients ---------------------------------------------------------------


@pytest.mark.parametrize("baseline", ["black", "white", "blur"])
def test_integrated_gradients_completeness_on_a_smooth_model(baseline):
    keras_model = smooth_model(seed=3)
    model, image = wrap(keras_model, "tf"), seeded_image(seed=3)
    result = cnnvis.integrated_gradients(model, image, target_class=0, baseline=baseline, steps=32)
    expected = result.score - result.baseline_score
    assert abs(expected) > 1e-3  # a real change to explain
    assert result.values.sum(dtype=np.float64) == pytest.approx(expected, rel=1e-3)
    assert result.relative_gap < 1e-3 and result.total == pytest.approx(result.values.sum(), rel=1e-5)
    coarse = cnnvis.integrated_gradients(model, image, target_class=0, baseline=baseline, steps=1)
    assert coarse.relative_gap > 10 * result.relative_gap  # the gap closes as steps grow


@pytest.mark.parametrize("baseline", ["black", "white", "blur"])
def test_integrated_gradients_completeness_on_a_relu_model(baseline):
    keras_model = cam_model(seed=4)
    model, image = wrap(keras_model, "none"), seeded_image(seed=4)
    result = cnnvis.integrated_gradients(model, image, target_class=3, baseline=baseline, steps=128)
    assert abs(result.expected_total) > 1.0
    assert result.values.sum(dtype=np.float64) == pytest.approx(result.expected_total, rel=0.02)
    # The reported ends are the model's logits at the image and at the baseline.
    reference = {"black": 0.0, "white": 255.0}
    logits = keras_model(image[None].astype(np.float32)).numpy()[0]
    assert result.score == pytest.approx(float(logits[3]), rel=1e-5)
    if baseline in reference:
        flat = keras_model(np.full((1, 16, 16, 3), reference[baseline], np.float32)).numpy()[0]
        assert result.baseline_score == pytest.approx(float(flat[3]), rel=1e-5, abs=1e-6)
    assert "gap" in result.note and result.baseline == baseline


def test_integrated_gradients_accepts_a_colour_or_an_image_baseline():
    keras_model = smooth_model(seed=5)
    model, image = wrap(keras_model, "tf"), seeded_image(seed=5)
    grey = cnnvis.integrated_gradients(model, image, target_class=1, baseline=[128, 128, 128], steps=16)
    same = cnnvis.integrated_gradients(
        model, image, target_class=1, baseline=np.full((40, 40, 3), 128, np.uint8), steps=16
    )
    np.testing.assert_allclose(grey.values, same.values, rtol=1e-5, atol=1e-9)
    assert grey.relative_gap < 0.01 and grey.baseline == "colour" and same.baseline == "image"


def test_integrated_gradients_batches_its_steps(monkeypatch):
    model, image = wrap(smooth_model(seed=6), "tf"), seeded_image(seed=6)
    sizes = count_batches(monkeypatch, compiled, "input_gradient")
    batched = cnnvis.integrated_gradients(model, image, target_class=0, steps=20, batch_size=8)
    assert sizes == [7, 7, 7]  # 21 points (both ends), at most 8 a call, spread evenly
    sizes.clear()
    single = cnnvis.integrated_gradients(model, image, target_class=0, steps=20, batch_size=1)
    assert sizes == [1] * 21
    np.testing.assert_allclose(batched.values, single.values, rtol=1e-4, atol=1e-9)


def test_gradient_batches_stay_within_the_memory_for_activations(monkeypatch):
    model, image = wrap(smooth_model(seed=6), "tf"), seeded_image(seed=6)
    per_image = compiled.activation_bytes(model)
    assert per_image == 4 * sum(int(np.prod(info.shape)) for info in model.layer_infos)
    expected = cnnvis.smoothgrad(model, image, samples=12, seed=2, batch_size=12).values
    sizes = count_batches(monkeypatch, compiled, "input_gradient")
    monkeypatch.setattr(compiled, "GRADIENT_MEMORY", 5 * per_image)  # room for 5 images
    capped = cnnvis.smoothgrad(model, image, samples=12, seed=2, batch_size=12).values
    assert sizes == [4, 4, 4]  # at most 5 a call, spread evenly over 3 calls
    np.testing.assert_allclose(capped, expected, rtol=1e-4, atol=1e-9)
    sizes.clear()
    monkeypatch.setattr(compiled, "GRADIENT_MEMORY", per_image // 2)  # not even one image
    cnnvis.integrated_gradients(model, image, steps=3)
    assert sizes == [1, 1, 1, 1]  # one at a time, never none


def test_memory_cap_of_large_models_is_one_image():
    from types import SimpleNamespace

    from cnnvis.models.graph import LayerInfo

    def fake(*shapes):
        return SimpleNamespace(layer_infos=[LayerInfo(f"l{i}", "X", "other", s) for i, s in enumerate(shapes)])

    # EfficientNetB7-like: 600 x 600 maps with many channels, GBs per image
    assert compiled.gradient_batch_cap(fake(*[(600, 600, 96)] * 20)) == 1  # 2.6 GB per image
    small = fake((56, 56, 32), (7, 7, 1280), (1000,))
    assert compiled.gradient_batch_cap(small) == compiled.GRADIENT_MEMORY // (4 * (56 * 56 * 32 + 7 * 7 * 1280 + 1000))
    assert compiled.activation_bytes(fake((None, None, 8), (4, 4, 2))) == 4 * 32  # unknown sizes left out
    assert [compiled.even_batches(16, b) for b in (16, 14, 5, 1)] == [16, 8, 4, 1]


# ----- SmoothGrad ---------------------------------------------------------------------------


def test_smoothgrad_without_noise_is_the_vanilla_gradient():
    model, image = wrap(smooth_model(seed=7), "tf"), seeded_image(seed=7)
    vanilla = cnnvis.vanilla_gradient(model, image, target_class=1)
    smooth = cnnvis.smoothgrad(model, image, target_class=1, noise=0.0, samples=10, batch_size=4)
    np.testing.assert_allclose(smooth.values, vanilla.values, rtol=1e-5, atol=1e-10)


def test_smoothgrad_is_the_mean_gradient_over_seeded_noise():
    keras_model = smooth_model(seed=8)
    model, image = wrap(keras_model, "tf"), seeded_image(seed=8)
    result = cnnvis.smoothgrad(model, image, target_class=2, samples=6, noise=0.2, seed=11, batch_size=4)
    noisy = np.stack([
        image + 0.2 * 255 * np.random.default_rng([11, i]).standard_normal(image.shape, dtype=np.float32)
        for i in range(6)
    ])
    expected = tape_gradient(keras_model, noisy, 2).mean(axis=0)
    np.testing.assert_allclose(result.values, expected, rtol=1e-4, atol=1e-9)


def test_smoothgrad_is_reproducible_with_a_seed_whatever_the_batch_size():
    model, image = wrap(cam_model(seed=9), "tf"), seeded_image(seed=9)
    first = cnnvis.smoothgrad(model, image, samples=12, seed=3, batch_size=5).values
    again = cnnvis.smoothgrad(model, image, samples=12, seed=3, batch_size=5).values
    regrouped = cnnvis.smoothgrad(model, image, samples=12, seed=3, batch_size=12).values
    other = cnnvis.smoothgrad(model, image, samples=12, seed=4, batch_size=5).values
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(regrouped, first, rtol=1e-4, atol=1e-9)
    assert not np.allclose(first, other, rtol=1e-3)


def test_smoothgrad_explains_one_class_for_every_noisy_copy(monkeypatch):
    model, image = wrap(cam_model(seed=10), "tf"), seeded_image(seed=10)
    calls = []
    real = compiled.input_gradient

    def recording(*args, **kwargs):
        fn = real(*args, **kwargs)

        def call(batch, index):
            calls.append((len(batch), set(np.asarray(index).tolist())))
            return fn(batch, index)

        return call

    monkeypatch.setattr(compiled, "input_gradient", recording)
    result = cnnvis.smoothgrad(model, image, samples=40, noise=0.5, batch_size=16)
    assert [size for size, _ in calls] == [14, 14, 12]  # at most 16 a call, spread evenly
    assert all(indices == {result.class_index} for _, indices in calls)


# ----- occlusion ----------------------------------------------------------------------------


def cropped_model() -> keras.Model:
    """A model that never sees the left 8 columns of its 16 x 16 input (Cropping2D)."""
    keras.utils.set_random_seed(12)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Cropping2D(((0, 0), (8, 0)))(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x), name="left_blind")


def test_occluding_what_the_model_ignores_changes_nothing():
    model, image = wrap(cropped_model(), "tf"), seeded_image(seed=12)
    result = cnnvis.occlusion(model, image, target_class=0, window=4, stride=4)
    assert np.abs(result.drop[:, :8]).max() < 1e-6 and result.heatmap[:, :8].max() < 1e-5
    assert np.abs(result.drop[:, 8:]).max() > 1e-4 and result.heatmap[:, 8:].max() == pytest.approx(1.0)
    assert result.windows == 16 and result.layer == "input"


@pytest.mark.parametrize("fill", ["grey", "mean"])
def test_occlusion_is_the_mean_probability_drop_over_covering_windows(fill):
    keras_model = cam_model(seed=13)
    model, image = wrap(keras_model, "tf"), seeded_image(seed=13)
    result = cnnvis.occlusion(model, image, target_class=3, window=5, stride=4, fill=fill, batch_size=7)
    pixels = image.astype(np.float32)
    colour = np.full(3, 127.5, np.float32) if fill == "grey" else pixels.mean(axis=(0, 1))
    p = scipy.special.softmax(keras_model(tf_pre(pixels[None])).numpy()[0].astype(np.float64))[3]
    starts = window_starts(16, 5, 4)
    assert starts == [0, 4, 8, 11]
    total, count = np.zeros((16, 16)), np.zeros((16, 16))
    for y in starts:
        for x in starts:
            occluded = pixels.copy()
            occluded[y : y + 5, x : x + 5] = colour
            logits = keras_model(tf_pre(occluded[None])).numpy()[0].astype(np.float64)
            total[y : y + 5, x : x + 5] += p - scipy.special.softmax(logits)[3]
            count[y : y + 5, x : x + 5] += 1
    drop = total / count
    assert (drop < -1e-5).any() and (drop > 1e-5).any()  # evidence for and against class 3
    np.testing.assert_allclose(result.drop, drop, atol=1e-6)
    positive = np.maximum(drop, 0)  # negatives (evidence against the class) are clipped
    np.testing.assert_allclose(result.heatmap, positive / positive.max(), atol=5e-3)
    assert result.heatmap[drop < -1e-5].max() == 0.0
    assert result.probability == pytest.approx(p, rel=1e-5) and result.windows == 16


def test_occlusion_batches_its_copies(monkeypatch):
    model, image = wrap(cam_model(seed=14), "tf"), seeded_image(seed=14)
    sizes = count_batches(monkeypatch, compiled, "forward")
    cnnvis.occlusion(model, image, window=8, stride=4, batch_size=4)
    assert sizes == [1, 4, 4, 1]  # the clean image, then 3 x 3 = 9 windows, 4 per call


# ----- bounds and registration --------------------------------------------------------------


@pytest.mark.parametrize(
    "function, options",
    [
        ("smoothgrad", {"samples": 0}), ("smoothgrad", {"samples": 10**6}),
        ("smoothgrad", {"noise": -0.1}), ("smoothgrad", {"noise": 1.5}),
        ("smoothgrad", {"noise": float("nan")}), ("smoothgrad", {"seed": -1}),
        ("smoothgrad", {"seed": 2**40}), ("smoothgrad", {"batch_size": 0}),
        ("smoothgrad", {"batch_size": 10**5}),
        ("integrated_gradients", {"steps": 0}), ("integrated_gradients", {"steps": 10**6}),
        ("integrated_gradients", {"steps": 2.5}), ("integrated_gradients", {"rule": "simpson"}),
        ("integrated_gradients", {"baseline": "grey"}), ("integrated_gradients", {"baseline": [1, 2]}),
        ("integrated_gradients", {"baseline": [0, 0, 300]}),
        ("integrated_gradients", {"baseline": np.full((8, 8, 3), np.nan)}),
        ("integrated_gradients", {"batch_size": 0}),
        ("occlusion", {"window": 0}), ("occlusion", {"window": 17}),
        ("occlusion", {"stride": 0}), ("occlusion", {"window": 4, "stride": 5}),
        ("occlusion", {"fill": "pink"}), ("occlusion", {"batch_size": 1000}),
    ],
)
def test_parameters_are_bounded(function, options):
    model = wrap(cam_model(seed=15), "tf")
    with pytest.raises(ParameterError):
        getattr(cnnvis, function)(model, seeded_image(), **options)


def test_default_batch_sizes_keep_the_pixels_per_call_bounded():
    assert compiled.batch_size_for((224, 224), 16) == 16
    assert compiled.batch_size_for((16, 16), 16) == 16
    assert compiled.batch_size_for((331, 331), 32) == 14
    assert compiled.batch_size_for((600, 600), 16) == 2
    assert compiled.batch_size_for((4000, 4000), 16) == 1


def test_occlusion_defaults_scale_with_the_input():
    model, image = wrap(cam_model(seed=17, size=32), "tf"), seeded_image(32, 32, seed=17)
    result = cnnvis.occlusion(model, image)  # window round(32 / 7) = 5, stride 2
    assert result.windows == len(window_starts(32, 5, 2)) ** 2 == 15**2
    assert "5-pixel grey window, stride 2" in result.note


def test_occlusion_refuses_too_many_windows():
    model = wrap(cam_model(seed=16, size=96), "tf")
    with pytest.raises(ParameterError, match="9216 occluded copies"):
        cnnvis.occlusion(model, seeded_image(96, 96), window=1, stride=1)


def test_attributions_are_registered_and_exported():
    expected = {
        "vanilla_gradient": "attribution", "smoothgrad": "attribution",
        "integrated_gradients": "attribution", "gradient_x_input": "attribution",
        "occlusion": "heatmap",
    }
    for name, output in expected.items():
        technique = cnnvis.TECHNIQUES[name]
        assert technique.output == output and technique.function is getattr(cnnvis, name)
        assert technique.paper and name in cnnvis.__all__


# ----- real weights ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cat_and_espresso(cat_image):
    espresso = cnnvis.load_image(EXAMPLES / "espresso.jpg")
    return np.concatenate([resize_image(cat_image, (224, 224)), resize_image(espresso, (224, 224))], axis=1)


@pytest.mark.parametrize(
    "method", ["vanilla_gradient", "gradient_x_input", "smoothgrad", "integrated_gradients"]
)
def test_attributions_of_the_cat_lie_on_the_cat(mobilenet_v2, cat_and_espresso, method):
    values = getattr(cnnvis, method)(mobilenet_v2, cat_and_espresso, target_class=EGYPTIAN_CAT).values
    assert values.shape == (*cat_and_espresso.shape[:2], 3)
    magnitude = np.abs(values).sum(axis=-1)
    half = cat_and_espresso.shape[1] // 2
    assert magnitude[:, :half].sum() > 1.3 * magnitude[:, half:].sum()


def test_occlusion_finds_the_cat(mobilenet_v2, cat_and_espresso):
    result = cnnvis.occlusion(mobilenet_v2, cat_and_espresso, target_class=EGYPTIAN_CAT)
    half = cat_and_espresso.shape[1] // 2
    _, peak_x = np.unravel_index(result.heatmap.argmax(), result.heatmap.shape)
    assert peak_x < half and result.heatmap[:, :half].sum() > 2 * result.heatmap[:, half:].sum()
    assert result.windows == 169


def test_integrated_gradients_on_real_weights_is_nearly_complete(mobilenet_v2, cat_image):
    coarse = cnnvis.integrated_gradients(mobilenet_v2, cat_image, target_class=EGYPTIAN_CAT, steps=4)
    fine = cnnvis.integrated_gradients(mobilenet_v2, cat_image, target_class=EGYPTIAN_CAT, steps=64)
    assert abs(fine.expected_total) > 1.0
    assert fine.relative_gap < 0.1 and fine.relative_gap < coarse.relative_gap


def test_smoothgrad_batches_its_samples_on_mobilenet_v2(mobilenet_v2, cat_image, monkeypatch):
    """The default batch on a 224-pixel model computes 16 samples in one compiled call, and
    gives the same map as one sample per call (the speed gain is printed by benchmarks/bench.py)."""
    single = cnnvis.smoothgrad(mobilenet_v2, cat_image, samples=16, target_class=EGYPTIAN_CAT, batch_size=1)
    sizes = count_batches(monkeypatch, compiled, "input_gradient")
    batched = cnnvis.smoothgrad(mobilenet_v2, cat_image, samples=16, target_class=EGYPTIAN_CAT)
    assert sizes == [16]
    np.testing.assert_allclose(batched.values, single.values, rtol=1e-3, atol=1e-6)
