"""Whole datasets: the batch pipeline, Parquet results, and the Ray Data engine.

    run = cnnvis.explain_dataset("MobileNetV2", "photos/", ["grad_cam", "smoothgrad"])
    for row in run:                       # one Row per image and method, in file order
        row.path, row.method, row.label, row.probability, row.map   # map: float32 224 x 224
    run.errors                            # the files that could not be read, and why
    run.write("out/")                     # out/results.parquet, out/errors.parquet (as `cnnvis explain`)

Modules: :mod:`.inputs` (which files), :mod:`.files` (opening, reading and naming files
of any folder safely), :mod:`.choices` (the names a run accepts, known without
TensorFlow), :mod:`.decode` (threads that decode ahead of the model), :mod:`.batched` (techniques computed a batch per call), :mod:`.parquet` (the
layout and the writer), :mod:`.explain` (settings and the explainer), :mod:`.run`
(:func:`explain_dataset` and the local engine),
:mod:`.evaluation` (deletion and insertion over a dataset), :mod:`.ray_engine`
(``pip install "cnnvis[ray]"``).
"""

from __future__ import annotations

import lazy_loader

# The names of __init__.pyi (which IDEs read), each imported on first use: Ray's decoding
# tasks import this package, and must not pay for TensorFlow just to decode photos.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
