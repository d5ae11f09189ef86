"""Whole datasets: the batch pipeline, Parquet results, and the Ray Data engine.

    run = cnnvis.explain_dataset("MobileNetV2", "photos/", ["grad_cam", "smoothgrad"])
    for row in run:                       # one Row per image and method, in file order
        row.path, row.method, row.label, row.probability, row.map   # map: float32 224 x 224
    run.errors                            # the files that could not be read, and why
    run.write("out/")                     # out/results.parquet, out/errors.parquet (as `cnnvis explain`)

Modules: :mod:`.inputs` (which files), :mod:`.decode` (threads that decode ahead of the
model), :mod:`.batched` (techniques computed a batch per call), :mod:`.parquet` (the
layout and the writer), :mod:`.explain` (settings, the explainer, the local engine),
:mod:`.evaluation` (deletion and insertion over a dataset), :mod:`.ray_engine`
(``pip install "cnnvis[ray]"``).
"""

from __future__ import annotations

from .explain import DatasetRun, ExplainSettings, Explainer, Summary, explain_dataset
from .inputs import expand_inputs
from .parquet import MAP_NOTE, Row, read_results, results_schema, table_rows
from .decode import FileError

__all__ = [
    "DatasetRun",
    "ExplainSettings",
    "Explainer",
    "FileError",
    "MAP_NOTE",
    "Row",
    "Summary",
    "expand_inputs",
    "explain_dataset",
    "read_results",
    "results_schema",
    "table_rows",
]
