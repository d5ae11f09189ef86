"""The cost of an uploaded model, estimated from its config before any weight exists
(cnnvis.models.cost), its bounds, and the lane its work runs in."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import keras
import pytest
from gradio.context import LocalContext

from cnnvis.errors import ModelFileError
from cnnvis.models.cost import PASS_FACTOR, estimate_cost
from cnnvis.models.own import keras_file_cost
from cnnvis.serving import sessions
from cnnvis.serving.connections import CONNECTIONS
from cnnvis.serving.lanes import LANES
from cnnvis.ui import work

from .app_helpers import is_one_sentence

MB = 2**20


def _classifier(side: int | None, body) -> keras.Model:
    inputs = keras.Input((side, side, 3))
    x = body(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.GlobalAveragePooling2D(name="gap")(x)))


def test_the_estimate_of_a_small_model_is_its_known_answer():
    model = _classifier(16, lambda x: keras.layers.Conv2D(4, 3, padding="same", name="conv")(x))
    cost = estimate_cost(model)
    # input 16*16*3, conv 16*16*4, pooled 4, out 2
    assert cost.activation_values == 768 + 1024 + 4 + 2
    # one per output element, the conv kernel (3*3*3*4) at 16*16 positions, the Dense kernel (4*2) once
    assert cost.multiply_adds == 1798 + 108 * 256 + 8
    assert cost.pass_bytes == 1798 * 4 * PASS_FACTOR and cost.input_size == (16, 16)


def test_known_figures_of_a_registry_model():
    """MobileNetV2 at 224: about 0.3 billion multiply-adds (Sandler et al. 2018: 300 M)."""
    with keras.StatelessScope(initialize_variables=False):
        cost = estimate_cost(keras.applications.MobileNetV2(weights=None))
    assert 0.28e9 < cost.multiply_adds < 0.36e9
    assert cost.pass_bytes < sessions.QUICK_PASS_BYTES and cost.multiply_adds < sessions.QUICK_MULTIPLY_ADDS


def _wide_1x1(x):
    for k in range(6):
        x = keras.layers.Conv2D(256, 1, name=f"wide{k}")(x)
    return x


def _deep_3x3(x):
    for k in range(121):
        x = keras.layers.Conv2D(64, 3, padding="same", name=f"deep{k}")(x)
    return x


@pytest.fixture(scope="module")
def attack_files(tmp_path_factory) -> dict:
    """The issue's two attack models: legal by their parameters, ruinous to run."""
    folder = tmp_path_factory.mktemp("attacks")
    paths = {}
    for name, body in {"wide": _wide_1x1, "deep": _deep_3x3}.items():
        paths[name] = folder / f"{name}.keras"
        _classifier(1024, body).save(paths[name])
    paths["flexible"] = folder / "flexible.keras"
    _classifier(None, _wide_1x1).save(paths["flexible"])
    return paths


@contextlib.contextmanager
def session(name: str):
    CONNECTIONS.opened(name, "127.0.0.1")
    token = LocalContext.request.set(SimpleNamespace(session_hash=name))
    try:
        yield
    finally:
        LocalContext.request.reset(token)
        CONNECTIONS.closed(name, "127.0.0.1")
        sessions.free_session(name)


def test_the_attack_models_are_refused_before_any_weight_is_built(attack_files):
    wide = keras_file_cost(attack_files["wide"])
    assert wide.activation_values == 1024 * 1024 * (3 + 6 * 256) + 256 + 2
    deep = keras_file_cost(attack_files["deep"])
    assert deep.multiply_adds > 4_000 * 10**9  # 121 x 1024^2 x 64 x (3*3*64)
    for name, figure in (("wide", "18,46"), ("deep", "92,96")):
        with session(f"attack-{name}"), pytest.raises(ModelFileError) as refused:
            sessions.load_upload(f"attack-{name}", str(attack_files[name]), "0-1")
        sentence = str(refused.value)
        assert is_one_sentence(sentence) and figure in sentence and "the limit is 1,024 MB" in sentence, sentence
        assert "flexible" not in sentence
        assert f"attack-{name}" not in sessions.HELD.sessions()


def test_a_flexible_model_is_estimated_at_the_size_it_will_run_at(attack_files):
    small = keras_file_cost(attack_files["flexible"], 64)
    assert small.input_size == (64, 64) and small.activation_values == 64 * 64 * (3 + 6 * 256) + 258
    with session("flexible-cost"):
        with pytest.raises(ModelFileError) as refused:  # at the largest side by default
            sessions.load_upload("flexible-cost", str(attack_files["flexible"]), "0-1")
        assert "give an input size" in str(refused.value)
        held = sessions.load_upload("flexible-cost", str(attack_files["flexible"]), "0-1", None, 64)
        assert held.cost == small


def test_an_uploaded_model_past_the_quick_bounds_works_in_the_long_lane(attack_files):
    LANES.define("quick", slots=1)
    LANES.define("long", slots=1)
    with session("lanes"):
        held = sessions.load_upload("lanes", str(attack_files["flexible"]), "0-1", None, 64)
        assert held.lane == "quick"  # 64 x 64: cheap
        seen = []
        work.compute("quick", lambda name: seen.append(LANES["quick"].running), held.name)
        assert seen == [1]
        held = sessions.load_upload("lanes", str(attack_files["flexible"]), "0-1", None, 192)
        assert held.cost.pass_bytes > sessions.QUICK_PASS_BYTES and held.lane == "long"
        work.compute("quick", lambda name: seen.append((LANES["quick"].running, LANES["long"].running)), held.name)
        assert seen[-1] == (0, 1)  # not the registry models' quick lane
