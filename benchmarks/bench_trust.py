"""What the trust report costs, and where the time goes.

    python benchmarks/bench_trust.py                  # MobileNetV2 on examples/cat.jpg
    python benchmarks/bench_trust.py --reference      # + today's Compare and sanity check
    python benchmarks/bench_trust.py --stability 20   # verdicts over seeds 0-4 on 20 photos

The report runs the registry's quick heatmap and attribution methods with the defaults
(``cnnvis.trust_report``), once cold (tracing, building the randomisation copy) and then
``--repeats`` times warm; the table gives the warm median of each part and its share.
"forward" is the compiled forward pass alone (a batch of 16 at the model's input size),
measured in the same run, so the report is also given in forward-pass equivalents,
comparable across machines. The machine's load average is printed too: on a shared
machine the wall-clock figures grow with it, the CPU time much less.
Real ImageNet weights are used where $CNNVIS_WEIGHTS_DIR (or ../shared/weights) has them;
random weights otherwise (the verdicts then mean nothing, the cost is the same).

``--stability N`` runs the default report on the first N photos of
../shared/data/imagenet-sample-500 (one every 500 / N files, in name order, for their own
class) with seeds 0-4 (``--seeds``) and prints the share of (photo, method) pairs whose
verdict is the same for every seed, and each pair that changes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import cnnvis  # noqa: E402
from cnnvis.evaluation import metrics, trust  # noqa: E402
from cnnvis.techniques import compiled  # noqa: E402

PARTS = ("maps", "sanity", "perturbations", "imputation", "waiting for imputation")


def weights_dir() -> Path | None:
    for candidate in (os.environ.get("CNNVIS_WEIGHTS_DIR"), ROOT.parent / "shared" / "weights"):
        if candidate and (Path(candidate) / "MobileNetV2.weights.h5").is_file():
            return Path(candidate)
    return None


def forward_seconds(model: cnnvis.VisModel, repeats: int = 5) -> tuple[float, float]:
    """Wall and CPU seconds per image of the compiled forward pass, batches of 16."""
    height, width = model.input_size
    batch = np.random.default_rng(0).uniform(0, 255, (16, height, width, 3)).astype(np.float32)
    forward = compiled.forward(model)
    forward(batch)
    times, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        forward(batch).numpy()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(times) / len(batch), statistics.median(cpus) / len(batch)


def timed_report(model, image) -> tuple[trust.TrustReport, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    report = cnnvis.trust_report(model, image)
    return report, time.perf_counter() - wall, time.process_time() - cpu


SAMPLE = ROOT.parent / "shared" / "data" / "imagenet-sample-500"


def stability(model, count: int, seeds: int) -> None:
    """Verdicts of the default report over ``seeds`` seeds on ``count`` photos."""
    files = sorted(SAMPLE.glob("*.JPEG"))
    if not files:
        print(f"no photos in {SAMPLE}: skipped")
        return
    step = max(1, len(files) // count)
    chosen = files[::step][:count]
    verdicts: dict[tuple[str, str], list[str]] = {}
    began = time.perf_counter()
    for path in chosen:
        image = cnnvis.load_image(str(path))
        klass = int(path.name[:3])
        for seed in range(seeds):
            report = cnnvis.trust_report(model, image, target_class=klass, seed=seed)
            for entry in report.methods:
                verdicts.setdefault((path.name, entry.title), []).append(entry.verdict)
            print(f"  {path.name} seed {seed}: " + ", ".join(f"{m.title} {m.verdict}" for m in report.methods),
                  flush=True)
        print(f"  {path.name}: {time.perf_counter() - began:.0f} s so far", flush=True)
    stable = [key for key, found in verdicts.items() if len(set(found)) == 1]
    print(f"stability: {len(stable)} of {len(verdicts)} (photo, method) pairs keep their verdict "
          f"over seeds 0-{seeds - 1}: {len(stable) / len(verdicts):.0%}")
    counts = {v: sum(found[0] == v for key, found in verdicts.items() if key in stable) for v in trust.VERDICTS}
    print("  stable pairs by verdict: " + ", ".join(f"{v} {n}" for v, n in counts.items()))
    for (photo, method), found in verdicts.items():
        if len(set(found)) > 1:
            print(f"  flips: {photo} · {method}: {' / '.join(found)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="MobileNetV2")
    parser.add_argument("--image", default=str(ROOT / "examples" / "cat.jpg"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--reference", action="store_true",
                        help="also time metrics.compare and metrics.randomization_check")
    parser.add_argument("--stability", type=int, default=0, metavar="N",
                        help="verdicts over seeds on N photos of imagenet-sample-500")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()

    directory = weights_dir()
    if directory is not None and (directory / f"{args.model}.weights.h5").is_file():
        model, weights = cnnvis.load_model(args.model, weights_dir=directory), "imagenet"
    else:
        model, weights = cnnvis.load_model(args.model, weights=None), "random"
    image = cnnvis.load_image(args.image)
    if args.stability:
        print(f"model: {args.model} ({weights} weights); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        stability(model, args.stability, args.seeds)
        return
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    print(f"model: {args.model} ({weights} weights), image: {Path(args.image).name}")
    methods = trust.default_methods()
    print(f"methods ({len(methods)}): {', '.join(methods)}")

    report, cold, _ = timed_report(model, image)
    forward, forward_cpu = forward_seconds(model)
    warm = [timed_report(model, image) for _ in range(max(1, args.repeats))]
    walls = [w for _, w, _ in warm]
    cpus = [c for _, _, c in warm]
    report = warm[-1][0]
    total = statistics.median(walls)
    print(f"work: {report.passes} forward passes of perturbed images, {report.imputations} "
          f"imputations ({report.imputed_pixels / 1e6:.1f} million pixels), each map "
          f"{1 + report.sanity_draws} times")
    print(f"forward pass: {forward * 1000:.1f} ms per image (batches of 16)")
    print(f"cold report: {cold:.1f} s (tracing, the randomisation copy)")
    print(f"warm report: {total:.1f} s wall (median of {len(walls)}), {statistics.median(cpus):.1f} s CPU, "
          f"= {total / forward:.0f} forward passes (wall), {statistics.median(cpus) / forward_cpu:.0f} "
          f"(CPU time over the forward pass' CPU time); load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'part':<26}{'seconds':>9}{'share':>8}")
    for part in PARTS:
        seconds = statistics.median(r.seconds[part] for r, _, _ in warm)
        note = "  (overlapped with the forward passes)" if part == "imputation" else ""
        print(f"{part:<26}{seconds:>9.2f}{seconds / total:>8.0%}{note}")
    print(f"{'total':<26}{total:>9.2f}{1:>8.0%}")
    print(report.summary)
    for entry in report.methods:
        shares = ", ".join(f"{e.test} {e.share:.0%}" for e in entry.evidence if e.share is not None)
        rho = " ".join(f"{r:.2f}" for r in entry.sanity_spearman)
        print(f"  {entry.rank}. {entry.title:<22}{entry.verdict:<15} rho {rho}; beats: {shares}")

    if args.reference:
        start = time.perf_counter()
        metrics.compare(model, image, methods, steps=metrics.DEFAULT_STEPS)
        compare = time.perf_counter() - start
        start = time.perf_counter()
        metrics.randomization_check(model, image, methods[: metrics.MAX_RANDOMIZATION_METHODS], steps=3)
        sanity = time.perf_counter() - start
        print(f"reference, same run: metrics.compare {compare:.1f} s (3 random maps, "
              f"{metrics.DEFAULT_STEPS} steps), metrics.randomization_check {sanity:.1f} s "
              "(3 steps, a new copy each call)")


if __name__ == "__main__":
    main()
