"""Top-k classes for every image of a dataset (``cnnvis classify``): one compiled forward
pass per batch, the softmax and top-k of :func:`cnnvis.classify`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

from ..techniques.classification import Prediction, predictions_from_logits
from .decode import FileError, batches, decode_window, default_workers, prefetch
from .explain import DEFAULT_BATCH, MAX_DATASET_BATCH, _check_int
from .inputs import expand_inputs
from .source import ModelSource


@dataclass(frozen=True)
class Classified:
    path: str
    predictions: tuple[Prediction, ...]


def classify_dataset(
    model,
    inputs,
    *,
    top: int = 5,
    weights: str | os.PathLike | None = "imagenet",
    weights_dir: str | os.PathLike | None = None,
    preprocessing: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    workers: int | None = None,
) -> Iterator[Classified | FileError]:
    """The ``top`` classes of every image ``inputs`` name, in file order (a
    :class:`~cnnvis.datasets.decode.FileError` for a file that could not be read).
    Everything is checked, and the model loaded, before the first image is read."""
    from ..models.loading import VisModel
    from .batched import Batch

    source = None
    if not isinstance(model, VisModel):
        source = ModelSource.parse(model, weights, weights_dir=weights_dir, preprocessing=preprocessing)
    batch_size = _check_int("batch_size", batch_size, 1, MAX_DATASET_BATCH)
    workers = _check_int("workers", workers, 1, 16) if workers is not None else default_workers()
    paths = expand_inputs(inputs)
    if source is not None:
        model = source.load()
    top = _check_int("top", top, 1, model.num_classes)
    height, width = model.input_size
    if height is None or width is None:
        from ..errors import ParameterError

        raise ParameterError(f"{model.name} takes inputs of any size; classify a dataset with a fixed-size model.")

    def results() -> Iterator[Classified | FileError]:
        items = prefetch(paths, (int(height), int(width)), 0, workers=workers, window=decode_window(batch_size, workers))
        for decoded, errors in batches(items, batch_size):
            yield from errors
            if decoded:
                import numpy as np

                from .decode import stack_pixels

                logits = Batch(model, stack_pixels(decoded), np.full(len(decoded), -1, np.int32), np.zeros(len(decoded), np.int64)).logits()
                for item, values in zip(decoded, logits):
                    yield Classified(item.path, tuple(predictions_from_logits(model, values, top)))

    return results()


__all__ = ["Classified", "classify_dataset"]
