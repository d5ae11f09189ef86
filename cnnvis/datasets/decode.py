"""Reading photos for a dataset run: decode, resize, seed, in threads ahead of the model.

Decoding uses :func:`cnnvis.load_image` (the same refusals and size limits as every
other path) and resizes the photo to the model's input size exactly as
:func:`cnnvis.techniques.base.prepare` does. Each image gets a seed from its content
(see :func:`image_seed`), so seeded techniques give the same map for the same photo
whatever the batch size, the order of the files or their names.

Why threads and not ``tf.data``: the decoder is Pillow behind cnnvis's own checks
(formats, declared pixel count before decoding, EXIF orientation), which ``tf.data``
would have to call through ``tf.py_function`` anyway; Pillow and OpenCV release the GIL
while they decode and resize, so a small thread pool overlaps them with the model; and
a file that cannot be read must become a row of the errors table, not end the stream
(``tf.data`` can only drop such elements, or stop). :func:`prefetch` keeps a bounded
window of files in flight, so memory does not grow with the dataset.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..errors import CnnvisError
from ..images import load_image, resize_image
from .files import MAX_PHOTO_BYTES, UnreadableFileError, read_regular

PREVIEW_SIDE = 1024  # the longer side of the photo kept for --png overlays, at most
MAX_WORKERS = 16


@dataclass(frozen=True)
class Decoded:
    """A photo ready for the model."""

    path: str
    pixels: np.ndarray  # uint8 h x w x 3 at the model's input size
    image_size: tuple[int, int]  # (height, width) of the photo
    sha256: str  # of the file's bytes
    seed: int  # this image's seed (see image_seed)
    preview: np.ndarray | None = None  # the photo, at most PREVIEW_SIDE, for overlays


@dataclass(frozen=True)
class FileError:
    """A file that could not be used, and why, in one sentence."""

    path: str  # as found (written with cnnvis.datasets.files.stored_name)
    error: str
    kind: str  # the exception's class name, e.g. "TruncatedImageError"


def image_seed(seed: int, sha256: str) -> int:
    """The seed of one image: the first 8 bytes of ``sha256(f"{seed}:{digest}")`` modulo
    ``SEED_MAX + 1`` (the package's one seed bound). It depends on the run's seed and the
    file's content only."""
    from ..registry import SEED_MAX

    digest = hashlib.sha256(f"{int(seed)}:{sha256}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (SEED_MAX + 1)


def read_bytes(path: str) -> bytes:
    """The photo file's bytes (a regular file of at most
    :data:`~cnnvis.datasets.files.MAX_PHOTO_BYTES`, read with a bounded read), or an
    :class:`~cnnvis.datasets.files.UnreadableFileError` whose sentence names the file."""
    return read_regular(path, MAX_PHOTO_BYTES)


def decode_bytes(
    path: str, data: bytes, size: tuple[int, int], seed: int, *, preview: bool = False
) -> Decoded | FileError:
    """Decode one file's bytes for a model of input ``size`` (height, width)."""
    sha = hashlib.sha256(data).hexdigest()
    try:
        image = load_image(data)
    except CnnvisError as error:
        return FileError(path, str(error), type(error).__name__)
    except MemoryError:
        return FileError(path, "The image is too large to decode in the memory available.", "MemoryError")
    resized = image if image.shape[:2] == tuple(size) else resize_image(image, tuple(size))
    kept = None
    if preview:
        from ..images import fit_within

        kept = fit_within(image, PREVIEW_SIDE)
    return Decoded(
        path=path,
        pixels=np.ascontiguousarray(resized, dtype=np.uint8),
        image_size=(int(image.shape[0]), int(image.shape[1])),
        sha256=sha,
        seed=image_seed(seed, sha),
        preview=kept,
    )


def decode_file(path: str, size: tuple[int, int], seed: int, *, preview: bool = False) -> Decoded | FileError:
    try:
        data = read_bytes(path)
    except UnreadableFileError as error:
        return FileError(path, str(error), "UnreadableFileError")
    return decode_bytes(path, data, size, seed, preview=preview)


def default_workers() -> int:
    """Half the CPU cores (at least one): on a CPU the model's own threads use every
    core, and decoding needs about a quarter of the model's time (MobileNetV2 on 2 cores:
    one thread gives the most images per second, two compete with TensorFlow); with a
    GPU, raise it with ``--workers``."""
    return max(1, min(MAX_WORKERS, (os.cpu_count() or 1) // 2))


def decode_window(batch_size: int, workers: int) -> int:
    """Photos decoded ahead of the batches being computed, at most: two batches and one
    per thread, so that a batch is ready whenever a compute thread is free."""
    return 2 * batch_size + workers


def prefetch(
    paths: Iterable[str],
    size: tuple[int, int],
    seed: int,
    *,
    workers: int,
    window: int,
    preview: bool = False,
) -> Iterator[Decoded | FileError]:
    """Decoded files in the order of ``paths``, ``workers`` threads decoding up to
    ``window`` files ahead of the consumer (so at most ``window`` decoded photos wait)."""
    paths = iter(paths)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnnvis-decode") as pool:
        pending: deque = deque()
        try:
            for path in paths:
                pending.append(pool.submit(decode_file, path, size, seed, preview=preview))
                if len(pending) >= window:
                    break
            while pending:
                result = pending.popleft().result()
                following = next(paths, None)
                if following is not None:
                    pending.append(pool.submit(decode_file, following, size, seed, preview=preview))
                yield result
        finally:
            for future in pending:
                future.cancel()


def batch_sizes(batch_size: int) -> Iterator[int]:
    """The sizes of a run's batches: 1, 2, 4, ... doubling up to ``batch_size``, then
    ``batch_size``. The first photo's results (and the progress bar's first rate and time
    left) come after one photo's work instead of a whole batch's; from the fifth batch
    on (at 16) the run computes full batches. Results never depend on how the photos are
    batched (tests/test_datasets.py), only the speed of the first few photos does."""
    size = 1
    while True:
        yield min(size, batch_size)
        size *= 2


def batches(
    items: Iterable[Decoded | FileError], batch_size: int
) -> Iterator[tuple[list[Decoded], list[FileError]]]:
    """Groups of decoded photos (of :func:`batch_sizes`), each with the errors met on
    the way."""
    sizes = batch_sizes(batch_size)
    size = next(sizes)
    decoded: list[Decoded] = []
    errors: list[FileError] = []
    for item in items:
        if isinstance(item, FileError):
            errors.append(item)
        else:
            decoded.append(item)
        if len(decoded) >= size:
            yield decoded, errors
            decoded, errors = [], []
            size = next(sizes)
    if decoded or errors:
        yield decoded, errors


def stack_pixels(items: Sequence[Decoded]) -> np.ndarray:
    """The photos as one float32 N x h x w x 3 batch (written once, no uint8 copy between)."""
    stacked = np.empty((len(items), *items[0].pixels.shape), np.float32)
    for row, item in zip(stacked, items):
        row[...] = item.pixels
    return stacked


__all__ = ["Decoded", "FileError", "batch_sizes", "batches", "decode_bytes", "decode_file", "decode_window", "image_seed", "prefetch"]
