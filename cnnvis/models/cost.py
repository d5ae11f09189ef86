"""What running a model costs, estimated from its graph before any weight exists.

An uploaded model's parameters say nothing of its activations or its compute: five
kilobytes of config can describe six 1x1 convolutions of 256 channels on a 1024 x 1024
input, 6.4 GB of activations per image. :func:`estimate_cost` reads a model built with
shapes only (``keras.StatelessScope``, as :func:`cnnvis.inspect_keras_file` builds it),
at the input size it will run at, and sums over its layers (nested models included):

- the activation values of one image: the elements of every layer's output (the input
  included);
- the memory of a forward and a backward pass: those values x 4 bytes (float32) x
  :data:`PASS_FACTOR` (the forward values the gradient tape keeps, the gradients of the
  same size, and one transient copy per operation);
- the multiply-adds of one image: for each kernel (``kernel``, ``depthwise_kernel``,
  ``pointwise_kernel`` of Conv/Dense layers) its elements x the positions of the layer's
  output (height x width for a convolution, the leading dimensions for a Dense layer);
  plus one per output element of every layer (activations, normalisation, pooling...).
  For a transposed convolution this counts output positions, an upper bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PASS_FACTOR = 3
BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class ModelCost:
    """The estimated cost of one image through a model (see the module's docstring)."""

    input_size: tuple[int, int]
    activation_values: int
    multiply_adds: int

    @property
    def pass_bytes(self) -> int:
        """Memory of a forward and a backward pass of one image, in bytes."""
        return self.activation_values * BYTES_PER_VALUE * PASS_FACTOR


def _layers(model) -> list:
    """Every layer of ``model``, those of the models inside it included (iteratively)."""
    found, stack = [], list(reversed(getattr(model, "layers", [])))
    while stack:
        layer = stack.pop()
        inner = getattr(layer, "layers", None)
        if inner is not None and hasattr(layer, "inputs"):
            stack.extend(reversed(inner))
        else:
            found.append(layer)
    return found


def _shape(layer) -> tuple:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return ()
    return tuple(shape) if shape is not None else ()


def _elements(shape: tuple) -> int:
    return math.prod(int(d) for d in shape[1:] if d is not None) if len(shape) > 1 else 0


def estimate_cost(model) -> ModelCost:
    """The cost of one image through ``model`` (a Keras model with fixed input sides,
    weights built or shapes only)."""
    input_shape = tuple(model.inputs[0].shape)
    values = macs = 0
    for layer in _layers(model):
        shape = _shape(layer)
        elements = _elements(shape)
        values += elements
        macs += elements
        positions = math.prod(int(d) for d in shape[1:-1] if d is not None) if len(shape) > 2 else 1
        for weight in getattr(layer, "weights", []):
            name = str(getattr(weight, "name", "")).rsplit("/", 1)[-1]
            if name.endswith("kernel"):
                macs += math.prod(int(d) for d in weight.shape) * positions
    height, width = (input_shape[1], input_shape[2]) if len(input_shape) == 4 else (0, 0)
    return ModelCost((int(height or 0), int(width or 0)), int(values), int(macs))
