"""Dataset runs: :func:`explain_dataset`, and the local engine.

:func:`explain_dataset` checks everything it can before any work starts (methods,
options, bounds, the inputs, the model and its weights), then returns a
:class:`DatasetRun`: iterate it for the rows in Python, or :meth:`DatasetRun.write` them
to a folder of Parquet files (what ``cnnvis explain`` does), on this machine or on Ray.

The local engine: :func:`cnnvis.datasets.decode.prefetch` decodes and resizes photos in
threads ahead of the model; two compute threads run the
:class:`~cnnvis.datasets.explain.Explainer` on consecutive batches (``BATCHES_IN_FLIGHT``),
and the rows come back in the order of the files and are written as they come
(:mod:`cnnvis.datasets.parquet`).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

from ..errors import ParameterError, quoted
from ..models.loading import VisModel
from .decode import FileError, batches, decode_window, default_workers, prefetch
from .files import shown_name, stored_name
from .explain import DEFAULT_BATCH, ExplainSettings, Explainer, _check_int, _version
from .inputs import expand_inputs
from .parquet import MANIFEST, ParquetSink, Row, completed, rows_table
from .source import ModelSource


# Batches computed at once: while one batch's compiled pass runs (TensorFlow releases the
# GIL), the other batch's per-image work in Python (CAM weights, map resizing, rows) runs
# beside it instead of leaving the cores idle between passes. Two: the gain of a third is
# nothing (the cores are busy), and each batch in flight holds its activations.
BATCHES_IN_FLIGHT = 2


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
    left_out: int = 0  # input files inside the output folder (never inputs)

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

    def _stream(
        self, todo: Sequence[str], wanted: Mapping[str, set[str]] | None = None, out_dir=None, on_image=None
    ):
        explainer = self.explainer
        items = prefetch(
            todo,
            explainer.input_size,
            self.settings.seed,
            workers=self.workers,
            window=decode_window(self.settings.batch_size, self.workers),
            preview=self.settings.png and out_dir is not None,
        )
        with ThreadPoolExecutor(max_workers=BATCHES_IN_FLIGHT, thread_name_prefix="cnnvis-compute") as pool:
            pending: deque = deque()
            try:
                for decoded, errors in batches(items, self.settings.batch_size):
                    needs = None if wanted is None else [wanted.get(item.path) for item in decoded]
                    if needs is not None:
                        needs = [n if n is not None else set(self.settings.methods) for n in needs]
                    computing = pool.submit(explainer.explain, decoded, needs, out_dir, on_image)
                    pending.append((computing, decoded, errors))
                    if len(pending) >= BATCHES_IN_FLIGHT:
                        computing, decoded, errors = pending.popleft()
                        yield computing.result(), decoded, errors
                while pending:
                    computing, decoded, errors = pending.popleft()
                    yield computing.result(), decoded, errors
            finally:
                for computing, _, _ in pending:  # the consumer stopped, or a batch failed
                    computing.cancel()

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

    def write(
        self, out: str | os.PathLike, *, resume: bool = False, progress: bool = False, verbose: bool = False
    ) -> Summary:
        """Write the results under ``out`` (see :mod:`cnnvis.datasets.parquet`).

        ``resume``: keep what an earlier run with the same settings wrote there and do
        only what is missing (files already in the errors table are not tried again).
        Without it, a folder that already holds results is refused. ``progress``: a
        progress bar on stderr; ``verbose``: Ray's own log lines too (Ray engine).
        """
        out_dir = os.path.abspath(os.fspath(out))
        start = time.perf_counter()
        explainer = self.explainer
        prepare_out_dir(out_dir, self.settings, resume=resume, model=(explainer.model.name, explainer.weights))
        done, failed, set_aside = completed(out_dir) if resume else ({}, set(), [])
        wanted: dict[str, set[str]] = {}
        todo = []
        methods = set(self.settings.methods)
        paths = outside(self.paths, out_dir)
        for path in paths:
            key = stored_name(path)  # as the earlier run wrote it
            if key in failed:
                continue
            missing = methods - done.get(key, set())
            if missing:
                todo.append(path)
                if missing != methods:
                    wanted[path] = missing
        skipped = len(paths) - len(todo)
        if self.engine == "ray":
            from . import ray_engine  # only with the ray extra

            counts = ray_engine.run(self, todo, wanted, out_dir, progress, verbose=verbose)
        else:
            counts = self._write_local(todo, wanted, out_dir, progress)
        images, rows, errors = counts
        return Summary(
            out_dir,
            images,
            rows,
            errors,
            skipped,
            time.perf_counter() - start,
            tuple(set_aside),
            len(self.paths) - len(paths),
        )

    def _write_local(self, todo, wanted, out_dir, progress) -> tuple[int, int, int]:
        """Compute batch after batch; a writer thread writes each batch while the next
        one is computed (one batch in writing at most, so memory stays flat)."""
        explainer = self.explainer
        sink = ParquetSink(out_dir, explainer.map_shape, explainer.version)
        images = 0
        bar = progress_bar(len(todo), progress)
        lock = threading.Lock()  # the compute threads step the bar photo by photo

        def step(count: int = 1) -> None:
            with lock:
                bar.update(count)

        writing = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnnvis-write") as writer:
            try:
                for rows, decoded, errors in self._stream(todo, wanted, out_dir, step):
                    table = rows_table(rows, explainer.map_shape)
                    if writing is not None:
                        writing.result()  # the previous batch is on disk (or its error raised)
                    writing = writer.submit(sink.write, table, errors)
                    self.errors.extend(errors)
                    images += len(decoded)
                    if errors:
                        step(len(errors))
                        with lock:
                            bar.set_postfix(errors=len(self.errors))
                if writing is not None:
                    writing.result()
            finally:
                bar.close()
                if writing is not None:
                    writing.exception()  # wait for it; its error, if any, was raised above
                sink.close()
        return images, sink.rows_written, sink.errors_written


def outside(paths: Sequence[str], out_dir: str) -> list[str]:
    """``paths`` without the files inside ``out_dir`` (followed through links): the
    output folder is never an input, so a run whose ``--out`` lies inside its input
    folder does not explain its own overlays on ``--resume``."""
    root = os.path.realpath(out_dir)
    prefix = root.rstrip(os.sep) + os.sep
    folders: dict[str, str] = {}  # realpath of each folder, looked up once

    def inside(path: str) -> bool:
        folder = os.path.dirname(path)
        real = folders.get(folder)
        if real is None:
            real = folders[folder] = os.path.realpath(folder)
        if os.path.islink(path):
            real = os.path.dirname(os.path.realpath(path))
        return real == root or real.startswith(prefix)

    return [path for path in paths if not inside(path)]


def progress_bar(total: int, enabled: bool):
    """A tqdm bar over images with the rate and the time left (on stderr)."""
    from tqdm import tqdm

    # On a terminal only (disable=None): a log file gets the summary line, not bar updates.
    # Stepped photo by photo; the rate is an average over recent steps (smoothing 0.1), so
    # it is shown, with the time left, from the first photos on.
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
                f"The folder {quoted(shown_name(out_dir))} already holds a run; add --resume to go on "
                "with it, or choose another --out."
            )
        try:
            with open(manifest, encoding="utf-8") as handle:
                earlier = json.load(handle)
        except (OSError, ValueError):
            raise ParameterError(f"The run.json in {quoted(shown_name(out_dir))} cannot be read; choose another --out.") from None
        different = _differences(earlier.get("settings", {}), current)
        if different:
            raise ParameterError(
                f"The run in {quoted(shown_name(out_dir))} used other settings ({', '.join(different)}); "
                "resume with the same ones, or choose another --out."
            )
        methods = list(dict.fromkeys(earlier["settings"]["methods"] + current["methods"]))
        current = {**current, "methods": methods, "options": {**earlier["settings"]["options"], **current["options"]}}
    elif os.path.isdir(out_dir) and os.listdir(out_dir) and not resume:
        entries = set(os.listdir(out_dir))
        if entries & {"results.parquet", "errors.parquet"}:
            raise ParameterError(f"The folder {quoted(shown_name(out_dir))} already holds results; choose another --out.")
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
    its ``preprocessing`` family), or a :class:`~cnnvis.models.loading.VisModel` (local engine
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


__all__ = ["DatasetRun", "Summary", "explain_dataset", "outside", "prepare_out_dir", "progress_bar"]
