"""How fast the app starts: ``python app.py --help``, then a real start.

    python benchmarks/bench_start.py                 # random weights, 3 starts
    CNNVIS_WEIGHTS_DIR=/path/to/weights python benchmarks/bench_start.py --weights imagenet
    python benchmarks/bench_start.py --against /path/to/another/checkout  # and it, interleaved

For each start it prints the seconds from launching ``python app.py`` to

- the URL: Gradio's "Running on local URL" line on the app's output;
- the page: ``GET /`` answers 200 (the page is usable: it says the model is warming);
- the first answer: ``/classify`` on an example photo answers (it waits for the model);
- warm: the app logs that the default model is ready (the background warm-up ended).

The first start of a fresh machine also pays for the disk cache (TensorFlow's libraries
read from disk); the figures are printed, never asserted (the machine may be busy). With
``--against``, each round starts this checkout's app and then the other one's, so both
meet the same load, and the medians of the two are printed side by side with their ratio.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seconds_to_help(root: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "app.py", "--help"], cwd=root, check=True, capture_output=True)
    return time.perf_counter() - start


def one_start(root: Path, weights: str, timeout: float = 300.0) -> dict[str, float]:
    """Seconds from launch to the URL, the page, the first answer and the warm model."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--weights", weights, "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    marks: dict[str, float] = {}

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            now = time.perf_counter() - start
            if "Running on local URL" in line:
                marks.setdefault("url", now)
            if "is ready (" in line or "Warm-up of" in line:
                marks.setdefault("warm", now)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while "url" not in marks:
            if process.poll() is not None or time.perf_counter() - start > timeout:
                raise RuntimeError("the app ended or did not print its URL")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            assert response.status == 200
        marks["page"] = time.perf_counter() - start
        from gradio_client import Client, handle_file

        client = Client(url, verbose=False, analytics_enabled=False, httpx_kwargs={"timeout": timeout})
        client.predict(handle_file(str(ROOT / "examples" / "cat.jpg")), "MobileNetV2", api_name="/classify")
        marks["answer"] = time.perf_counter() - start
        while "warm" not in marks and time.perf_counter() - start < timeout:
            time.sleep(0.05)
        return marks
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def describe(marks: dict[str, float]) -> str:
    return (
        f"URL {marks['url']:.1f} s, page {marks['page']:.1f} s, first /classify {marks['answer']:.1f} s, "
        f"model warm {marks.get('warm', float('nan')):.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", choices=["random", "imagenet"], default="random")
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--against", type=Path, default=None, help="another checkout to start in turn")
    args = parser.parse_args()
    roots = [ROOT] + ([args.against] if args.against else [])
    print(f"load average {os.getloadavg()[0]:.1f} at the start, {os.cpu_count()} cores")
    helps: dict[Path, list[float]] = {root: [] for root in roots}
    starts: dict[Path, list[dict[str, float]]] = {root: [] for root in roots}
    for _ in range(3):
        for root in roots:
            helps[root].append(seconds_to_help(root))
    for number in range(1, args.starts + 1):
        for root in roots:
            marks = one_start(root, args.weights)
            starts[root].append(marks)
            print(f"start {number}, {root}: {describe(marks)}", flush=True)
    for root in roots:
        median = {key: statistics.median(m[key] for m in starts[root]) for key in ("url", "page", "answer")}
        print(
            f"{root}: --help {statistics.median(helps[root]):.2f} s (median of 3); medians of "
            f"{args.starts} starts ({args.weights} weights): URL {median['url']:.1f} s, page "
            f"{median['page']:.1f} s, first /classify {median['answer']:.1f} s"
        )
    if args.against:
        ratio = {
            key: statistics.median(a[key] / b[key] for a, b in zip(starts[ROOT], starts[args.against]))
            for key in ("url", "answer")
        }
        print(
            f"this checkout / the other: --help {statistics.median(helps[ROOT]) / statistics.median(helps[args.against]):.2f}x, "
            f"URL {ratio['url']:.2f}x, first /classify {ratio['answer']:.2f}x (medians of the rounds' ratios)"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
