"""Your own model on the page (issue 15, UI): the "Your model" tab and ``/load_model``.

A tiny seeded classifier that the tests build and save as ``.keras`` is uploaded through
``gradio_client``; then every endpoint of the app explains it (its layers, its default
Grad-CAM layer by the registry's rule, its input size, its class names). Refusals (a
Lambda layer, a custom object, two inputs, a non-image input, too many parameters, a
file too large) each answer one sentence. Two clients prove that an uploaded model
belongs to its session only, and a client that closes frees it (``demo.unload``). The
bounds on the held models are checked on :class:`cnnvis.serving.sessions.HeldModels` with a
fake clock: nothing here depends on the machine's speed.
"""

from __future__ import annotations

import contextlib
import gc
import json
import shutil
import tempfile
import time
import weakref
import zipfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import httpx
import keras
import numpy as np
import pytest
from gradio.context import LocalContext
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app
import cnnvis
from cnnvis.models import graph
from cnnvis.errors import ModelFileError, ParameterError, UnknownModelError
from cnnvis.ui import endpoints, page
from cnnvis.serving import file_bounds
from cnnvis.serving import sessions as own_model
from cnnvis.ui.components import layer_update
from cnnvis.serving.connections import CONNECTIONS
from cnnvis.serving.sessions import HeldModels, ModelsFull
from cnnvis.ui.tabs import own_model as own_model_tab

from .app_helpers import CAT, app_settings, is_one_sentence, refusal_message
from .serve import served, patient_client

SIDE = 32  # the tiny model's input: 32 x 32 RGB
CLASSES = ["cat", "dog", "fox"]
NAME = "Your model: tiny_mine"
MB = 2**20


# ----- the models the tests upload -----------------------------------------------------------


def tiny_classifier(side: int | None = SIDE, seed: int = 0, name: str = "tiny_mine") -> keras.Model:
    """conv -> conv ("features") -> global average pool -> dense softmax over 3 classes."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((side, side, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name=name)


def lambda_model() -> keras.Model:
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubled")(inputs)
    x = keras.layers.Conv2D(4, 3, name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x), name="with_lambda")


def two_input_model() -> keras.Model:
    left, right = keras.Input((SIDE, SIDE, 3)), keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Add()([keras.layers.Conv2D(4, 3)(left), keras.layers.Conv2D(4, 3)(right)])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model([left, right], keras.layers.Dense(3)(x), name="two_inputs")


def vector_model() -> keras.Model:
    inputs = keras.Input((10,))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(8)(inputs)), name="vector")


def rewritten(source: Path, target: Path, change) -> Path:
    """``source`` (a .keras zip) with its config.json changed by ``change(config)``: a file
    whose config declares what its weights do not hold, as a hostile upload could."""
    with zipfile.ZipFile(source) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def layers_of(config: dict) -> list[dict]:
    return config["config"]["layers"]


def huge_head(config: dict) -> None:
    """The head declares 4,000,000 classes: 36 million parameters (8 x 4M + 4M)."""
    [head] = [layer for layer in layers_of(config) if layer["config"]["name"] == "head"]
    head["config"]["units"] = 4_000_000


def custom_layer(config: dict) -> None:
    """A layer of a class that is not Keras' own (as a custom object would be saved)."""
    [conv] = [layer for layer in layers_of(config) if layer["config"]["name"] == "conv1"]
    conv.update({"module": "my_package.layers", "class_name": "MyConv", "registered_name": "MyConv"})


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("own_models")
    paths = {}
    for name, model in {
        "mine": tiny_classifier(),
        "flexible": tiny_classifier(side=None, name="tiny_flexible"),
        "lambda": lambda_model(),
        "two inputs": two_input_model(),
        "vector": vector_model(),
    }.items():
        paths[name] = folder / f"{name.replace(' ', '_')}.keras"
        model.save(paths[name])
    paths["huge"] = rewritten(paths["mine"], folder / "huge.keras", huge_head)
    paths["custom"] = rewritten(paths["mine"], folder / "custom.keras", custom_layer)
    paths["not a model"] = folder / "notes.keras"
    paths["not a model"].write_text("This is not a model.\n")
    paths["names"] = folder / "names.txt"
    paths["names"].write_text("\n".join(CLASSES) + "\n")
    paths["other names"] = folder / "other_names.txt"
    paths["other names"].write_text("x\ny\nz\n")
    return paths


@pytest.fixture(scope="module")
def server():
    # Every client of these tests connects from 127.0.0.1: one visitor for the bound per
    # client, which test_eight_made_up_sessions_of_one_client_hold_at_most_two_models checks.
    own_model.HELD.per_client = own_model.MAX_HELD_MODELS
    try:
        with served(app_settings()) as (client, url):
            yield client, url
    finally:
        own_model.HELD.per_client = own_model.MODELS_PER_CLIENT
        own_model.HELD.clear()


@pytest.fixture(scope="module")
def cat():
    return handle_file(str(CAT))


@contextlib.contextmanager
def new_client(url: str):
    downloads = tempfile.mkdtemp(prefix="cnnvis-client-")
    client = patient_client(url, download_files=downloads)
    try:
        yield client
    finally:
        client.close()
        shutil.rmtree(downloads, ignore_errors=True)


def load(client: Client, files: dict, model: str = "mine", names: str | None = "names", **options):
    return client.predict(
        model_file=handle_file(str(files[model])),
        preprocessing=options.pop("preprocessing", "0-1"),
        class_names=handle_file(str(files[names])) if names else None,
        api_name="/load_model",
        **options,
    )


def stated_limits() -> list[str]:
    """The bounds on a model file as the page and the README state them, from the code."""
    return [
        f"{file_bounds.MAX_MODEL_FILE_BYTES // MB} MB",
        f"{own_model.MAX_MODEL_PARAMETERS // 1_000_000} million parameters",
    ]


def labels(top: dict) -> set[str]:
    return {c["label"] for c in top["confidences"]}


# ----- the tab, its endpoint and its wiring ----------------------------------------------------


def test_the_tab_states_its_limits_and_its_endpoint_loads_in_the_long_lane():
    tab_ids = [b.id for b in app.demo.blocks.values() if isinstance(b, gr.Tab)]
    assert "own_model" in tab_ids
    assert all(limit in " ".join(own_model_tab.TEXT.replace("*", "").split()) for limit in stated_limits())
    fn = endpoints.published(app.demo)["/load_model"]
    assert fn.input_keyword_names == ["model_file", "preprocessing", "class_names", "input_size"]
    assert fn.concurrency_id == own_model.LANE == "long" and fn.queue
    assert own_model_tab.load_model.__cnnvis_lane__ == "long"  # work.computing, in the handler
    controls = dict(zip(fn.input_keyword_names, fn.inputs))
    # The larger bound only for the model file; the class-names file keeps a photo's.
    assert file_bounds.file_bound(controls["model_file"]) == file_bounds.MAX_MODEL_FILE_BYTES
    assert file_bounds.file_bound(controls["class_names"]) == file_bounds.MAX_FILE_BYTES
    choices = {value for _, value in controls["preprocessing"].choices}
    assert choices == set(cnnvis.models.own.PREPROCESSING_CHOICES) >= {"0-1", "none", "tf", "caffe", "torch"}
    # The session's models are freed by Gradio's unload event.
    unloads = [f for f in app.demo.fns.values() if any(t[1] == "unload" for t in f.targets)]
    assert [f.fn for f in unloads] == [own_model_tab.free]


def test_loading_through_the_api_gives_its_name_and_its_own_classes(server, files, cat):
    client, _ = server
    name = load(client, files)
    assert name in (NAME, f"{NAME} (2)")  # numbered when it replaces one of that name
    held = own_model.HELD.get(client.session_hash, name)
    assert list(held.vis.class_names) == CLASSES and held.vis.input_size == (SIDE, SIDE)
    assert labels(client.predict(image=cat, model=name, api_name="/classify")) == {
        f"{i} · {label}" for i, label in enumerate(CLASSES)
    }


def every_call(model: str, cat) -> dict[str, dict]:
    """Each endpoint's arguments on the tiny model, with small settings."""
    photo = {"image": cat, "model": model}
    cam = photo | {"layer": "", "target_class": "dog"}
    box = {"x0": 100, "y0": 40, "x1": 330, "y1": 290}
    return {
        "/classify": photo,
        "/filters": {"model": model, "layer": "", "count": 4},
        "/feature_maps": photo | {"layer": "", "count": 4},
        "/guided_backprop": photo | {"target_class": "dog"},
        "/grad_cam": cam | {"method": "grad_cam"},
        "/guided_grad_cam": cam,
        "/deep_dream": photo | {"layers": [], "octaves": 1, "steps": 2},
        "/grad_cam_plus_plus": cam,
        "/layer_cam": cam,
        "/score_cam": cam | {"max_channels": 4},
        "/eigen_cam": cam,
        "/occlusion": photo | {"target_class": "dog", "window": 16, "stride": 16},
        "/vanilla_gradient": photo | {"target_class": "dog"},
        "/smoothgrad": photo | {"target_class": "dog", "samples": 2},
        "/integrated_gradients": photo | {"target_class": "dog", "steps": 4},
        "/gradient_x_input": photo | {"target_class": "dog"},
        "/feature_visualization": {
            "model": model, "target": "class", "classes": ["1 · dog"], "steps": 4, "size": 64,
        },
        "/trust_report": photo | {"target_class": "dog", "methods": ["grad_cam", "layer_cam"], "steps": 4},
        "/compare": photo | {"target_class": "dog", "methods": ["grad_cam", "vanilla_gradient"], "steps": 4},
        "/sanity_check": photo | {"target_class": "dog", "methods": ["grad_cam"], "steps": 2},
        "/pointing_game": photo | {"target_class": "dog", "methods": ["grad_cam"]} | box,
    }


def test_every_endpoint_explains_the_uploaded_model(server, files, cat):
    """Every tab's endpoint runs on the uploaded model, by its own class names, its
    default Grad-CAM layer found by the registry's rule, and says which model it ran."""
    client, _ = server
    name = load(client, files)  # a new upload replaces the last: "Your model: tiny_mine (2)"
    assert name.startswith(NAME)
    # methods that need a transformer refuse this CNN in one sentence (tests/test_hub_models.py)
    transformers_only = {f"/{n}" for n, t in cnnvis.TECHNIQUES.items() if t.needs is not None}
    calls = {k: v for k, v in every_call(name, cat).items() if k not in transformers_only}
    stops = {"/stop_deep_dream", "/stop_feature_visualization"}  # they stop a run, explain nothing
    published = set(endpoints.published(app.demo)) - {"/load_model"} - stops - transformers_only
    assert set(calls) == published  # a new one joins here
    default_layer = graph.head_feature_layer(tiny_classifier())  # the registry's rule
    assert default_layer == "features"
    for api_name, arguments in calls.items():
        result = client.predict(**arguments, api_name=api_name)
        text = json.dumps(result, ensure_ascii=False)
        assert "tiny_mine" in text or api_name == "/classify", (api_name, text[:300])
        assert "tabby" not in text and "flamingo" not in text, api_name  # no ImageNet class
        if api_name in ("/grad_cam", "/layer_cam", "/guided_grad_cam", "/eigen_cam"):
            assert f" · {default_layer} · " in text or f"at {default_layer} · " in text, (api_name, text[:300])
        if "target_class" in arguments and api_name not in ("/eigen_cam",):
            assert "dog" in text, (api_name, text[:300])


@contextlib.contextmanager
def page_request(session: str):
    """Serve in-process as Gradio serves the request of ``session`` (Gradio's request
    context, which it sets around every handler)."""
    token = LocalContext.request.set(SimpleNamespace(session_hash=session))
    try:
        yield
    finally:
        LocalContext.request.reset(token)


@contextlib.contextmanager
def heartbeat(session: str, client: str = "127.0.0.1"):
    """An open heartbeat of ``session``, as HeartbeatMiddleware records one."""
    CONNECTIONS.opened(session, client)
    try:
        yield
    finally:
        CONNECTIONS.closed(session, client)


def test_the_page_lists_its_layers_its_size_and_its_classes(files):
    """The page's path: after a load, the model picker has the visitor's model first and
    chosen, the summary says its input size, the layer pickers list its layers and the
    class pickers its own class names (what the tab's events put on the page)."""
    session = "page-test"
    with page_request(session), heartbeat(session):
        held = own_model.load_upload(session, str(files["mine"]), "0-1", str(files["names"]))
        try:
            update, words = own_model_tab.picked(held.name)
            assert update["value"] == NAME and update["choices"][0][1] == NAME
            assert [value for _, value in update["choices"][1:]] == [v for _, v in page.model_choices()]
            assert "`features`" in words and "for you only" in words and "3 classes (cat, dog, fox)" in words
            summary, vis = page.model_layers(NAME, lambda *a, **k: None)
            assert vis is held.vis and f"sees {SIDE}×{SIDE} pixels" in summary
            layers = layer_update(vis, "feature map")
            assert {"conv1", "features"} <= {value for _, value in layers["choices"]}
            _, choices = page.predictions(None, NAME, lambda *a, **k: None)
            assert [value for _, value in choices[1:]] == ["0 · cat", "1 · dog", "2 · fox"]
        finally:
            own_model.free_session(session)


def test_a_flexible_input_runs_at_the_size_given(files):
    session = "flexible-test"
    try:
        with heartbeat(session):
            held = own_model.load_upload(session, str(files["flexible"]), "tf", None, 48)
        assert held.vis.input_size == (48, 48) and held.vis.class_names is None
        assert held.vis.default_layer == "features"
        image = np.full((100, 60, 3), 128, np.uint8)
        [maps] = cnnvis.feature_maps(held.vis, image, "features")
        assert maps.maps.shape[1:] == (48, 48)  # run at 48 x 48, whatever the photo's size
        assert "48×48 pixels" in own_model.describe(held) and "numbered" in own_model.describe(held)
    finally:
        own_model.free_session(session)


# ----- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("lambda", "Lambda layer"),
        ("custom", "custom object"),
        ("two inputs", "2 inputs"),
        ("vector", "image input"),
        ("huge", "parameters; the limit is 32,000,000"),
        ("not a model", "not a .keras model"),
    ],
)
def test_a_model_that_cannot_be_loaded_safely_is_refused_in_one_sentence(server, files, model, words):
    client, _ = server
    name = load(client, files)
    with pytest.raises(AppError) as refused:
        load(client, files, model, names=None)
    message = refusal_message(refused.value)
    assert is_one_sentence(message) and words in message, message
    assert own_model.HELD.get(client.session_hash, name)  # the session keeps its model


def test_class_names_that_do_not_match_and_no_preprocessing_are_refused(server, files):
    client, _ = server
    (Path(files["names"]).parent / "two.txt").write_text("cat\ndog\n")
    two = Path(files["names"]).parent / "two.txt"
    with pytest.raises(AppError) as refused:
        client.predict(model_file=handle_file(str(files["mine"])), preprocessing="0-1",
                       class_names=handle_file(str(two)), api_name="/load_model")
    assert is_one_sentence(refusal_message(refused.value)) and "3 classes but 2" in refusal_message(refused.value)
    with pytest.raises(Exception) as refused:
        client.predict(model_file=handle_file(str(files["mine"])), preprocessing="pickle", api_name="/load_model")
    assert is_one_sentence(refusal_message(refused.value)) and "Preprocessing" in refusal_message(refused.value)


def test_a_model_file_over_its_bound_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.keras"
    with big.open("wb") as file:  # sparse: 129 MB on paper, no disk
        file.truncate(file_bounds.MAX_MODEL_FILE_BYTES + MB)
    with pytest.raises(ModelFileError) as refused:
        own_model.load_upload("size-test", str(big), "0-1")
    assert is_one_sentence(str(refused.value)) and "the limit is 128.0 MB" in str(refused.value)
    assert "size-test" not in own_model.HELD.sessions()


def test_photos_keep_their_bound_while_a_model_file_may_be_larger(server, tmp_path, files):
    """Over 10 MB: refused as any upload but a model's as it streams in; as a .keras upload
    it reaches /load_model (which refuses it as no model), and sent as a photo it is
    refused by its size, unopened (the upload of a photo is refused as it streams in, so
    this one is uploaded under the model's name)."""
    client, url = server
    data = b"\0" * (11 * MB)
    with httpx.Client(timeout=60) as http:
        kept = http.post(f"{url}gradio_api/upload", files={"files": ("names.txt", data[: 10 * MB])})
        assert kept.status_code == 200, kept.text
        for size in (10 * MB + 1, 11 * MB):  # the file's own bytes are bounded, exactly
            answer = http.post(f"{url}gradio_api/upload", files={"files": ("names.txt", data[:size])})
            assert answer.status_code == 413, answer.text
        assert answer.status_code == 413 and is_one_sentence(answer.json()["error"])
        assert "10 MB" in answer.json()["error"] and "128 MB" in answer.json()["error"]
    large = tmp_path / "large.keras"
    large.write_bytes(data)
    with pytest.raises(AppError) as refused:
        client.predict(model_file=handle_file(str(large)), preprocessing="0-1", api_name="/load_model")
    assert "not a .keras model" in refusal_message(refused.value)
    with pytest.raises(Exception) as refused:
        client.predict(image=handle_file(str(large)), model="MobileNetV2", api_name="/classify")
    message = refusal_message(refused.value)
    assert is_one_sentence(message) and "at most 10 MB; this one is larger" in message, message


# ----- sessions: isolation, freeing ---------------------------------------------------------------


def test_another_client_never_reaches_a_model_that_it_did_not_load(server, files, cat):
    client, url = server
    mine = load(client, files)
    with new_client(url) as other:
        for api_name, arguments in (
            ("/classify", {"image": cat}),
            ("/grad_cam", {"image": cat, "layer": "", "target_class": "top class"}),
            ("/filters", {"layer": "", "count": 4}),
        ):
            with pytest.raises(AppError) as refused:
                other.predict(model=mine, **arguments, api_name=api_name)
            message = refusal_message(refused.value)
            assert is_one_sentence(message) and "no model called" in message, message
        # Its own upload, of the same name, is its own: each client sees its own classes.
        assert load(other, files, names="other names") == NAME
        if mine != NAME:  # the same name in both sessions
            mine = load(client, files)
        assert mine == NAME
        assert labels(other.predict(image=cat, model=NAME, api_name="/classify")) == {"0 · x", "1 · y", "2 · z"}
        assert labels(client.predict(image=cat, model=NAME, api_name="/classify")) == {
            "0 · cat", "1 · dog", "2 · fox"
        }
        assert own_model.HELD.get(other.session_hash, NAME).vis is not own_model.HELD.get(client.session_hash, NAME).vis
    with pytest.raises(UnknownModelError):
        own_model.HELD.get("a session that never loaded one", NAME)


def test_the_model_is_freed_when_its_client_closes(server, files, monkeypatch):
    _, url = server
    # Gradio's own setting: how often the heartbeat of a session is written, and so how
    # soon its end is seen (15 s by default); read when the heartbeat connects.
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
    with new_client(url) as leaving:
        assert load(leaving, files) == NAME
        session = leaving.session_hash
        freed = weakref.ref(own_model.HELD.get(session, NAME).vis)
    # Gradio runs demo.unload when the heartbeat of the closed client ends.
    deadline = time.monotonic() + 120
    while session in own_model.HELD.sessions() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session not in own_model.HELD.sessions()
    gc.collect()
    assert freed() is None  # nothing else holds it: its weights are gone


# ----- bounds on the held models (fake clock, no server) --------------------------------------


def fake_vis(name: str = "m") -> SimpleNamespace:
    return SimpleNamespace(name=name)


def test_the_number_of_held_models_is_bounded_and_a_new_upload_replaces_the_old():
    held = HeldModels(max_models=2, max_parameters=10**9)
    assert held.put("a", fake_vis(), 10) == "Your model: m"
    held.put("b", fake_vis(), 10)
    with pytest.raises(ModelsFull) as refused:
        held.put("c", fake_vis(), 10)
    assert is_one_sentence(str(refused.value)) and "(2, for all visitors together)" in str(refused.value)
    assert held.put("a", fake_vis("n"), 10) == "Your model: n"  # replaces a's first model
    assert len(held) == 2 and held.sessions() == ["a", "b"]
    with pytest.raises(UnknownModelError):
        held.get("a", "Your model: m")
    assert held.free("b") == 1
    held.put("c", fake_vis(), 10)  # room again


def test_the_parameters_of_held_models_are_bounded():
    held = HeldModels(max_models=8, max_parameters=100)
    held.put("a", fake_vis(), 60)
    with pytest.raises(ModelsFull) as refused:
        held.check_room("b", 50)
    assert is_one_sentence(str(refused.value)) and "50 more parameters" in str(refused.value)
    held.check_room("a", 90)  # a's own model makes room for its next one
    held.put("a", fake_vis(), 90)
    assert held.parameters == 90


def test_a_model_unused_for_its_idle_time_is_freed():
    now = [0.0]
    held = HeldModels(idle_seconds=60, clock=lambda: now[0])
    held.put("a", fake_vis(), 1)
    now[0] = 59
    assert held.get("a", "Your model: m")  # used: its idle time starts again
    now[0] = 59 + 61
    assert held.expire() == 1 and len(held) == 0
    with pytest.raises(UnknownModelError) as refused:
        held.get("a", "Your model: m")
    assert is_one_sentence(str(refused.value))


def test_one_client_holds_few_models_whatever_session_hashes_it_sends():
    held = HeldModels(max_models=8, max_parameters=10**9, per_client=2)
    held.put("a", fake_vis(), 1, client="10.0.0.1")
    held.put("b", fake_vis(), 1, client="10.0.0.1")
    held.put("a", fake_vis("n"), 1, client="10.0.0.1")  # a's new model replaces its old one
    with pytest.raises(ModelsFull) as refused:
        held.put("c", fake_vis(), 1, client="10.0.0.1")
    assert is_one_sentence(str(refused.value)) and "at most 2 per visitor" in str(refused.value)
    held.put("d", fake_vis(), 1, client="10.0.0.2")  # another visitor still can
    assert len(held) == 3


def test_models_of_sessions_without_a_heartbeat_are_freed_within_a_minute():
    now, live = [0.0], {"a", "b"}
    held = HeldModels(clock=lambda: now[0], live=lambda session: session in live)
    held.put("a", fake_vis(), 1)
    held.put("b", fake_vis(), 1)
    live.discard("b")  # b's page closed (or it never had one: a made-up session hash)
    now[0] = own_model.DISCONNECTED_SECONDS
    assert held.expire() == 0  # a heartbeat may drop for a moment
    now[0] = own_model.DISCONNECTED_SECONDS + 1
    assert held.expire() == 1 and held.sessions() == ["a"]
    assert own_model.DISCONNECTED_SECONDS + own_model.SWEEP_SECONDS < 60


def test_a_session_without_a_live_connection_cannot_load_a_model(files):
    with pytest.raises(ParameterError) as refused:
        own_model.load_upload("made-up-hash", str(files["mine"]), "0-1")
    assert is_one_sentence(str(refused.value)) and "no open connection" in str(refused.value)
    assert "made-up-hash" not in own_model.HELD.sessions()


def test_eight_made_up_sessions_of_one_client_hold_at_most_two_models(files, monkeypatch):
    monkeypatch.setattr(own_model.HELD, "per_client", own_model.MODELS_PER_CLIENT)
    sessions = [f"made-up-{i}" for i in range(8)]
    loaded, refused = [], []
    try:
        with contextlib.ExitStack() as stack:
            for session in sessions:
                stack.enter_context(heartbeat(session, "10.9.9.9"))
            for session in sessions:
                try:
                    loaded.append(own_model.load_upload(session, str(files["mine"]), "0-1"))
                except ModelsFull as error:
                    refused.append(str(error))
        assert len(loaded) == own_model.MODELS_PER_CLIENT and len(refused) == 8 - own_model.MODELS_PER_CLIENT
        assert all(is_one_sentence(sentence) for sentence in refused)
    finally:
        for session in sessions:
            own_model.free_session(session)


def test_a_request_without_a_session_cannot_hold_a_model(files):
    with pytest.raises(Exception) as refused:
        own_model.load_upload(None, str(files["mine"]), "0-1")
    assert is_one_sentence(str(refused.value)) and "session" in str(refused.value)


def test_the_readme_section_shows_the_page_path_and_the_http_call_that_test_api_runs():
    from .test_api import readme_http_example

    page = (Path(__file__).resolve().parents[1] / "docs" / "python-api.md").read_text()
    section = page.split("### Your model on the page", 1)[1].split("\n#", 1)[0]
    assert "**Your model** tab" in section
    assert all(limit in " ".join(section.split()) for limit in stated_limits())
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    example = readme_http_example()  # run as written by tests/test_api.py
    assert code.strip() and code in example
