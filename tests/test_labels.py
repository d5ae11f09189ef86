"""Tests for cnnvis.models.labels and the shipped ImageNet class table."""

from __future__ import annotations

import os
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

from cnnvis.errors import CnnvisError, ParameterError, UnknownClassError
from cnnvis.models.labels import (
    ImageNetClass,
    class_label,
    imagenet_classes,
    resolve_class,
    search_classes,
)


def assert_one_sentence(error: BaseException) -> None:
    """The message is a single user-facing sentence."""
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message
    assert message[0].isupper() and message.endswith("."), message
    assert isinstance(error, CnnvisError)


def weights_dir() -> Path:
    """Where the shared weights folder is: CNNVIS_WEIGHTS_DIR, else shared/weights beside the repo."""
    configured = os.environ.get("CNNVIS_WEIGHTS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1].parent / "shared" / "weights"


# --------------------------------------------------------------------------- the table


def test_there_are_1000_classes_in_order() -> None:
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert [c.index for c in classes] == list(range(1000))
    assert all(isinstance(c, ImageNetClass) for c in classes)


def test_wnids_are_unique_and_well_formed() -> None:
    wnids = [c.wnid for c in imagenet_classes()]
    assert len(set(wnids)) == 1000
    assert all(len(w) == 9 and w[0] == "n" and w[1:].isdigit() for w in wnids)
    assert wnids == sorted(wnids)  # the standard order is sorted by WordNet id


def test_fields_are_consistent() -> None:
    for c in imagenet_classes():
        assert c.name == c.label.replace(" ", "_")
        assert c.label and c.label == c.label.strip()
        assert isinstance(c.synonyms, tuple)
        assert all(s and s == s.strip() and "," not in s for s in c.synonyms)


@pytest.mark.parametrize(
    ("index", "wnid", "name", "label"),
    [
        (0, "n01440764", "tench", "tench"),
        (1, "n01443537", "goldfish", "goldfish"),
        (281, "n02123045", "tabby", "tabby"),
        (285, "n02124075", "Egyptian_cat", "Egyptian cat"),
        (134, "n02012849", "crane", "crane"),
        (517, "n03126707", "crane", "crane"),
        (999, "n15075141", "toilet_tissue", "toilet tissue"),
    ],
)
def test_known_classes(index: int, wnid: str, name: str, label: str) -> None:
    c = imagenet_classes()[index]
    assert (c.index, c.wnid, c.name, c.label) == (index, wnid, name, label)
    assert class_label(index) == label


def test_synonyms() -> None:
    assert imagenet_classes()[0].synonyms == ("Tinca tinca",)
    assert "tabby cat" in imagenet_classes()[281].synonyms
    assert imagenet_classes()[285].synonyms == ()


def test_classes_are_cached_and_frozen() -> None:
    assert imagenet_classes() is imagenet_classes()
    with pytest.raises(FrozenInstanceError):
        imagenet_classes()[0].label = "changed"  # type: ignore[misc]


def test_class_label_rejects_bad_indices() -> None:
    for bad in (-1, 1000, True):
        with pytest.raises(UnknownClassError) as caught:
            class_label(bad)
        assert_one_sentence(caught.value)
    assert class_label(np.int64(285)) == "Egyptian cat"


def test_cross_check_with_shared_labels_file() -> None:
    path = weights_dir() / "imagenet_labels.txt"
    if not path.is_file():
        pytest.skip(f"no independent label list at {path} to cross-check against")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "background"
    assert len(lines) == 1001
    for c, line in zip(imagenet_classes(), lines[1:]):
        first = line.split(",")[0].strip()
        assert c.label == first, f"class {c.index}: {c.label!r} != {first!r}"
        assert ", ".join((c.label,) + c.synonyms) == line.strip()


# --------------------------------------------------------------------------- resolve_class


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (285, 285),
        (0, 0),
        (999, 999),
        (np.int64(285), 285),
        (np.uint8(7), 7),
        ("285", 285),
        (" 17 ", 17),
        ("n02124075", 285),
        ("N02124075", 285),
        ("Egyptian_cat", 285),
        ("Egyptian cat", 285),
        ("egyptian cat", 285),
        ("EGYPTIAN_CAT", 285),
        ("  egyptian   cat ", 285),
        ("tabby", 281),
        ("tabby cat", 281),  # a synonym
        ("tench, Tinca tinca", 0),  # a whole line of the usual labels file
        ("toilet tissue", 999),
    ],
)
def test_resolve_class_accepted_forms(target, expected: int) -> None:
    result = resolve_class(target)
    assert result == expected
    assert type(result) is int


def test_duplicate_labels_resolve_to_lowest_index() -> None:
    assert resolve_class("crane") == 134
    assert resolve_class("maillot") == 638
    assert resolve_class("n03126707") == 517  # the other crane by its id
    assert resolve_class("n03710721") == 639


def test_labels_win_over_synonyms() -> None:
    # "tank suit" is a synonym of maillot 639; "tank" is the label of class 847.
    assert resolve_class("tank") == 847
    assert resolve_class("tank suit") == 639


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("zebra fish", "no ImageNet class called 'zebra fish'"),
        ("n99999999", "no ImageNet class"),
        ("", "No class was given"),
        ("   ", "No class was given"),
        (1000, "from 0 to 999"),
        (-1, "from 0 to 999"),
        ("1000", "from 0 to 999"),
        ("-3", "from 0 to 999"),
        (np.int32(5000), "from 0 to 999"),
        (True, "not True"),
        (np.bool_(False), "not False"),
        (2.0, "index or a name"),
        (None, "index or a name"),
        (["tabby"], "index or a name"),
    ],
)
def test_resolve_class_rejections(target, fragment: str) -> None:
    with pytest.raises(UnknownClassError) as caught:
        resolve_class(target)
    assert fragment in str(caught.value)
    assert_one_sentence(caught.value)


def test_unknown_name_message_is_the_documented_sentence() -> None:
    with pytest.raises(UnknownClassError) as caught:
        resolve_class("zebra fish")
    assert str(caught.value) == (
        "There is no ImageNet class called 'zebra fish'; use a class index from 0 to 999, "
        "an ImageNet id such as n02124075, or a label such as 'Egyptian cat'."
    )


def test_resolve_class_with_other_num_classes() -> None:
    assert resolve_class(9, num_classes=10) == 9
    with pytest.raises(UnknownClassError) as caught:
        resolve_class(10, num_classes=10)
    assert "from 0 to 9" in str(caught.value)
    with pytest.raises(UnknownClassError) as caught:
        resolve_class("tabby", num_classes=10)  # no names for a 10-class model
    assert_one_sentence(caught.value)


def test_resolve_class_with_custom_class_names() -> None:
    names = ["cat", "Dog_breed", "hot dog, frankfurter", "cat"]
    assert resolve_class("cat", class_names=names) == 0  # duplicates: lowest index
    assert resolve_class("dog breed", class_names=names) == 1
    assert resolve_class("DOG_BREED", class_names=names) == 1
    assert resolve_class("frankfurter", class_names=names) == 2
    assert resolve_class("hot dog, frankfurter", class_names=names) == 2
    assert resolve_class(3, class_names=names) == 3
    assert resolve_class("3", class_names=names) == 3
    for bad in ("tabby", "n02124075", 4):
        with pytest.raises(UnknownClassError) as caught:
            resolve_class(bad, class_names=names)
        assert_one_sentence(caught.value)
    with pytest.raises(UnknownClassError) as caught:
        resolve_class("tabby", class_names=names)
    assert "from 0 to 3" in str(caught.value) and "'cat'" in str(caught.value)


def test_resolve_class_with_background_offset_labels() -> None:
    # Models with 1001 outputs put "background" first; the class names shift by one.
    names = ["background"] + [", ".join((c.label,) + c.synonyms) for c in imagenet_classes()]
    assert resolve_class("tabby", num_classes=1001, class_names=names) == 282
    assert resolve_class("Egyptian cat", class_names=names) == 286


# --------------------------------------------------------------------------- search_classes


def test_search_finds_by_label_and_ranks_whole_words_first() -> None:
    results = search_classes("cat")
    labels = [c.label for c in results]
    assert "Egyptian cat" in labels and "tiger cat" in labels
    assert labels.index("Egyptian cat") < labels.index("catamaran")
    assert len(results) <= 20


def test_search_is_case_insensitive_and_covers_all_fields() -> None:
    assert search_classes("EGYPTIAN")[0].index == 285
    assert search_classes("egyptian_cat")[0].index == 285
    assert search_classes("n02124075")[0].index == 285
    assert 0 in [c.index for c in search_classes("tinca")]  # synonym
    assert search_classes("285")[0].index == 285  # an index


def test_search_exact_label_first() -> None:
    assert search_classes("tabby")[0].index == 281
    assert [c.index for c in search_classes("crane")][:2] == [134, 517]


def test_search_limits_and_empty_queries() -> None:
    assert len(search_classes("a", limit=5)) == 5
    assert search_classes("a", limit=0) == []
    assert [c.index for c in search_classes("", limit=3)] == [0, 1, 2]
    assert search_classes("no such thing at all") == []
    with pytest.raises(ParameterError) as caught:
        search_classes("cat", limit=-1)
    assert_one_sentence(caught.value)
