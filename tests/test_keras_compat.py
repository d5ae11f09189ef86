"""The private Keras (and TensorFlow) APIs of cnnvis.models.keras_compat, each exercised
against the installed Keras, so that an upgrade that moves or changes one fails here,
loudly and by name, rather than somewhere deep in a technique."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnvis.models import availability, graph, keras_compat
from cnnvis.models.loading import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def test_the_keras_these_apis_were_checked_against_is_the_pinned_one():
    pinned = re.search(r"^keras==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    for version, where in ((pinned, "requirements.txt"), (keras.__version__, "the installed Keras")):
        assert version.startswith(keras_compat.KERAS_VERSION + "."), (
            f"{where} has Keras {version}, but cnnvis/models/keras_compat.py was checked against "
            f"Keras {keras_compat.KERAS_VERSION}: check every private API it uses, then update KERAS_VERSION."
        )


def test_no_module_but_the_compat_module_reaches_a_private_keras_or_tensorflow_api():
    private = ("keras.src", "tensorflow.python")
    offenders = []
    for path in sorted((ROOT / "cnnvis").rglob("*.py")):
        if path.name == "keras_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if node.value.startswith(private) else []
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.startswith(private)]
    assert not offenders, offenders


def test_keras_home_is_where_keras_get_file_caches(tmp_path):
    source = tmp_path / "cnnvis-compat-check.txt"
    source.write_text("x")
    seen = []
    file_utils = keras_compat._file_utils()
    with keras_compat.replaced_get_file(file_utils.get_file):  # restores Keras' own afterwards
        keras_compat.wrap_get_file(seen.append, "test")
        keras_compat.wrap_get_file(seen.append, "test")  # once per tag: no second wrap
        path = Path(file_utils.get_file(fname=source.name, origin=source.as_uri(), cache_subdir="cnnvis-compat"))
    try:
        assert seen == [str(path)]  # the wrap saw the path, once
        assert path.parent == Path(keras_compat.keras_home()).expanduser() / "cnnvis-compat"
        assert path.read_text() == "x"
    finally:
        path.unlink()
        path.parent.rmdir()
    assert not hasattr(file_utils.get_file, "_cnnvis_wraps") or "test" not in file_utils.get_file._cnnvis_wraps


@pytest.mark.fullsize
def test_keras_applications_fetch_their_weights_through_the_replaceable_get_file():
    spec = REGISTRY["MobileNetV2"]
    assert availability.keras_weights_file(spec) == availability.weights_table()["MobileNetV2"].keras_file


def test_every_application_module_has_a_public_name_with_its_preprocessing():
    for spec in REGISTRY.values():
        assert callable(spec.keras_module.preprocess_input), spec.name


def test_safe_mode_refuses_a_lambda_even_when_the_process_allowed_them():
    config = keras.saving.serialize_keras_object(keras.layers.Lambda(lambda x: x + 1))
    with keras_compat.global_attribute_kept("safe_mode_saving", False):  # the process allows them
        assert isinstance(keras.saving.deserialize_keras_object(config), keras.layers.Lambda)
        with pytest.raises((ValueError, TypeError)):
            with keras_compat.safe_mode():
                keras.saving.deserialize_keras_object(config)


def test_layer_name_counters_are_the_global_attribute_kept():
    def number(name: str) -> int:
        return 0 if name == "dense" else int(name.rsplit("_", 1)[1])

    before = [number(keras.layers.Dense(1).name) for _ in range(3)]  # the counter is past 2 now
    with keras_compat.global_attribute_kept("object_name_uids", None):
        assert [keras.layers.Dense(1).name for _ in range(2)] == ["dense", "dense_1"]
    assert number(keras.layers.Dense(1).name) == before[-1] + 1  # the outer counter resumed


def test_variables_made_without_values_are_listed_in_the_global_attribute_kept():
    before = list(keras_compat.global_attribute("uninitialized_variables") or [])
    with keras_compat.global_attribute_kept("uninitialized_variables", keep_copy=True):
        with keras.StatelessScope(initialize_variables=False):
            keras.Variable(initializer="zeros", shape=(2,))
        assert len(keras_compat.global_attribute("uninitialized_variables") or []) == len(before) + 1
    assert list(keras_compat.global_attribute("uninitialized_variables") or []) == before


def test_keras_silu_goes_through_the_replaceable_backend_function():
    x = tf.constant([1.0, -2.0])
    previous = keras_compat.backend_silu_replaced(lambda values: values * 0.0 + 7.0)
    try:
        np.testing.assert_array_equal(keras.activations.silu(x).numpy(), [7.0, 7.0])
        np.testing.assert_array_equal(keras.ops.silu(x).numpy(), [7.0, 7.0])
    finally:
        assert keras_compat.backend_silu_replaced(previous) is not previous
    np.testing.assert_allclose(keras.ops.silu(x).numpy(), x.numpy() / (1 + np.exp(-x.numpy())), rtol=1e-6)


@pytest.mark.parametrize("function, name", [(keras.ops.sigmoid, "Sigmoid"), (keras.ops.softmax, "Softmax")])
def test_keras_ops_are_recognised_by_their_module_and_name(function, name):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, function(keras.layers.Dense(3)(inputs)))
    op, kind = graph.final_activation(model)
    assert keras_compat.is_keras_op(op, name) and kind == name.lower()
    assert keras_compat.public_module(type(op).__module__).startswith("keras.")


def test_the_tape_records_an_operation_with_its_own_gradient():
    x = tf.constant([1.0, -1.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        with keras_compat.tape_record.stop_recording():
            y = tf.identity(x)
        keras_compat.tape_record.record_operation("Doubled", [y], [x], lambda upstream: [2.0 * upstream])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 2.0])


def test_the_private_classes_a_saved_model_names_are_where_the_allow_list_looks():
    """The model-file allow-list names Keras' functional model, two application layers and
    keras.ops' operations by their private modules: each is there, of the right kind."""
    import importlib

    for module, name in keras_compat.SAVED_MODEL_CLASSES:
        assert isinstance(getattr(importlib.import_module(module), name), type), f"{module}.{name}"
    operation = keras_compat.operation_class()
    for module in keras_compat.ARRAY_OPERATION_MODULES:
        classes = [
            obj for obj in vars(importlib.import_module(module)).values()
            if isinstance(obj, type) and issubclass(obj, operation) and obj.__module__ == module
        ]
        assert classes, f"{module} holds no Keras operations any more"
    core = importlib.import_module(keras_compat.CORE_OPERATIONS_MODULE)
    for name in ("Cast", "StopGradient", "Slice", "Unstack", "ConvertToTensor"):
        assert issubclass(getattr(core, name), operation), name
