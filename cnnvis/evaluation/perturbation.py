"""The trust report's perturbed images, all in one stream of batched forward passes.

Deletion and insertion (Petsiuk, Das & Saenko 2018, RISE), built as
:func:`cnnvis.evaluation.metrics.curves_for_maps` builds them, and ROAD most and least relevant
first (Rong et al. 2022, :mod:`cnnvis.evaluation.road`), for every map at once.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from . import metrics
from . import road
from ..images import resize_map
from ..models.loading import VisModel
from ..techniques import compiled

if TYPE_CHECKING:
    from .null import Transform

# Threads making perturbed images (each imputation holds one sparse LU factor: about
# 45 MB at 224 x 224, 160 MB at the 400 x 400 bound, see cnnvis.evaluation.road), and how many
# batches they work ahead of the forward passes.
IMPUTATION_WORKERS = 2
LOOKAHEAD = 2


@dataclass
class StreamCost:
    """What one stream did, and how long it took."""

    passes: int = 0
    imputations: int = 0
    imputed_pixels: int = 0
    imputation_seconds: float = 0.0  # spent imputing, summed over the workers
    waiting_seconds: float = 0.0  # the forward passes waited for images this long
    seconds: float = 0.0  # the whole stream


def perturbation_curves(
    model: VisModel,
    pixels: np.ndarray,
    maps: Sequence[np.ndarray],
    tests: Sequence[Sequence[str]],
    class_index: int,
    *,
    keys: Sequence[Sequence[int]],
    steps: int,
    fractions: Sequence[float],
    seed: int,
    batch_size: int = 16,
    progress: Callable[[float, str], None] | None = None,
    moved: Sequence[tuple[int, "Transform"]] = (),
    torus: bool = False,
) -> tuple[list[dict[str, metrics.Curve]], StreamCost]:
    """Curves of every model-size map for its ``tests`` (of "deletion", "insertion",
    "road_morf", "road_lerf"), from one stream of batched forward passes of the class
    probability. The images that no map changes (the photo, the black image, the
    blurred photo: each curve's first or last point) go through the model once.

    Deletion and insertion images are built as :func:`cnnvis.evaluation.metrics.curves_for_maps`
    builds them; ROAD curves start at fraction 0 with the photo's own probability, then
    one imputed image per fraction. Each map has its own random streams, named by its
    ``key`` (integers): the ties of its pixel ranks are broken by
    ``numpy.random.default_rng([seed, 11, *key])`` and the noise of its imputation in
    order ``o`` at fraction ``k`` comes from ``default_rng([seed, 7, *key, o, k])``, so a
    map's curves depend neither on the batch size nor on the other maps of the stream.

    ``moved``: more maps, each given as (index of a map, a
    :class:`cnnvis.evaluation.null.Transform`): that map's pixel ranks flipped and moved
    (its ties broken once), with its tests; their curves follow the maps' in the result,
    and ``keys`` names them too (after the maps'). ``torus``: ROAD imputes on the torus
    (:class:`cnnvis.evaluation.road.TorusImputer`), so that one factor per map, order and
    fraction serves the map and all its moved copies.
    """
    height, width = pixels.shape[:2]
    total = height * width
    counts = np.rint(np.arange(steps + 1) * total / steps).astype(np.int64)
    rise_axis = (np.arange(steps + 1) / steps).astype(np.float32)
    road_axis = np.array((0.0, *fractions), np.float32)
    ranks = [
        metrics.pixel_ranks(m, np.random.default_rng([seed, 11, *key])) for m, key in zip(maps, keys)
    ]
    sources = list(range(len(maps)))
    transforms: list = [None] * len(maps)
    for source, transform in moved:
        ranks.append(transform.apply(ranks[source]))
        sources.append(source)
        transforms.append(transform)
    tests = list(tests) + [tests[source] for source, _ in moved]
    start_insertion = metrics.blurred(pixels)
    batch_size = compiled.capped_batch_size((height, width), batch_size)

    # The images no map changes go through the model once: the photo (deletion's and
    # ROAD's first point, insertion's last), the black image and the blurred photo.
    shared = ["photo"]
    shared += ["black"] if any("deletion" in w for w in tests) else []
    shared += ["blurred"] if any("insertion" in w for w in tests) else []
    specs: list[tuple[int, str, int]] = [(-1, name, 0) for name in shared]
    family: dict[int, list[int]] = {}  # a map and its moved copies, for ROAD's shared factor
    for j, source in enumerate(sources):
        family.setdefault(source, []).append(j)
    for source, members in family.items():
        for j in members:
            for test in ("deletion", "insertion"):
                if test in tests[j]:
                    specs += [(j, test, k) for k in range(1, steps)]
        for test in ("road_morf", "road_lerf"):
            for k in range(len(fractions)):
                specs += [(j, test, k) for j in members if test in tests[j]]
    # ROAD's factors on the torus: built by the first image that needs one, dropped
    # after the last, so only those of the images in flight are held.
    users: dict[tuple, int] = {}
    for j, test, k in specs:
        if torus and test.startswith("road_"):
            key = (sources[j], test, k)
            users[key] = users.get(key, 0) + 1
    factors: dict[tuple, dict] = {}
    guard = threading.Lock()

    def imputer(key: tuple) -> "road.TorusImputer":
        with guard:
            entry = factors.setdefault(key, {"lock": threading.Lock(), "imputer": None})
        with entry["lock"]:
            if entry["imputer"] is None:
                source, test, k = key
                order = test.removeprefix("road_")
                entry["imputer"] = road.TorusImputer(road.removed_pixels(ranks[source], fractions[k], order))
        return entry["imputer"]

    def release(key: tuple) -> None:
        with guard:
            users[key] -= 1
            if users[key] == 0:
                factors.pop(key, None)

    cost = StreamCost(passes=len(specs))

    def image(spec: tuple[int, str, int]) -> tuple[np.ndarray, float, int]:
        """One perturbed image, the seconds spent imputing it and the pixels imputed."""
        i, test, k = spec
        if test == "photo":
            return pixels, 0.0, 0
        if test == "black":
            return np.zeros_like(pixels), 0.0, 0
        if test == "blurred":
            return start_insertion, 0.0, 0
        if test == "deletion":
            return np.where((ranks[i] < counts[k])[..., None], 0.0, pixels), 0.0, 0
        if test == "insertion":
            return np.where((ranks[i] < counts[k])[..., None], pixels, start_insertion), 0.0, 0
        order = test.removeprefix("road_")
        start = time.perf_counter()
        noise = np.random.default_rng([seed, 7, *keys[i], road.ORDERS.index(order), k])
        if torus:
            key = (sources[i], test, k)
            try:
                solver = imputer(key)
                imputed = solver.impute(pixels, transforms[i], rng=noise)
            finally:
                release(key)
            return imputed, time.perf_counter() - start, int(solver.index.size)
        removed = road.removed_pixels(ranks[i], fractions[k], order)
        imputed = road.impute(pixels, removed, rng=noise)
        return imputed, time.perf_counter() - start, int(removed.sum())

    # The images of the next LOOKAHEAD batches are made by IMPUTATION_WORKERS threads
    # while the model runs the current batch: SuperLU releases the GIL, so the sparse
    # solves use both cores between forward passes. Each image depends only on its own
    # seeds, so the results do not depend on this timing.
    began = time.perf_counter()
    with ThreadPoolExecutor(IMPUTATION_WORKERS, thread_name_prefix="cnnvis-road") as pool:
        ahead: dict[tuple[int, int], list[Future]] = {}

        def submit(start: int, stop: int) -> list[Future]:
            return [pool.submit(image, specs[row]) for row in range(start, stop)]

        def rows(start: int, stop: int) -> np.ndarray:
            if progress is not None:
                progress(start / len(specs), f"{start} of {len(specs)} perturbed images")
            futures = ahead.pop((start, stop), None) or submit(start, stop)
            for later in range(1, LOOKAHEAD + 1):
                begin = start + later * batch_size
                span = (begin, min(begin + batch_size, len(specs)))
                if span[0] < span[1] and span not in ahead:
                    ahead[span] = submit(*span)
            waited = time.perf_counter()
            batch = np.empty((stop - start, height, width, 3), np.float32)
            for row, future in enumerate(futures):
                batch[row], seconds, imputed = future.result()
                if imputed:
                    cost.imputations += 1
                    cost.imputed_pixels += imputed
                    cost.imputation_seconds += seconds
            cost.waiting_seconds += time.perf_counter() - waited
            return batch

        try:
            scores = metrics.class_probabilities(model, rows, len(specs), batch_size, class_index)
        finally:
            for futures in ahead.values():
                for future in futures:
                    future.cancel()
    cost.seconds = time.perf_counter() - began
    collected: list[dict[str, list[float]]] = [{} for _ in ranks]
    common: dict[str, float] = {}
    for (i, test, _), score in zip(specs, scores):
        if i < 0:
            common[test] = float(score)
        else:
            collected[i].setdefault(test, []).append(float(score))
    clean = common["photo"]
    ends = {"deletion": (clean, common.get("black")), "insertion": (common.get("blurred"), clean)}
    curves = []
    for i, wanted in enumerate(tests):
        entry = {}
        for test in wanted:
            if test in ends:
                first, last = ends[test]
                values = np.array([first, *collected[i].get(test, []), last], np.float32)
                entry[test] = metrics.Curve(rise_axis, values)
            else:
                values = np.array([clean, *collected[i][test]], np.float32)
                entry[test] = metrics.Curve(road_axis, values)
        curves.append(entry)
    return curves, cost


@dataclass(frozen=True)
class RoadCurves:
    """ROAD's two curves for one map, and the mean curves of seeded random maps."""

    morf: metrics.Curve  # most relevant removed first: lower is better
    lerf: metrics.Curve  # least relevant removed first: higher is better
    random_morf: metrics.Curve
    random_lerf: metrics.Curve


ROAD_TESTS = ("road_morf", "road_lerf")


def road_curves_of_maps(
    model: VisModel,
    pixels: np.ndarray,
    maps: Sequence[np.ndarray],
    class_index: int,
    *,
    fractions: Sequence[float] = road.DEFAULT_FRACTIONS,
    seed: int = 0,
    random: str = "blobs",
    random_maps: int = 3,
    batch_size: int = 16,
) -> tuple[list[tuple[metrics.Curve, metrics.Curve]], tuple[metrics.Curve, metrics.Curve]]:
    """ROAD (MoRF, LeRF) of each model-size map and the mean curves of ``random_maps``
    random maps of kind ``random``, in one stream. Every map is measured with the same
    seeds, as if alone (so a map's numbers do not depend on the others)."""
    shape = pixels.shape[:2]
    road.check_size(shape, model.name)
    fractions = road.check_fractions(fractions)
    baselines = [metrics.random_map(shape, random, seed, i) for i in range(random_maps)]
    every = list(maps) + baselines
    keys = [(0,)] * len(maps) + [(1, i) for i in range(random_maps)]
    curves, _ = perturbation_curves(
        model, pixels, every, [ROAD_TESTS] * len(every), class_index,
        keys=keys, steps=2, fractions=fractions, seed=seed, batch_size=batch_size,
    )
    pairs = [(c["road_morf"], c["road_lerf"]) for c in curves]
    tail = pairs[len(maps):]
    mean = tuple(
        metrics.Curve(tail[0][side].fractions, np.mean([p[side].scores for p in tail], axis=0))
        for side in (0, 1)
    )
    return pairs[: len(maps)], mean  # type: ignore[return-value]


def road_curves(
    model: VisModel | str,
    image,
    saliency,
    *,
    target_class: int | str | None = None,
    fractions: Sequence[float] = road.DEFAULT_FRACTIONS,
    seed: int = 0,
    random: str = "blobs",
    random_maps: int = 3,
    batch_size: int = 16,
) -> RoadCurves:
    """ROAD for one map (Rong et al. 2022): the class probability as the most (MoRF)
    and least (LeRF) relevant pixels are removed by noisy linear imputation, at
    ``fractions``, with the mean curves of seeded random maps as the baseline.
    ``saliency``: an H x W map at the image's resolution, or a technique's result."""
    from ..models.loading import as_vis_model
    from ..techniques.base import class_index, prepare

    model = as_vis_model(model)
    _, seed, batch_size, random, random_maps = metrics.check_common(
        2, seed, batch_size, random, random_maps
    )
    prepared = prepare(model, image)
    values = metrics.map_for(prepared.size, saliency)
    pixels = prepared.batch[0]
    klass = class_index(model, prepared, target_class)
    [(morf, lerf)], (random_morf, random_lerf) = road_curves_of_maps(
        model, pixels, [resize_map(values, pixels.shape[:2])], klass,
        fractions=fractions, seed=seed, random=random, random_maps=random_maps,
        batch_size=batch_size,
    )
    return RoadCurves(morf, lerf, random_morf, random_lerf)


__all__ = ["RoadCurves", "perturbation_curves", "road_curves", "road_curves_of_maps", "StreamCost"]
