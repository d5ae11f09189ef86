"""Vision transformers opened block by block, their token sequences seen as maps.

A keras-hub ViT or DeiT backbone has three nodes in its Keras graph: the patch embedding,
one encoder layer that holds every transformer block, and nothing else; a Swin backbone
has one layer per stage. A method that needs a block's output (Grad-CAM at block 6, its
feature maps) cannot reach it through the graph. This module *opens* those encoder
layers: :func:`open_call` runs the encoder's own sub-layers one after another, with the
same weights and in the same order as the encoder's ``call`` (so the logits are the
same), and lets :func:`cnnvis.models.graph.run_graph` capture each block's output.

A block's output is a sequence of tokens ``(B, prefix + h*w, C)``. A captured one is
seen as a 4-D map ``(B, h, w, C)``: the prefix tokens (ViT's class token, DeiT's class and
distillation tokens; Swin has none) are dropped and the patch tokens, in the row-major
order of the patch grid, are reshaped to it (:func:`as_grid`). The run then goes on from
the map (the prefix tokens put back in front), so gradients with respect to the map are
the gradients at the patch tokens. Every layer-based method (the CAM family, feature maps,
Score-CAM, Eigen-CAM) then works on a transformer as on a CNN.

Only the class names of keras-hub's layers are used here: keras-hub is optional and is
never imported by this module.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import keras
from keras import ops


@dataclass(frozen=True)
class TokenGrid:
    """How a token sequence maps onto the patch grid: ``prefix`` leading tokens that are
    not patches, then ``height * width`` patch tokens in row-major order."""

    height: int
    width: int
    prefix: int
    channels: int

    @property
    def tokens(self) -> int:
        return self.prefix + self.height * self.width

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)


class OpenedLayer:
    """A layer inside an opened encoder (a transformer block, Swin's patch merging, the
    patch-embedding convolution), with a name unique in the model
    (``"<encoder>/<layer>"``: Swin's stages all call their blocks ``blocks_0``...)."""

    def __init__(self, name: str, layer: keras.layers.Layer, grid: TokenGrid | None) -> None:
        self.name = name
        self.layer = layer
        self.grid = grid  # None for the patch-embedding convolution (not a token output)

    def __repr__(self) -> str:
        return f"OpenedLayer({self.name!r}, {type(self.layer).__name__})"

    @property
    def type(self) -> str:
        return type(self.layer).__name__

    @property
    def weights(self) -> list:
        """A block's own weights (randomised block by block by the sanity check); the
        patch convolution's are left to its embedding layer, which holds them."""
        return list(self.layer.weights) if self.grid is not None else []

    @property
    def kernel(self):
        """The patch embedding's kernel (kh, kw, 3, C), for the filters technique."""
        return getattr(self.layer, "kernel", None) if self.grid is None else None


@dataclass
class Layout:
    """A transformer's opened layers, and the token grids of its graph's outputs."""

    family: str  # "vit", "deit" or "swin"
    opened: dict[int, list[OpenedLayer]]  # id(encoder layer) -> its opened layers, in order
    grids: dict[int, TokenGrid]  # id(graph operation or OpenedLayer) -> its token grid
    default: str  # the default layer of the CAM family (see default_layer)
    blocks: tuple[str, ...]  # the transformer blocks' names, in order

    def layers(self) -> list[OpenedLayer]:
        return [layer for group in self.opened.values() for layer in group]


_LAYOUTS: "weakref.WeakKeyDictionary[keras.Model, Layout | None]" = weakref.WeakKeyDictionary()
_EMBEDDINGS = {"ViTPatchingAndEmbedding": "vit", "DeiTEmbeddings": "deit", "PatchEmbedding": "swin"}
ENCODERS = frozenset({"ViTEncoder", "DeiTEncoder", "SwinTransformerStage"})


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _token_shape(op) -> tuple | None:
    try:
        shape = tuple(op.output.shape)
    except (AttributeError, ValueError, RuntimeError):
        return None
    return shape if len(shape) == 3 else None


def _patch_grid(embedding, family: str, image_shape) -> tuple[int, int, int]:
    """(height, width, prefix) of the embedding's patch grid."""
    if family == "swin":
        patch = _pair(embedding.patch_size)
        return int(image_shape[0]) // patch[0], int(image_shape[1]) // patch[1], 0
    size, patch = _pair(embedding.image_size), _pair(embedding.patch_size)
    prefix = (1 if getattr(embedding, "use_class_token", True) else 0) if family == "vit" else 2
    return size[0] // patch[0], size[1] // patch[1], prefix


def layout(model: keras.Model, operations: list) -> Layout | None:
    """The transformer layout of ``model`` (``operations``: its graph's operations in
    order, nested models expanded), or ``None`` for a model without a keras-hub
    transformer encoder. Cached per model."""
    try:
        return _LAYOUTS[model]
    except (KeyError, TypeError):
        pass
    result = _build_layout(operations)
    try:
        _LAYOUTS[model] = result
    except TypeError:
        pass
    return result


def _build_layout(operations: list) -> Layout | None:
    encoders = [op for op in operations if type(op).__name__ in ENCODERS]
    embedding = next((op for op in operations if type(op).__name__ in _EMBEDDINGS), None)
    if not encoders or embedding is None:
        return None
    family = _EMBEDDINGS[type(embedding).__name__]
    inputs = embedding._inbound_nodes[0].input_tensors[0]
    height, width, prefix = _patch_grid(embedding, family, tuple(inputs.shape)[1:])

    # Token outputs of the graph's own operations: a grid whose size matches the tokens.
    # Swin's patch merging halves the grid ((h + 1) // 2) and doubles the channels.
    sizes = [(height, width)]
    while sizes[-1][0] > 1 or sizes[-1][1] > 1:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    grids: dict[int, TokenGrid] = {}
    for op in operations:
        shape = _token_shape(op)
        if shape is None or shape[1] is None:
            continue
        for h, w in sizes:
            if shape[1] == prefix + h * w:
                grids[id(op)] = TokenGrid(h, w, prefix, int(shape[2]))
                break

    opened: dict[int, list[OpenedLayer]] = {}
    blocks: list[str] = []
    conv = getattr(embedding, "proj" if family == "swin" else "patch_embedding", None)
    if conv is not None and getattr(conv, "kernel", None) is not None:
        opened[id(embedding)] = [OpenedLayer(f"{embedding.name}/{conv.name}", conv, None)]
    for encoder in encoders:
        group: list[OpenedLayer] = []
        if family == "swin":
            h, w = (int(n) for n in encoder.input_resolution)
            grid = TokenGrid(h, w, 0, int(encoder.dim))
            for block in encoder.blocks:
                group.append(OpenedLayer(f"{encoder.name}/{block.name}", block, grid))
            if encoder.downsample is not None:
                merged = TokenGrid((h + 1) // 2, (w + 1) // 2, 0, 2 * int(encoder.dim))
                group.append(OpenedLayer(f"{encoder.name}/{encoder.downsample.name}", encoder.downsample, merged))
        else:
            grid = TokenGrid(height, width, prefix, int(encoder.hidden_dim))
            for block in encoder.encoder_layers:
                group.append(OpenedLayer(f"{encoder.name}/{block.name}", block, grid))
        for item in group:
            grids[id(item)] = item.grid  # type: ignore[assignment]
        blocks += [item.name for item in group if type(item.layer).__name__.endswith("Block")]
        opened[id(encoder)] = group

    if family == "swin":
        # A global-average-pooling head reads every token of the final norm: that norm's
        # output is what the head consumes, as a CNN's last feature map is.
        final = [op for op in operations if id(op) in grids and type(op).__name__ == "LayerNormalization"]
        default = final[-1].name if final else blocks[-1]
    elif any(type(op).__name__ == "GetItem" for op in operations):
        # The head reads the class token only, after a per-token norm: the gradient at the
        # patch tokens of the last block's output (and of the final norm) is exactly zero,
        # and a Grad-CAM there is blank. The last block's *input* (the output of the one
        # before) is the deepest place where patch tokens still reach the class token.
        default = blocks[-2] if len(blocks) > 1 else blocks[-1]
    else:  # pooling="gap": every token reaches the head, as on Swin
        default = encoders[-1].name
    return Layout(family, opened, grids, default, tuple(blocks))


# ----- grids ----------------------------------------------------------------------------
def as_grid(tokens, grid: TokenGrid):
    """``(B, prefix + h*w, C)`` tokens -> (prefix ``(B, prefix, C)``, map ``(B, h, w, C)``)."""
    prefix = tokens[:, : grid.prefix, :]
    patches = tokens[:, grid.prefix :, :]
    return prefix, ops.reshape(patches, (-1, grid.height, grid.width, ops.shape(tokens)[-1]))


def from_grid(prefix, grid_map, grid: TokenGrid):
    """The inverse of :func:`as_grid`: the token sequence again."""
    patches = ops.reshape(grid_map, (-1, grid.height * grid.width, ops.shape(grid_map)[-1]))
    return ops.concatenate([prefix, patches], axis=1) if grid.prefix else patches


# ----- running an opened encoder ---------------------------------------------------------
# step(opened layer, how to call it, input) -> its output (captured by run_graph if wanted)
Step = Callable[[OpenedLayer, Callable, object], object]


def _called(layer):
    return layer


def open_call(op, opened: list[OpenedLayer], x, step: Step, attention: list | None):
    """Run encoder ``op`` on ``x`` through its own sub-layers, as its ``call`` does in
    inference (dropout off). Each opened layer goes through ``step``; with ``attention``
    (a list), every block's attention probabilities ``(B, heads, N, N)`` are appended."""
    name = type(op).__name__
    by_layer = {id(item.layer): item for item in opened}

    def run(layer, fn, value):
        item = by_layer.get(id(layer))
        return step(item, fn, value) if item is not None else fn(value)

    if name == "ViTEncoder":
        x = op.dropout(x)
        for block in op.encoder_layers:
            x = run(block, _vit_block(block, attention), x)
        return op.layer_norm(x)
    if name == "DeiTEncoder":
        seq, dim = ops.shape(x)[1], ops.shape(x)[2]
        for block in op.encoder_layers:
            x = run(block, _deit_block(block, attention), x)
        x = op.layer_norm(x)
        empty_states = ops.empty((0, seq, dim), dtype=x.dtype)
        empty_scores = ops.empty((0, op.num_heads, seq, seq), dtype=x.dtype)
        return x, empty_states, empty_scores
    if name == "SwinTransformerStage":
        if attention is not None:
            raise _windowed()
        for block in op.blocks:
            x = run(block, block, x)
        if op.downsample is not None:
            h, w = op.input_resolution
            x = run(op.downsample, lambda v: op.downsample(v, H=h, W=w), x)
        return x
    raise TypeError(f"cannot open {name}")  # pragma: no cover - ENCODERS lists the names


def _windowed() -> Exception:
    from ..errors import ParameterError

    return ParameterError(
        "Attention rollout needs global self-attention with a class token (ViT, DeiT); "
        "Swin attends within shifted windows, so use the CAM family on it instead."
    )


def _vit_block(block, attention: list | None) -> Callable:
    """ViTEncoderBlock.call, with the attention probabilities kept when asked.

    Written out from keras-hub 0.32's ``ViTEncoderBlock.call`` (pre-norm attention,
    residual, pre-norm MLP, residual), which cannot return its attention scores;
    tests check that it gives the block's own output exactly."""
    if attention is None:
        return block

    def call(inputs):
        x = block.layer_norm_1(inputs)
        x, scores = block.mha(x, x, return_attention_scores=True)
        x = block.dropout(x)
        x = x + inputs
        y = block.layer_norm_2(x)
        y = block.mlp(y)
        attention.append(scores)
        return x + y

    return call


def _deit_block(block, attention: list | None) -> Callable:
    if attention is None:
        return lambda x: block(x)[0]

    def call(x):
        y, scores = block(x, return_attention_scores=True)
        attention.append(scores)
        return y

    return call
