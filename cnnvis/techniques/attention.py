"""Attention rollout (Abnar & Zuidema 2020) for vision transformers with a class token.

How much each patch flows into the class token through the layers of attention:

- per block, the attention probabilities are averaged over heads, ``A_l`` (N x N);
- the residual connection is accounted for by ``0.5 A_l + 0.5 I`` (the paper's choice),
  rows renormalised to sum to one;
- rolled out from the first block to the last: ``R = Ã_L ... Ã_2 Ã_1``;
- the map is the class token's row of ``R`` over the patch tokens (prefix tokens
  dropped), reshaped to the patch grid, scaled to [0, 1] by its maximum.

It needs global self-attention and a class token: ViT and DeiT (whose class token is the
first token; DeiT's distillation token is dropped with it). Swin attends within shifted
windows and has no class token, and a CNN has no attention: both are refused in one
sentence. Like Eigen-CAM it is class-agnostic; ``target_class`` only names the class
reported with it. ``layer`` rolls out up to and including that block.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..errors import ParameterError, UnknownLayerError, quoted
from ..models import graph
from ..models.loading import VisModel
from ..registry import technique
from . import compiled
from .base import Heatmap, class_index, prepare, resolve

RESIDUAL = 0.5  # weight of the identity (the residual connection), as in the paper


def rollout(attentions: list[np.ndarray], residual: float = RESIDUAL) -> np.ndarray:
    """``Ã_L ... Ã_1`` with ``Ã_l = residual I + (1 - residual) mean_heads(A_l)``, rows
    renormalised; ``attentions``: per block, (heads, N, N) probabilities of one image."""
    count = attentions[0].shape[-1]
    identity = np.eye(count)
    result = identity
    for probabilities in attentions:
        mixed = residual * identity + (1.0 - residual) * probabilities.astype(np.float64).mean(axis=0)
        mixed /= mixed.sum(axis=-1, keepdims=True)
        result = mixed @ result
    return result


def _attention_layout(model: VisModel):
    layout = graph.transformer_layout(model.keras_model)
    if layout is None:
        raise ParameterError(
            f"Attention rollout needs a vision transformer (ViT or DeiT); {model.name} has "
            "no attention layers, so use the CAM family instead."
        )
    if layout.family == "swin":
        raise ParameterError(
            "Attention rollout needs global self-attention with a class token (ViT, DeiT); "
            "Swin attends within shifted windows, so use the CAM family on it instead."
        )
    return layout


def attention_probabilities(model: VisModel) -> compiled.Compiled:
    """pixels -> (blocks, B, heads, N, N) attention probabilities of every block."""

    def build() -> compiled.Compiled:
        run_graph, pre = model.run_graph, model.preprocessing

        @tf.function(input_signature=[compiled.pixel_spec(model)])
        def fn(pixels):
            return tf.stack(run_graph(pre.apply(pixels), attention=True).attention)

        return compiled.Compiled(fn)

    return model.function(("attention",), build)


@technique(
    title="Attention rollout",
    output="heatmap",
    paper="Abnar & Zuidema 2020",
    summary="For vision transformers: follows the attention from the class token back through "
    "every block to the image patches, counting the shortcut around each block. It shows "
    "where the model looked, the same for every class.",
    needs="attention",
)
def attention_rollout(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    layer: str | None = None,
) -> Heatmap:
    """Attention rollout of a ViT or DeiT (see the module docstring), through every block
    (default) or up to and including ``layer`` (a block's name), at the image's size."""
    model = resolve(model)
    layout = _attention_layout(model)
    blocks = layout.blocks
    if layer is not None and layer not in blocks:
        raise UnknownLayerError(
            f"Attention rollout runs up to a transformer block; {quoted(layer)} is not one of "
            f"{model.name}'s ({blocks[0]} ... {blocks[-1]})."
        )
    last = blocks.index(layer) if layer is not None else len(blocks) - 1
    prepared = prepare(model, image)
    index = class_index(model, prepared, target_class)
    probabilities = attention_probabilities(model)(prepared.batch).numpy()[:, 0]
    grid = layout.grids[id(next(item for item in layout.layers() if item.name == blocks[last]))]
    flow = rollout(list(probabilities[: last + 1]))[0, grid.prefix :]
    cam = flow.reshape(grid.height, grid.width)
    peak = float(cam.max())
    cam = (cam / peak if peak > 0 else np.zeros_like(cam)).astype(np.float32)
    logits = compiled.forward(model)(prepared.batch).numpy()[0]
    return Heatmap(
        native=cam,  # the patch grid (14 x 14 for ViT-B/16 at 224)
        image_size=prepared.size,
        method="Attention rollout",
        model=model.name,
        layer=blocks[last],
        class_index=index,
        label=model.class_label(index),
        score=float(logits[index]),
        note=model.head_note("class-agnostic (the same map for every class); heads averaged, residual 0.5"),
        image=prepared.image,
    )
