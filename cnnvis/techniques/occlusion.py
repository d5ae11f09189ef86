"""Occlusion sensitivity (Zeiler & Fergus 2014, "Visualizing and Understanding
Convolutional Networks", Sec. 4.2).

A square of ``window`` pixels, filled with grey (or the image's mean colour), is slid
with ``stride`` over the image at the model's input size (defaults: a seventh of the
shorter side, i.e. 32 pixels at 224 x 224, and half of that); every occluded copy goes
through the compiled forward pass, ``batch_size`` copies per call (default: 32 at
224 x 224, fewer for larger inputs). Each copy's value is
the drop in the class probability, ``p(image) - p(occluded)``; each pixel gets the mean
drop over the windows that cover it (the last row and column of windows are aligned
with the far edges, so every pixel is covered).

Negatives: a window whose occlusion *raises* the probability is evidence against the
class. The heatmap shows evidence for it: the mean drops are clipped at 0 and divided by
their maximum, so 0 means "occluding here does not lower the probability" and 1 is the
most important place. The signed mean drop is returned too, in ``drop``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..models.loading import VisModel
from . import compiled
from ..registry import Option, technique
from .base import MAX_BATCH, Heatmap, check_int, prepare, resolve, top_class

MAX_WINDOWS = 4096  # occluded copies (forward passes) one call may ask for
FORWARD_BATCH = 32  # occluded copies per compiled call at 224 x 224
FILLS = ("grey", "mean")
GREY = 127.5
EPSILON = 1e-12


@dataclass(frozen=True)
class Occlusion(Heatmap):
    """An occlusion-sensitivity heatmap plus the signed mean probability drop."""

    drop: np.ndarray | None = None  # float32 H x W, mean of p(image) - p(occluded)
    probability: float = 0.0  # the class probability of the unoccluded image
    windows: int = 0  # occluded copies evaluated


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start offsets ``0, stride, 2 stride, ...`` plus ``length - window`` if the regular
    grid stops short of the edge."""
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


@technique(
    title="Occlusion",
    output="heatmap",
    paper="Zeiler & Fergus 2014",
    summary="Covers the photo with a grey square, position by position, and records how "
    "much the class probability drops. Slow but easy to trust: it only asks the model.",
    cost="long",
    options=(
        Option(
            "window",
            int,
            None,
            "Grey square's side",
            "In pixels of the model's input (224 for most models). A smaller square gives a "
            "finer map but needs more forward passes.",
            low=1,
            high=100_000,
            none="a seventh of the input's shorter side (32 at 224)",
            app_default=32,
            app_range=(4, 112, 1),
            bound="1 … the input's shorter side",
        ),
        Option(
            "stride",
            int,
            None,
            "Stride",
            "How far the square moves each time; at most its side.",
            low=1,
            high=100_000,
            none="half the window",
            app_default=16,
            app_range=(2, 112, 1),
            bound="1 … window",
        ),
        Option(
            "fill",
            str,
            "grey",
            "Fill",
            "What covers the square: mid grey, or the photo's mean colour.",
            choices=FILLS,
            in_app=False,
        ),
        Option(
            "batch_size",
            int,
            None,
            "Copies per call",
            "Occluded copies per compiled forward call (speed only).",
            low=1,
            high=MAX_BATCH,
            none="32 at 224 x 224, fewer for larger inputs",
            in_app=False,
            bound=f"1 … {MAX_BATCH} (capped by pixels)",
        ),
    ),
    work=f"at most {MAX_WINDOWS} occluded copies (forward passes)",
)
def occlusion(
    model: VisModel | str,
    image,
    *,
    target_class: int | str | None = None,
    window: int | None = None,
    stride: int | None = None,
    fill: str = "grey",
    batch_size: int | None = None,
) -> Occlusion:
    """Occlusion sensitivity of one class (default: the top class) at the image's
    resolution, in [0, 1]. ``window`` and ``stride`` are in pixels of the model's input
    (defaults: 1/7 of its shorter side and half a window). Cost: one forward pass per
    window position (169 for the defaults, whatever the input size), batched."""
    model = resolve(model)
    prepared = prepare(model, image)
    height, width = prepared.batch.shape[1:3]
    if window is None:
        window = max(1, round(min(height, width) / 7))
    window = check_int("window", window, 1, min(height, width))
    stride = check_int("stride", max(1, window // 2) if stride is None else stride, 1, window)
    if batch_size is None:
        batch_size = compiled.batch_size_for((height, width), FORWARD_BATCH)
    batch_size = compiled.capped_batch_size((height, width), batch_size)
    rows, columns = window_starts(height, window, stride), window_starts(width, window, stride)
    positions = [(y, x) for y in rows for x in columns]
    if len(positions) > MAX_WINDOWS:
        raise ParameterError(
            f"A {window}-pixel window with stride {stride} needs {len(positions)} occluded "
            f"copies of the {height} x {width} input; at most {MAX_WINDOWS} are allowed "
            "(use a larger window or stride)."
        )

    forward = compiled.forward(model)
    clean = prepared.batch[0]
    logits = forward(prepared.batch).numpy()[0].astype(np.float64)
    index = top_class(logits) if target_class is None else model.resolve_class(target_class)
    probability = float(model.probabilities(logits)[index])
    colour = np.full(3, GREY, np.float32) if fill == "grey" else clean.mean(axis=(0, 1))

    total = np.zeros((height, width), np.float64)
    count = np.zeros((height, width), np.float64)
    for start in range(0, len(positions), batch_size):
        chunk = positions[start : start + batch_size]
        batch = np.repeat(prepared.batch, len(chunk), axis=0)
        for j, (y, x) in enumerate(chunk):
            batch[j, y : y + window, x : x + window] = colour
        occluded = model.probabilities(forward(batch).numpy())[:, index]
        for (y, x), p in zip(chunk, occluded):
            total[y : y + window, x : x + window] += probability - p
            count[y : y + window, x : x + window] += 1.0
    drop = (total / count).astype(np.float32)  # every pixel is covered (window_starts)
    positive = np.maximum(drop, 0.0)
    peak = float(positive.max())
    heatmap = positive / peak if peak > EPSILON else np.zeros_like(positive)
    return Occlusion(
        heatmap=np.clip(prepared.to_image_size(heatmap), 0.0, 1.0),
        method="Occlusion",
        model=model.name,
        layer="input",
        class_index=index,
        label=model.class_label(index),
        score=float(logits[index]),
        note=model.head_note(
            f"{window}-pixel {fill} window, stride {stride}, {len(positions)} copies"
        ),
        drop=prepared.to_image_size(drop),
        probability=probability,
        windows=len(positions),
        image=prepared.image,
    )
