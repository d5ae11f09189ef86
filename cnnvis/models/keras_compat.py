"""Every use of a private Keras (or TensorFlow) API, in one place.

cnnvis needs a few things the public ``keras`` namespace does not offer; each is reached
here and nowhere else, so that a Keras upgrade is checked in one module (and by
``tests/test_keras_compat.py``, which pins the version these were written against and
exercises each one):

- :func:`keras_home`: where Keras keeps its downloads (``keras.src.backend.config``).
- :func:`replaced_get_file` and :func:`wrap_get_file`: Keras' applications fetch their
  weights through ``keras.src.utils.file_utils.get_file``; cnnvis replaces it for the
  length of a build to read a weights file's name without downloading, and wraps it
  once per process (calls passed through unchanged) to learn which cached file a build
  used. The wrap is process-wide: it is the only way to see the file, and it changes
  no result.
- :func:`safe_mode`: Keras' safe deserialisation scope, whatever the process set.
- :func:`global_attribute_kept`: Keras' per-thread global state (auto-naming counters,
  variables awaiting initialisation), set for a block and restored after it.
- :func:`backend_silu_replaced`: the TensorFlow backend's SiLU, replaced while cnnvis
  traces (see :func:`cnnvis.models.graph._leak_free_silu`).
- :data:`KERAS_PACKAGE`, :func:`is_keras_op` and :func:`public_module`: where Keras'
  own classes live (``keras.src.<package>``), to recognise its layers and operations.
- :data:`tape_record`: TensorFlow's tape recording (``tensorflow.python.eager.record``),
  for the guided-gradient gate without ``tf.custom_gradient``'s global registry.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

import keras
from tensorflow.python.eager import record as tape_record  # noqa: F401 - see the docstring

KERAS_VERSION = "3.15"  # the Keras these private APIs were checked against (major.minor)
KERAS_PACKAGE = "keras.src."  # the package that holds Keras' own classes
_OPS_NN = "keras.src.ops.nn"  # the module of keras.ops' neural-network operations


# Keras' own classes that a saved model's config names by their private module, for the
# allow-list of cnnvis.models.own: the functional model and two layers of keras.applications.
SAVED_MODEL_CLASSES: tuple[tuple[str, str], ...] = (
    ("keras.src.models.functional", "Functional"),
    ("keras.src.applications.convnext", "LayerScale"),
    ("keras.src.applications.inception_resnet_v2", "CustomScaleLayer"),
)
# The modules of keras.ops' array operations (recorded in a functional model's config), and
# of its core operations (some of which call functions).
ARRAY_OPERATION_MODULES: tuple[str, ...] = (
    "keras.src.ops.numpy",
    "keras.src.ops.nn",
    "keras.src.ops.math",
    "keras.src.ops.image",
)
CORE_OPERATIONS_MODULE = "keras.src.ops.core"


def operation_class() -> type:
    """The base class of Keras' operations (keras.ops records instances of it)."""
    from keras.src.ops.operation import Operation

    return Operation


def keras_home() -> str:
    """Keras' own answer to where it keeps downloads (reads ``KERAS_HOME``)."""
    from keras.src.backend.config import keras_home as home

    return home()


def _file_utils():
    from keras.src.utils import file_utils

    return file_utils


@contextlib.contextmanager
def replaced_get_file(function: Callable[..., str]) -> Iterator[None]:
    """Keras' ``get_file`` replaced by ``function`` for the block, then restored."""
    file_utils = _file_utils()
    original = file_utils.get_file
    file_utils.get_file = function
    try:
        yield
    finally:
        file_utils.get_file = original


_WRAP_LOCK = threading.Lock()


def wrap_get_file(after: Callable[[str], None], tag: str) -> None:
    """Wrap Keras' ``get_file`` (once per ``tag``, for the life of the process) so that
    ``after(path)`` sees every path it returns; calls are passed through unchanged."""
    file_utils = _file_utils()
    with _WRAP_LOCK:
        get_file = file_utils.get_file
        if tag in getattr(get_file, "_cnnvis_wraps", ()):
            return

        def wrapped(*args, **kwargs):
            path = get_file(*args, **kwargs)
            after(path)
            return path

        wrapped._cnnvis_wraps = (*getattr(get_file, "_cnnvis_wraps", ()), tag)  # type: ignore[attr-defined]
        wrapped.__wrapped__ = get_file  # type: ignore[attr-defined]
        file_utils.get_file = wrapped


@contextlib.contextmanager
def safe_mode() -> Iterator[None]:
    """Keras' safe mode for deserialisation, whatever the process set
    (``keras.config.enable_unsafe_deserialization``)."""
    from keras.src.saving.serialization_lib import SafeModeScope

    with SafeModeScope(True):
        yield


def global_attribute(name: str) -> Any:
    """One of Keras' per-thread global attributes."""
    from keras.src.backend.common import global_state

    return global_state.get_global_attribute(name)


@contextlib.contextmanager
def global_attribute_kept(name: str, value: Any = None, *, keep_copy: bool = False) -> Iterator[None]:
    """Keras' per-thread global attribute ``name`` set to ``value`` for the block and
    restored afterwards (``keep_copy``: leave it as it is, restore a copy of its list)."""
    from keras.src.backend.common import global_state

    saved = global_state.get_global_attribute(name)
    if keep_copy:
        saved = list(saved or [])
    else:
        global_state.set_global_attribute(name, value)
    try:
        yield
    finally:
        global_state.set_global_attribute(name, saved)


def backend_silu_replaced(function: Callable | None) -> Callable:
    """Put ``function`` in place of the TensorFlow backend's ``silu`` (the one
    ``keras.activations.silu`` and ``keras.ops.silu`` call); returns the one it replaced.
    The caller restores it by passing that back."""
    from keras.src.backend.tensorflow import nn as backend_nn

    previous = backend_nn.silu
    backend_nn.silu = function
    return previous


def is_keras_op(operation, *names: str) -> bool:
    """Whether ``operation`` is one of ``keras.ops``' neural-network operations called
    one of ``names`` (e.g. ``"Softmax"``, ``"Sigmoid"``)."""
    return type(operation).__module__ == _OPS_NN and type(operation).__name__ in names


def public_module(module: str) -> str:
    """The public name of one of Keras' modules (``keras.src.applications.x`` ->
    ``keras.applications.x``)."""
    return module.replace(KERAS_PACKAGE, "keras.", 1) if module.startswith(KERAS_PACKAGE) else module


def keras_version() -> str:
    return keras.__version__


__all__ = [
    "ARRAY_OPERATION_MODULES",
    "CORE_OPERATIONS_MODULE",
    "KERAS_PACKAGE",
    "KERAS_VERSION",
    "SAVED_MODEL_CLASSES",
    "backend_silu_replaced",
    "global_attribute",
    "global_attribute_kept",
    "is_keras_op",
    "keras_home",
    "operation_class",
    "public_module",
    "replaced_get_file",
    "safe_mode",
    "tape_record",
    "wrap_get_file",
]
