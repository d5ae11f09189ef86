"""Compiled computations, built once per (model, technique, layers) and cached on the model.

Each builder returns a ``tf.function`` with a fixed input signature (batch size free), so
it is traced once and then runs as a graph: no eager gradients on any hot path, no
Keras sub-model per request. The image is raw RGB pixels (0-255); the model family's
preprocessing runs inside the function, so every gradient is with respect to pixels.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import tensorflow as tf

from ..errors import ComputeError, is_out_of_memory, out_of_memory_message
from ..models import graph
from ..models.loading import VisModel


@dataclass
class Compiled:
    """A compiled function plus facts gathered while tracing it.

    Calling it runs the function; if TensorFlow runs out of memory (a large model, input
    or batch), the error becomes a :class:`~cnnvis.errors.ComputeError` of one sentence.
    Nothing cached is changed by a failed call: the next call starts afresh.
    """

    fn: Callable
    gated: set = field(default_factory=set)  # activations gated by the guided rule
    model: str = ""  # the model's name, for messages

    def __call__(self, *args):
        try:
            return self.fn(*args)
        except Exception as error:  # MemoryError included
            if not is_out_of_memory(error):
                raise
        # raised here, once the error and its frames (and their tensors) are gone
        gc.collect()
        raise ComputeError(out_of_memory_message(self.model))


def pixel_spec(model: VisModel) -> tf.TensorSpec:
    height, width = model.input_size
    return tf.TensorSpec([None, height, width, 3], tf.float32)


_INDEX_SPEC = tf.TensorSpec([None], tf.int32)
SIZE_MULTIPLE = 32  # the largest stride of keras.applications models


def _pick(values: tf.Tensor, index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """values[b, index[b]] per example; a negative index means "the largest value" (the
    first one on a tie: the top-class rule of :mod:`cnnvis.models.heads`, in the graph)."""
    index = tf.where(index < 0, tf.argmax(values, axis=-1, output_type=tf.int32), index)
    return tf.gather(values, index, batch_dims=1), index


def forward(model: VisModel) -> Compiled:
    """pixels -> logits (before a final softmax or sigmoid: see cnnvis.models.loading.Head)."""

    def build() -> Compiled:
        run_graph, pre = model.run_graph, model.preprocessing

        @tf.function(input_signature=[pixel_spec(model)])
        def fn(pixels):
            return run_graph(pre.apply(pixels)).outputs

        return Compiled(fn)

    return model.function(("forward",), build)


def activations(model: VisModel, layers: Sequence[str]) -> Compiled:
    """pixels -> the outputs of several layers from one pass (stopping after the last)."""
    layers = tuple(layers)

    def build() -> Compiled:
        run_graph, pre = model.run_graph, model.preprocessing
        targets = [model.layer(name) for name in layers]

        @tf.function(input_signature=[pixel_spec(model)])
        def fn(pixels):
            run = run_graph(pre.apply(pixels), capture=targets, stop_when_captured=True)
            return tuple(run[target] for target in targets)

        return Compiled(fn)

    return model.function(("activations", layers), build)


def cam(model: VisModel, layer: str, *, gradients: bool = True) -> Compiled:
    """(pixels, class index) -> (feature maps, d logit / d maps, logits, class index).

    Backpropagation stops at the chosen layer, so on the default layer this costs
    little more than the forward pass (Selvaraju et al. 2017). With ``gradients=False``
    (CAMs that need no gradient: Score-CAM, Eigen-CAM) there is no backward pass and the
    gradient slot holds zeros.
    """

    def build() -> Compiled:
        run_graph, pre = model.run_graph, model.preprocessing
        target = model.feature_layer(layer)

        @tf.function(input_signature=[pixel_spec(model), _INDEX_SPEC])
        def fn(pixels, class_index):
            if not gradients:
                run = run_graph(pre.apply(pixels), capture=[target])
                _, index = _pick(run.outputs, class_index)
                return run[target], tf.zeros_like(run[target]), run.outputs, index
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(pixels)
                run = run_graph(pre.apply(pixels), capture=[target])
                logits = run.outputs
                score, index = _pick(logits, class_index)
                total = tf.reduce_sum(score)
            maps = run[target]
            return maps, tape.gradient(total, maps), logits, index

        return Compiled(fn)

    return model.function(("cam", layer) if gradients else ("cam", layer, "no gradients"), build)


def input_gradient(model: VisModel, *, guided: bool, layer: str | None = None) -> Compiled:
    """(pixels, index) -> (d objective / d pixels, objective, values, index).

    The objective is the logit of class ``index`` (``layer`` None) or the mean activation
    of channel ``index`` of ``layer``; a negative index picks the largest. With
    ``guided`` the guided-backpropagation gate follows every rectifier (see graph.py).
    """

    def build() -> Compiled:
        if guided:
            graph.refuse_guided(model.keras_model)
        run_graph, pre = model.run_graph, model.preprocessing
        target = model.feature_layer(layer) if layer is not None else None
        compiled = Compiled(fn=None)  # type: ignore[arg-type]

        @tf.function(input_signature=[pixel_spec(model), _INDEX_SPEC])
        def fn(pixels, index):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(pixels)
                run = run_graph(
                    pre.apply(pixels),
                    capture=[target] if target is not None else [],
                    stop_when_captured=target is not None,
                    guided=guided,
                )
                compiled.gated.update(run.gated)
                if target is None:
                    values = run.outputs
                else:
                    values = tf.reduce_mean(run[target], axis=(1, 2))
                objective, index = _pick(values, index)
                total = tf.reduce_sum(objective)
            return tape.gradient(total, pixels), objective, values, index

        compiled.fn = fn
        return compiled

    return model.function(("input_gradient", guided, layer), build)


def dream_step(model: VisModel, layers: Sequence[str]) -> Compiled:
    """One Deep Dream gradient-ascent step in the model's input space, any image size.

    (image, layer weights, step per channel, shift, low, high) -> (loss, new image).
    The loss is the weighted mean square activation of the layers, borders excluded
    (Mordvintsev et al. 2015, as in the keras.io example); the gradient is normalised by
    its mean absolute value; the image is rolled by ``shift`` (jitter) during the step.
    """
    layers = tuple(layers)

    def build() -> Compiled:
        run_graph = model.run_graph
        targets = [model.feature_layer(name) for name in layers]
        # A transformer's position embeddings take one input size: each octave is resized
        # to it inside the step (differentiably), so the gradient reaches the octave's pixels.
        native = model.input_size if graph.transformer_layout(model.keras_model) is not None else None

        @tf.function(
            input_signature=[
                tf.TensorSpec([1, None, None, 3], tf.float32),
                tf.TensorSpec([len(layers)], tf.float32),
                tf.TensorSpec([3], tf.float32),
                tf.TensorSpec([2], tf.int32),
                tf.TensorSpec([3], tf.float32),
                tf.TensorSpec([3], tf.float32),
            ]
        )
        def fn(image, weights, step, shift, low, high):
            # Reflect-pad to a multiple of 32 so every stride pattern fits (NASNet's cells
            # need it), and crop back after the step.
            height, width = tf.shape(image)[1], tf.shape(image)[2]
            padding = [[0, 0], [0, -height % SIZE_MULTIPLE], [0, -width % SIZE_MULTIPLE], [0, 0]]
            shifted = tf.roll(tf.pad(image, padding, mode="REFLECT"), shift, axis=[1, 2])
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(shifted)
                seen = shifted if native is None else tf.image.resize(shifted, native)
                run = run_graph(seen, capture=targets, stop_when_captured=True)
                loss = tf.add_n(
                    [weights[i] * _interior_mean_square(run[t]) for i, t in enumerate(targets)]
                )
            grads = tape.gradient(loss, shifted)
            grads /= tf.maximum(tf.reduce_mean(tf.abs(grads)), 1e-8)
            stepped = tf.roll(shifted + step * grads, -shift, axis=[1, 2])[:, :height, :width, :]
            return loss, tf.clip_by_value(stepped, low, high)

        return Compiled(fn)

    return model.function(("dream_step", layers), build)


def _interior_mean_square(maps: tf.Tensor) -> tf.Tensor:
    """Mean of squared activations, leaving out a 2-pixel border when the map is large
    enough (border activations see padding and create edge artefacts)."""
    shape = tf.shape(maps)
    border_h = tf.where(shape[1] > 8, 2, 0)
    border_w = tf.where(shape[2] > 8, 2, 0)
    interior = maps[:, border_h : shape[1] - border_h, border_w : shape[2] - border_w, :]
    return tf.reduce_mean(tf.square(interior))


REFERENCE_PIXELS = 224 * 224
MAX_BATCH_AT_REFERENCE = 32  # images per compiled call at most, at 224 x 224 (memory bound)


def batch_size_for(size: Sequence[int], preferred: int) -> int:
    """Images per compiled call when a batched technique is given no ``batch_size``:
    ``preferred`` at 224 x 224, proportionally fewer for larger inputs (EfficientNetB7's
    600 x 600 gets a seventh), so that one call holds about as many pixels and memory
    stays bounded whatever the model."""
    pixels = max(1, int(size[0]) * int(size[1]))
    return max(1, min(preferred, preferred * REFERENCE_PIXELS // pixels))


GRADIENT_MEMORY = 1536 * 2**20  # activations one compiled gradient call may keep, bytes


def activation_bytes(model: VisModel, upto: str | None = None, side: int | None = None) -> int:
    """Bytes of float32 activations one image leaves for the backward pass: the sum of
    every layer's output (83 MB on MobileNetV2, 4 GB on EfficientNetB7 at 600 x 600), up
    to and including layer ``upto`` when given, for a square input of ``side`` pixels
    when given (maps scale with the input's area). Layers whose output size is not fixed
    are left out."""
    total = 0
    for info in model.layer_infos:
        if info.shape and all(isinstance(d, int) for d in info.shape):
            total += math.prod(info.shape)
        if info.name == upto:
            break
    if side is not None:
        height, width = model.input_size
        if height and width:
            total = total * side * side / (height * width)
    return int(4 * total)


def gradient_batch_cap(model: VisModel) -> int:
    """The most images one compiled gradient call may take on ``model`` so that the
    activations kept for the backward pass stay under ``GRADIENT_MEMORY`` (18 on
    MobileNetV2, 12 on ConvNeXtTiny, 1 on EfficientNetB7 and NASNetLarge): a batched
    SmoothGrad must not take a server's memory, whatever the model."""
    return max(1, GRADIENT_MEMORY // max(1, activation_bytes(model)))


def even_batches(total: int, batch_size: int) -> int:
    """The batch size that splits ``total`` items into as few calls as ``batch_size``
    allows, all of (nearly) the same size: 16 samples at most 14 a call -> 8 + 8, so the
    last call does not trace a second shape."""
    calls = math.ceil(total / max(1, batch_size))
    return max(1, math.ceil(total / calls))


def run_chunked(fn: Callable, chunk: int, pixels, *rest, pad: bool = False) -> list:
    """``fn(pixels, *rest)`` over a batch, ``chunk`` images per call (evenly split),
    each output as a NumPy array concatenated along the batch axis.

    ``pad``: a call of one image is padded to two (the image twice, the copy dropped). On
    CPUs, TensorFlow's kernels may round differently for a batch of one; dataset runs pad
    so that every image's numbers are independent of how the batch was split
    (``--batch-size``). A single photo is not padded (it would double the work).
    """
    import numpy as np

    total = pixels.shape[0]
    chunk = even_batches(total, max(1, chunk))
    parts: list[list] = []
    for start in range(0, total, chunk):
        args = [a[start : start + chunk] for a in (pixels, *rest)]
        single = pad and args[0].shape[0] == 1
        if single:
            args = [np.concatenate([a, a]) for a in args]
        outputs = fn(*args)
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        parts.append([o.numpy()[:1] if single else o.numpy() for o in outputs])
    if len(parts) == 1:
        return parts[0]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def capped_batch_size(size: Sequence[int], batch_size: int) -> int:
    """``batch_size`` (already checked against ``MAX_BATCH``), capped so that one compiled
    call holds at most as many pixels as ``MAX_BATCH_AT_REFERENCE`` images of 224 x 224
    (a gradient through a large model needs hundreds of MB per image). Results never
    depend on the batch size, only the speed does, so the cap is silent."""
    return max(1, min(int(batch_size), batch_size_for(size, MAX_BATCH_AT_REFERENCE)))
