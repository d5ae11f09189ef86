"""How large a file the app takes: a photo (or any file but a model) at most
:data:`MAX_FILE_BYTES`, a ``.keras`` model file at most :data:`MAX_MODEL_FILE_BYTES`.

Gradio has one upload bound for every file (``max_file_size``, which the page also checks
before sending); it is set to the larger, and the app keeps every other file to the
smaller one twice: :mod:`cnnvis.serving.uploads` as an upload streams in (by the file name in
its part's headers, which come before its bytes), and :mod:`cnnvis.serving.screening` when an
event gets a file (by its size, looked up, never opened). So a large file uploaded under
a ``.keras`` name is never taken as a photo. SECURITY.md lists both bounds.
"""

from __future__ import annotations

import os
from typing import Any

MB = 2**20
MAX_FILE_BYTES = 10 * MB  # a photo, a class-names file: any file but a model
MAX_MODEL_FILE_BYTES = 128 * MB  # a .keras model file (Gradio's max_file_size: the largest)
MODEL_FILE_SUFFIX = ".keras"


def is_model_file_name(name: str) -> bool:
    """Whether an uploaded file's name is a model file's (``*.keras``)."""
    return name.strip().lower().endswith(MODEL_FILE_SUFFIX)


def file_bound(component) -> int:
    """The most bytes a file input may get: :data:`MAX_MODEL_FILE_BYTES` for a
    ``gr.File`` that takes ``.keras`` files only, :data:`MAX_FILE_BYTES` for any other."""
    types = [str(t).lower() for t in getattr(component, "file_types", None) or ()]
    return MAX_MODEL_FILE_BYTES if types == [MODEL_FILE_SUFFIX] else MAX_FILE_BYTES


def size_problem(value: Any, label: str, bound: int) -> str | None:
    """A sentence if the (screened) file object names a file over ``bound`` bytes."""
    try:
        size = os.stat(os.path.realpath(value["path"])).st_size  # looked up, never opened
    except (OSError, KeyError, TypeError):
        return f"{label} must be a file uploaded to this server; got one that it no longer keeps."
    if size > bound:
        return f"{label} takes a file of at most {bound // MB} MB; this one is larger ({size:,} bytes)."
    return None
