"""Rewrite the tables the technique registry generates: the README's techniques and
docs/security.md's parameter bounds (see cnnvis/docs.py). Run after adding or changing a
technique: python scripts/make_docs.py"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnvis import docs  # noqa: E402

if __name__ == "__main__":
    changed = docs.write(ROOT)
    print("updated: " + ", ".join(p.name for p in changed) if changed else "up to date")
