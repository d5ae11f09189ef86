"""Memory of decoding a 40-megapixel photo, whole then shrunk (before) against shrunk while
decoding (after, ``cnnvis.load_image(path, max_side=1024)``), as the app keeps it.

    python benchmarks/bench_decode.py

Each case runs in a fresh Python process: it imports cnnvis, notes its resident memory,
decodes the file once, and reports its peak resident memory (``VmHWM`` of
/proc/self/status, which, unlike ``ru_maxrss``, is not inherited from the parent across
exec) minus the memory before. Targets (issue 10): JPEG at most +200 MB, PNG at most +700 MB. Times are
printed for information only.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MB = 2**20
SIDE = 1024  # the app's MAX_SIDE
WIDTH, HEIGHT = 7744, 5164  # 40.0 megapixels, the app's pixel cap (3:2, as a camera's)
TARGETS_MB = {"JPEG": 200, "PNG": 700}

MEASURE = r"""
import json, sys, time
from cnnvis.images import fit_within, load_image

def status(field):  # kilobytes
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

path, mode, side = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = status("VmRSS")
start = time.perf_counter()
if mode == "before":  # what the app did: decode whole, then shrink
    image = fit_within(load_image(path), side, min_side=16)
else:
    image = load_image(path, max_side=side)
seconds = time.perf_counter() - start
peak = status("VmHWM")
print(json.dumps({"increase": peak - before, "seconds": seconds, "shape": list(image.shape)}))
"""


def photos(folder: Path) -> dict[str, Path]:
    """The test photos, made in a process of their own (so that this one stays small)."""
    subprocess.run([sys.executable, __file__, "--make", str(folder)], check=True)
    return {"JPEG": folder / "photo.jpg", "PNG (RGB)": folder / "photo.png", "PNG (RGBA)": folder / "alpha.png"}


def photo(folder: Path) -> dict[str, Path]:
    """A 40-megapixel photo-like picture (smooth colour and fine grain) as JPEG, RGB PNG and
    RGBA PNG (its alpha a gradient)."""
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    grain = np.random.default_rng(0).integers(-6, 7, (HEIGHT, WIDTH), dtype=np.int16)
    channels = [columns * (255 / WIDTH), rows * (255 / HEIGHT), (rows + columns) * (127 / (HEIGHT + WIDTH))]
    rgb = np.stack([np.clip(c + grain, 0, 255).astype(np.uint8) for c in channels], axis=-1)
    del rows, grain, channels
    alpha = np.clip(columns * (255 / WIDTH), 0, 255).astype(np.uint8)
    files = {"JPEG": folder / "photo.jpg", "PNG (RGB)": folder / "photo.png", "PNG (RGBA)": folder / "alpha.png"}
    Image.fromarray(rgb).save(files["JPEG"], quality=90)
    Image.fromarray(rgb).save(files["PNG (RGB)"], compress_level=1)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(files["PNG (RGBA)"], compress_level=1)
    return files


def measure(path: Path, mode: str) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), mode, str(SIDE)],
        capture_output=True, text=True, check=True, env=environment, cwd=ROOT,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{WIDTH} x {HEIGHT} pixels ({WIDTH * HEIGHT / 1e6:.1f} MP), kept at most {SIDE} px a side")
    print(f"{'file':<12} {'size':>8} {'whole, then fit':>16} {'max_side':>16} {'ratio':>6}  target")
    with tempfile.TemporaryDirectory(prefix="cnnvis-decode-") as folder:
        for name, path in photos(Path(folder)).items():
            before, after = measure(path, "before"), measure(path, "after")
            assert before["shape"] == after["shape"], (before, after)
            target = TARGETS_MB["JPEG" if name == "JPEG" else "PNG"]
            verdict = "met" if after["increase"] <= target * MB else "NOT met"
            print(
                f"{name:<12} {path.stat().st_size / MB:6.1f}MB "
                f"{before['increase'] / MB:7.0f} MB {before['seconds']:5.2f}s "
                f"{after['increase'] / MB:7.0f} MB {after['seconds']:5.2f}s "
                f"{before['increase'] / max(after['increase'], 1):5.1f}x  <= +{target} MB: {verdict}"
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make"]:
        photo(Path(sys.argv[2]))
    else:
        main()
