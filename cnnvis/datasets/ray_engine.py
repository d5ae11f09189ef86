"""The Ray Data engine (``pip install "cnnvis[ray]"``): the same rows, on a cluster.

The plan Ray runs, streaming (no stage waits for the previous one to finish):

1. ``ray.data.read_binary_files``: the files' bytes, read in parallel;
2. ``map_batches(decode_batch)``: CPU tasks decode and resize the photos with the very
   function of the local engine (:func:`cnnvis.datasets.decode.decode_bytes`);
3. ``map_batches(ExplainActor)``: a pool of actors, each loading the model once (with
   GPU memory growth, ``num_gpus=gpus_per_worker``) and running the local engine's
   :class:`~cnnvis.datasets.explain.Explainer` on each batch; files that could not be
   read are written to ``errors.parquet/`` by the actor (one file per batch, named after
   its paths, so a retried batch overwrites its own file);
4. ``write_parquet``: the rows into ``results.parquet/``, next to what the local engine
   writes (same schema, same fixed-shape tensor column).

The driver checks the settings and loads the model once before submitting anything, so
a wrong name fails in one sentence instead of in every actor. With ``RAY_ADDRESS`` set
(as under ``ray job submit``) it joins that cluster; otherwise it starts Ray on this
machine. The output folder must be one every worker can write (a shared file system).
"""

from __future__ import annotations

import hashlib
import os
from typing import Mapping, Sequence

import numpy as np

from ..errors import ParameterError
from .decode import Decoded, FileError, decode_bytes
from .files import MAX_PHOTO_BYTES, screen, shown_name, stored_name
from .parquet import ERRORS, RESULTS, WRITE_OPTIONS, completed, errors_table, rows_table

# CPUs Ray reserves per decoding task. Different from the actors' (1), so that Ray does
# not fuse decoding into the actors: it runs in its own tasks, beside the model.
DECODE_CPUS = 0.5
INSTALL_HINT = 'The Ray engine needs Ray: pip install "cnnvis[ray]".'


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ParameterError(INSTALL_HINT) from None
    return ray


def configure_gpus() -> None:
    """Let TensorFlow grow GPU memory as needed (several actors may share a GPU)."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # TensorFlow was initialised before: nothing to change
            pass


def decode_batch(batch, *, size: Sequence[int], seed: int):
    """Ray stage 2: bytes -> model-size pixels (an errors column for unreadable files)."""
    import pyarrow as pa

    paths = batch.column("path").to_pylist()
    blobs = batch.column("bytes").to_pylist()
    height, width = int(size[0]), int(size[1])
    pixels = np.zeros((len(paths), height, width, 3), np.uint8)
    columns: dict[str, list] = {k: [] for k in ("path", "sha256", "image_height", "image_width", "seed", "error", "kind")}
    for i, (path, data) in enumerate(zip(paths, blobs)):
        result = decode_bytes(path, data, (height, width), seed)
        columns["path"].append(path)
        if isinstance(result, FileError):
            values = {"sha256": "", "image_height": 0, "image_width": 0, "seed": 0, "error": result.error, "kind": result.kind}
        else:
            pixels[i] = result.pixels
            values = {
                "sha256": result.sha256,
                "image_height": result.image_size[0],
                "image_width": result.image_size[1],
                "seed": result.seed,
                "error": None,
                "kind": None,
            }
        for key, value in values.items():
            columns[key].append(value)
    table = pa.table(columns)
    return table.append_column("pixels", pa.FixedShapeTensorArray.from_numpy_ndarray(pixels))


class ExplainActor:
    """Ray stage 3: one model per actor, a batch of decoded photos per call."""

    def __init__(self, settings: Mapping, out_dir: str, wanted: Mapping[str, Sequence[str]]) -> None:
        configure_gpus()
        from .explain import Explainer, ExplainSettings

        self.explainer = Explainer(ExplainSettings.from_dict(settings))
        self.out_dir = out_dir
        self.wanted = {path: set(methods) for path, methods in wanted.items()}

    def __call__(self, batch):
        pixels = batch.column("pixels").combine_chunks().to_numpy_ndarray()
        items, errors = [], []
        for i, row in enumerate(batch.drop_columns(["pixels"]).to_pylist()):
            if row["error"] is not None:
                errors.append(FileError(row["path"], row["error"], row["kind"]))
                continue
            items.append(
                Decoded(
                    path=row["path"],
                    pixels=pixels[i],
                    image_size=(row["image_height"], row["image_width"]),
                    sha256=row["sha256"],
                    seed=row["seed"],
                )
            )
        if errors:
            self._write_errors(errors)
        methods = set(self.explainer.settings.methods)
        wanted = [self.wanted.get(item.path, methods) for item in items]
        rows = self.explainer.explain(items, wanted, self.out_dir)
        return rows_table(rows, self.explainer.map_shape)

    def _write_errors(self, errors: Sequence[FileError]) -> None:
        import pyarrow.parquet as pq

        key = hashlib.sha256("\n".join(sorted(stored_name(e.path) for e in errors)).encode()).hexdigest()[:20]
        folder = os.path.join(self.out_dir, ERRORS)
        os.makedirs(folder, exist_ok=True)
        pq.write_table(errors_table(errors, self.explainer.version), os.path.join(folder, f"ray-{key}.parquet"))


def _start_ray(ray, verbose: bool = False) -> bool:
    """Join the cluster of ``RAY_ADDRESS``, else start Ray here; True if we started it.
    Unless ``verbose``, Ray keeps to errors: no start-up banner, no worker output (the
    actors' TensorFlow start-up lines) forwarded to this terminal."""
    if ray.is_initialized():
        return False
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    }
    if not os.environ.get("RAY_ADDRESS"):
        # Local workers import cnnvis from where this driver found it.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    if verbose:
        ray.init(runtime_env={"env_vars": env}, include_dashboard=False)
    else:
        import logging

        ray.init(
            runtime_env={"env_vars": env},
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
    return True


def run(
    dataset_run,
    todo: Sequence[str],
    wanted: Mapping[str, set[str]],
    out_dir: str,
    progress: bool = False,
    *,
    verbose: bool = False,
) -> tuple[int, int, int]:
    """Explain ``todo`` on Ray, writing into ``out_dir``; returns (images, rows, errors)."""
    ray = _import_ray()
    if not todo:
        return 0, 0, 0
    explainer = dataset_run.explainer  # checked and loaded in the driver, once
    settings = dataset_run.settings
    if settings.source is None:
        raise ParameterError("The Ray engine needs a registry model name or a .keras file.")
    before_done, before_failed, _ = completed(out_dir)
    todo = _screened(todo, out_dir, explainer.version)
    if not todo:
        return _counts(todo, out_dir, before_done, before_failed)
    started = _start_ray(ray, verbose)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress  # Ray Data's own bars, with rates
        gpus = float(dataset_run.gpus_per_worker or 0.0)
        workers = dataset_run.ray_workers
        if workers is None:
            available = ray.cluster_resources().get("GPU", 0.0)
            workers = max(1, int(available // gpus)) if gpus > 0 else 1
        batch_size = settings.batch_size
        dataset = ray.data.read_binary_files(list(todo), include_paths=True)
        dataset = dataset.map_batches(
            decode_batch,
            fn_kwargs={"size": list(explainer.input_size), "seed": settings.seed},
            batch_format="pyarrow",
            batch_size=batch_size,
            num_cpus=DECODE_CPUS,
        )
        dataset = dataset.map_batches(
            ExplainActor,
            fn_constructor_kwargs={
                "settings": settings.to_dict(),
                "out_dir": out_dir,
                "wanted": {path: sorted(methods) for path, methods in wanted.items()},
            },
            batch_format="pyarrow",
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
            num_gpus=gpus if gpus > 0 else None,
        )
        rows_per_file = max(1, (64 * 2**20) // (4 * explainer.map_shape[0] * explainer.map_shape[1]))
        dataset.write_parquet(
            os.path.join(out_dir, RESULTS),
            min_rows_per_file=rows_per_file,
            **WRITE_OPTIONS,
        )
    finally:
        if started:
            ray.shutdown()
    return _counts(todo, out_dir, before_done, before_failed)


def _counts(todo, out_dir, before_done, before_failed) -> tuple[int, int, int]:
    after_done, after_failed, _ = completed(out_dir)
    rows = sum(len(m) for m in after_done.values()) - sum(len(m) for m in before_done.values())
    errors = len(after_failed - before_failed)
    keys = [stored_name(p) for p in todo]
    images = len([k for k in keys if k in after_done and after_done[k] != before_done.get(k)])
    return images, rows, errors


def _screened(todo: Sequence[str], out_dir: str, version: str) -> list[str]:
    """The files Ray may read: regular files within the photo bound (looked up, never
    opened, as :func:`cnnvis.datasets.files.read_regular` would refuse them) whose names
    are UTF-8 text (Ray's reader takes no other); the rest are written to the errors
    table here, in the driver."""
    kept, refused = [], []
    for path in todo:
        problem = screen(path, MAX_PHOTO_BYTES)
        if problem is None and stored_name(path) != path:
            problem = (
                f"The file '{shown_name(os.path.basename(path))}' has a name that is not UTF-8 text, "
                "which the Ray engine cannot read; explain it with --engine local."
            )
        if problem is None:
            kept.append(path)
        else:
            refused.append(FileError(path, problem, "UnreadableFileError"))
    if refused:
        import pyarrow.parquet as pq

        folder = os.path.join(out_dir, ERRORS)
        os.makedirs(folder, exist_ok=True)
        key = hashlib.sha256("\n".join(sorted(stored_name(e.path) for e in refused)).encode()).hexdigest()[:20]
        pq.write_table(errors_table(refused, version), os.path.join(folder, f"ray-driver-{key}.parquet"))
    return kept


__all__ = ["ExplainActor", "decode_batch", "run"]
