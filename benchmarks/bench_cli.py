"""How soon the command line answers, measured in one run (issue 24).

    python benchmarks/bench_cli.py                              # this checkout
    python benchmarks/bench_cli.py --baseline /tmp/cnnvis-main  # and another, for ratios
    python benchmarks/bench_cli.py --images 37 --ray            # also a Ray run's stderr

For each checkout (this one, and ``--baseline``, e.g. ``git archive main | tar -x -C DIR``),
each command in a fresh process (``python -m cnnvis ...`` with that checkout on
``PYTHONPATH``), wall-clock seconds from the start of the process:

- ``cnnvis --help`` (the median of three);
- a refused mistake, ``cnnvis classify --model MobileNetV2 photos.txt`` where there is
  no photos.txt (the median of three);
- ``cnnvis explain --model MobileNetV2 --methods grad_cam`` on ``--images`` photos of
  ``../shared/data/imagenet-sample-500`` (copied to a temporary folder), with the real
  weights of ``$CNNVIS_WEIGHTS_DIR`` or ``../shared/weights``: the seconds until the first
  row can be read from OUT/results.parquet (polled every 50 ms), until the command ends,
  and the lines it wrote to stderr (there is no terminal, so no progress bar: every line
  is start-up noise or a message);
- with ``--ray``, the stderr lines of the same run on ``--engine ray``.

The seconds depend on the machine and its load; compare checkouts measured in the same
run (the ratios printed), never figures from different machines.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "imagenet-sample-500"


def weights_dir() -> Path | None:
    for candidate in (os.environ.get("CNNVIS_WEIGHTS_DIR"), ROOT.parent / "shared" / "weights"):
        if candidate and (Path(candidate) / "MobileNetV2.weights.h5").exists():
            return Path(candidate)
    return None


def command(checkout: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "cnnvis", *argv]


def environment(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
    env["PYTHONPATH"] = str(checkout)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def timed(checkout: Path, argv: list[str], cwd: Path) -> tuple[float, int, str]:
    start = time.perf_counter()
    done = subprocess.run(command(checkout, *argv), cwd=cwd, env=environment(checkout), capture_output=True, text=True)
    return time.perf_counter() - start, done.returncode, done.stderr


def first_row_seconds(out: Path, start: float, stop: threading.Event, found: list[float]) -> None:
    """Poll OUT/results.parquet until a part file can be read with a row in it."""
    import pyarrow.parquet as pq

    folder = out / "results.parquet"
    while not stop.is_set():
        if folder.is_dir():
            for part in sorted(folder.glob("*.parquet")):
                if part.name.startswith((".", "_")):
                    continue
                try:
                    if pq.read_metadata(part).num_rows > 0:
                        found.append(time.perf_counter() - start)
                        return
                except Exception:  # noqa: BLE001 - being written: try again
                    pass
        time.sleep(0.05)


def explain_run(checkout: Path, photos: Path, weights: Path, cwd: Path, engine: str = "local") -> dict:
    out = cwd / f"out-{engine}-{checkout.name}"
    shutil.rmtree(out, ignore_errors=True)
    argv = ["explain", "--model", "MobileNetV2", "--weights-dir", str(weights), "--methods", "grad_cam", "--out", str(out)]
    if engine != "local":
        argv += ["--engine", engine]
    start = time.perf_counter()
    stop, found = threading.Event(), []
    poller = threading.Thread(target=first_row_seconds, args=(out, start, stop, found), daemon=True)
    poller.start()
    done = subprocess.run(command(checkout, *argv, str(photos)), cwd=cwd, env=environment(checkout), capture_output=True, text=True)
    total = time.perf_counter() - start
    stop.set()
    poller.join()
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: explain failed:\n{done.stderr[-2000:]}")
    return {"first_row": found[0] if found else float("nan"), "total": total, "stderr_lines": len(done.stderr.splitlines()), "stderr": done.stderr}


def measure(checkout: Path, photos: Path | None, weights: Path | None, cwd: Path, ray: bool) -> dict:
    results: dict = {}
    results["help"] = statistics.median(timed(checkout, ["--help"], cwd)[0] for _ in range(3))
    mistakes = [timed(checkout, ["classify", "--model", "MobileNetV2", "photos.txt"], cwd) for _ in range(3)]
    assert all(status == 2 and "photos.txt" in err for _, status, err in mistakes), mistakes[0][2]
    results["mistake"] = statistics.median(seconds for seconds, _, _ in mistakes)
    if photos is not None and weights is not None:
        results["explain"] = explain_run(checkout, photos, weights, cwd)
        if ray:
            results["ray"] = explain_run(checkout, photos, weights, cwd, engine="ray")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout of cnnvis to compare with")
    parser.add_argument("--images", type=int, default=37, help="photos in the explain run (default 37)")
    parser.add_argument("--ray", action="store_true", help="also count a Ray run's stderr lines")
    parser.add_argument("--show-stderr", action="store_true", help="print what each explain run wrote to stderr")
    args = parser.parse_args()
    weights = weights_dir()
    print(f"cnnvis command line start-up · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as temporary:
        cwd = Path(temporary)
        photos = None
        if SAMPLE.is_dir() and weights is not None:
            photos = cwd / "photos"
            photos.mkdir()
            for source in sorted(SAMPLE.glob("*.JPEG"))[: args.images]:
                shutil.copy(source, photos / source.name)
        else:
            print("(no explain run: needs ../shared/data/imagenet-sample-500 and MobileNetV2 weights)")
        checkouts = {"this": ROOT}
        if args.baseline is not None:
            checkouts["baseline"] = args.baseline.resolve()
        measured = {name: measure(path, photos, weights, cwd, args.ray) for name, path in checkouts.items()}
    rows = [("--help", "help"), ("a refused mistake (missing photos.txt)", "mistake")]
    print(f"\n{'seconds':46}" + "".join(f"{name:>12}" for name in measured) + ("       ratio" if len(measured) > 1 else ""))

    def line(title: str, values: list[float], digits: int = 2) -> None:
        ratio = f"{values[1] / values[0]:11.1f}x" if len(values) > 1 and values[0] > 0 else ""
        print(f"{title:46}" + "".join(f"{v:12.{digits}f}" for v in values) + ratio)

    for title, key in rows:
        line(title, [m[key] for m in measured.values()])
    if all("explain" in m for m in measured.values()):
        n = args.images
        line(f"explain {n} photos: first row readable", [m["explain"]["first_row"] for m in measured.values()])
        line(f"explain {n} photos: command ends", [m["explain"]["total"] for m in measured.values()])
        line("explain: stderr lines (no terminal)", [m["explain"]["stderr_lines"] for m in measured.values()], 0)
        if args.ray:
            line("explain --engine ray: stderr lines", [m["ray"]["stderr_lines"] for m in measured.values()], 0)
        if args.show_stderr:
            for name, m in measured.items():
                print(f"\n--- {name}: explain stderr ---\n{m['explain']['stderr']}")
                if args.ray:
                    print(f"--- {name}: ray stderr ---\n{m['ray']['stderr']}")
    print("\n(ratio: baseline / this; same machine, same run)" if len(measured) > 1 else "")


if __name__ == "__main__":
    main()
