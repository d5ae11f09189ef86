"""Explaining whole datasets: settings, the batch explainer, the local engine.

:func:`explain_dataset` checks everything it can before any work starts (methods,
options, bounds, the model and its weights), then returns a :class:`DatasetRun`: iterate
it for the rows in Python, or :meth:`DatasetRun.write` them to a folder of Parquet files
(what ``cnnvis explain`` does), on this machine or on Ray.

The local engine: :func:`cnnvis.datasets.decode.prefetch` decodes and resizes photos in
threads ahead of the model; the main thread computes one batch at a time with
:mod:`cnnvis.datasets.batched` and writes it as it comes (:mod:`cnnvis.datasets.parquet`).
The Ray engine (:mod:`cnnvis.datasets.ray_engine`) runs the same :class:`Explainer` in
its actors, so both give the same rows.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator, Mapping, Sequence

import numpy as np

from ..errors import ParameterError, quoted
from ..models import VisModel
from .batched import BATCHED, implementation
from .decode import Decoded, FileError, batches, default_workers, prefetch, stack_pixels
from .inputs import expand_inputs
from .parquet import MANIFEST, PNG, ParquetSink, Row, completed, rows_table
from .source import ModelSource

DEFAULT_BATCH = 16
MAX_DATASET_BATCH = 256  # images per batch (compiled calls are further capped by memory)
MAX_MAP_SIDE = 1024
MIN_MAP_SIDE = 4
MAX_SEED = 2**32 - 1
MAX_METHODS = 16


def map_methods() -> dict:
    """The registry's heatmap and attribution techniques (the choices of ``--methods``)."""
    from ..metrics import map_methods as registry_map_methods

    return registry_map_methods()


def _version() -> str:
    from .. import __version__

    return __version__


def _check_int(name: str, value, low: int, high: int) -> int:
    from ..techniques.base import check_int

    return check_int(name, value, low, high)


@dataclass(frozen=True)
class ExplainSettings:
    """What a run computes; plain data, so that it travels to Ray actors and run.json."""

    source: ModelSource | None  # None: a model object given in Python (local engine only)
    methods: tuple[str, ...] = ("grad_cam",)
    options: Mapping[str, Mapping] = field(default_factory=dict)  # method -> {option: value}
    layer: str | None = None
    target_class: int | str | None = None  # None: each image's top class
    seed: int = 0
    map_size: int | None = None  # None: the model's input size
    batch_size: int = DEFAULT_BATCH
    png: bool = False

    def checked(self) -> "ExplainSettings":
        """The settings with every name and bound checked, or a ParameterError."""
        available = map_methods()
        methods = tuple(self.methods) if not isinstance(self.methods, str) else (self.methods,)
        if not 1 <= len(methods) <= MAX_METHODS:
            raise ParameterError(f"Choose between 1 and {MAX_METHODS} methods.")
        for name in methods:
            if name not in available:
                raise ParameterError(
                    f"There is no heatmap or attribution method called {quoted(name)}; "
                    f"choose from {', '.join(available)}."
                )
        if len(set(methods)) != len(methods):
            raise ParameterError("Name each method once.")
        options = {}
        for name, values in dict(self.options or {}).items():
            if name not in methods:
                raise ParameterError(f"Options were given for {quoted(name)}, which is not among the methods.")
            if not isinstance(values, Mapping):
                raise ParameterError(f"The options of {name} must be a mapping of names to values.")
            allowed = implementation_of(name).options
            for key in values:
                if key not in allowed:
                    choices = ", ".join(allowed) if allowed else "none"
                    raise ParameterError(f"{name} has no option {quoted(key)}; its options: {choices}.")
            options[name] = dict(values)
        return ExplainSettings(
            source=self.source,
            methods=methods,
            options=options,
            layer=self.layer or None,
            target_class=self.target_class,
            seed=_check_int("seed", self.seed, 0, MAX_SEED),
            map_size=None
            if self.map_size is None
            else _check_int("map_size", self.map_size, MIN_MAP_SIDE, MAX_MAP_SIDE),
            batch_size=_check_int("batch_size", self.batch_size, 1, MAX_DATASET_BATCH),
            png=bool(self.png),
        )

    def to_dict(self) -> dict:
        values = asdict(self)
        values["source"] = self.source.to_dict() if self.source is not None else None
        values["methods"] = list(self.methods)
        values["options"] = {k: dict(v) for k, v in self.options.items()}
        return values

    @classmethod
    def from_dict(cls, values: Mapping) -> "ExplainSettings":
        values = dict(values)
        source = values.pop("source")
        return cls(
            source=ModelSource.from_dict(source) if source is not None else None,
            methods=tuple(values.pop("methods")),
            **values,
        )


def implementation_of(name: str):
    return implementation(name, map_methods()[name])


class Explainer:
    """A loaded model and its methods: maps for a batch of decoded photos.

    Built once per process (the local engine) or per Ray actor; the model's compiled
    functions are traced on the first batch and reused for every later one.
    """

    def __init__(self, settings: ExplainSettings, model: VisModel | None = None) -> None:
        self.settings = settings
        self.model = model if model is not None else settings.source.load()
        height, width = self.model.input_size
        if height is None or width is None:
            raise ParameterError(
                f"{self.model.name} takes inputs of any size; a dataset run needs a model "
                "with a fixed input size (photos are batched at that size)."
            )
        self.input_size = (int(height), int(width))
        side = settings.map_size
        self.map_shape = (side, side) if side is not None else self.input_size
        self.class_index = (
            None if settings.target_class is None else self.model.resolve_class(settings.target_class)
        )
        techniques = map_methods()
        self.implementations = {name: implementation_of(name) for name in settings.methods}
        self.outputs = {name: techniques[name].output for name in settings.methods}
        self.layers: dict[str, str | None] = {}
        for name, impl in self.implementations.items():
            layer = settings.layer if impl.uses_layer else None
            if impl.uses_layer and name in BATCHED:  # the CAM layer: default, and checked
                layer = layer or self.model.default_layer
                self.model.feature_layer(layer)  # UnknownLayerError, one sentence
            self.layers[name] = layer
        self.version = _version()
        self.weights = str(self.model.weights)
        self.params = {name: self._params(name) for name in settings.methods}

    def _params(self, method: str) -> str:
        s = self.settings
        values = {
            "class": "top" if self.class_index is None else self.class_index,
            "layer": self.layers[method],
            "map_size": list(self.map_shape),
            "options": dict(s.options.get(method, {})),
            "seed": s.seed,
        }
        return json.dumps(values, sort_keys=True, default=str)

    # ----- computing ---------------------------------------------------------------
    def batch(self, items: Sequence[Decoded], classes: np.ndarray | None = None):
        from .batched import Batch

        if classes is None:
            index = -1 if self.class_index is None else self.class_index
            classes = np.full(len(items), index, np.int32)
        return Batch(
            self.model,
            stack_pixels(items),
            np.asarray(classes, np.int32),
            np.array([item.seed for item in items], np.int64),
        )

    def raw_maps(self, batch, method: str):
        """The method's :class:`~cnnvis.datasets.batched.RawMap` for every image of ``batch``."""
        impl = self.implementations[method]
        return impl.compute(batch, self.layers[method], self.settings.options.get(method, {}))

    def explain(
        self,
        items: Sequence[Decoded],
        wanted: Sequence[set[str]] | None = None,
        out_dir: str | None = None,
    ) -> list[Row]:
        """Rows for ``items`` (each image's methods in the run's order); ``wanted[i]``:
        the methods image ``i`` still needs (``--resume``), default all."""
        if not items:
            return []
        per_image: list[dict[str, Row]] = [{} for _ in items]
        for method in self.settings.methods:
            chosen = [i for i in range(len(items)) if wanted is None or method in wanted[i]]
            if not chosen:
                continue
            subset = [items[i] for i in chosen]
            for i, item, raw in zip(chosen, subset, self.raw_maps(self.batch(subset), method)):
                per_image[i][method] = self._row(item, method, raw, out_dir)
        return [row for rows in per_image for method, row in rows.items()]

    def _row(self, item: Decoded, method: str, raw, out_dir: str | None) -> Row:
        from ..metrics import saliency_map

        png = self._write_png(item, method, raw, out_dir) if self.settings.png and out_dir else None
        return Row(
            path=item.path,
            sha256=item.sha256,
            image_height=item.image_size[0],
            image_width=item.image_size[1],
            model=self.model.name,
            weights=self.weights,
            method=method,
            output=self.outputs[method],
            layer=raw.layer if raw.layer is not None else self.layers[method],
            class_index=raw.class_index,
            label=self.model.class_label(raw.class_index),
            probability=raw.probability,
            logit=raw.logit,
            map=saliency_map(raw.at(self.map_shape)),
            seed=item.seed,
            params=self.params[method],
            png=png,
            cnnvis_version=self.version,
        )

    def _write_png(self, item: Decoded, method: str, raw, out_dir: str) -> str:
        """The overlay (heatmaps) or the signed attribution picture, at the photo's
        size up to 1024 pixels on the longer side; returns its path inside ``out_dir``."""
        import hashlib

        from PIL import Image

        from .. import render
        from ..images import fit_within, load_image
        from .decode import PREVIEW_SIDE

        photo = item.preview if item.preview is not None else fit_within(load_image(item.path), PREVIEW_SIDE)
        values = raw.at(photo.shape[:2])
        if raw.output == "heatmap":
            picture = render.overlay(photo, values)
        else:
            picture = render.gradient_image(values)
        stem = os.path.splitext(os.path.basename(item.path))[0][:80]
        tag = hashlib.sha256(item.path.encode()).hexdigest()[:8]
        relative = os.path.join(PNG, method, f"{stem}-{tag}.png")
        target = os.path.join(out_dir, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Image.fromarray(picture).save(target)
        return relative


# ----- runs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """What :meth:`DatasetRun.write` did."""

    out: str
    images: int  # images explained in this run
    rows: int  # rows written in this run
    errors: int  # files that could not be read, in this run
    skipped: int  # images already done (--resume)
    seconds: float
    set_aside: tuple[str, ...] = ()  # incomplete part files of an earlier run, set aside

    @property
    def rate(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else math.inf


class DatasetRun:
    """A checked run over a list of files; see :func:`explain_dataset`."""

    def __init__(
        self,
        settings: ExplainSettings,
        paths: Sequence[str],
        *,
        model: VisModel | None = None,
        engine: str = "local",
        workers: int | None = None,
        gpus_per_worker: float = 0.0,
        ray_workers: int | None = None,
    ) -> None:
        self.settings = settings
        self.paths = list(paths)
        self.engine = engine
        self.workers = workers or default_workers()
        self.gpus_per_worker = gpus_per_worker
        self.ray_workers = ray_workers
        self.errors: list[FileError] = []
        self._model = model
        self._explainer: Explainer | None = None

    @property
    def explainer(self) -> Explainer:
        if self._explainer is None:
            self._explainer = Explainer(self.settings, self._model)
        return self._explainer

    def _stream(self, todo: Sequence[str], wanted: Mapping[str, set[str]] | None = None, out_dir=None):
        explainer = self.explainer
        items = prefetch(
            todo,
            explainer.input_size,
            self.settings.seed,
            workers=self.workers,
            window=2 * self.settings.batch_size + self.workers,
            preview=self.settings.png and out_dir is not None,
        )
        for decoded, errors in batches(items, self.settings.batch_size):
            needs = None if wanted is None else [wanted.get(item.path) for item in decoded]
            if needs is not None:
                needs = [n if n is not None else set(self.settings.methods) for n in needs]
            yield explainer.explain(decoded, needs, out_dir), decoded, errors

    def __iter__(self) -> Iterator[Row]:
        """The rows, image by image, in the order of the files (local engine); files that
        cannot be read are skipped and collected in :attr:`errors`."""
        if self.engine != "local":
            raise ParameterError("The Ray engine writes to a folder: use run.write(out) instead.")
        for rows, _, errors in self._stream(self.paths):
            self.errors.extend(errors)
            yield from rows

    def to_table(self):
        """Every row in one ``pyarrow.Table`` (memory grows with the dataset: for large
        runs, :meth:`write` to a folder instead)."""
        import pyarrow as pa

        shape = self.explainer.map_shape
        tables = [rows_table([], shape)]
        for rows, _, errors in self._stream(self.paths):
            self.errors.extend(errors)
            tables.append(rows_table(rows, shape))
        return pa.concat_tables(tables)

    def write(self, out: str | os.PathLike, *, resume: bool = False, progress: bool = False) -> Summary:
        """Write the results under ``out`` (see :mod:`cnnvis.datasets.parquet`).

        ``resume``: keep what an earlier run with the same settings wrote there and do
        only what is missing (files already in the errors table are not tried again).
        Without it, a folder that already holds results is refused.
        """
        out_dir = os.path.abspath(os.fspath(out))
        start = time.perf_counter()
        explainer = self.explainer
        prepare_out_dir(out_dir, self.settings, resume=resume, model=(explainer.model.name, explainer.weights))
        done, failed, set_aside = completed(out_dir) if resume else ({}, set(), [])
        wanted: dict[str, set[str]] = {}
        todo = []
        methods = set(self.settings.methods)
        for path in self.paths:
            if path in failed:
                continue
            missing = methods - done.get(path, set())
            if missing:
                todo.append(path)
                if missing != methods:
                    wanted[path] = missing
        skipped = len(self.paths) - len(todo)
        if self.engine == "ray":
            from . import ray_engine

            counts = ray_engine.run(self, todo, wanted, out_dir, progress)
        else:
            counts = self._write_local(todo, wanted, out_dir, progress)
        images, rows, errors = counts
        return Summary(
            out_dir, images, rows, errors, skipped, time.perf_counter() - start, tuple(set_aside)
        )

    def _write_local(self, todo, wanted, out_dir, progress) -> tuple[int, int, int]:
        explainer = self.explainer
        sink = ParquetSink(out_dir, explainer.map_shape, explainer.version)
        images = 0
        bar = progress_bar(len(todo), progress)
        try:
            for rows, decoded, errors in self._stream(todo, wanted, out_dir):
                sink.write(rows_table(rows, explainer.map_shape), errors)
                self.errors.extend(errors)
                images += len(decoded)
                bar.update(len(decoded) + len(errors))
                if errors:
                    bar.set_postfix(errors=len(self.errors))
        finally:
            bar.close()
            sink.close()
        return images, sink.rows_written, sink.errors_written


def progress_bar(total: int, enabled: bool):
    """A tqdm bar over images with the rate and the time left (on stderr)."""
    from tqdm import tqdm

    # On a terminal only (disable=None): a log file gets the summary line, not bar updates.
    return tqdm(total=total, unit="img", disable=None if enabled else True, dynamic_ncols=True, smoothing=0.1)


def prepare_out_dir(
    out_dir: str, settings: ExplainSettings, *, resume: bool, model: tuple[str, str]
) -> None:
    """Create ``out_dir`` and its run.json; with ``resume``, check that the earlier run
    used the same model, weights and settings (more methods may be added)."""
    manifest = os.path.join(out_dir, MANIFEST)
    current = {**settings.to_dict(), "model": model[0], "weights": model[1]}
    if os.path.exists(manifest):
        if not resume:
            raise ParameterError(
                f"The folder {quoted(out_dir)} already holds a run; add --resume to go on "
                "with it, or choose another --out."
            )
        try:
            with open(manifest, encoding="utf-8") as handle:
                earlier = json.load(handle)
        except (OSError, ValueError):
            raise ParameterError(f"The run.json in {quoted(out_dir)} cannot be read; choose another --out.") from None
        different = _differences(earlier.get("settings", {}), current)
        if different:
            raise ParameterError(
                f"The run in {quoted(out_dir)} used other settings ({', '.join(different)}); "
                "resume with the same ones, or choose another --out."
            )
        methods = list(dict.fromkeys(earlier["settings"]["methods"] + current["methods"]))
        current = {**current, "methods": methods, "options": {**earlier["settings"]["options"], **current["options"]}}
    elif os.path.isdir(out_dir) and os.listdir(out_dir) and not resume:
        entries = set(os.listdir(out_dir))
        if entries & {"results.parquet", "errors.parquet"}:
            raise ParameterError(f"The folder {quoted(out_dir)} already holds results; choose another --out.")
    os.makedirs(out_dir, exist_ok=True)
    with open(manifest, "w", encoding="utf-8") as handle:
        json.dump({"cnnvis_version": _version(), "settings": current}, handle, indent=2, default=str)
        handle.write("\n")


_COMPARED = ("model", "weights", "source", "layer", "target_class", "seed", "map_size", "png")


def _differences(earlier: Mapping, current: Mapping) -> list[str]:
    """Settings that differ between two runs (methods may be added; a method in both
    must have the same options)."""
    different = [name for name in _COMPARED if earlier.get(name) != current.get(name)]
    for method in set(earlier.get("methods", [])) & set(current.get("methods", [])):
        if earlier.get("options", {}).get(method, {}) != current.get("options", {}).get(method, {}):
            different.append(f"options of {method}")
    return different


def explain_dataset(
    model: str | VisModel,
    inputs,
    methods: Sequence[str] | str = ("grad_cam",),
    *,
    weights: str | os.PathLike | None = "imagenet",
    weights_dir: str | os.PathLike | None = None,
    preprocessing: str | None = None,
    layer: str | None = None,
    target_class: int | str | None = None,
    options: Mapping[str, Mapping] | None = None,
    seed: int = 0,
    map_size: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    png: bool = False,
    engine: str = "local",
    workers: int | None = None,
    gpus_per_worker: float = 0.0,
    ray_workers: int | None = None,
) -> DatasetRun:
    """Explain every image that ``inputs`` name (files, folders, globs, list files: see
    :mod:`cnnvis.datasets.inputs`) with each of ``methods`` (registry names of heatmap
    and attribution techniques).

    ``model``: a registry name (with ``weights``: ``"imagenet"``, ``None``/``"random"`` or
    a file, looked up as :func:`cnnvis.load_model` does), a ``.keras`` model file (with
    its ``preprocessing`` family), or a :class:`~cnnvis.models.VisModel` (local engine
    only). ``layer``: the CAM layer (default: the model's head feature map);
    ``target_class``: a class for every image (default: each image's top class);
    ``options``: per-method keyword options, e.g. ``{"smoothgrad": {"samples": 20}}``;
    ``seed``: seeded methods get a seed per image from it and the file's content, so
    results do not depend on ``batch_size`` or on the order of the files; ``map_size``:
    the side of the stored maps (default: the model's input size).

    Returns a :class:`DatasetRun`: iterate it for :class:`~cnnvis.datasets.parquet.Row`
    objects (``run.errors`` collects the files that could not be read), call
    ``run.to_table()`` for one ``pyarrow.Table``, or ``run.write(out_dir)`` to write
    Parquet as ``cnnvis explain`` does.
    """
    from ..errors import ParameterError as _ParameterError

    if engine not in ("local", "ray"):
        raise _ParameterError(f"The engine must be 'local' or 'ray'; got {quoted(engine)}.")
    if isinstance(model, VisModel):
        if engine == "ray":
            raise _ParameterError(
                "The Ray engine loads the model in each worker: give a registry name or a .keras file."
            )
        source, loaded = None, model
    else:
        source, loaded = ModelSource.parse(
            model, weights, weights_dir=weights_dir, preprocessing=preprocessing
        ), None
    settings = ExplainSettings(
        source=source,
        methods=tuple([methods] if isinstance(methods, str) else methods),
        options=options or {},
        layer=layer,
        target_class=target_class,
        seed=seed,
        map_size=map_size,
        batch_size=batch_size,
        png=png,
    ).checked()
    if workers is not None:
        workers = _check_int("workers", workers, 1, 16)
    paths = expand_inputs(inputs)
    run = DatasetRun(
        settings,
        paths,
        model=loaded,
        engine=engine,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        ray_workers=ray_workers,
    )
    run.explainer  # load the model, check the layer and the class now, not mid-run
    return run


__all__ = ["DatasetRun", "ExplainSettings", "Explainer", "Summary", "explain_dataset"]
