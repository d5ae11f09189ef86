"""The model registry, weights resolution, and the bounded cache of loaded models.

One :class:`ModelSpec` per ImageNet classifier in ``keras.applications``. Models are built
with logits (``classifier_activation=None``); probabilities come from :mod:`.heads`.
A user's own model may end in a softmax or sigmoid: :class:`Head` finds it, gradients are
taken on its pre-activation, and probabilities follow the model's own rule.
A loaded model is wrapped in a :class:`VisModel`, which also caches the compiled
functions of every technique, so a second request costs only the computation.
"""

from __future__ import annotations

import functools
import gc
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np

from . import availability
from . import graph
from . import hub
from .weights import WEIGHTS_DIR_ENV, build_registry_model, resolve_weights_dir  # noqa: F401
from .classifiers import check_class_names, check_image_classifier, check_input_size
from . import heads
from ..errors import (
    CnnvisError,
    ComputeError,
    ParameterError,
    UnknownClassError,
    UnknownLayerError,
    UnknownModelError,
    is_out_of_memory,
    quoted,
)
from .preprocessing import FAMILIES, Preprocessing, resolve as resolve_preprocessing
from .specs import REGISTRY, ModelSpec, get_spec, list_models  # noqa: F401 - re-exported

OFFLINE_ENV = availability.OFFLINE_ENV
CACHE_MODELS_ENV = "CNNVIS_CACHE_MODELS"
CACHE_MB_ENV = "CNNVIS_CACHE_MB"


@dataclass(frozen=True)
class Head:
    """How a model's output becomes class probabilities, and what cnnvis differentiates.

    Grad-CAM and every gradient method are defined on the class score before the final
    softmax (Selvaraju et al. 2017, Sec. 3): a final softmax or sigmoid (an ``Activation``
    or ``Softmax`` layer, a ``keras.ops`` softmax or sigmoid, or a ``Dense``/``Conv``
    layer with that activation) is taken off for every computation, through a clone that
    shares the layer's weights (see :func:`cnnvis.models.graph.without_activation`); the user's
    model is never changed. The "logits" of a result are then the pre-activation, and
    probabilities follow the model's own rule: a softmax across classes, or one sigmoid
    per class for a sigmoid head (binary or multi-label).
    """

    rule: str  # "softmax" or "sigmoid": how probabilities come from the logits
    found: str | None = None  # the final activation taken off ("softmax", "sigmoid"), if any
    layer: str | None = None  # the layer (or operation) whose activation is taken off
    note: str = ""  # what was done, in words ("" for a model that outputs logits)


def _head_of(keras_model: keras.Model) -> tuple[Head, dict]:
    """The model's :class:`Head` and the replacement that :func:`graph.run_graph` needs."""
    final = graph.final_activation(keras_model)
    if final is not None:
        op, kind = final
        note = (
            "final softmax found: gradients on the logits"
            if kind == graph.SOFTMAX
            else "sigmoid head: one probability per class, gradients on the logits"
        )
        return Head(kind, kind, op.name, note), {id(op): graph.without_activation(op)}
    if int(keras_model.outputs[0].shape[-1] or 0) == 1:
        # A softmax over one value is always 1: a single output is a binary logit.
        note = "one output without activation: read as a logit, probability by sigmoid"
        return Head(graph.SIGMOID, note=note), {}
    return Head(graph.SOFTMAX), {}


class VisModel:
    """A Keras classifier ready for visualisation, plus its cache of compiled functions.

    Wraps a registry model (see :func:`load_model`) or a user's own functional or
    Sequential Keras model (see :func:`wrap_model`). The Keras model is never modified.
    """

    def __init__(
        self,
        keras_model: keras.Model,
        preprocessing: Preprocessing,
        *,
        name: str | None = None,
        spec: ModelSpec | None = None,
        weights: str = "custom",
        class_names: Sequence[str] | None = None,
        input_size: int | Sequence[int] | None = None,
    ) -> None:
        if graph._graph_of(keras_model) is None:
            raise ParameterError(
                "cnnvis needs a functional or Sequential Keras model (a subclassed model "
                "has no layer graph to look inside)."
            )
        self.keras_model = keras_model
        self.preprocessing = preprocessing
        self.name = name or keras_model.name
        self.spec = spec
        self.weights = weights
        self.head, replacements = _head_of(keras_model)
        # graph.run_graph on this model with the final activation taken off (see Head):
        # its outputs are the logits. A partial, not a method, so that the compiled
        # functions that hold it do not hold this VisModel (no reference cycle).
        self.run_graph: Callable[..., graph.GraphRun] = functools.partial(
            graph.run_graph, keras_model, replace=replacements
        )
        self._input_size = None
        if input_size is not None or class_names is not None:
            self._input_size = check_input_size(input_size, tuple(keras_model.inputs[0].shape))
            if class_names is not None:
                class_names = check_class_names(class_names, self.num_classes)
        self.class_names = tuple(class_names) if class_names is not None else None
        self.hub_spec = None  # a keras-hub preset's catalogue entry (see models/hub.py)
        self._functions: dict = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        head = f", head={self.head.found!r}" if self.head.found else ""
        return (
            f"VisModel({self.name!r}, weights={self.weights!r}, "
            f"preprocessing={self.preprocessing.name!r}{head})"
        )

    # ----- the head: logits and probabilities -------------------------------------------
    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Class probabilities (float64) from logits (``(..., classes)``), by the model's
        own rule: a softmax across classes, or one sigmoid per class (see :class:`Head`)."""
        return heads.probabilities(logits, self.head.rule)

    def probability(self, logits: np.ndarray, index: int) -> float:
        """The probability of class ``index`` given one image's logits (the model's rule)."""
        return float(self.probabilities(logits)[..., int(index)])

    def head_note(self, note: str = "") -> str:
        """``note`` followed by what was done to the head, for a result's caption."""
        return "; ".join(part for part in (note, self.head.note) if part)

    # ----- shapes and classes -------------------------------------------------------
    @property
    def input_size(self) -> tuple[int | None, int | None]:
        """(height, width) the model runs at: the model's own input size, or the size
        given to :func:`wrap_model` for a model with a flexible input (``None`` where
        neither fixes it)."""
        if self._input_size is not None:
            return self._input_size
        shape = self.keras_model.inputs[0].shape
        return shape[1], shape[2]

    @cached_property
    def num_classes(self) -> int:
        return int(self.keras_model.outputs[0].shape[-1])

    @property
    def uses_imagenet_classes(self) -> bool:
        return self.class_names is None and self.num_classes == 1000

    def class_label(self, index: int) -> str:
        if self.class_names is not None:
            return self.class_names[index]
        if self.num_classes == 1000:
            from .labels import class_label

            return class_label(index)
        return f"class {index}"

    def resolve_class(self, target: int | str) -> int:
        """A class index from an index, an ImageNet id, a name or a label."""
        if self.uses_imagenet_classes or self.class_names is not None:
            from .labels import resolve_class

            return resolve_class(target, self.num_classes, self.class_names)
        try:
            index = int(target)
        except (TypeError, ValueError):
            index = -1
        if isinstance(target, bool) or not 0 <= index < self.num_classes:
            raise UnknownClassError(
                f"The class must be an index from 0 to {self.num_classes - 1} for this model."
            )
        return index

    # ----- layers -------------------------------------------------------------------
    @cached_property
    def layer_infos(self) -> tuple[graph.LayerInfo, ...]:
        return tuple(graph.describe_layers(self.keras_model))

    @cached_property
    def _layer_index(self) -> dict[str, keras.layers.Layer]:
        return {layer.name: layer for layer in graph.iter_layers(self.keras_model)}

    def layer(self, name: str) -> keras.layers.Layer:
        try:
            return self._layer_index[name]
        except KeyError:
            raise UnknownLayerError(f"{self.name} has no layer called {quoted(name)}.") from None

    def info(self, name: str) -> graph.LayerInfo:
        self.layer(name)
        return next(info for info in self.layer_infos if info.name == name)

    def feature_layer(self, name: str) -> keras.layers.Layer:
        """A layer whose output is a 4-D feature map (for CAMs, feature maps, Deep Dream)."""
        info = self.info(name)
        if len(info.shape) != 3:
            raise UnknownLayerError(
                f"The layer {quoted(name)} of {self.name} does not output a 2-D feature map "
                f"(its output shape is {info.shape})."
            )
        return self.layer(name)

    @cached_property
    def default_layer(self) -> str:
        """The default Grad-CAM layer: the feature map the classifier head consumes."""
        return graph.head_feature_layer(self.keras_model)

    @cached_property
    def visual_layers(self) -> tuple[str, ...]:
        """Layers worth visualising: convolutions, their activations and block outputs
        with a spatial size > 1 (no BatchNorm or LayerNorm), plus the default layer."""
        default = self.default_layer
        return tuple(
            info.name
            for info in self.layer_infos
            if info.name == default or (info.kind != "other" and info.is_feature_map)
        )

    @cached_property
    def legible_layer(self) -> str:
        """The layer whose feature maps read best as pictures: the deepest activation (an
        activation layer, or a convolution with its own) or block output that keeps a
        quarter of the input's resolution (56 x 56 at 224 px:
        MobileNetV2 ``block_3_expand_relu``, ResNet50 ``conv2_block3_out``), where edges
        and textures are clear; deeper maps are too coarse to read (7 x 7 at the head).
        For a model of unknown input size, the visual layer at 30 % of the depth."""
        height, width = self.input_size
        names = self.visual_layers
        if height and width:
            smallest = 0.85 * min(height, width) / 4  # valid padding: 73 px at 299
            readable = [
                info.name
                for info in self.layer_infos
                if info.name in names
                and (info.kind in ("activation", "block") or info.activation is not None)
                and min(info.shape[:2]) >= smallest
                and info.name != self.first_visual_layer
            ]
            if readable:
                return readable[-1]
        return names[int(0.3 * (len(names) - 1))]

    @cached_property
    def first_visual_layer(self) -> str:
        return self.visual_layers[0]

    @cached_property
    def filter_layers(self) -> tuple[str, ...]:
        """Convolutions whose kernels have a spatial extent (kernels you can look at)."""
        result = []
        for info in self.layer_infos:
            if info.kind == "conv" and info.has_kernel:
                kernel = _spatial_kernel(self.layer(info.name))
                if kernel is not None and kernel.shape[0] * kernel.shape[1] > 1:
                    result.append(info.name)
        return tuple(result)

    @cached_property
    def first_conv(self) -> str:
        for name in self.filter_layers:
            return name
        raise UnknownLayerError(f"{self.name} has no convolution with a spatial kernel.")

    @cached_property
    def dream_layers(self) -> tuple[str, ...]:
        """Default Deep Dream layers: the spec's, else four block outputs in the middle."""
        if self.spec is not None and self.spec.dream_layers:
            return self.spec.dream_layers
        return dream_defaults(self)

    # ----- compiled functions -------------------------------------------------------
    def function(self, key: tuple, build: Callable[[], Callable]) -> Callable:
        """The compiled function for ``key``, built once per model (thread-safe)."""
        with self._lock:
            fn = self._functions.get(key)
            if fn is None:
                fn = self._functions[key] = build()
                if getattr(fn, "model", None) == "":  # a compiled.Compiled: name the model
                    fn.model = self.name  # in its messages
            return fn

    @property
    def compiled_count(self) -> int:
        return len(self._functions)

    @cached_property
    def nbytes(self) -> int:
        """Memory held by the weights (read from shapes, without touching values)."""
        return int(
            sum(np.prod(v.shape) * np.dtype(v.dtype).itemsize for v in self.keras_model.weights)
        )


def _spatial_kernel(layer: keras.layers.Layer):
    if isinstance(layer, keras.layers.SeparableConv2D):
        return layer.depthwise_kernel
    kernel = getattr(layer, "kernel", None)
    return kernel if kernel is not None and len(kernel.shape) == 4 else None


def dream_defaults(model: VisModel, count: int = 4) -> tuple[str, ...]:
    """Four block outputs between 40 % and 75 % of the network's depth.

    Mid-level features give Deep Dream its characteristic textures and object parts;
    early layers give only strokes, the last ones are too class-specific.
    """
    candidates = [
        info.name
        for info in model.layer_infos
        if info.is_feature_map
        and (info.kind in ("block", "activation", "pool") or info.activation is not None)
    ] or list(model.visual_layers)
    if len(candidates) <= count:
        return tuple(candidates)
    positions = np.linspace(0.4, 0.75, count) * (len(candidates) - 1)
    return tuple(dict.fromkeys(candidates[int(round(p))] for p in positions))


# ----- the bounded cache ---------------------------------------------------------------
class ModelCache:
    """A least-recently-used cache of :class:`VisModel` bounded by count and by bytes.

    The most recently used model always stays, even if it alone exceeds the byte budget.
    Building is serialised per key, so two requests for the same model build it once.
    """

    def __init__(self, max_models: int, max_bytes: int) -> None:
        if max_models < 1:
            raise ParameterError("The model cache must hold at least one model.")
        self.max_models = max_models
        self.max_bytes = max_bytes
        self._models: OrderedDict[tuple, VisModel] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, build: Callable[[], VisModel]) -> VisModel:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
            model = build()
            with self._lock:
                self._models[key] = model
                self._models.move_to_end(key)
                evicted = self._evict()
                self._key_locks.pop(key, None)
        if evicted:
            del evicted
            gc.collect()
        return model

    def _evict(self) -> list[VisModel]:
        evicted = []
        while len(self._models) > 1 and (
            len(self._models) > self.max_models or self.nbytes > self.max_bytes
        ):
            _, model = self._models.popitem(last=False)
            evicted.append(model)
        return evicted

    @property
    def nbytes(self) -> int:
        return sum(model.nbytes for model in self._models.values())

    def keys(self) -> list[tuple]:
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
        gc.collect()


def _default_cache() -> ModelCache:
    return ModelCache(
        max_models=int(os.environ.get(CACHE_MODELS_ENV, "4")),
        max_bytes=int(float(os.environ.get(CACHE_MB_ENV, "3072")) * 2**20),
    )


MODEL_CACHE = _default_cache()


def load_model(
    name: str,
    weights: str | os.PathLike | None = "imagenet",
    *,
    weights_dir: str | os.PathLike | None = None,
) -> VisModel:
    """Load (or fetch from the cache) a registry model with logits.

    ``weights``: ``"imagenet"`` looks for ``<name>.weights.h5`` in the weights directory
    (``weights_dir`` or ``$CNNVIS_WEIGHTS_DIR``) first, then uses Keras' download and cache;
    ``None`` gives random weights; a path loads that file. Raises
    :class:`WeightsUnavailableError` (naming the model and the remedy) when the weights
    cannot be had, and :class:`UnknownModelError` for a name outside the registry.
    """
    if hub.is_hub_name(name):
        return _load_hub_model(name, weights)
    spec = get_spec(name)
    directory = resolve_weights_dir(weights_dir)
    if weights is not None and not (isinstance(weights, str) and weights == "imagenet"):
        weights_key: object = str(Path(weights).expanduser().resolve())
    elif weights == "imagenet":
        local = directory / f"{name}.weights.h5" if directory else None
        weights_key = ("imagenet", str(local) if local and local.is_file() else None)
    else:
        weights_key = None

    def build() -> VisModel:
        try:
            keras_model, description = build_registry_model(spec, weights, directory)
        except Exception as error:  # MemoryError included
            if not is_out_of_memory(error):
                raise
            keras_model = None
        if keras_model is None:  # raised here, once the failed build's memory can be freed
            gc.collect()
            raise ComputeError(
                f"Loading {spec.name} ran out of memory; try a smaller model."
            )
        return VisModel(
            keras_model, spec.preprocessing, name=spec.name, spec=spec, weights=description
        )

    return MODEL_CACHE.get((spec.name, weights_key), build)


def _hub_vis_model(classifier, preprocessing, name, class_names, weights: str) -> VisModel:
    """A keras-hub ``ImageClassifier`` as a :class:`VisModel` (its own preprocessing
    unless one is given; a 1000-class head reads as the ImageNet classes, whose standard
    order keras-hub's ImageNet presets keep)."""
    name = name or classifier.name
    return VisModel(
        classifier,
        hub.classifier_preprocessing(classifier, preprocessing, name),
        name=name,
        weights=weights,
        class_names=class_names,
    )


def _load_hub_model(name: str, weights) -> VisModel:
    """A keras-hub preset (``"keras_hub:<preset>"``) with its own weights, preprocessing
    and labels, through the same bounded cache as every model."""
    spec = hub.get_hub_spec(name)
    if weights not in ("imagenet", None):
        raise ParameterError(
            f"{name} loads with its preset's own weights ('imagenet') or random ones (None); "
            "build a keras-hub classifier yourself and pass it to cnnvis.wrap_model for others."
        )
    hub.require()

    def build() -> VisModel:
        try:
            classifier = hub.build_classifier(spec, load_weights=weights is not None)
        except MemoryError:
            classifier = None
        if classifier is None:
            gc.collect()
            raise ComputeError(f"Loading {name} ran out of memory; try a smaller model.")
        described = f"keras-hub preset {spec.preset}" if weights else "random"
        model = _hub_vis_model(classifier, None, name, None, described)
        model.hub_spec = spec
        return model

    return MODEL_CACHE.get((name, "keras_hub", weights), build)


def wrap_model(
    keras_model: keras.Model,
    preprocessing: Preprocessing | str | Callable | None = None,
    *,
    name: str | None = None,
    class_names: Sequence[str] | None = None,
    input_size: int | Sequence[int] | None = None,
) -> VisModel:
    """Use your own functional or Sequential Keras classifier with every technique.

    ``preprocessing`` maps raw RGB pixels (0-255) to the model's input: a family name
    (``"caffe"``, ``"tf"``, ``"torch"``, ``"0-1"``, ``"none"``), a :class:`Preprocessing`,
    or a per-channel affine function such as a ``keras.applications`` ``preprocess_input``.
    The model takes one RGB image (a 4-D input with 3 channels) and gives one score per
    class. It may end in a softmax or sigmoid: gradients are then taken on the logits
    before it, and probabilities are the model's own (see :class:`Head`; the model itself
    is never changed). ``class_names``: one name per output. ``input_size``: the
    (height, width), or one side, to run a model with a flexible input at (by default the
    image's own size, at most 512 pixels a side); a fixed input size cannot be changed.

    A keras-hub ``ImageClassifier`` (a CNN or a vision transformer) is accepted as it is:
    its own preprocessor gives the preprocessing unless one is passed, and transformer
    blocks are opened for every layer-based method (see :mod:`cnnvis.models.blocks`).
    """
    if hub.is_hub_classifier(keras_model):
        return _hub_vis_model(keras_model, preprocessing, name, class_names, "custom")
    if graph._graph_of(keras_model) is not None:
        check_image_classifier(keras_model)
    return VisModel(
        keras_model,
        resolve_preprocessing(preprocessing),
        name=name,
        class_names=class_names,
        input_size=input_size,
    )


def weights_status(
    name: str, weights_dir: str | os.PathLike | None = None
) -> availability.WeightsStatus:
    """Whether ``name``'s ImageNet weights are ready here (weights folder or Keras'
    cache), downloadable (with the size of the file) or unavailable (offline, or a
    download failed a moment ago), without loading or downloading anything."""
    spec = get_spec(name)
    return availability.status(spec.name, resolve_weights_dir(weights_dir))


def as_vis_model(model: "VisModel | str") -> VisModel:
    """Accept a :class:`VisModel` or a registry name (loaded with ImageNet weights)."""
    if isinstance(model, VisModel):
        return model
    if isinstance(model, str):
        return load_model(model)
    if isinstance(model, keras.Model):
        raise ParameterError(
            "Wrap your Keras model first with cnnvis.wrap_model(model, preprocessing) so "
            "cnnvis knows how it preprocesses pixels."
        )
    raise ParameterError("The model must be a registry name or a model from cnnvis.load_model.")


__all__ = [
    "CnnvisError",
    "Head",
    "ModelSpec",
    "REGISTRY",
    "VisModel",
    "ModelCache",
    "MODEL_CACHE",
    "list_models",
    "get_spec",
    "load_model",
    "wrap_model",
    "as_vis_model",
    "resolve_weights_dir",
    "weights_status",
]


def conv_layers(model: "VisModel | str") -> "list[graph.LayerInfo]":
    """The layers worth visualising: convolutions, their activations and block outputs
    with a spatial size > 1, in order (nested sub-models included)."""
    model = as_vis_model(model)
    wanted = set(model.visual_layers)
    return [info for info in model.layer_infos if info.name in wanted]


def default_layer(model: "VisModel | str") -> str:
    """The default Grad-CAM layer: the feature map the classifier head consumes."""
    return as_vis_model(model).default_layer
