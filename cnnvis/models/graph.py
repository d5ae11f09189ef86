"""The model's layer graph: listing layers, and running it layer by layer.

Every technique runs a Keras functional model through :func:`run_graph`, which executes
the model's own layers in order (descending into nested functional or Sequential
sub-models such as ConvNeXt's stem or a transfer-learning backbone) and can

- capture the outputs of any layers, however deeply nested (multi-output "sub-models"
  without building a Keras model per layer, and without "Graph disconnected" errors);
- stop as soon as the captured layers are computed (a headless model of any input size
  for Deep Dream, without the classifier head's fixed-size Flatten/Dense);
- insert a guided-backpropagation gate after every rectifier (Springenberg et al. 2015);
- run another callable in place of an operation: the classifier's final softmax or
  sigmoid is taken off this way, so gradients are taken on the logits
  (:func:`final_activation`, :func:`without_activation`).

The guided gate is an identity whose gradient lets only positive values through. Put
right after an activation ``f``, the backward pass becomes ``f'(z) * max(g, 0)``: exactly
guided backpropagation for ReLU (and ReLU6, whose cap is kept by ``f'``), and our
documented generalisation for swish/SiLU, hard-swish and GELU ("pass only positive
gradients through the activation's own derivative"). The layers called are the cached
model's own layers, so weights are shared and the cached model is never modified.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

import keras
import tensorflow as tf
from . import keras_compat
from .keras_compat import tape_record as _record  # tape recording (see the gate)

from ..errors import ParameterError, UnknownLayerError, quoted
from . import blocks

# Activations gated by guided backpropagation. ReLU-family ones get the exact rule of
# the paper; the others get the generalisation described in the module docstring.
EXACT_GUIDED = frozenset({"relu", "relu6"})
GENERALISED_GUIDED = frozenset({"silu", "hard_silu", "gelu", "elu", "selu", "leaky_relu", "mish"})
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}

_CONV_TYPES = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv2DTranspose,
)
_ACTIVATION_TYPES = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
)
_BLOCK_TYPES = (keras.layers.Add, keras.layers.Concatenate)
_BLOCK_OPERATIONS = frozenset({"Add", "Concatenate"})  # keras.ops operations in the graph
_POOL_TYPES = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_HEAD_TYPES = (
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.Flatten,
)


def activation_name(layer: keras.layers.Layer) -> str | None:
    """The canonical name of the non-linearity a layer applies last, or ``None``."""
    if isinstance(layer, keras.layers.ReLU):
        if float(layer.negative_slope or 0.0) > 0:
            return "leaky_relu"
        return "relu6" if layer.max_value is not None and float(layer.max_value) == 6.0 else "relu"
    if isinstance(layer, keras.layers.LeakyReLU):
        return "leaky_relu"
    if isinstance(layer, keras.layers.ELU):
        return "elu"
    fn = getattr(layer, "activation", None)
    name = getattr(fn, "__name__", None)
    if not name or name == "linear":
        return None
    return _ALIASES.get(name, name)


def guided_rule(layer: keras.layers.Layer) -> str | None:
    """``"exact"`` or ``"generalised"`` if guided backprop gates this layer, else ``None``."""
    name = activation_name(layer)
    if name in EXACT_GUIDED:
        return "exact"
    if name in GENERALISED_GUIDED:
        return "generalised"
    return None


def _positive_part(upstream: tf.Tensor) -> list[tf.Tensor]:
    return [tf.nn.relu(upstream)]


def positive_gradient_gate(x: tf.Tensor) -> tf.Tensor:
    """Identity forward; backward passes only the positive part of the incoming gradient.

    The gate is recorded on the active gradient tapes directly. ``tf.custom_gradient``
    would do the same, but inside a ``tf.function`` it also registers a gradient function
    in TensorFlow's global registry under a new name at every trace, and that function
    keeps the traced graph, and through it the model's variables, alive for the life of
    the process: every model that ever ran guided backpropagation would stay in memory
    after the model cache evicted it. The tapes that use this gate live inside the
    compiled functions (see ``techniques/compiled.py``), so nothing global is needed.
    """
    with _record.stop_recording():
        y = tf.identity(x)
    _record.record_operation("PositiveGradientGate", [y], [x], _positive_part)
    return y


def _silu(x):
    """SiLU (swish), ``x * sigmoid(x)``, written out (see :func:`_leak_free_silu`)."""
    x = tf.convert_to_tensor(x)
    return x * tf.sigmoid(x)


_SILU_LOCK = threading.Lock()
_silu_users = 0
_keras_silu = None


@contextlib.contextmanager
def _leak_free_silu():
    """While cnnvis traces a model, Keras computes SiLU/swish as ``x * sigmoid(x)``.

    ``tf.nn.silu`` is a ``tf.custom_gradient`` function (it recomputes the sigmoid in the
    backward pass to save memory); inside a ``tf.function`` every call registers a
    gradient function in TensorFlow's global registry, which keeps the traced graph and
    the model's variables alive for the life of the process: every EfficientNet (and any
    swish model) the cache evicted would stay in memory, about 30 MB per load of
    EfficientNetB0. The written-out form has the same values and gradients and registers
    nothing. Keras is restored when the last trace in progress ends, so code outside
    cnnvis keeps Keras' own implementation.
    """
    global _silu_users, _keras_silu
    with _SILU_LOCK:
        if _silu_users == 0:
            _keras_silu = keras_compat.backend_silu_replaced(_silu)
        _silu_users += 1
    try:
        yield
    finally:
        with _SILU_LOCK:
            _silu_users -= 1
            if _silu_users == 0:
                keras_compat.backend_silu_replaced(_keras_silu)


def _graph_of(layer: keras.layers.Layer):
    """The functional graph behind a Functional or Sequential model, else ``None``."""
    if isinstance(layer, keras.Sequential):
        return getattr(layer, "_functional", None)
    if isinstance(layer, keras.Model) and hasattr(layer, "_run_through_graph") and hasattr(
        layer, "_nodes_by_depth"
    ):
        return layer
    return None


def _iter_operations(model: keras.Model) -> Iterator[keras.layers.Layer]:
    graph = _graph_of(model)
    for layer in graph.operations if graph is not None else model.layers:
        if _graph_of(layer) is not None:
            yield from _iter_operations(layer)
        if not isinstance(layer, keras.layers.InputLayer):
            yield layer


def transformer_layout(model: keras.Model) -> blocks.Layout | None:
    """The opened transformer encoders of ``model`` (see :mod:`cnnvis.models.blocks`), or
    ``None`` for a model without one (every CNN)."""
    return blocks.layout(model, list(_iter_operations(model)))


def iter_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """All layers in topological order, nested graph models expanded (and then listed).

    Keras 3 graphs also hold bare operations (``x + y`` becomes an ``Add`` operation, as in
    ConvNeXt's residual connections); they are listed too, since they carry block outputs.
    A transformer encoder's opened layers (its blocks, see :mod:`cnnvis.models.blocks`)
    are listed just before the encoder.
    """
    operations = list(_iter_operations(model))
    layout = blocks.layout(model, operations)
    for layer in operations:
        if layout is not None:
            yield from layout.opened.get(id(layer), ())
        yield layer


def _output_shape(layer: keras.layers.Layer) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError, RuntimeError):
        return None


def _input_producer(layer: keras.layers.Layer) -> keras.layers.Layer | None:
    nodes = getattr(layer, "_inbound_nodes", None)
    if not nodes or not nodes[0].input_tensors:
        return None
    history = getattr(nodes[0].input_tensors[0], "_keras_history", None)
    return history.operation if history else None


def input_source(model: keras.Model, layer: keras.layers.Layer) -> keras.layers.Layer | None:
    """The operation whose output feeds ``layer`` (looking through the inputs of nested
    models); ``None`` when ``layer`` reads the model's own input."""
    nested_by_input = {}
    for op in iter_layers(model):
        graph = _graph_of(op)
        if graph is not None:
            for tensor in graph.inputs:
                nested_by_input[id(tensor._keras_history.operation)] = op
    producer = _input_producer(layer)
    while isinstance(producer, keras.layers.InputLayer) and id(producer) in nested_by_input:
        producer = _input_producer(nested_by_input[id(producer)])
    if producer is None or isinstance(producer, keras.layers.InputLayer):
        return None
    return producer


def _spatial_ok(shape: tuple | None) -> bool:
    """A 4-D map whose spatial size is > 1 (unknown sizes count as large)."""
    return (
        shape is not None
        and len(shape) == 4
        and all(d is None or d > 1 for d in shape[1:3])
    )


@dataclass(frozen=True)
class LayerInfo:
    """What the UI and the API need to know about one layer."""

    name: str
    type: str
    kind: str  # "conv", "activation", "block", "pool" or "other"
    shape: tuple  # output shape without the batch axis, e.g. (7, 7, 1280)
    activation: str | None = None
    has_kernel: bool = False

    @property
    def is_feature_map(self) -> bool:
        return _spatial_ok((None, *self.shape))

    @property
    def channels(self) -> int | None:
        return self.shape[-1] if self.shape else None


def _kind(layer: keras.layers.Layer, shape: tuple | None) -> str:
    if isinstance(layer, _CONV_TYPES):
        return "conv"
    if isinstance(layer, keras.layers.Dense) and shape is not None and len(shape) == 4:
        return "conv"  # a 1x1 convolution written as Dense (ConvNeXt's pointwise layers)
    if isinstance(layer, _ACTIVATION_TYPES) and activation_name(layer) is not None:
        return "activation"
    if (
        isinstance(layer, _BLOCK_TYPES)
        or type(layer).__name__ in _BLOCK_OPERATIONS
        or _graph_of(layer) is not None
    ):
        return "block"
    if isinstance(layer, _POOL_TYPES):
        return "pool"
    return "other"


def describe_layers(model: keras.Model) -> list[LayerInfo]:
    """Every layer (nested ones included) with its kind and output shape."""
    infos = []
    layout = transformer_layout(model)
    for layer in iter_layers(model):
        if isinstance(layer, blocks.OpenedLayer):
            kernel = layer.kernel
            infos.append(
                LayerInfo(
                    name=layer.name,
                    type=layer.type,
                    kind="block" if layer.grid is not None else "conv",
                    shape=layer.grid.shape if layer.grid is not None else (),
                    has_kernel=kernel is not None and len(kernel.shape) == 4,
                )
            )
            continue
        grid = layout.grids.get(id(layer)) if layout is not None else None
        if grid is not None:  # a token sequence, seen as its patch grid
            infos.append(LayerInfo(layer.name, type(layer).__name__, "block", grid.shape))
            continue
        shape = _output_shape(layer)
        kernel = getattr(layer, "kernel", None) if isinstance(layer, _CONV_TYPES) else None
        if isinstance(layer, keras.layers.SeparableConv2D):
            kernel = layer.depthwise_kernel
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kernel = layer.kernel
        infos.append(
            LayerInfo(
                name=layer.name,
                type=type(layer).__name__,
                kind=_kind(layer, shape),
                shape=tuple(shape[1:]) if shape else (),
                activation=activation_name(layer),
                has_kernel=kernel is not None and len(kernel.shape) == 4,
            )
        )
    return infos


def head_feature_layer(model: keras.Model) -> str:
    """The feature map the classifier head consumes: the default Grad-CAM layer.

    It is the input of the last global pooling or Flatten layer whose input is a 4-D map
    with spatial size > 1 (VGG ``block5_pool``, ResNet ``conv5_block3_out``, InceptionV3
    ``mixed10``, MobileNet ``conv_pw_13_relu``...). "The last 4-D layer" would pick 1x1
    maps on MobileNet/MobileNetV3 and "the last Conv2D" a single branch of InceptionV3.
    Falls back to the last 4-D layer with spatial size > 1.
    """
    layout = transformer_layout(model)
    if layout is not None:
        return layout.default
    layers = list(iter_layers(model))
    for layer in reversed(layers):
        if isinstance(layer, _HEAD_TYPES):
            producer = _input_producer(layer)
            if (
                producer is not None
                and not isinstance(producer, keras.layers.InputLayer)  # the image itself
                and _spatial_ok(_output_shape(producer))
            ):
                return producer.name
    for layer in reversed(layers):
        if _spatial_ok(_output_shape(layer)):
            return layer.name
    raise UnknownLayerError(f"The model '{model.name}' has no 4-D feature map to explain.")


# ----- the classifier's final activation ---------------------------------------------
from .heads import SIGMOID, SOFTMAX  # noqa: E402 - the two probability rules
_FINAL_ACTIVATIONS = {"softmax": SOFTMAX, "log_softmax": SOFTMAX, "sigmoid": SIGMOID}


def _last_axis(axis, rank: int | None) -> bool:
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return len(axes) == 1 and (axes[0] == -1 or (rank is not None and axes[0] == rank - 1))


def _final_kind(op) -> str | None:
    """``"softmax"`` or ``"sigmoid"`` when ``op`` ends in that activation over the class axis."""
    if isinstance(op, keras.layers.Softmax) or keras_compat.is_keras_op(op, "Softmax", "LogSoftmax"):
        shape = _output_shape(op)
        return SOFTMAX if _last_axis(op.axis, len(shape) if shape else None) else None
    if keras_compat.is_keras_op(op, "Sigmoid"):
        return SIGMOID
    if isinstance(op, keras.layers.Layer):
        return _FINAL_ACTIVATIONS.get(activation_name(op) or "")
    return None


def final_activation(model: keras.Model) -> tuple[keras.layers.Layer, str] | None:
    """The operation that computes the model's single output, and ``"softmax"`` or
    ``"sigmoid"`` when it ends in that activation (an ``Activation`` or ``Softmax`` layer,
    a ``keras.ops`` softmax or sigmoid, or a layer such as ``Dense`` or ``Conv2D`` with
    ``activation="softmax"``); ``None`` when the output has no final activation (logits).
    A nested model that produces the output is looked into. ``log_softmax`` counts as a
    softmax: its input is the logits too."""
    graph = _graph_of(model)
    while graph is not None:
        if len(graph.outputs) != 1:
            return None
        history = getattr(graph.outputs[0], "_keras_history", None)
        op = history.operation if history else None
        if op is None:
            return None
        graph = _graph_of(op)
    kind = _final_kind(op)
    return (op, kind) if kind else None


def _identity(x, *args, **kwargs):
    return x


def _linear_clone(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A second object of ``layer``'s class that shares all of its state (the very same
    variables: no memory is copied) and applies no activation. ``layer`` itself is left
    unchanged; the clone is only ever called on tensors by :func:`run_graph`, never on
    symbolic inputs, so it adds nothing to the model's graph."""
    clone = object.__new__(type(layer))
    clone.__dict__.update(vars(layer))
    clone.__dict__.update(
        activation=keras.activations.linear, _inbound_nodes=[], _outbound_nodes=[]
    )
    return clone


def without_activation(op) -> Callable:
    """What :func:`run_graph` calls instead of ``op`` (from :func:`final_activation`) to
    get the pre-activation: the identity for an activation layer or operation, else a
    clone of the layer that shares its weights, with a linear activation."""
    if isinstance(op, (keras.layers.Activation, keras.layers.Softmax)) or not isinstance(
        op, keras.layers.Layer
    ):
        return _identity
    return _linear_clone(op)


def refuse_guided(model: keras.Model) -> None:
    """Guided backpropagation is refused on a transformer, in one sentence.

    Its GELUs sit inside the MLP of each block, behind layer norms and attention that mix
    every token; gating them (our generalised rule for GELU CNNs such as ConvNeXt) would
    have to reach inside keras-hub's blocks, and no guided rule for attention is in the
    literature we follow, so cnnvis says so instead of returning a plain gradient."""
    if transformer_layout(model) is not None:
        raise ParameterError(
            "Guided backpropagation is not defined for transformers (their GELUs sit "
            "inside attention blocks); use vanilla gradients, SmoothGrad or integrated "
            "gradients instead."
        )


class _Finished(Exception):
    """Raised inside the walk once every captured layer has been computed."""


@dataclass
class GraphRun:
    """The result of :func:`run_graph`."""

    outputs: object = None  # the model's outputs (None when the walk stopped early)
    captured: dict = field(default_factory=dict)  # layer -> its output tensor
    gated: set = field(default_factory=set)  # activation names the guided gate was applied to
    attention: list = field(default_factory=list)  # per block: (B, heads, N, N) probabilities

    def __getitem__(self, layer: keras.layers.Layer) -> tf.Tensor:
        return self.captured[layer]


def run_graph(
    model: keras.Model,
    inputs: tf.Tensor,
    *,
    capture: Sequence[keras.layers.Layer] = (),
    stop_when_captured: bool = False,
    guided: bool = False,
    replace: Mapping[int, Callable] | None = None,
    attention: bool = False,
) -> GraphRun:
    """Run ``model`` on ``inputs`` layer by layer (see the module docstring).

    Layers are called without a ``training`` argument, i.e. in inference mode
    (BatchNormalization uses its moving statistics, Dropout is off). ``replace`` maps
    ``id(operation)`` to a callable run in its place (the head's pre-activation, see
    :func:`without_activation`); a captured operation gives the replacement's output.
    A transformer encoder is run block by block (:func:`cnnvis.models.blocks.open_call`);
    a captured token sequence is given as its patch grid ``(B, h, w, C)`` and the run
    goes on from that grid, so gradients with respect to it are those at the patch
    tokens. ``attention``: keep every transformer block's attention probabilities
    (``GraphRun.attention``, for attention rollout).
    """
    run = GraphRun()
    wanted = set(map(id, capture))
    replace = replace or {}
    layout = transformer_layout(model)

    def keep(op, outputs):
        if id(op) in wanted:
            grid = layout.grids.get(id(op)) if layout is not None else None
            if grid is not None:
                prefix, grid_map = blocks.as_grid(outputs, grid)
                outputs = blocks.from_grid(prefix, grid_map, grid)
                run.captured[op] = grid_map
            else:
                run.captured[op] = outputs
            wanted.discard(id(op))
            if stop_when_captured and not wanted:
                raise _Finished
        return outputs

    def step(item, fn, x):
        return keep(item, fn(x))

    def call(op, *args, **kwargs):
        graph = _graph_of(op)
        if graph is not None:
            outputs = _walk(graph, args[0] if len(args) == 1 else list(args))
        elif layout is not None and id(op) in layout.opened and type(op).__name__ in blocks.ENCODERS:
            if guided:
                refuse_guided(model)
            outputs = blocks.open_call(
                op, layout.opened[id(op)], args[0], step, run.attention if attention else None
            )
        else:
            outputs = replace.get(id(op), op)(*args, **kwargs)
            if guided and guided_rule(op) is not None:
                outputs = positive_gradient_gate(outputs)
                run.gated.add(activation_name(op))
        return keep(op, outputs)

    def _walk(graph, x):
        return graph._run_through_graph(x, operation_fn=lambda op: op, call_fn=call)

    try:
        with _leak_free_silu():
            run.outputs = _walk(_graph_of(model) or model, inputs)
    except _Finished:
        pass
    missing = [layer.name for layer in capture if layer not in run.captured]
    if missing:
        raise UnknownLayerError(
            f"The layer {quoted(missing[0])} is not on the path from the model's input to its output."
        )
    return run
