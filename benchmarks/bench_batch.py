"""Throughput of `cnnvis explain` over a folder, against the alternatives, measured in one run.

    python benchmarks/bench_batch.py                 # 256 photos, MobileNetV2, Grad-CAM
    python benchmarks/bench_batch.py --images 64 --no-ray

Generates a folder of JPEG photos (random crops, flips and sizes of the example photos,
about 500 x 375 like ImageNet's validation set), then prints images per second of:

- ``cnnvis explain`` (Grad-CAM, the command's own code, in this process after a warm-up
  run that traces the compiled functions): decoding in threads, batched passes, Parquet;
- a Python loop calling ``cnnvis.grad_cam(model, cnnvis.load_image(path))`` per photo
  (target: explain >= 1.5x);
- the compiled batched forward-plus-gradient pass alone (``compiled.cam``) on photos
  already decoded and resized, batch for batch (target: explain >= 0.8x: the pipeline
  hides decoding and writing behind the model);
- the same run on Ray started on this machine (``ray.init(num_cpus=...)``), start-up of
  Ray excluded, its actor's model loading and tracing included: the local-Ray overhead;

and the process's resident memory sampled during the explain run, by quarter of the
run (flat when results are written as they come).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from PIL import Image  # noqa: E402

import cnnvis  # noqa: E402
from cnnvis import cli  # noqa: E402
from cnnvis.datasets.decode import decode_file, stack_pixels  # noqa: E402
from cnnvis.techniques import compiled  # noqa: E402

MODEL = "MobileNetV2"


def make_photos(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` JPEGs from random crops, flips and sizes of the example photos."""
    rng = np.random.default_rng(seed)
    sources = [Image.open(p).convert("RGB") for p in sorted((ROOT / "examples").glob("*.jpg"))]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        photo = sources[index % len(sources)]
        width, height = photo.size
        w, h = int(width * rng.uniform(0.6, 1.0)), int(height * rng.uniform(0.6, 1.0))
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        crop = photo.crop((x, y, x + w, y + h)).resize((int(rng.integers(400, 520)), int(rng.integers(300, 400))))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        path = folder / f"photo-{index:04d}.jpg"
        crop.save(path, quality=90)
        paths.append(path)
    return paths


class MemorySampler:
    """Resident memory of this process every 20 ms, in a background thread."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), process.memory_info().rss / 2**20))
            self._stop.wait(0.02)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def quarters(self) -> list[float]:
        """Peak resident memory (MB) in each quarter of the sampled time."""
        values = np.array([m for _, m in self.samples])
        return [float(part.max()) for part in np.array_split(values, 4) if part.size]


def explain(folder: Path, out: Path, batch_size: int, engine: str = "local", extra=()) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    status = cli.main(
        ["explain", "--model", MODEL, *extra, "--methods", "grad_cam", "--batch-size", str(batch_size),
         "--engine", engine, "--quiet", "--out", str(out), str(folder)]
    )
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"cnnvis explain failed with status {status}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three local paths, in turn")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray engine")
    args = parser.parse_args()

    weights_dir = os.environ.get("CNNVIS_WEIGHTS_DIR") or str(ROOT.parent / "shared" / "weights")
    has_weights = Path(weights_dir, f"{MODEL}.weights.h5").is_file()
    extra = ["--weights-dir", weights_dir] if has_weights else ["--weights", "random"]
    model = cnnvis.load_model(MODEL, weights_dir=weights_dir) if has_weights else cnnvis.load_model(MODEL, None)
    work = Path(tempfile.mkdtemp(prefix="cnnvis-bench-batch-"))
    try:
        paths = make_photos(work / "photos", args.images)
        warm = make_photos(work / "warm", 2 * args.batch_size, seed=1)
        print(f"{platform.machine()}, {os.cpu_count()} cores ({platform.processor() or 'cpu'}), "
              f"TensorFlow {__import__('tensorflow').__version__}, {MODEL} "
              f"({'imagenet' if has_weights else 'random'} weights), {args.images} photos, batch {args.batch_size}")

        # Warm-up: trace the compiled functions of every path measured below.
        explain(work / "warm", work / "out-warm", args.batch_size, extra=extra)
        for path in warm[:2]:
            cnnvis.grad_cam(model, cnnvis.load_image(path))

        size = model.input_size
        start = time.perf_counter()
        decoded = [decode_file(str(p), size, 0) for p in paths]
        decode_ms = (time.perf_counter() - start) / args.images * 1000
        batches = [stack_pixels(decoded[i : i + args.batch_size]) for i in range(0, len(paths), args.batch_size)]
        fn = compiled.cam(model, model.default_layer)

        def loop() -> float:
            start = time.perf_counter()
            for path in paths:
                cnnvis.grad_cam(model, cnnvis.load_image(path))
            return time.perf_counter() - start

        def batched_pass() -> float:
            start = time.perf_counter()
            for batch in batches:
                [t.numpy() for t in fn(batch, np.full(len(batch), -1, np.int32))]
            return time.perf_counter() - start

        # Rounds that take turns, so that a machine shared with other work slows every
        # path alike; the ratios are medians of the rounds' own ratios.
        rounds: list[dict[str, float]] = []
        memory = None
        for _ in range(args.rounds):
            sampler = MemorySampler()
            with sampler:
                explain_s = explain(work / "photos", work / "out", args.batch_size, extra=extra)
            memory = sampler  # the last round: every allocation of the warm-up is behind it
            rounds.append({"explain": explain_s, "loop": loop(), "pass": batched_pass()})
        median = {k: float(np.median([r[k] for r in rounds])) for k in rounds[0]}
        explain_s = median["explain"]
        explain_rate, loop_rate, pass_rate = (args.images / median[k] for k in ("explain", "loop", "pass"))
        vs_loop = float(np.median([r["loop"] / r["explain"] for r in rounds]))
        vs_pass = float(np.median([r["pass"] / r["explain"] for r in rounds]))
        vs_both = float(np.median([(r["pass"] + decode_ms * args.images / 1000) / r["explain"] for r in rounds]))

        print(f"\nMedians of {args.rounds} rounds (each round: explain, the loop, the pass, in turn)")
        print("| path | images/s | explain vs it |")
        print("|---|---:|---:|")
        print(f"| `cnnvis explain` (Grad-CAM, local engine) | {explain_rate:.1f} | 1.00x |")
        print(f"| Python loop of `cnnvis.grad_cam` (target >= 1.5x) | {loop_rate:.1f} | {vs_loop:.2f}x |")
        print(f"| compiled batched pass alone (target >= 0.8x) | {pass_rate:.1f} | {vs_pass:.2f}x |")
        both = 1000 / (1000 / pass_rate + decode_ms)
        print(f"| the pass plus decoding and resizing, one after the other | {both:.1f} | {vs_both:.2f}x |")
        print(f"\nDecoding and resizing one photo (load_image + resize to 224 x 224, one thread): {decode_ms:.1f} ms "
              f"of CPU, the pass {1000 / pass_rate:.1f} ms per image: on {os.cpu_count()} cores that the pass "
              "already keeps busy, decoding can only overlap with what the pass leaves idle.")
        quarters = memory.quarters()
        print(f"\nResident memory during `cnnvis explain`, peak per quarter of the run (MB): "
              + ", ".join(f"{q:.0f}" for q in quarters)
              + f"; growth from the first quarter to the last: {quarters[-1] - quarters[0]:+.0f} MB")
        results = sum(f.stat().st_size for f in (work / "out" / "results.parquet").iterdir())
        print(f"Results written: {results / 2**20:.1f} MB for {args.images} maps of 224 x 224 float32")

        if not args.no_ray:
            import ray

            start = time.perf_counter()
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
            init_s = time.perf_counter() - start
            try:
                ray.data.DataContext.get_current().enable_progress_bars = False
                ray_s = explain(work / "photos", work / "out-ray", args.batch_size, "ray", extra)
            finally:
                ray.shutdown()
            print(f"\nRay on this machine: ray.init {init_s:.1f} s (not counted); the run {ray_s:.1f} s "
                  f"({args.images / ray_s:.1f} images/s, its actor's model loading and tracing included) "
                  f"against {explain_s:.1f} s for the local engine (warm): {ray_s / explain_s:.2f}x the time, "
                  f"+{ray_s - explain_s:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
