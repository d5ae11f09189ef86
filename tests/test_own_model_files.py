"""Loading a .keras file someone uploaded: every refusal, and a good file round trip.

Each file is built here, in tmp_path: small Keras models saved with ``model.save``, and
archives edited by hand for what Keras would not write (a huge config, a zip bomb, a
layer that loads files).
"""

from __future__ import annotations

import gc
import json
import struct
import sys
import weakref
import zipfile
from pathlib import Path

import keras
import numpy as np
import psutil
import pytest

import cnnvis
from cnnvis.models import own as own_models
from cnnvis.errors import ModelFileError, ParameterError
from cnnvis.images import resize_image

from .tiny import seeded_image

CLASSES = ["cat", "dog", "bird", "fish"]


def small_classifier(seed: int = 0) -> keras.Model:
    """conv -> ReLU -> features -> pool -> Dense(4, softmax), compiled (as trained ones are)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="small_classifier")
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def good_file(tmp_path_factory) -> tuple[Path, keras.Model]:
    model = small_classifier()
    path = tmp_path_factory.mktemp("good") / "small.keras"
    model.save(path)
    return path, model


def rewrite(source: Path, target: Path, edit_config=None, extra: dict | None = None) -> Path:
    """A copy of a .keras archive with config.json edited and members added."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if edit_config is not None:
        config = json.loads(members["config.json"])
        edit_config(config)
        members["config.json"] = json.dumps(config).encode()
    members.update(extra or {})
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def layer_configs(config: dict) -> list[dict]:
    return config["config"]["layers"]


def test_a_good_file_round_trips_and_every_technique_family_works(good_file, tmp_path):
    path, model = good_file
    names = tmp_path / "classes.txt"
    names.write_text("\ufeffcat\ndog\nbird\nfish\n\n", encoding="utf-8")  # BOM, blank end
    info = cnnvis.inspect_keras_file(path)
    assert info == own_models.KerasFileInfo(
        name="small_classifier", parameters=model.count_params(), layers=6,
        input_shape=(16, 16, 3), classes=4, default_layer="features", final_activation="softmax",
    )
    vis = cnnvis.load_keras_file(path, preprocessing="0-1", class_names=names)
    assert vis.class_names == tuple(CLASSES) and vis.default_layer == "features"
    assert vis.head.found == "softmax" and vis.weights == "from a .keras file"

    image = seeded_image(40, 30, seed=1)
    batch = resize_image(image, (16, 16))[None].astype(np.float32) / 255.0
    top = cnnvis.classify(vis, image, top=4)
    own = model(batch).numpy()[0]
    np.testing.assert_allclose(
        [p.probability for p in sorted(top, key=lambda p: p.index)], own, rtol=1e-5, atol=1e-7
    )
    cam = cnnvis.grad_cam(vis, image, target_class="dog")
    assert cam.heatmap.shape == (40, 30) and cam.label == "dog" and cam.layer == "features"
    assert np.isfinite(cam.heatmap).all() and cam.note
    guided = cnnvis.guided_backprop(vis, image)
    assert guided.values.shape == (40, 30, 3) and "guided rule at every ReLU" in guided.note
    maps = cnnvis.feature_maps(vis, image, ["conv1", "features"], count=4)
    assert maps[0].shape == (16, 16, 8) and maps[1].shape == (16, 16, 6)
    gradient = cnnvis.vanilla_gradient(vis, image, target_class=3)
    assert gradient.values.shape == (40, 30, 3) and np.abs(gradient.values).max() > 0
    # The loaded model is the saved one: the same weights, another object.
    loaded = vis.keras_model
    assert loaded is not model
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_a_loaded_model_is_freed_once_dropped(good_file):
    """Nothing global keeps an uploaded model (or its head's clone) alive after use, so
    the app can free it when the session ends."""
    vis = cnnvis.load_keras_file(good_file[0], preprocessing="none")
    image = seeded_image(seed=2)
    cnnvis.grad_cam(vis, image)
    cnnvis.guided_backprop(vis, image)
    cnnvis.classify(vis, image)
    model, wrapper = weakref.ref(vis.keras_model), weakref.ref(vis)
    del vis
    gc.collect()
    assert model() is None and wrapper() is None


def test_class_names_can_be_a_list_and_input_size_a_flexible_size(tmp_path):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="features")(inputs)
    x = keras.layers.GlobalMaxPooling2D()(x)
    path = tmp_path / "flexible.keras"
    keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(x)).save(path)
    vis = cnnvis.load_keras_file(path, preprocessing="tf", class_names=["a", "b"], input_size=32)
    assert vis.input_size == (32, 32) and vis.head.found == "sigmoid"
    assert cnnvis.feature_maps(vis, seeded_image(50, 50), "features")[0].shape[:2] == (30, 30)
    with pytest.raises(ParameterError, match="has 2 classes but 3 class names"):
        cnnvis.load_keras_file(path, preprocessing="tf", class_names=["a", "b", "c"])
    with pytest.raises(ParameterError, match="input_size must be"):
        cnnvis.load_keras_file(path, preprocessing="tf", input_size=4096)
    with pytest.raises(ParameterError, match="Unknown preprocessing family"):
        cnnvis.load_keras_file(path, preprocessing="imagenet")
    with pytest.raises(ParameterError, match="family name"):
        cnnvis.load_keras_file(path, preprocessing=lambda x: x / 255)


# ----- refusals --------------------------------------------------------------------------
def _save(model: keras.Model, tmp_path: Path, name: str = "model.keras") -> Path:
    path = tmp_path / name
    model.save(path)
    return path


def _image_input():
    return keras.Input((16, 16, 3))


def lambda_file(tmp_path, good):
    inputs = _image_input()
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(x))
    return _save(keras.Model(inputs, keras.layers.Dense(2)(x)), tmp_path)


@keras.saving.register_keras_serializable("cnnvis_tests")
class Twice(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x


class Unregistered(keras.layers.Layer):
    def call(self, x):
        return x


@keras.saving.register_keras_serializable("cnnvis_tests")
def doubled(x):
    return 2.0 * x


def _classifier_around(layer) -> keras.Model:
    inputs = _image_input()
    x = keras.layers.Conv2D(2, 3, name="features")(inputs)
    x = layer(x) if layer is not None else x
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))


def custom_class_file(tmp_path, good):
    return _save(_classifier_around(Twice()), tmp_path)


def unregistered_class_file(tmp_path, good):
    return _save(_classifier_around(Unregistered()), tmp_path)


def custom_function_file(tmp_path, good):
    return _save(_classifier_around(keras.layers.Activation(doubled)), tmp_path)


def tfsm_layer_file(tmp_path, good):
    """A layer that would load a SavedModel from the server's disk."""

    def edit(config):
        layer = layer_configs(config)[1]
        layer["class_name"] = "TFSMLayer"
        layer["config"] = {"name": "loader", "filepath": "/etc", "call_endpoint": "serve"}

    return rewrite(good, tmp_path / "tfsm.keras", edit)


def unknown_keras_class_file(tmp_path, good):
    def edit(config):
        layer_configs(config)[1]["class_name"] = "NoSuchLayer"

    return rewrite(good, tmp_path / "unknown.keras", edit)


def foreign_module_file(tmp_path, good):
    def edit(config):
        layer_configs(config)[1]["module"] = "os"
        layer_configs(config)[1]["class_name"] = "system"

    return rewrite(good, tmp_path / "foreign.keras", edit)


def two_inputs_file(tmp_path, good):
    a, b = _image_input(), _image_input()
    x = keras.layers.Conv2D(2, 3)(keras.layers.Add()([a, b]))
    return _save(keras.Model([a, b], keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))), tmp_path)


def text_input_file(tmp_path, good):
    inputs = keras.Input((20,), dtype="int32")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(100, 8)(inputs))
    return _save(keras.Model(inputs, keras.layers.Dense(2)(x)), tmp_path)


def grey_input_file(tmp_path, good):
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    return _save(keras.Model(inputs, keras.layers.Dense(2)(x)), tmp_path)


def two_outputs_file(tmp_path, good):
    inputs = _image_input()
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    return _save(keras.Model(inputs, [keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)]), tmp_path)


def no_feature_map_file(tmp_path, good):
    inputs = _image_input()
    return _save(keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs))), tmp_path)


def huge_config_file(tmp_path, good):
    """Two Dense layers of 30,000 units: 900 million parameters (3.6 GB) if built."""

    def edit(config):
        layers = layer_configs(config)
        dense = layers[-1]
        wide = [json.loads(json.dumps(dense)) for _ in range(2)]
        for i, layer in enumerate(wide):
            layer["name"] = layer["config"]["name"] = f"wide{i}"
            layer["config"]["units"] = 30_000
            layer["config"]["activation"] = "relu"
        def reading(source: str) -> list:
            text = json.dumps(dense["inbound_nodes"]).replace('"gap"', f'"{source}"')
            return json.loads(text.replace("[null, 6]", "[null, 30000]"))

        wide[0]["inbound_nodes"] = dense["inbound_nodes"]
        wide[1]["inbound_nodes"] = reading("wide0")
        dense["inbound_nodes"] = reading("wide1")
        for layer in (wide[1], dense):
            layer["build_config"] = {"input_shape": [None, 30_000]}
        layers[-1:] = [*wide, dense]

    return rewrite(good, tmp_path / "huge.keras", edit)


def not_a_zip_file(tmp_path, good):
    path = tmp_path / "model.keras"
    path.write_bytes(b"print('hello')\n")
    return path


def h5_name_file(tmp_path, good):
    path = tmp_path / "model.h5"
    path.write_bytes(good.read_bytes())
    return path


def no_config_file(tmp_path, good):
    path = tmp_path / "empty.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.weights.h5", b"")
    return path


def bad_json_file(tmp_path, good):
    with zipfile.ZipFile(good) as archive:
        weights = archive.read("model.weights.h5")
    path = tmp_path / "bad.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", b"{not json")
        archive.writestr("model.weights.h5", weights)
    return path


def many_members_file(tmp_path, good):
    extra = {f"assets/{i}.txt": b"" for i in range(own_models.MAX_ZIP_MEMBERS)}
    return rewrite(good, tmp_path / "many.keras", extra=extra)


def long_chain_file(tmp_path, good, length: int = 1990):
    """``length`` ReLU layers one after another between the features and the pooling."""

    def edit(config):
        layers = layer_configs(config)
        at = next(i for i, layer in enumerate(layers) if layer["name"] == "gap")
        template, before = layers[at - 1], layers[at - 1]["name"]
        chain = []
        for k in range(length):
            relu = {**json.loads(json.dumps(template)), "class_name": "ReLU", "name": f"r{k}"}
            relu["config"] = {"name": f"r{k}", "trainable": True, "dtype": "float32", "max_value": None, "negative_slope": 0.0, "threshold": 0.0}
            relu["build_config"] = None
            relu["inbound_nodes"] = json.loads(json.dumps(layers[at]["inbound_nodes"]).replace(f'"{before}"', f'"{"r" + str(k - 1) if k else before}"'))
            chain.append(relu)
        layers[at]["inbound_nodes"] = json.loads(json.dumps(layers[at]["inbound_nodes"]).replace(f'"{before}"', f'"r{length - 1}"'))
        layers[at:at] = chain

    return rewrite(good, tmp_path / "chain.keras", edit)


def deep_nesting_file(tmp_path, good):
    """400 Sequential models, each inside the next (1,202 levels of JSON)."""
    inner = '{"module": "keras.layers", "class_name": "ReLU", "config": {"name": "r"}}'
    for depth in range(400):
        inner = f'{{"module": "keras", "class_name": "Sequential", "config": {{"name": "s{depth}", "layers": [{inner}]}}}}'
    path = tmp_path / "nested.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", inner)
    return path


def keras_test_module_file(tmp_path, good):
    """A class of a Keras test module (which the old prefix rule let through, importing it)."""

    def edit(config):
        layer_configs(config)[1]["module"] = "keras.src.layers.core.dense_test"
        layer_configs(config)[1]["class_name"] = "DenseTest"

    return rewrite(good, tmp_path / "test_module.keras", edit)


def control_flow_file(tmp_path, good):
    def edit(config):
        layer_configs(config)[1]["module"] = "keras.src.ops.core"
        layer_configs(config)[1]["class_name"] = "WhileLoop"

    return rewrite(good, tmp_path / "while.keras", edit)


def _zip_end(data: bytes) -> int:
    return data.rfind(b"PK\x05\x06")


def millions_of_members_file(tmp_path, good):
    """The archive's end records (ZIP64's) say 2.6 million members; its directory holds 3."""
    data = good.read_bytes()
    at = _zip_end(data)
    size, offset = struct.unpack("<II", data[at + 12 : at + 20])
    zip64 = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 2_600_000, 2_600_000, size, offset)
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, at, 1)
    end = bytearray(data[at:])
    end[8:12] = struct.pack("<HH", 0xFFFF, 0xFFFF)
    path = tmp_path / "millions.keras"
    path.write_bytes(data[:at] + zip64 + locator + bytes(end))
    return path


def huge_directory_file(tmp_path, good):
    data = bytearray(good.read_bytes())
    at = _zip_end(bytes(data))
    data[at + 12 : at + 16] = struct.pack("<I", 10**6)
    path = tmp_path / "directory.keras"
    path.write_bytes(bytes(data))
    return path


def damaged_weights_file(tmp_path, good):
    return rewrite(good, tmp_path / "damaged.keras", extra={"model.weights.h5": b"\x89HDF\r\n garbage"})


REFUSALS = [
    (not_a_zip_file, {}, "The file is not a .keras model"),
    (h5_name_file, {}, "The file is not a .keras model"),
    (lambda_file, {}, r"has a Lambda layer \('double'\), which holds Python code"),
    (custom_class_file, {}, r"uses a custom object \('Twice'\) that is not part of Keras"),
    (unregistered_class_file, {}, r"custom object \('Unregistered'\)"),
    (custom_function_file, {}, r"uses a custom function \('cnnvis_tests>doubled'\)"),
    (tfsm_layer_file, {}, "uses the layer TFSMLayer, which loads a TensorFlow SavedModel"),
    (unknown_keras_class_file, {}, r"custom object \('NoSuchLayer'\)"),
    (foreign_module_file, {}, r"custom object \('system'\)"),
    (two_inputs_file, {}, "The model has 2 inputs"),
    (text_input_file, {}, r"input has shape \(20\); cnnvis needs an image input"),
    (grey_input_file, {}, "takes 1-channel images"),
    (two_outputs_file, {}, "The model has 2 outputs"),
    (no_feature_map_file, {}, "no 2-D feature map"),
    (huge_config_file, {}, "900,[0-9,]+ parameters; the limit is 50,000,000"),
    (lambda path, good: good, {"max_parameters": 100}, r"parameters; the limit is 100\."),
    (lambda path, good: good, {"max_bytes": 1000}, r"The model file is [0-9.]+ KB; the limit is 1000 bytes"),
    (no_config_file, {}, "has no config.json"),
    (bad_json_file, {}, "config.json is damaged"),
    (many_members_file, {}, f"lists {own_models.MAX_ZIP_MEMBERS + 3} files"),
    (damaged_weights_file, {}, "could not be loaded"),
    (long_chain_file, {}, "chains 1,99[0-9] layers one after another; the limit is 900"),
    (deep_nesting_file, {}, "config.json nests 1,202 levels deep"),
    (keras_test_module_file, {}, r"custom object \('DenseTest'\)"),
    (control_flow_file, {}, r"custom object \('WhileLoop'\)"),
    (millions_of_members_file, {}, "lists 2,600,000 files"),
    (huge_directory_file, {}, "list of files takes 976.6 KB"),
]


@pytest.mark.parametrize("make, options, message", REFUSALS, ids=lambda v: getattr(v, "__name__", None))
def test_unsafe_or_unusable_files_are_refused_in_one_sentence(make, options, message, good_file, tmp_path):
    path = make(tmp_path, good_file[0])
    with pytest.raises(ModelFileError, match=message) as error:
        cnnvis.load_keras_file(path, preprocessing="none", **options)
    text = str(error.value)
    assert "\n" not in text and str(tmp_path) not in text and text.endswith(".")


def test_a_test_module_named_by_a_config_is_never_imported(good_file, tmp_path):
    sys.modules.pop("keras.src.layers.core.dense_test", None)
    with pytest.raises(ModelFileError):
        cnnvis.inspect_keras_file(keras_test_module_file(tmp_path, good_file[0]))
    assert "keras.src.layers.core.dense_test" not in sys.modules


def test_a_chain_within_the_bound_builds(good_file, tmp_path):
    """A chain of MAX_CHAIN layers is read and built (the bound is below Keras' recursion)."""
    path = long_chain_file(tmp_path, good_file[0], own_models.MAX_CHAIN - 5)
    with zipfile.ZipFile(path) as archive:
        assert own_models.chain_length(json.loads(archive.read("config.json"))) == own_models.MAX_CHAIN
    assert cnnvis.inspect_keras_file(path).default_layer


def test_every_class_of_the_registry_models_configs_is_allowed():
    """The allow-list covers what Keras writes for its own models (ConvNeXt's LayerScale,
    InceptionResNetV2's CustomScaleLayer, the array operations of EfficientNet...)."""
    written = [
        ("keras.layers", "Conv2D"), ("keras.layers", "ReLU"), ("keras.layers", "Normalization"),
        ("keras.initializers", "VarianceScaling"), ("keras", "DTypePolicy"), ("keras", "Sequential"),
        ("keras.src.models.functional", "Functional"), ("keras.src.applications.convnext", "LayerScale"),
        ("keras.src.applications.inception_resnet_v2", "CustomScaleLayer"),
        ("keras.src.ops.numpy", "Add"), ("keras.src.ops.numpy", "Multiply"),
    ]
    for module, name in written:
        assert own_models._resolve(module, name) is not None, (module, name)
    for module, name in [("keras.src.ops.core", "Map"), ("keras.layers", "Lambda"), ("keras.layers", "TFSMLayer"),
                         ("keras.src.saving.serialization_lib", "SafeModeScope"), ("keras.src.layers.core.dense", "ops")]:
        assert own_models._resolve(module, name) is None, (module, name)


def test_a_huge_model_is_refused_before_any_weight_is_built(good_file, tmp_path):
    """The 900-million-parameter config is counted with shapes only: no memory for its
    3.6 GB of weights is taken, and Keras keeps no half-made variable afterwards."""
    from keras.src.backend.common import global_state

    path = huge_config_file(tmp_path, good_file[0])
    process = psutil.Process()
    before = process.memory_info().rss
    with pytest.raises(ModelFileError, match="parameters"):
        cnnvis.inspect_keras_file(path)
    assert process.memory_info().rss - before < 500 * 2**20
    assert not global_state.get_global_attribute("uninitialized_variables")


def test_a_zip_bomb_is_refused_from_the_archive_directory(good_file, tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(good_file[0], "inner")  # any content; then 3 MB of zeros
        archive.writestr("config.json", b"{}")
        archive.writestr("model.weights.h5", bytes(3 * 2**20))
    assert path.stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="unpacks to more than 2.0 MB"):
        cnnvis.load_keras_file(path, preprocessing="none", max_bytes=2**20)


def test_a_lambda_is_refused_where_unsafe_deserialization_was_enabled(good_file, tmp_path):
    """A process that switched Keras' safe mode off elsewhere still refuses a Lambda."""
    from keras.src.backend.common import global_state

    path = lambda_file(tmp_path, good_file[0])
    saved = global_state.get_global_attribute("safe_mode_saving")
    keras.config.enable_unsafe_deserialization()
    try:
        with pytest.raises(ModelFileError, match="Lambda"):
            cnnvis.load_keras_file(path, preprocessing="none")
    finally:
        global_state.set_global_attribute("safe_mode_saving", saved)


# ----- class-names files -------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, options, message",
    [
        (b"cat\n\ndog\n", {}, "Line 2 of the class-names file is empty"),
        (b"\xff\xfecat\n", {}, "not UTF-8 text"),
        (b"\n\n", {}, "holds no names"),
        (b"x" * 2000, {"max_bytes": 1000}, "class-names file is 2.0 KB; the limit is 1000 bytes"),
        (("a\n" * (own_models.MAX_CLASSES + 1)).encode(), {}, "at most 10,000 are accepted"),
        (("a" * 101 + "\n").encode(), {}, "longer than 100 characters"),
    ],
)
def test_bad_class_name_files_are_refused(content, options, message, tmp_path):
    path = tmp_path / "names.txt"
    path.write_bytes(content)
    with pytest.raises((ModelFileError, ParameterError), match=message):
        own_models.read_class_names(path, **options)


def test_class_name_files_must_match_the_model(good_file, tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("cat\ndog\nbird\n")
    assert own_models.read_class_names(path) == ("cat", "dog", "bird")
    with pytest.raises(ParameterError, match="has 4 classes but 3 class names"):
        cnnvis.load_keras_file(good_file[0], preprocessing="none", class_names=path)
    with pytest.raises(ModelFileError, match="does not exist"):
        cnnvis.load_keras_file(good_file[0], preprocessing="none", class_names=tmp_path / "none.txt")


def test_readme_own_model_example_runs(tmp_path, monkeypatch):
    """The Python API page's "Your own Keras model" block, as written: it builds a small transfer
    model, wraps it and loads it back from its .keras file."""
    root = Path(__file__).resolve().parents[1]
    section = (root / "docs" / "python-api.md").read_text()
    blocks = [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
    (block,) = [block for block in blocks if "load_keras_file" in block]
    (tmp_path / "examples").symlink_to(root / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "docs/python-api.md", "exec"), namespace)
    mine = namespace["mine"]
    assert mine.class_names == ("cat", "dog") and mine.input_size == (96, 96)
    assert mine.head.found == "softmax" and mine.weights == "from a .keras file"
    assert namespace["cam"].note == "final softmax found: gradients on the logits"
    assert namespace["cam"].heatmap.shape == namespace["image"].shape[:2]
    # The loaded file gives the model's own probabilities.
    image = namespace["image"]
    batch = keras.applications.mobilenet_v2.preprocess_input(
        resize_image(image, (96, 96))[None].astype(np.float32)
    )
    own = namespace["model"](batch).numpy()[0]
    loaded = sorted(cnnvis.classify(mine, image), key=lambda p: p.index)
    np.testing.assert_allclose([p.probability for p in loaded], own, rtol=1e-4, atol=1e-6)
