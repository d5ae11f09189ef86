"""Gradients with respect to the input pixels: guided backpropagation.

Guided backpropagation (Springenberg et al. 2015, "Striving for Simplicity: The All
Convolutional Net") passes a gradient back through a ReLU only where both the forward
input and the incoming gradient are positive. cnnvis applies it at every rectifier,
wherever it lives (a convolution's ``activation=``, an ``Activation`` layer, a
``ReLU(max_value=6)`` layer, keeping the cap), and generalises it to swish/SiLU,
hard-swish and GELU by passing only positive gradients through the activation's own
derivative; the result says which rule it applied.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..models.loading import VisModel
from . import compiled
from ..registry import technique
from .base import Attribution, Prepared, check_int, chunk_for, guided_note, prepare, resolve


def _target_index(model: VisModel, target_class, layer: str | None, channel) -> int:
    """The index fed to the compiled function: a class, a channel, or -1 for the top."""
    if layer is None:
        if channel is not None:
            raise ParameterError("A channel can only be chosen together with a layer.")
        return -1 if target_class is None else model.resolve_class(target_class)
    if target_class is not None:
        raise ParameterError("Choose either a class or a layer's channel as the target, not both.")
    channels = model.info(layer).channels or 1
    return -1 if channel is None else check_int("channel", channel, 0, channels - 1)


def input_gradients(
    model: VisModel,
    pixels: np.ndarray,
    indices: np.ndarray,
    *,
    guided: bool,
    layer: str | None = None,
    pad: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, set]:
    """The one input-gradient core, for a batch (float32 N x h x w x 3 pixels at the
    model's input size, one int32 index per image: a class, a channel of ``layer``, or -1
    for the top one): d objective / d pixels, the objective values, the logits, the
    resolved indices, and the activations gated (guided). As many images per compiled
    call as memory allows; ``pad``: see :func:`~cnnvis.techniques.compiled.run_chunked`."""
    fn = compiled.input_gradient(model, guided=guided, layer=layer)
    chunk = chunk_for(model, pixels.shape[1:3], gradients=True)
    grads, objective, logits, resolved = compiled.run_chunked(
        fn, chunk, pixels.astype(np.float32, copy=False), np.asarray(indices, np.int32), pad=pad
    )
    return grads, objective, logits, resolved, fn.gated


def input_gradient(
    model: VisModel,
    prepared: Prepared,
    *,
    guided: bool,
    target_class=None,
    layer: str | None = None,
    channel: int | None = None,
) -> tuple[np.ndarray, int, float, set]:
    """One photo's gradient (the batch of one of :func:`input_gradients`): d objective /
    d pixels at model size, the resolved index, the objective value and the activations
    gated (guided). The objective is a class logit or a channel's mean."""
    if layer is not None:
        model.feature_layer(layer)
    index = _target_index(model, target_class, layer, channel)
    grads, objective, _, resolved, gated = input_gradients(
        model, prepared.batch, np.array([index], np.int32), guided=guided, layer=layer
    )
    return grads[0], int(resolved[0]), float(objective[0]), gated


def _target_words(model: VisModel, index: int, layer: str | None) -> tuple[str, dict]:
    if layer is None:
        label = model.class_label(index)
        return f"{label} ({index})", {"class_index": index, "label": label}
    return f"{layer} channel {index}", {"layer": layer, "channel": index}


def guided_backprop_prepared(
    model: VisModel, prepared: Prepared, *, target_class=None, layer=None, channel=None
) -> Attribution:
    grads, index, _, gated = input_gradient(
        model, prepared, guided=True, target_class=target_class, layer=layer, channel=channel
    )
    target, fields = _target_words(model, index, layer)
    note = guided_note(sorted(gated))
    return Attribution(
        native=grads,
        image_size=prepared.size,
        method="Guided backprop",
        model=model.name,
        target=target,
        note=note if layer is not None else model.head_note(note),
        **fields,
    )


def guided_backprop_batch(model: VisModel, pixels: np.ndarray, classes: np.ndarray):
    """Guided backprop of each image's class (see :attr:`cnnvis.registry.Technique.batch`)."""
    grads, _, logits, resolved, gated = input_gradients(model, pixels, classes, guided=True, pad=True)
    note = model.head_note(guided_note(sorted(gated)))
    results = []
    for i in range(len(pixels)):
        target, fields = _target_words(model, int(resolved[i]), None)
        results.append(
            Attribution(
                native=grads[i], image_size=tuple(pixels.shape[1:3]), method="Guided backprop",
                model=model.name, target=target, note=note, **fields,
            )
        )
    return results, logits


@technique(
    title="Guided backprop",
    output="attribution",
    paper="Springenberg et al. 2015",
    summary="Which pixels, if brightened, would raise the class score, keeping only positive "
    "signals at every ReLU. Sharp, but known to be weakly class-specific (Adebayo et al. 2018).",
    own_tab=True,
    work="`channel`: with a `layer`, one of its channels (0 … channels − 1) instead of a class",
    batch=guided_backprop_batch,
)
def guided_backprop(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    layer: str | None = None,
    channel: int | None = None,
) -> Attribution:
    """Guided backpropagation of one class logit (default: the top class), or of one
    channel of ``layer`` (default channel: the most active one)."""
    model = resolve(model)
    return guided_backprop_prepared(
        model, prepare(model, image), target_class=target_class, layer=layer, channel=channel
    )
