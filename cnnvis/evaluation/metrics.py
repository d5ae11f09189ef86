"""Faithfulness and sanity metrics for saliency maps.

- Deletion and insertion (Petsiuk, Das & Saenko 2018, "RISE", Sec. 4.1): remove the most
  salient pixels first (replaced by black) and watch the class probability fall, or
  insert them first into a blurred copy and watch it rise. The area under the deletion
  curve is lower, and under the insertion curve higher, for a map that finds the pixels
  the model really uses. A seeded random map is measured alongside as the baseline
  (random blobs at the granularity of a CAM by default: see :func:`random_map`).
- Model-parameter randomisation (Adebayo et al. 2018, "Sanity Checks for Saliency
  Maps"): re-initialise the network's layers from the top down, one group at a time, on
  an independent copy of the model, and measure how similar each method's map stays to
  the original one (Spearman rank correlation and structural similarity). A method that
  explains the model should change as its weights are destroyed.
- The pointing game (Zhang et al. 2016, "Top-down Neural Attention by Excitation
  Backprop"): a hit when the map's maximum lies in the object's box, within 15 pixels.
- :func:`compare`: several heatmap and attribution methods of the technique registry
  on one photo, ranked by deletion and insertion.

Everything heavy runs through the compiled functions of :mod:`cnnvis.techniques`, in
batches. The metrics take methods as functions (``f(model, image, target_class=...)``
returning a map or a technique's result); naming methods by their registry names is the
job of :mod:`cnnvis.evaluation.checks`, which registers ``compare`` and ``randomization_check``.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import cv2
import keras
import numpy as np

from ..models import blocks, graph
from ..errors import ComputeError, ParameterError, quoted
from ..images import resize_map
from ..maps import saliency_map
from ..models.loading import VisModel, as_vis_model
from ..registry import SEED_MAX, check_choice, check_float, check_int
from ..techniques import compiled
from ..techniques.base import MAX_BATCH, Displayed, class_index, prepare

DEFAULT_STEPS = 20
MAX_STEPS = 224  # RISE's own granularity on 224 x 224 inputs: 224 pixels per step
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0  # the insertion start, as in RISE
MAX_METHODS = 16
MAX_RANDOM_MAPS = 8
MAX_RANDOMIZATION_STEPS = 12
MAX_RANDOMIZATION_METHODS = 8
MAX_PASSES = 4096  # forward passes (images) one deletion/insertion call may ask for
POINTING_TOLERANCE = 15  # pixels, as in Zhang et al. 2016
SSIM_SIGMA, SSIM_KERNEL = 1.5, 11  # Wang et al. 2004


# ----- maps ----------------------------------------------------------------------------
def map_for(image_shape: tuple[int, int], saliency) -> np.ndarray:
    values = saliency_map(saliency)
    if values.shape != tuple(image_shape):
        raise ParameterError(
            f"The saliency map is {values.shape[0]} x {values.shape[1]} but the image is "
            f"{image_shape[0]} x {image_shape[1]}; give the map at the image's resolution."
        )
    return values


# ----- deletion and insertion ----------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """The class probability after removing (or inserting) a growing share of pixels."""

    fractions: np.ndarray  # float32 (steps + 1,): 0, 1/steps, ..., 1
    scores: np.ndarray  # float32 (steps + 1,): the class probability at each fraction

    @property
    def auc(self) -> float:
        """The raw trapezoid area under the curve over its own axis (at most the axis'
        length: 1 for deletion and insertion, 0.9 for ROAD's default fractions)."""
        return area_under_curve(self.fractions, self.scores)

    @property
    def area(self) -> float:
        """The curve's area as cnnvis reports it: the mean class probability along the
        curve (:func:`curve_mean`), in [0, 1] whatever the axis."""
        return curve_mean(self.fractions, self.scores)


def area_under_curve(fractions: Sequence[float], scores: Sequence[float]) -> float:
    """Trapezoid rule: ``sum((x[i+1] - x[i]) * (y[i] + y[i+1]) / 2)``."""
    x = np.asarray(fractions, np.float64)
    y = np.asarray(scores, np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ParameterError("A curve needs matching 1-D x and y with at least two points.")
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def curve_mean(fractions: Sequence[float], scores: Sequence[float]) -> float:
    """The one definition of a curve's area in cnnvis: the trapezoid area divided by the
    length of the axis, i.e. the mean class probability along the curve (in [0, 1]).
    For deletion and insertion (axis [0, 1]) it equals the trapezoid area itself."""
    x = np.asarray(fractions, np.float64)
    return area_under_curve(x, scores) / float(x[-1] - x[0])


@dataclass(frozen=True)
class Faithfulness(Displayed):
    """Deletion and insertion curves of one map, with a random map's as the baseline."""

    model: str
    method: str
    class_index: int
    label: str
    deletion: Curve
    insertion: Curve
    random_deletion: Curve
    random_insertion: Curve
    random: str = "blobs"  # the kind of random map (see random_map)

    @property
    def score(self) -> float:
        """Insertion area minus deletion area: higher is more faithful (see compare)."""
        return self.insertion.auc - self.deletion.auc

    @property
    def curves(self) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """``[(method, fractions, deletion, insertion)]`` for
        :func:`cnnvis.render.deletion_insertion_chart`."""
        return [(self.method, self.deletion.fractions, self.deletion.scores, self.insertion.scores)]

    @property
    def baseline(self) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        return (
            f"random map ({self.random})",
            self.random_deletion.fractions,
            self.random_deletion.scores,
            self.random_insertion.scores,
        )

    @property
    def caption(self) -> str:
        return (
            f"{self.method} · {self.model} · {self.label} ({self.class_index}) · deletion "
            f"{self.deletion.auc:.3f} (random {self.random_deletion.auc:.3f}) · insertion "
            f"{self.insertion.auc:.3f} (random {self.random_insertion.auc:.3f})"
        )


def pixel_ranks(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rank[y, x]``: 0 for the most salient pixel, ties broken in a seeded random order
    (a stable sort would remove flat regions in raster order, top rows first)."""
    flat = values.ravel()
    order = np.lexsort((rng.permutation(flat.size), -flat.astype(np.float64)))
    ranks = np.empty(flat.size, np.int64)
    ranks[order] = np.arange(flat.size)
    return ranks.reshape(values.shape)


def blurred(pixels: np.ndarray) -> np.ndarray:
    """The insertion start: a Gaussian blur (kernel 11, sigma 5) of the pixels."""
    return cv2.GaussianBlur(pixels, (BLUR_KERNEL, BLUR_KERNEL), BLUR_SIGMA)


def class_probabilities(
    model: VisModel, rows, count: int, batch_size: int, class_index: int
) -> np.ndarray:
    """Probabilities of class ``class_index`` (by the model's own rule, see
    :meth:`VisModel.probabilities`) for ``count`` images made by ``rows(start, stop)``,
    ``batch_size`` images per compiled forward call."""
    forward = compiled.forward(model)
    scores = np.empty(count, np.float32)
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        logits = forward(rows(start, stop)).numpy()
        scores[start:stop] = model.probabilities(logits)[:, class_index]
    return scores


def _check_passes(maps: int, steps: int) -> None:
    if maps * 2 * (steps + 1) > MAX_PASSES:
        raise ParameterError(
            f"{maps} maps x {2 * (steps + 1)} images is too much work for one call (at most "
            f"{MAX_PASSES} forward passes): use fewer steps, methods or random maps."
        )


def curves_for_maps(
    model: VisModel,
    pixels: np.ndarray,
    maps: Sequence[np.ndarray],
    class_index: int,
    *,
    steps: int,
    seed: int,
    batch_size: int = 16,
) -> list[tuple[Curve, Curve]]:
    """(deletion, insertion) for each model-size map, in one stream of batched passes.

    ``pixels`` is the image at the model's input size (float32, h x w x 3, 0-255). Step
    ``k`` of ``steps`` removes (inserts) the ``round(k * h * w / steps)`` most salient
    pixels: deletion sets them to 0 (black), insertion copies them into the blurred image.
    """
    height, width = pixels.shape[:2]
    total = height * width
    counts = np.rint(np.arange(steps + 1) * total / steps).astype(np.int64)
    fractions = (np.arange(steps + 1) / steps).astype(np.float32)
    batch_size = compiled.capped_batch_size((height, width), batch_size)
    rng = np.random.default_rng(seed)
    ranks = [pixel_ranks(m, rng) for m in maps]
    start_insertion = blurred(pixels)
    per_map = 2 * (steps + 1)
    _check_passes(len(maps), steps)

    def rows(start: int, stop: int) -> np.ndarray:
        batch = np.empty((stop - start, height, width, 3), np.float32)
        for row in range(start, stop):
            which, rest = divmod(row, per_map)
            insertion, k = divmod(rest, steps + 1)
            chosen = (ranks[which] < counts[k])[..., None]
            if insertion:
                batch[row - start] = np.where(chosen, pixels, start_insertion)
            else:
                batch[row - start] = np.where(chosen, 0.0, pixels)
        return batch

    scores = class_probabilities(model, rows, len(maps) * per_map, batch_size, class_index)
    result = []
    for which in range(len(maps)):
        block = scores[which * per_map : (which + 1) * per_map]
        result.append((Curve(fractions, block[: steps + 1]), Curve(fractions, block[steps + 1 :])))
    return result


RANDOM_MAPS = ("blobs", "pixels")
BLOB_CELL = 32  # pixels per cell of a "blobs" random map: the usual network stride


def random_map(shape: tuple[int, int], kind: str, seed: int, index: int = 0) -> np.ndarray:
    """A seeded random saliency map at ``shape`` (the model's input size).

    ``"blobs"``: uniform noise on a grid of one cell per 32 pixels, upsampled
    bilinearly: random places at the granularity of a CAM (a 7 x 7 grid at 224 pixels).
    ``"pixels"``: independent uniform noise per pixel. Deleting scattered single pixels
    (black dots all over the photo) destroys a CNN's prediction far faster than deleting
    any region (on examples/cat.jpg with MobileNetV2 the probability falls from 0.85 to
    0.01 after 10 % of the pixels), so a per-pixel random map sets a deletion baseline
    that coarse maps cannot beat; "blobs" compares like with like.
    """
    rng = np.random.default_rng([seed, 1, index])
    if kind == "pixels":
        return rng.random(shape).astype(np.float32)
    grid = (max(2, round(shape[0] / BLOB_CELL)), max(2, round(shape[1] / BLOB_CELL)))
    return resize_map(rng.random(grid).astype(np.float32), shape)


def _with_baseline(
    model: VisModel,
    pixels: np.ndarray,
    maps: Sequence[np.ndarray],
    class_index: int,
    *,
    steps: int,
    seed: int,
    batch_size: int,
    random: str,
    random_maps: int,
) -> tuple[list[tuple[Curve, Curve]], tuple[Curve, Curve]]:
    """Curves of model-size ``maps`` and the mean curves of ``random_maps`` random maps
    (the area of a mean curve is the mean of the areas), all in one batched stream."""
    shape = pixels.shape[:2]
    baselines = [random_map(shape, random, seed, i) for i in range(random_maps)]
    curves = curves_for_maps(
        model,
        pixels,
        list(maps) + baselines,
        class_index,
        steps=steps,
        seed=seed,
        batch_size=batch_size,
    )
    tail = curves[len(maps) :]
    fractions = tail[0][0].fractions
    mean = tuple(
        Curve(fractions, np.mean([pair[side].scores for pair in tail], axis=0).astype(np.float32))
        for side in (0, 1)
    )
    return curves[: len(maps)], mean  # type: ignore[return-value]


def check_common(steps, seed, batch_size, random, random_maps) -> tuple[int, int, int, str, int]:
    return (
        check_int("steps", steps, 2, MAX_STEPS),
        check_int("seed", seed, 0, SEED_MAX),
        check_int("batch_size", batch_size, 1, MAX_BATCH),
        check_choice("random", random, RANDOM_MAPS),
        check_int("random_maps", random_maps, 1, MAX_RANDOM_MAPS),
    )


def deletion_insertion(
    model: VisModel | str,
    image,
    saliency,
    *,
    target_class: int | str | None = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = 16,
    random: str = "blobs",
    random_maps: int = 3,
    method: str | None = None,
) -> Faithfulness:
    """Deletion and insertion curves of ``saliency`` for one class (default: the top
    class of the image), plus those of a seeded random map.

    ``saliency``: an ``H x W`` map at the image's resolution (``Heatmap.heatmap``, or
    ``render.saliency`` of an attribution), or a technique's result. The map is resized
    to the model's input size, where pixels are removed or inserted ``1 / steps`` of them
    at a time; every curve has ``steps + 1`` points on a [0, 1] axis. ``random`` picks
    the kind of random map (see :func:`random_map`); the baseline curves are the mean
    curves of ``random_maps`` seeded random maps.
    """
    model = as_vis_model(model)
    steps, seed, batch_size, random, random_maps = check_common(
        steps, seed, batch_size, random, random_maps
    )
    prepared = prepare(model, image)
    values = map_for(prepared.size, saliency)
    pixels = prepared.batch[0]
    klass = class_index(model, prepared, target_class)
    [(deletion, insertion)], (random_deletion, random_insertion) = _with_baseline(
        model,
        pixels,
        [resize_map(values, pixels.shape[:2])],
        klass,
        steps=steps,
        seed=seed,
        batch_size=batch_size,
        random=random,
        random_maps=random_maps,
    )
    name = method or getattr(saliency, "method", None) or "saliency map"
    return Faithfulness(
        model=model.name,
        method=str(name),
        class_index=klass,
        label=model.class_label(klass),
        deletion=deletion,
        insertion=insertion,
        random_deletion=random_deletion,
        random_insertion=random_insertion,
        random=random,
    )


# ----- compare -------------------------------------------------------------------------
@dataclass(frozen=True)
class ComparisonRow:
    """One method's map and its deletion and insertion curves."""

    name: str  # the registry name
    title: str
    map: np.ndarray  # float32 H x W at the image's resolution
    deletion: Curve
    insertion: Curve
    seconds: float  # time the method itself took

    @property
    def score(self) -> float:
        """Insertion area minus deletion area (higher is more faithful)."""
        return self.insertion.auc - self.deletion.auc


@dataclass(frozen=True)
class Comparison(Displayed):
    """Several methods on one photo, most faithful first, and a random map's curves."""

    model: str
    class_index: int
    label: str
    steps: int
    rows: tuple[ComparisonRow, ...]
    random_deletion: Curve
    random_insertion: Curve
    random: str  # the kind of random map: "blobs" or "pixels"

    @property
    def ranking(self) -> tuple[str, ...]:
        return tuple(row.name for row in self.rows)

    @property
    def curves(self) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """``(title, fractions, deletion, insertion)`` per method, for
        :func:`cnnvis.render.deletion_insertion_chart`."""
        return [
            (r.title, r.deletion.fractions, r.deletion.scores, r.insertion.scores)
            for r in self.rows
        ]

    @property
    def baseline(self) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        return (
            f"random map ({self.random})",
            self.random_deletion.fractions,
            self.random_deletion.scores,
            self.random_insertion.scores,
        )

    @property
    def caption(self) -> str:
        target = f"{self.label} ({self.class_index})"
        return f"Deletion / insertion · {self.model} · {target} · {self.steps} steps"


def call_with_class(function: Callable, model: VisModel, image, class_index: int):
    """``function(model, image, target_class=class_index)``, or without the class for a
    class-agnostic method (one without a ``target_class`` parameter)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        parameters = {}
    accepts = "target_class" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
    if accepts:
        return function(model, image, target_class=class_index)
    return function(model, image)


def rank_methods(
    model: VisModel | str,
    image,
    methods: Mapping[str, Callable],
    *,
    titles: Mapping[str, str] | None = None,
    target_class: int | str | None = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = 16,
    random: str = "blobs",
    random_maps: int = 3,
) -> Comparison:
    """Rank methods by faithfulness on one photo (deletion and insertion, RISE).

    ``methods`` maps a name to a function ``f(model, image, target_class=index)`` that
    returns a map or a technique's result (see :func:`cnnvis.maps.saliency_map`); ``titles``
    gives each a title for the chart (default: its name). Every method explains the same
    class (default: the image's top class). Each map gets deletion and insertion curves
    (see :func:`deletion_insertion`); rows are sorted by insertion area minus deletion
    area, highest first: both areas are class probabilities averaged over the same
    [0, 1] axis, so the difference weighs "removing the top pixels destroys the
    evidence" and "the top pixels alone restore it" equally. A random map's curves come
    alongside (the mean of ``random_maps`` random maps of kind ``random``: see
    :func:`random_map`).
    """
    model = as_vis_model(model)
    if not isinstance(methods, Mapping) or not 1 <= len(methods) <= MAX_METHODS:
        raise ParameterError(f"Compare between 1 and {MAX_METHODS} methods at once.")
    if not all(callable(function) for function in methods.values()):
        raise ParameterError("Every method must be a function of (model, image).")
    titles = dict(titles or {})
    steps, seed, batch_size, random, random_maps = check_common(
        steps, seed, batch_size, random, random_maps
    )
    _check_passes(len(methods) + random_maps, steps)
    prepared = prepare(model, image)
    klass = class_index(model, prepared, target_class)
    pixels = prepared.batch[0]
    maps, seconds = [], []
    for function in methods.values():
        start = time.perf_counter()
        result = call_with_class(function, model, prepared.image, klass)
        seconds.append(time.perf_counter() - start)
        maps.append(map_for(prepared.size, result))
    curves, (random_deletion, random_insertion) = _with_baseline(
        model,
        pixels,
        [resize_map(m, pixels.shape[:2]) for m in maps],
        klass,
        steps=steps,
        seed=seed,
        batch_size=batch_size,
        random=random,
        random_maps=random_maps,
    )
    rows = [
        ComparisonRow(str(name), titles.get(name, str(name)), values, deletion, insertion, spent)
        for name, values, (deletion, insertion), spent in zip(methods, maps, curves, seconds)
    ]
    rows.sort(key=lambda row: -row.score)
    return Comparison(
        model=model.name,
        class_index=klass,
        label=model.class_label(klass),
        steps=steps,
        rows=tuple(rows),
        random_deletion=random_deletion,
        random_insertion=random_insertion,
        random=random,
    )


# ----- similarity of maps --------------------------------------------------------------
def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of the values, ties sharing their mean rank."""
    flat = np.asarray(values, np.float64).ravel()
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], flat.size]
    mean_rank = (starts + ends + 1) / 2.0  # ranks start + 1 .. end, averaged
    result = np.empty(flat.size)
    result[order] = np.repeat(mean_rank, ends - starts)
    return result


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of the same shape (Pearson of the ranks).

    A constant map carries no ranking: two constant maps count as identical (1.0) when
    equal and unrelated (0.0) otherwise; one constant map against a varying one is 0.0.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ParameterError(f"Maps of different shapes: {a.shape} and {b.shape}.")
    ra, rb = ranks(a), ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    norm = np.sqrt((ra**2).sum() * (rb**2).sum())
    if norm == 0:
        both_constant = np.ptp(a) == 0 and np.ptp(b) == 0
        return 1.0 if both_constant and np.array_equal(a, b) else 0.0
    return float(np.clip((ra * rb).sum() / norm, -1.0, 1.0))


def _unit(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64)
    span = float(np.ptp(values))
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity (Wang et al. 2004) of two maps, each first scaled to
    [0, 1] by its own minimum and maximum; Gaussian window sigma 1.5, C1 = 0.01^2,
    C2 = 0.03^2. 1.0 for identical maps."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2:
        raise ParameterError(
            f"SSIM needs two H x W maps of one shape, got {a.shape} and {b.shape}."
        )
    x, y = _unit(a), _unit(b)

    def blur(values: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(values, (SSIM_KERNEL, SSIM_KERNEL), SSIM_SIGMA)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(index.mean())


# ----- model randomisation -------------------------------------------------------------
def independent_copy(model: VisModel) -> VisModel:
    """A copy of ``model`` that shares no variable with it (the cached model is never
    modified): a fresh registry build, or ``keras.models.clone_model`` for a wrapped
    model, with the weights copied over."""
    source = model.keras_model
    if model.spec is not None:
        copy = model.spec.build()
    else:
        copy = keras.models.clone_model(source)
    copy.set_weights(source.get_weights())
    shared = {id(v) for v in source.weights} & {id(v) for v in copy.weights}
    if shared or graph._graph_of(copy) is None:
        raise ComputeError(f"Could not make an independent copy of {model.name} to randomise.")
    return VisModel(
        copy,
        model.preprocessing,
        name=f"{model.name} (randomised)",
        spec=model.spec,
        weights="randomised copy",
        class_names=model.class_names,
        input_size=None if None in model.input_size else model.input_size,
    )


_NORMALISATION_TYPES = (
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "UnitNormalization",
    "Normalization",
    "Rescaling",
)


def weighted_layers(model: VisModel) -> list:
    """Layers with weights that randomisation re-draws, in graph order (bottom to top):
    everything but normalisation layers (whose statistics belong to the data) and the
    nested models themselves (their layers are listed)."""
    layers = []
    for layer in graph.iter_layers(model.keras_model):
        if graph._graph_of(layer) is not None or type(layer).__name__ in _NORMALISATION_TYPES:
            continue
        if type(layer).__name__ in blocks.ENCODERS:  # its opened blocks are listed
            continue
        if getattr(layer, "weights", None):  # bare operations (ConvNeXt's adds) have none
            layers.append(layer)
    return layers


def randomization_groups(model: VisModel, steps: int) -> list[list[str]]:
    """Names of the weighted layers in ``steps`` groups from the top of the network.

    The first group is the classifier head (the layers after the default Grad-CAM
    layer, e.g. the logits). The rest of the network is cut into ``steps - 1`` groups
    of about equal numbers of layers, cutting only at block outputs (residual additions,
    concatenations, nested models) where the network has them, so a group holds whole
    blocks. The last group reaches the first layer: every layer is random at the end.
    One step randomises everything at once; a network with few blocks may give fewer
    groups than ``steps``.
    """
    order = list(graph.iter_layers(model.keras_model))
    position = {id(layer): i for i, layer in enumerate(order)}
    weighted = weighted_layers(model)
    if not weighted:
        raise ParameterError(f"{model.name} has no weights to randomise.")
    head_from = position.get(id(model.layer(model.default_layer)), len(order))
    if steps == 1:
        return [[layer.name for layer in reversed(weighted)]]
    head = [layer for layer in weighted if position[id(layer)] > head_from]
    body = [layer for layer in weighted if position[id(layer)] <= head_from]
    kinds = {info.name: info.kind for info in model.layer_infos}
    boundaries = np.array(
        [position[id(op)] for op in order if kinds.get(op.name) == "block"], np.int64
    )
    # cut_after[i]: a block boundary lies between body[i] and body[i + 1].
    cuts = [
        i
        for i in range(len(body) - 1)
        if ((boundaries >= position[id(body[i])]) & (boundaries < position[id(body[i + 1])])).any()
    ]
    if not cuts:
        cuts = list(range(len(body) - 1))  # no blocks: any layer may start a group
    wanted = max(1, steps - (1 if head else 0))
    chosen: set[int] = set()
    if wanted > 1 and cuts:
        # Cut positions nearest to equal shares of the body, counted from the top.
        for share in range(1, wanted):
            target = len(body) - 1 - share * len(body) / wanted
            chosen.add(min(cuts, key=lambda c: (abs(c - target), c)))
    groups: list[list[str]] = [[layer.name for layer in reversed(head)]] if head else []
    top = len(body)
    for cut in sorted(chosen, reverse=True):
        groups.append([layer.name for layer in reversed(body[cut + 1 : top])])
        top = cut + 1
    groups.append([layer.name for layer in reversed(body[:top])])
    return [group for group in groups if group]


def randomise(model: VisModel, names: Sequence[str], rng: np.random.Generator) -> None:
    """Re-draw every weight of the named layers from N(0, std of the weight), in place
    (on the independent copy): the scale is kept, so activations neither vanish nor
    explode, and everything the training taught is gone. All-zero weights stay zero,
    as a fresh layer's biases are."""
    for name in names:
        for variable in model.layer(name).weights:
            value = np.asarray(variable)
            if not np.issubdtype(value.dtype, np.floating):
                continue
            std = float(value.std())
            variable.assign(
                rng.normal(0.0, std, value.shape).astype(value.dtype) if std > 0 else value
            )


@dataclass(frozen=True)
class RandomizationCheck(Displayed):
    """How each method's map changes as the network is randomised from the top."""

    model: str
    class_index: int
    label: str
    methods: tuple[str, ...]
    steps: tuple[str, ...]  # "trained copy", then per step the deepest layer randomised so far
    layers_randomised: tuple[int, ...]  # per step: how many layers are random (0 first)
    spearman: np.ndarray  # float32 (methods, steps): rank correlation with the original map
    ssim: np.ndarray  # float32 (methods, steps): structural similarity to the original map
    original_maps: tuple[np.ndarray, ...]  # per method, H x W
    maps: tuple[tuple[np.ndarray, ...], ...]  # per method, per step, H x W

    @property
    def caption(self) -> str:
        return f"Model randomisation · {self.model} · {self.label} ({self.class_index})"


def _functions(methods) -> list[tuple[str, Callable]]:
    """(name, function) pairs from a mapping or a sequence of functions."""
    if callable(methods):
        methods = [methods]
    if isinstance(methods, Mapping):
        items = [(str(name), function) for name, function in methods.items()]
    elif isinstance(methods, (str, bytes)):
        items = [("method", methods)]
    else:
        items = [(getattr(m, "__name__", "method"), m) for m in methods]
    if not 1 <= len(items) <= MAX_RANDOMIZATION_METHODS:
        raise ParameterError(f"Check between 1 and {MAX_RANDOMIZATION_METHODS} methods at once.")
    for name, function in items:
        if not callable(function):
            raise ParameterError(f"The method {quoted(name)} is not a function of (model, image).")
    if len({name for name, _ in items}) != len(items):
        raise ParameterError("Give each method a different name.")
    return items


def randomization_check(
    model: VisModel | str,
    image,
    methods: Sequence[Callable] | Mapping[str, Callable],
    *,
    target_class: int | str | None = None,
    steps: int = 6,
    seed: int = 0,
) -> RandomizationCheck:
    """Cascading model-parameter randomisation (Adebayo et al. 2018).

    ``methods``: functions, or a mapping from names to functions (registry names are
    resolved by :func:`cnnvis.evaluation.checks.randomization_check`); a function is called as ``method(model, image, target_class=index)`` and returns an
    ``H x W`` map, an attribution array, or a technique's result. Every map explains the
    same class (default: the top class of the trained model). At each of ``steps``
    steps one more group of layers (see :func:`randomization_groups`) of an independent
    copy of the model is re-drawn at random, and each method's map is compared with its
    map on the trained model; the results start with the untouched copy (similarity 1
    when the copy is exact).
    """
    model = as_vis_model(model)
    resolved = _functions(methods)
    steps = check_int("steps", steps, 1, MAX_RANDOMIZATION_STEPS)
    seed = check_int("seed", seed, 0, SEED_MAX)
    prepared = prepare(model, image)
    klass = class_index(model, prepared, target_class)

    def maps_of(vis_model: VisModel) -> list[np.ndarray]:
        return [
            map_for(prepared.size, call_with_class(fn, vis_model, prepared.image, klass))
            for _, fn in resolved
        ]

    originals = maps_of(model)
    copy = independent_copy(model)
    groups = randomization_groups(copy, steps)
    rng = np.random.default_rng(seed)
    # Step 0, the untouched copy, checks the copy itself: it must give the same maps.
    per_step: list[list[np.ndarray]] = [maps_of(copy)]
    labels, counts, done = ["trained copy"], [0], 0
    for group in groups:
        randomise(copy, group, rng)
        done += len(group)
        labels.append(group[-1])
        counts.append(done)
        per_step.append(maps_of(copy))
    rho = np.array([[spearman(o, step[i]) for step in per_step] for i, o in enumerate(originals)])
    similarity = np.array(
        [[ssim(o, step[i]) for step in per_step] for i, o in enumerate(originals)]
    )
    return RandomizationCheck(
        model=model.name,
        class_index=klass,
        label=model.class_label(klass),
        methods=tuple(name for name, _ in resolved),
        steps=tuple(labels),
        layers_randomised=tuple(counts),
        spearman=rho.astype(np.float32),
        ssim=similarity.astype(np.float32),
        original_maps=tuple(originals),
        maps=tuple(tuple(step[i] for step in per_step) for i in range(len(resolved))),
    )


# ----- the pointing game ---------------------------------------------------------------
@dataclass(frozen=True)
class PointingResult:
    """Whether the map's maximum points at the object."""

    hit: bool
    peak: tuple[int, int]  # (x, y) in image pixels
    distance: float  # pixels from the peak to the box (0 inside)
    box: tuple[float, float, float, float]
    tolerance: float


def pointing_game(
    saliency, box: Sequence[float], *, tolerance: float = POINTING_TOLERANCE
) -> PointingResult:
    """A hit when the map's maximum lies inside ``box = (x0, y0, x1, y1)`` (image pixels,
    x to the right, y down, edges included) or within ``tolerance`` pixels of it.

    The peak is the first maximum in raster order.
    """
    values = saliency_map(saliency)
    height, width = values.shape
    if isinstance(box, (str, bytes)) or len(box) != 4:
        raise ParameterError("The box must be four numbers (x0, y0, x1, y1).")
    x0, y0, x1, y1 = (check_float(n, v, -1e6, 1e6) for n, v in zip(("x0", "y0", "x1", "y1"), box))
    if not (x0 <= x1 and y0 <= y1):
        raise ParameterError("The box needs x0 <= x1 and y0 <= y1.")
    if x1 < 0 or y1 < 0 or x0 > width - 1 or y0 > height - 1:
        raise ParameterError(f"The box lies outside the {width} x {height} image.")
    tolerance = check_float("tolerance", tolerance, 0.0, float(max(height, width)))
    y, x = np.unravel_index(int(np.argmax(values)), values.shape)
    dx = max(x0 - x, 0.0, x - x1)
    dy = max(y0 - y, 0.0, y - y1)
    distance = float(np.hypot(dx, dy))
    return PointingResult(
        hit=distance <= tolerance,
        peak=(int(x), int(y)),
        distance=distance,
        box=(x0, y0, x1, y1),
        tolerance=tolerance,
    )


__all__ = [
    "Curve",
    "Faithfulness",
    "Comparison",
    "ComparisonRow",
    "RandomizationCheck",
    "PointingResult",
    "area_under_curve",
    "deletion_insertion",
    "rank_methods",
    "randomization_check",
    "randomization_groups",
    "independent_copy",
    "pointing_game",
    "saliency_map",
    "spearman",
    "ssim",
    "ranks",
]
