"""Your own model: checks on a Keras classifier, and safe loading of a ``.keras`` file.

:func:`load_keras_file` turns a file someone uploaded into a :class:`VisModel` without
ever running code from it, and refuses, in one sentence, anything cnnvis cannot explain
or should not load. In order, before anything is built:

1. the file's size (from the file system, before it is read): at most ``max_bytes``;
2. the file is a zip archive (a ``.keras`` file is one) whose end-of-central-directory
   record lists at most :data:`MAX_ZIP_MEMBERS` members in at most
   :data:`MAX_ZIP_DIRECTORY_BYTES` (read before the directory is parsed), with a
   ``config.json`` of at most :data:`MAX_CONFIG_BYTES` nested at most
   :data:`MAX_CONFIG_DEPTH` levels (measured before it is parsed) and at most
   :data:`MAX_UNPACKED_RATIO` times ``max_bytes`` unpacked in all (a zip bomb is refused
   from its directory, before any member is read);
3. every object named in ``config.json`` is on the allow-list (:func:`allowed_objects`:
   the classes of Keras' public layers, initializers, regularizers, constraints and dtype
   policies, Keras' model classes, the layers of ``keras.applications`` and the array
   operations that a functional model records; no custom class, no registered custom
   object, no function that is not a Keras activation), and no layer runs code or reads
   files (:data:`UNSAFE_LAYERS`: ``Lambda`` and its kind); at most :data:`MAX_LAYERS`
   layers, and no chain of more than :data:`MAX_CHAIN` layers one after the other (Keras
   builds a graph by recursion);
4. the model is built from that config with shapes but no values
   (``keras.StatelessScope``: no memory for weights), which gives its exact number of
   parameters (at most ``max_parameters``) and its inputs and outputs: one RGB image in
   (rank 4, 3 channels, sides from :data:`MIN_INPUT_SIDE` to :data:`MAX_INPUT_SIDE`
   when fixed), one score per class out (at most :data:`MAX_CLASSES`), and a 2-D
   feature map for Grad-CAM (found by :func:`cnnvis.models.graph.head_feature_layer`, the rule
   used for the registry's models);
5. only then Keras loads the file, in safe mode (``keras.saving.load_model(path,
   safe_mode=True, compile=False)``, inside Keras' safe-mode scope, so that a process
   that enabled unsafe deserialization elsewhere does not weaken it).

Models with one grey channel are refused: every technique works in RGB pixel space (and
Deep Dream and feature visualisation invert the preprocessing into RGB pixels).
Class names come as a list, or from a text file with one name per line
(:func:`read_class_names`). Every bound is a module constant, listed in SECURITY.md.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import json
import math
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import keras

from . import graph, keras_compat
from ..errors import ComputeError, ModelFileError, ParameterError, UnknownLayerError, quoted
from .classifiers import (
    MAX_CLASS_NAME_LENGTH,
    MAX_CLASSES,
    MAX_INPUT_SIDE,
    MIN_INPUT_SIDE,
    _shape,
    _words,
    check_class_names,
    check_image_classifier,
    check_input_size,
)
from .cost import ModelCost, estimate_cost
from .loading import VisModel
from .preprocessing import FAMILIES, Preprocessing, resolve as resolve_preprocessing

# ----- bounds (SECURITY.md lists them) -------------------------------------------------
MAX_FILE_BYTES = 256 * 2**20
"""Largest ``.keras`` file accepted by default, checked before the file is read."""
MAX_PARAMETERS = 50_000_000
"""Most parameters a loaded model may have by default (200 MB of float32 weights; ResNet101
has 44.7 million), counted from the config before any weight is made."""
MAX_CONFIG_BYTES = 32 * 2**20
"""Largest ``config.json`` inside a ``.keras`` file (EfficientNetV2L's is about 2 MB)."""
MAX_ZIP_MEMBERS = 64
"""Most files inside a ``.keras`` zip (Keras writes three), counted from the archive's
end-of-central-directory record before its directory is parsed."""
MAX_ZIP_DIRECTORY_BYTES = 64 * 2**10
"""Largest central directory of a ``.keras`` zip (a member's entry is 46 bytes and its
name), read from the end-of-central-directory record before the directory is parsed."""
MAX_CONFIG_DEPTH = 64
"""Deepest nesting of lists and objects in ``config.json`` (the registry's models nest 10
or 11 levels; each model inside a model adds about four), measured before it is parsed."""
MAX_UNPACKED_RATIO = 2
"""The zip's members together may declare at most this many times ``max_bytes`` unpacked."""
MAX_LAYERS = 2_000
"""Most layers (nested ones included) a model file may have (NASNetLarge has 1,041)."""
MAX_CHAIN = 900
"""Longest chain of layers, each reading the one before (nested models counted through),
that a model file may have: Keras builds a model's graph by recursion, a Python frame per
layer, and a chain of 1,100 ReLUs exhausted Python's recursion limit (EfficientNetV2L's
chain of 1,031 layers just fits; EfficientNetB7 chains 816, EfficientNetV2S 516,
ResNet152V2 559)."""
MAX_CLASS_NAMES_BYTES = 2**20
"""Largest class-names text file, checked before it is read."""
UNSAFE_LAYERS: dict[str, str] = {
    "Lambda": "holds Python code",
    "TFSMLayer": "loads a TensorFlow SavedModel from a path",
    "TorchModuleWrapper": "holds a pickled PyTorch module",
    "JaxLayer": "calls Python functions",
    "FlaxLayer": "calls Python functions",
    "StringLookup": "can read a vocabulary file",
    "IntegerLookup": "can read a vocabulary file",
    "TextVectorization": "can read a vocabulary file",
}
"""Keras layers that a model file may not use, and why (they run code or read files)."""

PREPROCESSING_CHOICES: dict[str, str] = {name: p.description for name, p in FAMILIES.items()}
"""The preprocessing a model file may be given: family name -> what it does, in words."""

# The allow-list (allowed_objects): the public namespaces whose classes of these kinds a
# config may name, and the few other Keras classes that Keras' own models write.
_ALLOWED_NAMESPACES: dict[str, str] = {
    "keras.layers": "keras.layers.Layer",
    "keras.initializers": "keras.initializers.Initializer",
    "keras.regularizers": "keras.regularizers.Regularizer",
    "keras.constraints": "keras.constraints.Constraint",
    "keras.dtype_policies": "keras.dtype_policies.DTypePolicy",
}
_ALLOWED_EXTRA: tuple[tuple[str, str], ...] = (
    ("keras", "Model"),
    ("keras", "Sequential"),
    *keras_compat.SAVED_MODEL_CLASSES,
)
# keras-hub's image classifiers (the hub extra): the model families of its ImageNet
# classifiers, registered by keras-hub as "keras_hub>ClassName". Their code is the
# installed package's, as Keras' own layers are; nothing from the file runs as code.
_HUB_FAMILIES = (
    "vit", "deit", "swin_transformer", "resnet", "efficientnet", "densenet", "mobilenet",
    "vgg", "xception", "cspnet", "hgnetv2",
)
_HUB_PACKAGES = tuple(f"keras_hub.src.models.{family}." for family in _HUB_FAMILIES)
# Array operations a functional model records when a tensor is added, multiplied,
# reshaped... (keras.ops on symbolic tensors); the control-flow operations of Keras' core
# operations, which call functions, are not among them.
_OPERATION_MODULES = keras_compat.ARRAY_OPERATION_MODULES
_CORE_OPERATIONS = ("Cast", "StopGradient", "Slice", "Unstack", "ConvertToTensor")
# Values, not classes: tensors, arrays and slices written into a config.
_DATA_OBJECTS = frozenset(
    {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}
)
_CONFIG_NAME = "config.json"


def read_class_names(
    path: str | os.PathLike, *, max_bytes: int = MAX_CLASS_NAMES_BYTES
) -> tuple[str, ...]:
    """Class names from a UTF-8 text file, one per line (blank lines at the end ignored),
    checked by :func:`check_class_names`. The size is checked before the file is read."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError("The class-names file does not exist.")
    size = path.stat().st_size
    if size > max_bytes:
        raise ModelFileError(
            f"The class-names file is {_size(size)}; the limit is {_size(max_bytes)}."
        )
    with path.open("rb") as file:
        data = file.read(max_bytes + 1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ModelFileError("The class-names file is not UTF-8 text.") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ModelFileError(
                f"Line {number} of the class-names file is empty; give one name per line."
            )
    if not lines:
        raise ModelFileError("The class-names file holds no names; give one name per line.")
    return check_class_names(lines)


def _size(count: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


# ----- the .keras file ---------------------------------------------------------------------
@dataclass(frozen=True)
class KerasFileInfo:
    """What :func:`inspect_keras_file` learnt from a ``.keras`` file, before loading it."""

    name: str  # the model's name (at most 40 characters)
    parameters: int
    layers: int
    input_shape: tuple  # (height, width, channels), None where flexible
    classes: int
    default_layer: str  # the default Grad-CAM layer
    final_activation: str | None  # "softmax", "sigmoid" or None (logits)


def zip_directory(path: Path) -> tuple[int, int]:
    """The number of members and the size in bytes of a zip's central directory, from its
    end-of-central-directory record (ZIP64's where the classic one says so), read from the
    file's last 64 KB without parsing the directory. Raises :class:`ModelFileError` if
    there is no such record."""
    damaged = ModelFileError("The .keras file is damaged (its zip archive cannot be read).")
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        start = max(0, size - (22 + 65535))
        file.seek(start)
        tail = file.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise damaged
        entries, directory = struct.unpack("<HI", tail[at + 10 : at + 16])
        if entries == 0xFFFF or directory == 0xFFFFFFFF:  # the ZIP64 record has the figures
            locator = tail[at - 20 : at] if at >= 20 else b""
            if locator[:4] != b"PK\x06\x07":
                return entries, directory
            (offset,) = struct.unpack("<Q", locator[8:16])
            if offset > size - 56:
                raise damaged
            file.seek(offset)
            record = file.read(56)
            if record[:4] != b"PK\x06\x06":
                raise damaged
            entries, directory = struct.unpack("<QQ", record[32:48])
    return entries, directory


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def json_depth(data: bytes) -> int:
    """How deeply the lists and objects of a JSON text nest (strings skipped), without
    parsing it."""
    import numpy as np

    codes = np.frombuffer(_JSON_STRING.sub(b'""', data), np.uint8)
    steps = (codes == ord("[")).astype(np.int64) + (codes == ord("{"))
    steps -= (codes == ord("]")).astype(np.int64) + (codes == ord("}"))
    return int(np.cumsum(steps).max(initial=0))


def _read_config(path: Path, max_bytes: int) -> dict:
    """Steps 1 and 2 of the module docstring: the parsed ``config.json``."""
    if not path.is_file():
        raise ModelFileError("The model file does not exist.")
    size = path.stat().st_size
    if size > max_bytes:
        raise ModelFileError(f"The model file is {_size(size)}; the limit is {_size(max_bytes)}.")
    if path.suffix.lower() != ".keras" or not zipfile.is_zipfile(path):
        raise ModelFileError(
            "The file is not a .keras model; save the model with model.save('name.keras') "
            "(Keras 3's format: H5 files and SavedModels are not accepted)."
        )
    entries, directory = zip_directory(path)
    if entries > MAX_ZIP_MEMBERS:
        raise ModelFileError(
            f"The .keras file lists {entries:,} files; a model holds at most {MAX_ZIP_MEMBERS}."
        )
    if directory > MAX_ZIP_DIRECTORY_BYTES:
        raise ModelFileError(
            f"The .keras file's list of files takes {_size(directory)}; a model's takes at "
            f"most {_size(MAX_ZIP_DIRECTORY_BYTES)}."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise ModelFileError(
                    f"The .keras file holds {len(members)} files; a model holds at most "
                    f"{MAX_ZIP_MEMBERS}."
                )
            if sum(m.file_size for m in members) > MAX_UNPACKED_RATIO * max_bytes:
                raise ModelFileError(
                    f"The .keras file unpacks to more than {_size(MAX_UNPACKED_RATIO * max_bytes)}."
                )
            config = next((m for m in members if m.filename == _CONFIG_NAME), None)
            if config is None:
                raise ModelFileError("The .keras file has no config.json; it is not a Keras model.")
            if config.file_size > MAX_CONFIG_BYTES:
                raise ModelFileError(
                    f"The model's config.json is {_size(config.file_size)}; the limit is "
                    f"{_size(MAX_CONFIG_BYTES)}."
                )
            with archive.open(config) as file:
                data = file.read(MAX_CONFIG_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as error:
        raise ModelFileError(
            "The .keras file is damaged (its zip archive cannot be read)."
        ) from error
    depth = json_depth(data)
    if depth > MAX_CONFIG_DEPTH:
        raise ModelFileError(
            f"The model's config.json nests {depth:,} levels deep (models inside models); "
            f"the limit is {MAX_CONFIG_DEPTH}."
        )
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelFileError(
            "The model's config.json is damaged (it is not valid JSON)."
        ) from error
    if not isinstance(parsed, dict) or "class_name" not in parsed:
        raise ModelFileError("The model's config.json does not describe a Keras model.")
    parsed["compile_config"] = None  # loaded with compile=False: never read
    return parsed


def _object_name(node: dict) -> str:
    config = node.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return str(name or node.get("name") or node.get("class_name"))


def _named(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@functools.lru_cache(maxsize=1)
def allowed_objects() -> dict[str, frozenset]:
    """The allow-list of the classes a model file's config may name: class name -> the
    Keras classes of that name (the public classes of layers, minus :data:`UNSAFE_LAYERS`,
    initializers, regularizers, constraints and dtype policies; Keras' model classes; the
    layers of ``keras.applications``; the array operations of ``keras.ops``). Activations
    are functions, allowed by name from ``keras.activations``."""
    Operation = keras_compat.operation_class()

    found: dict[str, set] = {}

    def allow(name: str, obj) -> None:
        found.setdefault(name, set()).add(obj)

    for namespace, base in _ALLOWED_NAMESPACES.items():
        kind = _named(base)
        for name, obj in vars(importlib.import_module(namespace)).items():
            if inspect.isclass(obj) and issubclass(obj, kind) and name not in UNSAFE_LAYERS and name != "Lambda":
                allow(name, obj)
    for module, name in _ALLOWED_EXTRA:
        allow(name, getattr(importlib.import_module(module), name))
    for module in _OPERATION_MODULES:
        for name, obj in vars(importlib.import_module(module)).items():
            if inspect.isclass(obj) and issubclass(obj, Operation) and obj.__module__ == module:
                allow(name, obj)
    for name in _CORE_OPERATIONS:
        allow(name, getattr(importlib.import_module(keras_compat.CORE_OPERATIONS_MODULE), name))
    return {name: frozenset(objects) for name, objects in found.items()}


@functools.lru_cache(maxsize=1)
def _allowed_modules() -> frozenset[str]:
    """The modules a config may name: the public namespaces and those the allowed classes
    live in (no other module is imported)."""
    modules = {"keras", "keras.models", "keras.ops", "keras.activations", *_ALLOWED_NAMESPACES}
    modules.update(obj.__module__ for objects in allowed_objects().values() for obj in objects)
    return frozenset(modules)


def _is_hub(module: object, registered: object, class_name: str) -> bool:
    """A keras-hub image-classifier object, as keras-hub registers it."""
    return (
        isinstance(module, str)
        and module.startswith(_HUB_PACKAGES)
        and registered == f"keras_hub>{class_name}"
    )


def _resolve_hub(module: str, class_name: str):
    """A class of keras-hub's image-classifier families (a Keras layer or model of the
    installed package), or ``None``; refused in one sentence where keras-hub is missing."""
    from . import hub

    if not hub.installed():
        raise ModelFileError(
            f"The model is a keras-hub classifier ({class_name}), which needs the keras-hub "
            f"package, not installed here: {hub.EXTRA}."
        )
    try:
        obj = getattr(importlib.import_module(module), class_name, None)
    except ImportError:
        return None
    keras_kinds = (keras.layers.Layer, keras_compat.operation_class())
    return obj if inspect.isclass(obj) and issubclass(obj, keras_kinds) else None


def _resolve(module: str, class_name: str):
    """The allowed Keras class a config names, or ``None`` (only the modules of allowed
    classes, and keras-hub's image-classifier modules, are imported, and only an allowed
    class is returned)."""
    if module.startswith(_HUB_PACKAGES):
        return _resolve_hub(module, class_name)
    allowed = allowed_objects().get(class_name)
    if not allowed or module not in _allowed_modules():
        return None
    try:
        obj = getattr(importlib.import_module(module), class_name, None)
    except ImportError:
        return None
    return obj if obj in allowed else None


_MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})


def _tensor_sources(node) -> set[str]:
    """The names of the layers whose outputs a layer's ``inbound_nodes`` read."""
    sources, stack = set(), [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            history = item.get("config", {}).get("keras_history") if item.get("class_name") == "__keras_tensor__" and isinstance(item.get("config"), dict) else None
            if isinstance(history, list) and history and isinstance(history[0], str):
                sources.add(history[0])
            else:
                stack.extend(item.values())
    return sources


def chain_length(config: dict) -> int:
    """The longest chain of layers in a model's config, each reading the one before (a
    model inside it counts as its own longest chain); read from the config's layers and
    their ``inbound_nodes``, without building anything. A loop counts once."""
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list):
        return 1
    weights: dict[str, int] = {}
    reads: dict[str, set[str]] = {}
    order = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            continue
        name = str(layer.get("name") or (layer.get("config") or {}).get("name") or index)
        weights[name] = chain_length(layer) if layer.get("class_name") in _MODEL_CLASSES else 1
        reads[name] = _tensor_sources(layer.get("inbound_nodes"))
        order.append(name)
    if config.get("class_name") == "Sequential" or not any(reads.values()):
        return max(1, sum(weights.values()))
    longest: dict[str, int] = {}
    for start in order:  # depth-first, without recursion, each layer once
        stack = [(start, False)]
        while stack:
            name, ready = stack.pop()
            if name in longest:
                continue
            if ready:
                before = [longest.get(source, 0) for source in reads.get(name, ()) if source in weights]
                longest[name] = weights[name] + max(before, default=0)
                continue
            stack.append((name, True))
            stack.extend((source, False) for source in reads.get(name, ()) if source in weights and source not in longest and source != name)
            if len(stack) > 4 * len(weights) + 8:  # a loop: stop following it
                longest[name] = weights[name]
    return max(longest.values(), default=1)


def check_config(config: dict) -> int:
    """Step 3 of the module docstring; returns the number of layers."""
    layers = 0
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        class_name = node.get("class_name")
        if not isinstance(class_name, str):
            continue
        if class_name in _DATA_OBJECTS:
            continue
        if class_name == "__lambda__" or class_name == "Lambda":
            raise ModelFileError(
                f"The model has a Lambda layer ({quoted(_object_name(node))}), which holds "
                "Python code; cnnvis never runs code from a model file, so rebuild it with "
                "Keras layers only."
            )
        if class_name in UNSAFE_LAYERS:
            raise ModelFileError(
                f"The model uses the layer {class_name}, which {UNSAFE_LAYERS[class_name]}; "
                "cnnvis does not load such layers from a model file."
            )
        module, registered = node.get("module"), node.get("registered_name")
        if class_name == "function":
            if module in ("builtins", "keras.activations") and hasattr(
                keras.activations, str(node.get("config"))
            ):
                continue
            raise ModelFileError(
                f"The model uses a custom function ({quoted(node.get('config'))}); cnnvis loads "
                "models made of Keras' own layers and activations only."
            )
        obj = _resolve(module, class_name) if isinstance(module, str) else None
        if _is_hub(module, registered, class_name):
            registered = None
        if obj is None or registered not in (None, class_name) or class_name.startswith("__"):
            raise ModelFileError(
                f"The model uses a custom object ({quoted(class_name)}) that is not part of "
                "Keras; cnnvis loads models made of Keras' own layers only (no custom code "
                "runs on this server)."
            )
        if isinstance(obj, type) and issubclass(obj, keras.layers.Layer):
            layers += 1
            if layers > MAX_LAYERS:
                raise ModelFileError(f"The model has more than {MAX_LAYERS:,} layers.")
    chain = chain_length(config)
    if chain > MAX_CHAIN:
        raise ModelFileError(
            f"The model chains {chain:,} layers one after another; the limit is {MAX_CHAIN:,} "
            "(Keras builds a model's graph by recursion, which runs out beyond that)."
        )
    return layers


def _too_deep(chain: int) -> ModelFileError:
    return ModelFileError(
        "Keras ran out of recursion depth while building the model: its longest chain has "
        f"{chain:,} layers, too deep for Keras to follow."
    )


@contextlib.contextmanager
def _safe_mode():
    """Keras' safe mode, whatever the process set (``enable_unsafe_deserialization``)."""
    with keras_compat.safe_mode():
        yield


@contextlib.contextmanager
def _shapes_only():
    """Keras variables made in this scope have a shape and no value (no memory), and are
    forgotten afterwards: Keras keeps a per-thread list of such variables to initialise
    when a stateless scope ends, which must not hold (or later fill) the weights of a
    model that was only inspected."""
    with keras_compat.global_attribute_kept("uninitialized_variables", keep_copy=True):
        with keras.StatelessScope(initialize_variables=False):
            yield


def _model_name(keras_model: keras.Model) -> str:
    text = " ".join(str(keras_model.name).split())
    return text[:40] or "model"


def _default_layer(keras_model: keras.Model) -> str:
    try:
        return graph.head_feature_layer(keras_model)
    except UnknownLayerError:
        raise ModelFileError(
            "The model has no 2-D feature map (a layer output of height and width above 1) "
            "for Grad-CAM to explain."
        ) from None


def _summary(keras_model: keras.Model, parameters: int, layers: int) -> KerasFileInfo:
    check_image_classifier(keras_model, ModelFileError)
    final = graph.final_activation(keras_model)
    return KerasFileInfo(
        name=_model_name(keras_model),
        parameters=parameters,
        layers=layers,
        input_shape=_shape(keras_model.inputs[0])[1:],
        classes=int(_shape(keras_model.outputs[0])[1]),
        default_layer=_default_layer(keras_model),
        final_activation=final[1] if final else None,
    )


def _check_parameters(parameters: int, max_parameters: int) -> None:
    if parameters > max_parameters:
        raise ModelFileError(
            f"The model has {parameters:,} parameters; the limit is {max_parameters:,}."
        )


def inspect_keras_file(
    path: str | os.PathLike,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_parameters: int = MAX_PARAMETERS,
) -> KerasFileInfo:
    """Steps 1 to 4 of the module docstring: what the model in a ``.keras`` file is,
    without loading its weights or building any of them. Raises :class:`ModelFileError`."""
    config = _read_config(Path(path), max_bytes)
    layers = check_config(config)
    if _is_hub(config.get("module"), config.get("registered_name"), str(config.get("class_name"))):
        # A keras-hub task compiles itself when built (an optimizer's variables, which a
        # shapes-only build cannot make); its constructor's compile=False skips that.
        config = {**config, "config": {**config.get("config", {}), "compile": False}}
    chain = chain_length(config)  # before Keras reads (and changes) the config
    try:
        with _safe_mode(), _shapes_only():
            shell = keras.saving.deserialize_keras_object(config, safe_mode=True)
            if not isinstance(shell, keras.Model) or graph._graph_of(shell) is None:
                raise ModelFileError(
                    "The file holds no functional or Sequential Keras model."
                )
            parameters = sum(math.prod(v.shape) for v in shell.weights)
            _check_parameters(parameters, max_parameters)
            return _summary(shell, parameters, layers)
    except ModelFileError:
        raise
    except MemoryError:
        raise ComputeError("Reading the model file ran out of memory.") from None
    except RecursionError:
        raise _too_deep(chain) from None
    except Exception as error:  # noqa: BLE001 - Keras' own message may hold paths and code
        raise ModelFileError(
            "The model's config.json could not be read (it is damaged, or was written by "
            f"an incompatible Keras version; this is Keras {keras.__version__})."
        ) from error


def _with_input_size(config: dict, sides: tuple[int, int]) -> dict:
    """A copy of a model's config whose input layers have these sides where flexible."""
    config = json.loads(json.dumps(config))
    inner = config.get("config")
    for layer in (inner.get("layers") or []) if isinstance(inner, dict) else []:
        if isinstance(layer, dict) and layer.get("class_name") == "InputLayer":
            settings = layer.get("config") or {}
            key = "batch_shape" if "batch_shape" in settings else "batch_input_shape"
            shape = settings.get(key)
            if isinstance(shape, list) and len(shape) == 4:
                settings[key] = [shape[0], shape[1] or sides[0], shape[2] or sides[1], shape[3]]
    return config


def keras_file_cost(
    path: str | os.PathLike,
    input_size: int | Sequence[int] | None = None,
    *,
    max_bytes: int = MAX_FILE_BYTES,
) -> ModelCost:
    """The estimated cost of one image through the model of a ``.keras`` file
    (:func:`cnnvis.models.cost.estimate_cost`), from its config and shapes only, before
    any weight exists; a flexible input is taken at ``input_size``, or at the largest
    side cnnvis runs (:data:`MAX_INPUT_SIDE`) when none is given. Call it on a file that
    :func:`inspect_keras_file` accepted."""
    config = _read_config(Path(path), max_bytes)
    check_config(config)
    sides = check_input_size(input_size, (None, None, None, 3)) if input_size is not None else None
    config = _with_input_size(config, sides or (MAX_INPUT_SIDE, MAX_INPUT_SIDE))
    try:
        with _safe_mode(), _shapes_only():
            shell = keras.saving.deserialize_keras_object(config, safe_mode=True)
            return estimate_cost(shell)
    except RecursionError:
        raise _too_deep(chain_length(config)) from None
    except Exception as error:  # noqa: BLE001 - accepted by inspect_keras_file already
        raise ModelFileError("The model's cost could not be estimated from its config.") from error


def load_keras_file(
    path: str | os.PathLike,
    *,
    preprocessing: Preprocessing | str,
    class_names: Sequence[str] | str | os.PathLike | None = None,
    input_size: int | Sequence[int] | None = None,
    name: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_parameters: int = MAX_PARAMETERS,
) -> VisModel:
    """A :class:`VisModel` from a ``.keras`` file, loaded safely (see the module docstring).

    ``preprocessing``: a family name (:data:`PREPROCESSING_CHOICES`) or a
    :class:`Preprocessing`. ``class_names``: a list of names, or the path of a text file
    with one name per line (:func:`read_class_names`); one per class. ``input_size``: for
    a model with a flexible input, the size to run it at (see :func:`cnnvis.wrap_model`).
    Raises :class:`ModelFileError` (or :class:`ParameterError` for the arguments) with
    one sentence; nothing from the file runs as code.
    """
    if callable(preprocessing) and not isinstance(preprocessing, Preprocessing):
        raise ParameterError("preprocessing must be a family name or a cnnvis.Preprocessing.")
    preprocessing = resolve_preprocessing(preprocessing)
    if isinstance(class_names, (str, os.PathLike)):
        class_names = read_class_names(class_names)
    elif class_names is not None:
        class_names = check_class_names(class_names)
    path = Path(path).resolve()
    info = inspect_keras_file(path, max_bytes=max_bytes, max_parameters=max_parameters)
    if class_names is not None and len(class_names) != info.classes:
        raise ParameterError(
            f"The model has {info.classes} classes but {len(class_names)} class names were "
            "given; give one name per class, in the order of the model's outputs."
        )
    check_input_size(input_size, (None, *info.input_shape))
    try:
        with _safe_mode():
            keras_model = keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except MemoryError:
        raise ComputeError("Loading the model file ran out of memory.") from None
    except RecursionError:
        raise ModelFileError(
            "Keras ran out of recursion depth while building the model (its graph of layers "
            "is too deep for it to follow)."
        ) from None
    except Exception as error:  # noqa: BLE001 - Keras' own message may hold paths and code
        raise ModelFileError(
            "The model file could not be loaded (its weights are damaged or do not match "
            "its layers)."
        ) from error
    if not isinstance(keras_model, keras.Model) or graph._graph_of(keras_model) is None:
        raise ModelFileError("The file holds no functional or Sequential Keras model.")
    _check_parameters(keras_model.count_params(), max_parameters)
    _summary(keras_model, keras_model.count_params(), info.layers)
    return VisModel(
        keras_model,
        preprocessing,
        name=name or info.name,
        weights="from a .keras file",
        class_names=class_names,
        input_size=input_size,
    )


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PARAMETERS",
    "MAX_CONFIG_BYTES",
    "MAX_ZIP_MEMBERS",
    "MAX_UNPACKED_RATIO",
    "MAX_LAYERS",
    "MAX_CLASSES",
    "MAX_CLASS_NAME_LENGTH",
    "MAX_CLASS_NAMES_BYTES",
    "MIN_INPUT_SIDE",
    "MAX_INPUT_SIDE",
    "UNSAFE_LAYERS",
    "PREPROCESSING_CHOICES",
    "KerasFileInfo",
    "check_image_classifier",
    "check_input_size",
    "check_class_names",
    "read_class_names",
    "check_config",
    "inspect_keras_file",
    "load_keras_file",
    "keras_file_cost",
]
