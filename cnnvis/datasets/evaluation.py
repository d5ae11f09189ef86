"""Faithfulness of explanation methods over a dataset (``cnnvis evaluate``).

Each image is explained by every method for one class (the image's top class, or the
class asked for), with the batched techniques of :mod:`cnnvis.datasets.batched`; each
map, at the photo's size as the package functions return it, is then measured by every
metric of :data:`METRICS`, with a random-map baseline, exactly as the per-image metric
functions measure it (``cnnvis.evaluation.metrics.deletion_insertion`` gives the same numbers for
the same map). The summary is the layout of the RISE paper's Table 1 (Petsiuk, Das &
Saenko 2018): one row per method, one column per measure, mean and standard deviation
over the images, and the random map as the last row.

A metric is a small object (:class:`Metric`): its columns, and a ``measure`` function
from one image's maps to one value per column for each map and for the baseline. Adding
a metric is one class and one entry in :data:`METRICS`; the command line, the CSV files
and the printed table follow from it. Deletion/insertion (RISE) and ROAD are there.

Every number is a curve's **area** as cnnvis defines it everywhere (the trust report,
the page, these columns): the **mean probability** along the curve, i.e. the trapezoid
area divided by the length of the curve's axis (``Curve.area``,
:func:`cnnvis.evaluation.metrics.curve_mean`). For deletion and insertion (axis [0, 1])
it is the trapezoid area itself; for ROAD (axis [0, 0.9] by default) it is the
trapezoid divided by 0.9, so that every column lies in [0, 1].
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Protocol, Sequence

import numpy as np

from ..images import resize_map
from ..techniques.base import top_class
from .decode import Decoded, FileError, batches, decode_window, prefetch
from .files import stored_name
from .run import DatasetRun, explain_dataset, progress_bar

SUMMARY_CSV = "evaluation.csv"
IMAGES_CSV = "evaluation_images.csv"
ERRORS_CSV = "evaluation_errors.csv"
RANDOM = "random"  # the method name of the random-map baseline in tables


@dataclass(frozen=True)
class Column:
    """One measured number per map."""

    name: str  # the CSV column, e.g. "deletion"
    title: str  # e.g. "Deletion, mean probability"
    better: str  # "lower" or "higher"


@dataclass(frozen=True)
class EvaluationSettings:
    """The knobs every metric shares (bounds: :func:`cnnvis.evaluation.metrics.deletion_insertion`)."""

    steps: int = 20
    seed: int = 0
    random: str = "blobs"  # the kind of random map (cnnvis.evaluation.metrics.random_map)
    random_maps: int = 3
    batch_size: int = 16  # perturbed images per compiled forward call

    def checked(self) -> "EvaluationSettings":
        from ..evaluation.metrics import check_common

        steps, seed, batch_size, random, random_maps = check_common(
            self.steps, self.seed, self.batch_size, self.random, self.random_maps
        )
        return EvaluationSettings(steps, seed, random, random_maps, batch_size)


class Metric(Protocol):
    """A faithfulness measure of saliency maps, with a random-map baseline."""

    name: str
    title: str
    paper: str
    columns: tuple[Column, ...]

    def measure(
        self,
        model,
        pixels: np.ndarray,
        maps: Sequence[np.ndarray],
        class_index: int,
        settings: EvaluationSettings,
    ) -> tuple[list[dict[str, float]], dict[str, float]]:
        """``pixels``: the photo at the model's input size (float32 h x w x 3, 0-255);
        ``maps``: one H x W map per method at the photo's size. Returns each map's
        values and the random baseline's, by column name."""
        ...


class DeletionInsertion:
    """RISE's deletion and insertion areas, as :func:`cnnvis.evaluation.metrics.deletion_insertion`
    computes them for each map (the same tie-breaking, random maps and class)."""

    name = "deletion_insertion"
    title = "Deletion and insertion"
    paper = "Petsiuk, Das & Saenko 2018 (RISE)"
    columns = (
        Column("deletion", "Deletion, mean probability", "lower"),
        Column("insertion", "Insertion, mean probability", "higher"),
    )

    def measure(self, model, pixels, maps, class_index, settings):
        from ..evaluation.metrics import _with_baseline, curves_for_maps

        shape = pixels.shape[:2]
        model_maps = [resize_map(m, shape) for m in maps]
        common = dict(steps=settings.steps, seed=settings.seed, batch_size=settings.batch_size)
        # The first map shares its call with the random maps, exactly as in
        # deletion_insertion; every other map gets its own call, so that each is ranked
        # with the same seeded tie-breaking as deletion_insertion would rank it alone.
        [first], (random_deletion, random_insertion) = _with_baseline(
            model,
            pixels,
            model_maps[:1],
            class_index,
            random=settings.random,
            random_maps=settings.random_maps,
            **common,
        )
        curves = [first] + [
            curves_for_maps(model, pixels, [m], class_index, **common)[0] for m in model_maps[1:]
        ]
        values = [{"deletion": d.area, "insertion": i.area} for d, i in curves]
        return values, {"deletion": random_deletion.area, "insertion": random_insertion.area}


class Road:
    """ROAD's areas (Rong et al. 2022), most and least relevant pixels removed first by
    noisy linear imputation, as :func:`cnnvis.evaluation.perturbation.road_curves` computes them for
    each map (the same seeds, random maps and class)."""

    name = "road"
    title = "ROAD"
    paper = "Rong et al. 2022 (ROAD)"
    columns = (
        Column("road_morf", "ROAD MoRF, mean probability", "lower"),
        Column("road_lerf", "ROAD LeRF, mean probability", "higher"),
    )

    def measure(self, model, pixels, maps, class_index, settings):
        from ..evaluation.perturbation import road_curves_of_maps

        shape = pixels.shape[:2]
        curves, (random_morf, random_lerf) = road_curves_of_maps(
            model,
            pixels,
            [resize_map(m, shape) for m in maps],
            class_index,
            seed=settings.seed,
            random=settings.random,
            random_maps=settings.random_maps,
            batch_size=settings.batch_size,
        )
        values = [{"road_morf": m.area, "road_lerf": lerf.area} for m, lerf in curves]
        return values, {"road_morf": random_morf.area, "road_lerf": random_lerf.area}


# The metrics `cnnvis evaluate` can compute, by name (the choices of --metrics).
METRICS: dict[str, Metric] = {metric.name: metric for metric in (DeletionInsertion(), Road())}


@dataclass(frozen=True)
class ImageEvaluation:
    """One image's numbers: per method (and for "random") the value of each column."""

    path: str
    class_index: int
    label: str
    values: Mapping[str, Mapping[str, float]]  # method (or RANDOM) -> column -> value


@dataclass
class Statistic:
    values: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation over the images (0 for one image)."""
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0


class EvaluationRun:
    """Maps and metrics over a dataset; iterate for :class:`ImageEvaluation` objects."""

    def __init__(self, run: DatasetRun, metrics: Sequence[Metric], settings: EvaluationSettings) -> None:
        self.run = run
        self.metrics = tuple(metrics)
        self.settings = settings
        self.columns = tuple(c for m in self.metrics for c in m.columns)
        self.errors: list[FileError] = []
        self.statistics: dict[str, dict[str, Statistic]] = {}

    @property
    def methods(self) -> tuple[str, ...]:
        return self.run.settings.methods

    def _batches(self) -> Iterator[tuple[list[Decoded], list[FileError]]]:
        explainer = self.run.explainer
        items = prefetch(
            self.run.paths,
            explainer.input_size,
            self.run.settings.seed,
            workers=self.run.workers,
            window=decode_window(self.run.settings.batch_size, self.run.workers),
        )
        return batches(items, self.run.settings.batch_size)

    def __iter__(self) -> Iterator[ImageEvaluation]:
        from ..maps import saliency_map

        explainer = self.run.explainer
        model = explainer.model
        for decoded, errors in self._batches():
            self.errors.extend(errors)
            if not decoded:
                continue
            batch = explainer.batch(decoded)
            if explainer.class_index is None:
                classes = np.array([top_class(values) for values in batch.logits()], np.int32)
                batch = explainer.batch(decoded, classes)
            results = {method: explainer.results(batch, method)[0] for method in self.methods}
            for i, item in enumerate(decoded):
                klass = int(batch.classes[i])
                maps = [saliency_map(results[m][i].at(item.image_size)) for m in self.methods]
                values: dict[str, dict[str, float]] = {m: {} for m in (*self.methods, RANDOM)}
                for metric in self.metrics:
                    per_map, baseline = metric.measure(model, batch.pixels[i], maps, klass, self.settings)
                    for method, numbers in zip(self.methods, per_map):
                        values[method].update(numbers)
                    values[RANDOM].update(baseline)
                for method, numbers in values.items():
                    for column, value in numbers.items():
                        self.statistics.setdefault(method, {}).setdefault(column, Statistic()).values.append(value)
                yield ImageEvaluation(item.path, klass, model.class_label(klass), values)

    # ----- reporting -------------------------------------------------------------------
    def summary_rows(self) -> list[dict]:
        """One row per method and one for the random map: images, mean and std per column."""
        from .explain import map_methods

        titles = {name: t.title for name, t in map_methods().items()}
        rows = []
        for method in (*self.methods, RANDOM):
            stats = self.statistics.get(method, {})
            row = {
                "method": method,
                "title": titles.get(method, f"random map ({self.settings.random})"),
                "images": len(next(iter(stats.values())).values) if stats else 0,
            }
            for column in self.columns:
                stat = stats.get(column.name, Statistic())
                row[f"{column.name}_mean"] = stat.mean
                row[f"{column.name}_std"] = stat.std
            rows.append(row)
        return rows

    def table(self) -> str:
        """The summary as text, in the layout of RISE's Table 1."""
        rows = self.summary_rows()
        model = self.run.explainer.model.name
        images = rows[0]["images"] if rows else 0
        s = self.settings
        lines = [
            f"{' / '.join(m.title for m in self.metrics)} · {model} · {images} images · "
            f"{s.steps} steps · baseline: mean of {s.random_maps} random maps ({s.random}), seed {s.seed}",
            f"({'; '.join(m.paper for m in self.metrics)}; mean ± standard deviation over the images)",
        ]
        headers = ["method"] + [f"{c.title} ({'↓' if c.better == 'lower' else '↑'})" for c in self.columns]
        cells = [
            [row["title"]] + [f"{row[f'{c.name}_mean']:.4f} ± {row[f'{c.name}_std']:.4f}" for c in self.columns]
            for row in rows
        ]
        widths = [max(len(str(x)) for x in column) for column in zip(headers, *cells)]
        for line in [headers] + cells:
            lines.append("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
        return "\n".join(lines)

    def write(self, out: str | os.PathLike, *, progress: bool = False) -> dict[str, str]:
        """Run everything, writing the per-image CSV as it goes, then the summary CSV
        (and the errors CSV when a file could not be read). Returns the files written."""
        out_dir = os.path.abspath(os.fspath(out))
        os.makedirs(out_dir, exist_ok=True)
        files = {"images": os.path.join(out_dir, IMAGES_CSV), "summary": os.path.join(out_dir, SUMMARY_CSV)}
        names = [c.name for c in self.columns]
        bar = progress_bar(len(self.run.paths), progress)
        counted = 0  # errors already counted by the bar
        try:
            with open(files["images"], "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["path", "class_index", "label", "method", *names])
                for image in self:
                    for method, numbers in image.values.items():
                        writer.writerow(
                            [stored_name(image.path), image.class_index, image.label, method, *(repr(numbers[n]) for n in names)]
                        )
                    bar.update(1 + len(self.errors) - counted)
                    counted = len(self.errors)
            bar.update(len(self.errors) - counted)
        finally:
            bar.close()
        with open(files["summary"], "w", newline="", encoding="utf-8") as handle:
            rows = self.summary_rows()
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        if self.errors:
            files["errors"] = os.path.join(out_dir, ERRORS_CSV)
            with open(files["errors"], "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["path", "error", "kind"])
                writer.writerows([stored_name(e.path), e.error, e.kind] for e in self.errors)
        return files


def evaluate_dataset(
    model,
    inputs,
    methods: Sequence[str] | str = ("grad_cam",),
    *,
    metrics: Sequence[str] | None = None,
    steps: int = 20,
    seed: int = 0,
    random: str = "blobs",
    random_maps: int = 3,
    metric_batch_size: int = 16,
    **explain_options,
) -> EvaluationRun:
    """Deletion and insertion (and every metric of :data:`METRICS` asked for) of each
    method over the images that ``inputs`` name. ``explain_options`` are those of
    :func:`cnnvis.explain_dataset` (model weights, layer, class, per-method options,
    batch size); ``seed`` seeds the methods and the random maps alike."""
    from .choices import check_metrics

    names = check_metrics(metrics, tuple(METRICS))
    settings = EvaluationSettings(steps, seed, random, random_maps, metric_batch_size).checked()
    run = explain_dataset(model, inputs, methods, seed=seed, **explain_options)
    return EvaluationRun(run, [METRICS[n] for n in names], settings)


__all__ = ["METRICS", "Column", "DeletionInsertion", "EvaluationRun", "EvaluationSettings", "Metric", "evaluate_dataset"]
