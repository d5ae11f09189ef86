"""Write cnnvis/models/data/hub_presets.tsv: keras-hub's ImageNet-1k classifier presets.

Run with keras-hub installed (the version pinned in pyproject.toml's ``hub`` extra):
``python scripts/make_hub_presets.py``. tests/test_hub_models.py checks the file against
the installed keras-hub. Kept: presets of ``keras_hub.models.ImageClassifier`` whose
description says ImageNet 1k (not the 21k backbones without a 1000-class head, nor the
segmentation or Gemma encoders). The input size is the resolution the description or
the preset name gives (``... at a 224x224 resolution``, ``..._384``).
"""

from __future__ import annotations

import re
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "cnnvis" / "models" / "data" / "hub_presets.tsv"


def rows() -> list[tuple[str, str, int, int]]:
    import keras_hub

    result = []
    for preset, entry in sorted(keras_hub.models.ImageClassifier.presets.items()):
        meta = entry.get("metadata", {})
        text = " ".join(meta.get("description", "").split())
        if not re.search(r"ImageNet[ -]1k", text, re.IGNORECASE) or "21k" in preset:
            continue
        size = re.search(r"(\d{3})x\1", text) or re.search(r"_r?(\d{3})(?:_|$)", preset)
        result.append((preset, meta["path"], int(size.group(1)) if size else 224, int(meta["params"])))
    return result


def render(table: list[tuple[str, str, int, int]]) -> str:
    lines = ["preset\tarchitecture\tinput_size\tparameters"]
    lines += ["\t".join(str(v) for v in row) for row in table]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TABLE.write_text(render(rows()), encoding="utf-8")
    print(f"wrote {TABLE}")
