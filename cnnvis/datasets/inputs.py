"""Which image files a dataset run reads: files, folders (recursive), globs and lists.

Every input is one of:

- an image file (any extension: the decoder decides whether it is an image, and a file
  that is not goes into the errors table);
- a folder: every file under it, recursively, whose extension is an image format the
  decoder reads (``IMAGE_EXTENSIONS``, case-insensitive); hidden files and folders
  (names starting with ".") are skipped;
- a glob pattern (``*``, ``?``, ``[...]``; ``**`` matches any depth), expanded the same
  way (matched folders are walked, matched files are kept);
- a text file listing paths (extension ``.txt`` or ``.lst``): one path per line, blank
  lines and lines starting with ``#`` ignored, relative paths taken relative to the
  list file's folder; each line is expanded like a command-line input (but a list
  inside a list is refused).

A path that exists but is neither a folder nor a regular file (a pipe, a socket, a
device) is kept as it is named and never opened: the run reports it as a file that
could not be read. Walking a folder lists names only; nothing is opened until decoding
(:mod:`cnnvis.datasets.files` says how files are opened and read).

Paths are made absolute (not resolving symbolic links), deduplicated, and kept in a
stable order: inputs in the order given, each folder or glob sorted. An input that
matches nothing is a user error, so that a typo never runs an empty job.
"""

from __future__ import annotations

import glob
import os
from typing import Sequence

from ..errors import ParameterError, quoted
from .files import MAX_LIST_BYTES, UnreadableFileError, is_regular, read_regular, shown_name

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")
LIST_EXTENSIONS = (".txt", ".lst")
MAX_FILES = 10_000_000  # paths one run may list (each path costs memory in the driver)
_GLOB_CHARACTERS = set("*?[")


def is_image_name(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def _visible(name: str) -> bool:
    return not name.startswith(".")


def walk_images(folder: str) -> list[str]:
    """Image files under ``folder``, recursively, sorted; hidden entries are skipped."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        found.extend(os.path.join(root, f) for f in sorted(files) if _visible(f) and is_image_name(f))
    return found


def _expand_one(item: str, base: str, *, allow_lists: bool) -> list[str]:
    path = item if os.path.isabs(item) else os.path.join(base, item)
    if os.path.isdir(path):
        return walk_images(path)
    if os.path.exists(path) and not is_regular(path):
        return [path]  # a pipe, a device...: never opened; the run reports it as an error row
    if os.path.isfile(path):
        if os.path.splitext(path)[1].lower() in LIST_EXTENSIONS:
            if not allow_lists:
                raise ParameterError(f"The list {quoted(shown_name(item))} names another list; lists cannot be nested.")
            return read_list(path)
        return [path]
    if _GLOB_CHARACTERS & set(item):
        matches = sorted(glob.glob(path, recursive=True))
        files: list[str] = []
        for match in matches:
            if os.path.isdir(match):
                files.extend(walk_images(match))
            elif os.path.isfile(match) and is_image_name(match):
                files.append(match)
        if not files:
            raise ParameterError(f"The pattern {quoted(shown_name(item))} matches no image file.")
        return files
    raise ParameterError(f"There is no file or folder called {quoted(shown_name(item))}.")


def read_list(path: str) -> list[str]:
    """The paths a list file names, expanded (relative lines: relative to the list's folder)."""
    base = os.path.dirname(os.path.abspath(path))
    try:
        lines = [line.strip() for line in read_regular(path, MAX_LIST_BYTES, what="list").decode("utf-8").splitlines()]
    except UnreadableFileError as error:
        raise ParameterError(str(error)) from None
    except UnicodeDecodeError:
        raise ParameterError(
            f"The list {quoted(shown_name(os.path.basename(path)))} could not be read as UTF-8 text."
        ) from None
    files: list[str] = []
    for line in lines:
        if line and not line.startswith("#"):
            files.extend(_expand_one(line, base, allow_lists=False))
    if not files:
        raise ParameterError(f"The list {quoted(shown_name(os.path.basename(path)))} names no image file.")
    return files


class Expanded(list):
    """The list :func:`expand_inputs` returns: given to it again, it is taken as it is
    (the command line expands the inputs before TensorFlow loads, then hands them on)."""


def expand_inputs(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Absolute paths of the image files that ``inputs`` name, deduplicated, in order."""
    if isinstance(inputs, Expanded):
        return inputs
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    items = [os.fspath(item) for item in inputs]
    if not items:
        raise ParameterError("Give at least one input: an image file, a folder, a pattern or a list.")
    seen: dict[str, None] = {}
    for item in items:
        for path in _expand_one(item, os.getcwd(), allow_lists=True):
            seen.setdefault(os.path.abspath(path), None)
            if len(seen) > MAX_FILES:
                raise ParameterError(f"The inputs name more than {MAX_FILES:,} files; split the run.")
    if not seen:
        raise ParameterError("The inputs name no image file.")
    return Expanded(seen)


__all__ = ["Expanded", "IMAGE_EXTENSIONS", "LIST_EXTENSIONS", "expand_inputs", "read_list", "walk_images"]
