"""Draw the README's trust-report picture from real MobileNetV2 weights on the cat.

    CNNVIS_WEIGHTS_DIR=/path/to/weights python scripts/make_trust_figure.py

The folder must hold ``MobileNetV2.weights.h5`` (Keras' ImageNet weights). The script
runs ``cnnvis.trust_report`` with its defaults on ``examples/cat.jpg`` and saves
``docs/trust_report.jpg``: each method's map on the photo, captioned with its rank and
verdict, above the four curves with the random bands shaded. It prints the report's
table, which the README quotes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import cnnvis  # noqa: E402
from cnnvis import render  # noqa: E402
from cnnvis.images import resize_image  # noqa: E402

OUTPUT = ROOT / "docs" / "trust_report.jpg"
WIDTH = 1200
JPEG_QUALITY = 85


def main() -> None:
    directory = os.environ.get("CNNVIS_WEIGHTS_DIR") or str(ROOT.parent / "shared" / "weights")
    if not (Path(directory) / "MobileNetV2.weights.h5").is_file():
        sys.exit(f"MobileNetV2.weights.h5 not found in {directory}: set CNNVIS_WEIGHTS_DIR.")
    model = cnnvis.load_model("MobileNetV2", weights_dir=directory)
    photo = cnnvis.load_image(ROOT / "examples" / "cat.jpg")
    report = cnnvis.trust_report(model, photo)

    small = resize_image(photo, (144, 216))  # the photo is 300 x 451
    tiles = [small] + [render.overlay(small, m.map, alpha=0.55) for m in report.methods]
    captions = ["the photo"] + [f"{m.rank}. {m.title}: {m.verdict}" for m in report.methods]
    maps = render.grid(tiles, captions, columns=5, pad=6)
    chart = render.trust_chart(report.panels, title=report.caption, width=WIDTH, height=360)
    scale = WIDTH / maps.shape[1]
    maps = np.asarray(
        Image.fromarray(maps).resize((WIDTH, round(maps.shape[0] * scale)), Image.LANCZOS)
    )
    picture = np.concatenate([maps, chart], axis=0)
    OUTPUT.parent.mkdir(exist_ok=True)
    Image.fromarray(picture).save(OUTPUT, quality=JPEG_QUALITY, optimize=True)
    print(f"{OUTPUT.relative_to(ROOT)}: {picture.shape[1]} x {picture.shape[0]}, "
          f"{OUTPUT.stat().st_size // 1024} KB")
    print(report.summary)
    print(report.note)
    for kind, by_test in report.bands.items():
        for test, band in by_test.items():
            print(f"band of random {kind}, {test}: areas {np.round(band.areas, 3).tolist()}")
    for m in report.methods:
        print(f"{m.rank}. {m.title} ({m.band} band): {m.verdict}. {m.reason}")
        for e in m.evidence:
            print(f"     {e.title}: {e.detail}")


if __name__ == "__main__":
    main()
