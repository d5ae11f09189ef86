#!/usr/bin/env python3
"""Write cnnvis/models/data/imagenet_classes.tsv from the ImageNet synset lists inside the timm wheel.

Usage::

    python scripts/make_imagenet_classes.py [path/to/timm-X-py3-none-any.whl] [--output FILE]

Without a wheel path, the timm wheel is downloaded with ``pip download --no-deps`` into a
temporary folder. The wheel holds ``timm/data/_info/imagenet_synsets.txt`` (the 1000
WordNet ids in the standard Keras/ImageNet order) and
``timm/data/_info/imagenet_synset_to_lemma.txt`` (``wnid<TAB>lemma, lemma, ...``).

Each output row is ``index, wnid, name, label, synonyms``: ``label`` is the first lemma,
``name`` the same with spaces replaced by underscores (as Keras' ``decode_predictions``
spells it) and ``synonyms`` the other lemmas joined by ", ".
"""

from __future__ import annotations

import argparse
import glob
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TIMM_VERSION = "1.0.31"
SYNSETS = "timm/data/_info/imagenet_synsets.txt"
LEMMAS = "timm/data/_info/imagenet_synset_to_lemma.txt"
HEADER = ("index", "wnid", "name", "label", "synonyms")
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "cnnvis" / "models" / "data" / "imagenet_classes.tsv"


def download_wheel(folder: Path) -> Path:
    """Download the pinned timm wheel (without dependencies) into ``folder``."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               f"timm=={TIMM_VERSION}", "-d", str(folder)]
    subprocess.run(command, check=True)
    wheels = glob.glob(str(folder / "timm-*.whl"))
    if not wheels:
        raise SystemExit("pip did not produce a timm wheel")
    return Path(wheels[0])


def read_lists(wheel: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Return the ordered wnids and the wnid -> lemmas mapping from the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        synsets = archive.read(SYNSETS).decode("utf-8").split()
        lemma_text = archive.read(LEMMAS).decode("utf-8")
    lemmas: dict[str, list[str]] = {}
    for line in lemma_text.splitlines():
        if not line.strip():
            continue
        wnid, _, words = line.partition("\t")
        lemmas[wnid.strip()] = [word.strip() for word in words.split(",") if word.strip()]
    return synsets, lemmas


def build_rows(synsets: list[str], lemmas: dict[str, list[str]]) -> list[tuple[str, ...]]:
    """Build the TSV rows, checking that the list is complete and consistent."""
    if len(synsets) != 1000 or len(set(synsets)) != 1000:
        raise SystemExit(f"expected 1000 distinct synsets, found {len(synsets)} ({len(set(synsets))} distinct)")
    rows = []
    for index, wnid in enumerate(synsets):
        words = lemmas.get(wnid)
        if not words:
            raise SystemExit(f"no lemmas for {wnid}")
        if any("\t" in word or "\n" in word for word in words):
            raise SystemExit(f"unexpected whitespace in the lemmas of {wnid}")
        label = words[0]
        rows.append((str(index), wnid, label.replace(" ", "_"), label, ", ".join(words[1:])))
    return rows


def write_tsv(rows: list[tuple[str, ...]], output: Path) -> None:
    """Write the header and rows with Unix newlines."""
    output.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(HEADER)] + ["\t".join(row) for row in rows]
    output.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", nargs="?", type=Path, help="a timm wheel; downloaded with pip when omitted")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the TSV")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel or download_wheel(Path(folder))
        rows = build_rows(*read_lists(wheel))
    write_tsv(rows, args.output)
    print(f"wrote {len(rows)} classes to {args.output}")


if __name__ == "__main__":
    main()
