"""cnnvis.ExplainCallback: explanations of a fixed set of images while a Keras model
learns, with the training model's live weights, without changing the training.

The task is synthetic and its answer known: a 32 x 32 grey-noise picture holds a blue
square (always there, says nothing) and a red or a green square (red: class 0, green:
class 1), each in its own quadrant at a random place. Only the red or green square
decides the class, so as the model learns, Grad-CAM of class 1 on a probe picture must
move onto the green square and off the blue one.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import cnnvis
from cnnvis.errors import ParameterError
from cnnvis.evaluation.verdict import VERDICTS
from cnnvis.training import ExplainCallback

SIDE, PATCH = 32, 8
RED, GREEN, BLUE = (230, 40, 40), (40, 230, 40), (40, 40, 230)
DECIDING = (slice(4, 12), slice(4, 12))  # the probe's green square
DISTRACTOR = (slice(20, 28), slice(20, 28))  # the probe's blue square
SEED = 1  # with this seed the untrained model's map lies on the blue square


def dataset(count: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(90, 140, (count, SIDE, SIDE, 3)).astype(np.uint8)
    y = rng.integers(0, 2, count)
    for i in range(count):
        quadrants = rng.permutation(4)[:2]
        for quadrant, colour in zip(quadrants, (GREEN if y[i] else RED, BLUE)):
            top = (quadrant // 2) * 16 + rng.integers(0, 16 - PATCH + 1)
            left = (quadrant % 2) * 16 + rng.integers(0, 16 - PATCH + 1)
            x[i, top : top + PATCH, left : left + PATCH] = colour
    return x, y


def probe(colour=GREEN) -> np.ndarray:
    picture = np.full((SIDE, SIDE, 3), 115, np.uint8)
    picture[DECIDING] = colour
    picture[DISTRACTOR] = BLUE
    return picture


def classifier(seed: int = SEED) -> keras.Model:
    """conv -> conv -> global average pool -> dense -> softmax, trained on pixels / 255."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="squares")
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    return model


def train(model: keras.Model, callbacks=(), epochs: int = 2) -> dict:
    x, y = dataset()
    history = model.fit(x / 255.0, y, epochs=epochs, batch_size=32, verbose=0, callbacks=list(callbacks))
    return history.history


def share(values: np.ndarray, region) -> float:
    return float(values[region].sum() / max(values.sum(), 1e-12))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explained")
    model = classifier()
    callback = ExplainCallback(
        [probe(), probe(RED)],
        ["grad_cam", "vanilla_gradient"],
        names=["green", "red"],
        target_classes=[1, 0],
        preprocessing="0-1",
        folder=folder,
        log_dir=folder / "logs",
    )
    history = train(model, [callback])
    return model, callback, folder, history


def test_the_map_moves_onto_the_square_that_decides_the_class(trained):
    _, _, folder, _ = trained
    before = np.load(folder / "epoch_000" / "maps.npz")["green/grad_cam"]
    after = np.load(folder / "epoch_002" / "maps.npz")["green/grad_cam"]
    assert share(before, DISTRACTOR) > share(before, DECIDING)  # untrained: on the blue square
    assert share(after, DECIDING) > 0.4  # the square is 1/16 of the picture
    assert share(after, DECIDING) > 10 * share(after, DISTRACTOR)
    peak = np.unravel_index(np.argmax(after), after.shape)
    assert 4 <= peak[0] < 12 and 4 <= peak[1] < 12


def test_the_maps_are_those_of_the_current_weights_without_a_copy(trained):
    """The last epoch's maps are what a fresh wrapper of the trained model gives now; the
    wrapper was the training model itself, not a copy."""
    model, callback, folder, _ = trained
    saved = np.load(folder / "epoch_002" / "maps.npz")
    fresh = cnnvis.wrap_model(model, "0-1")
    for name, picture, target in (("green", probe(), 1), ("red", probe(RED), 0)):
        np.testing.assert_allclose(
            saved[f"{name}/grad_cam"], cnnvis.grad_cam(fresh, picture, target_class=target).heatmap, atol=1e-5
        )
        assert callback.latest[(name, "grad_cam")].class_index == target
    first = np.load(folder / "epoch_001" / "maps.npz")["green/grad_cam"]
    assert not np.allclose(first, saved["green/grad_cam"], atol=1e-3)  # the weights moved


def test_pictures_numbers_and_image_summaries_are_written(trained):
    _, callback, folder, _ = trained
    for epoch in (0, 1, 2):
        here = folder / f"epoch_{epoch:03d}"
        names = {p.name for p in here.iterdir()}
        assert names == {"maps.npz"} | {f"{i}_{m}.png" for i in ("green", "red") for m in ("grad_cam", "vanilla_gradient")}
        assert set(np.load(here / "maps.npz").files) == {
            f"{i}/{m}" for i in ("green", "red") for m in ("grad_cam", "vanilla_gradient")
        }
    lines = [json.loads(line) for line in (folder / "explanations.jsonl").read_text().splitlines()]
    assert lines == callback.records and len(lines) == 3 * 2 * 2
    assert {(r["epoch"], r["image"], r["method"]) for r in lines} == {
        (e, i, m) for e in (0, 1, 2) for i in ("green", "red") for m in ("grad_cam", "vanilla_gradient")
    }
    green = [r for r in lines if r["image"] == "green" and r["method"] == "grad_cam"]
    assert green[-1]["probability"] > green[0]["probability"]  # it learned that green is class 1

    import tensorflow as tf

    steps: dict[str, list[int]] = {}
    for path in sorted((folder / "logs" / "explanations").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
    assert {"green_grad_cam", "red_vanilla_gradient", "green/probability"} <= set(steps)
    assert steps["green_grad_cam"] == [0, 1, 2]

def test_training_is_the_same_with_and_without_the_callback(tmp_path):
    """Same seed, same data: the same losses and bit-identical weights, also when the
    trust report (which randomises a copy of the model) runs at every epoch."""
    plain = classifier()
    plain_history = train(plain)
    watched = classifier()
    callback = ExplainCallback(
        [probe()], ["grad_cam", "guided_backprop"], target_classes=1, preprocessing="0-1",
        folder=tmp_path, trust=True, trust_steps=4,
    )
    watched_history = train(watched, [callback])
    assert watched_history == plain_history
    for a, b in zip(plain.get_weights(), watched.get_weights()):
        np.testing.assert_array_equal(a, b)
    verdicts = [json.loads(line) for line in (tmp_path / "trust.jsonl").read_text().splitlines()]
    assert {(v["epoch"], v["method"]) for v in verdicts} == {
        (e, m) for e in (0, 1, 2) for m in ("grad_cam", "guided_backprop")
    }
    assert all(v["verdict"] in VERDICTS and v["reason"] for v in verdicts)
    assert (tmp_path / "epoch_002" / "image_0_trust.png").is_file()


def test_every_and_at_start_choose_the_epochs(tmp_path):
    callback = ExplainCallback([probe()], "eigen_cam", every=2, at_start=False, preprocessing="0-1")
    train(classifier(), [callback], epochs=3)
    assert [r["epoch"] for r in callback.records] == [2]
    assert callback._vis is None  # the wrapper and its compiled functions are let go


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"methods": ["score_cam"]}, "many forward passes"),
        ({"methods": ["filters"]}, "not a heatmap or attribution method"),
        ({"names": ["a", "a"]}, "different names"),
        ({"names": ["../up"]}, "cannot be a file name"),
        ({"target_classes": [0, 1, 0]}, "one target class per image"),
        ({"every": 0}, "every must be"),
        ({"options": {"layer_cam": {}}}, "not among the methods"),
    ],
)
def test_bad_arguments_are_one_sentence(arguments, words):
    with pytest.raises(ParameterError, match=words) as error:
        ExplainCallback([probe()], **{"methods": ["grad_cam"], **arguments})
    assert str(error.value).count(". ") == 0 and str(error.value).endswith(".")


def test_images_are_checked():
    with pytest.raises(ParameterError, match="between 1 and 16 images"):
        ExplainCallback([], ["grad_cam"])
    with pytest.raises(ParameterError, match="list of images"):
        ExplainCallback("photo.jpg", ["grad_cam"])


def test_public_as_cnnvis_explain_callback():
    assert cnnvis.ExplainCallback is ExplainCallback
    assert isinstance(ExplainCallback([probe()]), keras.callbacks.Callback)


def test_the_documented_example_runs_and_says_what_the_page_says(tmp_path, monkeypatch):
    """docs/training.md's example, run as written (in a scratch folder): the map ends on
    the green square with about half its mass, as the page says."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(example, "docs/training.md", "exec"), scope)
    heat = np.load(tmp_path / "runs" / "squares" / "epoch_002" / "maps.npz")["green/grad_cam"]
    assert share(heat, DECIDING) > 0.4
    before = np.load(tmp_path / "runs" / "squares" / "epoch_000" / "maps.npz")["green/grad_cam"]
    assert share(before, DISTRACTOR) > share(before, DECIDING)
    assert scope["callback"].latest[("green", "grad_cam")].label == "green"
