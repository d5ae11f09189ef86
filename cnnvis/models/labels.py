"""The 1000 ImageNet classes shipped with cnnvis, and turning user input into a class index.

The table lives in ``cnnvis/models/data/imagenet_classes.tsv`` (see ``cnnvis/models/data/README.md`` for
its source and licence) and is read once, on first use.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Sequence

import numpy as np

from ..errors import ParameterError, UnknownClassError, quoted

__all__ = [
    "IMAGENET_NUM_CLASSES",
    "ImageNetClass",
    "imagenet_classes",
    "class_label",
    "resolve_class",
    "search_classes",
]

IMAGENET_NUM_CLASSES = 1000
_DATA_FILE = "data/imagenet_classes.tsv"
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class ImageNetClass:
    """One ImageNet class: its index, WordNet id, Keras name, readable label and synonyms."""

    index: int
    wnid: str
    name: str
    label: str
    synonyms: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """All 1000 ImageNet classes in the standard (Keras) order, loaded once."""
    text = resources.files(__package__).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    lines = text.splitlines()
    classes = []
    for line in lines[1:]:
        if not line:
            continue
        index, wnid, name, label, synonyms = line.split("\t")
        words = tuple(word for word in synonyms.split(", ") if word)
        classes.append(ImageNetClass(int(index), wnid, name, label, words))
    if [c.index for c in classes] != list(range(IMAGENET_NUM_CLASSES)):
        raise RuntimeError(f"{_DATA_FILE} is damaged: it must list classes 0 to 999 in order")
    return tuple(classes)


def class_label(index: int) -> str:
    """The human-readable label of ImageNet class ``index`` (for example ``'Egyptian cat'``)."""
    return imagenet_classes()[_check_index(index, IMAGENET_NUM_CLASSES)].label


def resolve_class(
    target: int | str,
    num_classes: int = IMAGENET_NUM_CLASSES,
    class_names: Sequence[str] | None = None,
) -> int:
    """Turn a class given by a user into a class index.

    ``target`` may be an index (an ``int``, a NumPy integer or a numeric string) with
    ``0 <= index < num_classes``, an ImageNet WordNet id (``'n02124075'``), a Keras name
    (``'Egyptian_cat'``) or a label (``'egyptian cat'``); names are matched without regard
    to case, and underscores count as spaces. A synonym (``'tabby cat'``) is accepted when
    no label matches. A label shared by two classes (``'crane'``: 134 and 517, ``'maillot'``:
    638 and 639) resolves to the lower index.

    When ``class_names`` is given (a model with its own classes), names are looked up there
    instead and its length is the number of classes; an entry such as
    ``'tabby, tabby cat'`` matches as a whole or by any of its comma-separated parts.
    Without ``class_names``, names can only be resolved for 1000-class ImageNet models.

    Raises:
        UnknownClassError: the index is out of range or the name matches no class.
    """
    if class_names is not None:
        num_classes = len(class_names)
    if isinstance(target, (bool, np.bool_)):
        raise UnknownClassError(f"A class must be given as an index or a name, not {target}.")
    if isinstance(target, (int, np.integer)):
        return _check_index(int(target), num_classes)
    if not isinstance(target, str):
        raise UnknownClassError(f"A class must be given as a whole-number index or a name, not {quoted(target)}.")
    text = target.strip()
    if not text:
        raise UnknownClassError(f"No class was given; {_hint(num_classes, class_names)}.")
    if _INTEGER.fullmatch(text):
        return _check_index(int(text), num_classes)
    if class_names is not None:
        found = _custom_lookup(tuple(class_names)).get(_normalise(text))
        if found is None:
            raise UnknownClassError(f"This model has no class called {quoted(text)}; {_hint(num_classes, class_names)}.")
        return found
    if num_classes != IMAGENET_NUM_CLASSES:
        raise UnknownClassError(
            f"This model's classes have no names, so {quoted(text)} cannot be looked up; "
            f"use a class index from 0 to {num_classes - 1}."
        )
    found = _imagenet_lookup().get(_normalise(text))
    if found is None:
        raise UnknownClassError(f"There is no ImageNet class called {quoted(text)}; {_hint(num_classes, None)}.")
    return found


def search_classes(query: str, limit: int = 20) -> list[ImageNetClass]:
    """ImageNet classes whose label, name, synonyms or WordNet id contain ``query`` (any case).

    Best matches come first: an exact label, name or id, then labels containing the query
    as a whole word, then labels with a word starting with it, then labels containing it
    anywhere, then synonym or id matches; each group is in index order.
    A numeric query also finds the class with that index. An empty query lists the first
    ``limit`` classes.
    """
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise ParameterError(f"The number of search results must be zero or a positive whole number, not {limit!r}.")
    classes = imagenet_classes()
    needle = _normalise(query or "")
    if not needle:
        return list(classes[:limit])
    ranked: list[tuple[int, int]] = []
    for cls in classes:
        rank = _search_rank(cls, needle)
        if rank is not None:
            ranked.append((rank, cls.index))
    ranked.sort()
    return [classes[index] for _, index in ranked[:limit]]


# --------------------------------------------------------------------------- helpers


def _normalise(text: str) -> str:
    """Lower-case, underscores as spaces, runs of whitespace collapsed."""
    return " ".join(text.replace("_", " ").split()).casefold()


def _check_index(index: int, num_classes: int) -> int:
    """Return ``index`` as an ``int`` if it is a valid class index, else raise."""
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise UnknownClassError(f"A class index must be a whole number, not {index!r}.")
    if num_classes < 1:
        raise UnknownClassError("This model has no classes to choose from.")
    if not 0 <= index < num_classes:
        raise UnknownClassError(
            f"Class index {int(index)} is out of range; use a number from 0 to {num_classes - 1}."
        )
    return int(index)


def _hint(num_classes: int, class_names: Sequence[str] | None) -> str:
    """The second half of an unknown-class message: what the user can type instead."""
    if class_names is not None:
        example = next((name for name in class_names if name.strip()), None)
        names = f" or a class name such as {example.strip()!r}" if example else ""
        return f"use a class index from 0 to {num_classes - 1}{names}"
    return (
        f"use a class index from 0 to {num_classes - 1}, an ImageNet id such as n02124075, "
        "or a label such as 'Egyptian cat'"
    )


@functools.lru_cache(maxsize=1)
def _imagenet_lookup() -> dict[str, int]:
    """Normalised id / name / label / synonym -> lowest index, labels taking precedence."""
    lookup: dict[str, int] = {}
    classes = imagenet_classes()
    for cls in classes:
        lookup.setdefault(cls.wnid.casefold(), cls.index)
    for cls in classes:
        lookup.setdefault(_normalise(cls.label), cls.index)  # name normalises to the same key
    for cls in classes:
        lookup.setdefault(_normalise(", ".join((cls.label,) + cls.synonyms)), cls.index)
    for cls in classes:
        for synonym in cls.synonyms:
            lookup.setdefault(_normalise(synonym), cls.index)
    return lookup


@functools.lru_cache(maxsize=8)
def _custom_lookup(class_names: tuple[str, ...]) -> dict[str, int]:
    """Normalised whole name, then each comma-separated part -> lowest index."""
    lookup: dict[str, int] = {}
    for index, name in enumerate(class_names):
        lookup.setdefault(_normalise(str(name)), index)
    for index, name in enumerate(class_names):
        for part in str(name).split(","):
            if part.strip():
                lookup.setdefault(_normalise(part), index)
    return lookup


def _search_rank(cls: ImageNetClass, needle: str) -> int | None:
    """How well ``cls`` matches a normalised query (lower is better), or None."""
    label = _normalise(cls.label)
    wnid = cls.wnid.casefold()
    if needle in (label, wnid) or needle == str(cls.index):
        return 0
    if re.search(rf"\b{re.escape(needle)}\b", label):
        return 1
    if re.search(rf"\b{re.escape(needle)}", label):
        return 2
    if needle in label:
        return 3
    if needle in wnid or any(needle in _normalise(synonym) for synonym in cls.synonyms):
        return 4
    return None
