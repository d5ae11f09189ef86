"""Write cnnvis/models/data/weights.tsv: for every registry model, the file Keras downloads its
ImageNet weights into (``~/.keras/models/<file>``) and its size (float32 parameters).

Each model is built twice without downloading anything: once with ``weights="imagenet"``
while Keras' ``get_file`` is replaced by a function that records the file name it is
asked for and stops the build, and once with ``weights=None`` to count the parameters.
The slow registry test checks the table against Keras again, so it cannot rot.

    python scripts/make_weights_table.py      # about 10 minutes on 2 cores
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from cnnvis.models import availability  # noqa: E402
from cnnvis.models.loading import REGISTRY  # noqa: E402


def main() -> None:
    rows = []
    for name in sorted(REGISTRY):
        spec = REGISTRY[name]
        file = availability.keras_weights_file(spec)
        parameters = spec.build(None).count_params()
        rows.append((name, file, parameters))
        print(f"{name}: {file}, {parameters * 4 / 1e6:.1f} MB", flush=True)
    availability.write_table(rows, keras.__version__)


if __name__ == "__main__":
    main()
