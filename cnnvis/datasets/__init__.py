"""Whole datasets: the batch pipeline, Parquet results, and the Ray Data engine.

    run = cnnvis.explain_dataset("MobileNetV2", "photos/", ["grad_cam", "smoothgrad"])
    for row in run:                       # one Row per image and method, in file order
        row.path, row.method, row.label, row.probability, row.map   # map: float32 224 x 224
    run.errors                            # the files that could not be read, and why
    run.write("out/")                     # out/results.parquet, out/errors.parquet (as `cnnvis explain`)

Modules: :mod:`.inputs` (which files), :mod:`.decode` (threads that decode ahead of the
model), :mod:`.batched` (techniques computed a batch per call), :mod:`.parquet` (the
layout and the writer), :mod:`.explain` (settings and the explainer), :mod:`.run`
(:func:`explain_dataset` and the local engine),
:mod:`.evaluation` (deletion and insertion over a dataset), :mod:`.ray_engine`
(``pip install "cnnvis[ray]"``).
"""

from __future__ import annotations

import importlib

# Imported on first use: Ray's decoding tasks import this package, and must not pay for
# TensorFlow (which the explainer needs) just to decode photos.
_LAZY = {
    "DatasetRun": "run",
    "ExplainSettings": "explain",
    "Explainer": "explain",
    "Summary": "run",
    "explain_dataset": "run",
    "evaluate_dataset": "evaluation",
    "classify_dataset": "classify",
    "expand_inputs": "inputs",
    "MAP_NOTE": "parquet",
    "Row": "parquet",
    "read_results": "parquet",
    "results_schema": "parquet",
    "table_rows": "parquet",
    "FileError": "decode",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnnvis.datasets' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted(_LAZY)
