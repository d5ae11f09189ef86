"""Serving a classroom: what visitors wait for, against ``python app.py`` started here.

    python benchmarks/bench_serving.py              # real MobileNetV2 weights where found
    python benchmarks/bench_serving.py --weights random

Prints, for the app with its default lanes (quick work and long work apart):

1. start-up: seconds until ``python app.py`` prints its URL, and until the default
   model is warm (its functions traced: the first visitor pays no tracing);
2. Grad-CAM latency (p50, p95) with nothing else running;
3. the same while 3 Deep Dreams and 3 Compares are queued (target here: p95 <= 2 s);
4. a classroom burst: 60 visitors (own clients) each sending one quick job at once:
   done, refused, failed, p95;
5. the trust report of the 8 quick methods (16 deletion steps, no box) through
   ``/trust_report``: its first call (tracing, the randomised copy) and a second one;
6. the server's peak resident memory.

Latencies are whole requests through gradio_client (upload, queue, result download).
Timings are printed, never asserted (tests assert outcomes only).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
CAT = ROOT / "examples" / "cat.jpg"
MODEL = "MobileNetV2"

import psutil  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

sys.path.insert(0, str(ROOT))
from cnnvis.evaluation.trust import default_methods  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


class Server:
    """``python app.py`` on a free port, its log read as it is written, its memory sampled."""

    def __init__(self, args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "CNNVIS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(self.port), *args]
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.events: dict[str, float] = {}
        self.lines: list[str] = []
        self.peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            now = time.monotonic() - self.started
            if "Running on local URL" in line:
                self.events.setdefault("url", now)
            if " is ready " in line:
                self.events.setdefault("warm", now)

    def _sample(self) -> None:
        proc = psutil.Process(self.process.pid)
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, proc.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(0.1)

    def wait_for(self, event: str, seconds: float = 300) -> float:
        deadline = time.monotonic() + seconds
        while event not in self.events:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the app did not start:\n" + "".join(self.lines[-40:]))
            time.sleep(0.05)
        return self.events[event]

    def stop(self) -> None:
        self._stop.set()
        self.process.terminate()
        self.process.wait(30)


def client(url: str) -> Client:
    return Client(url, verbose=False, analytics_enabled=False, ssl_verify=False)


def grad_cam(c: Client, photo) -> float:
    start = time.perf_counter()
    c.predict(photo, MODEL, "", "top class", "jet", 0.5, api_name="/grad_cam")
    return time.perf_counter() - start


def latencies(url: str, count: int) -> list[float]:
    c, photo = client(url), handle_file(str(CAT))
    grad_cam(c, photo)  # warm
    return [grad_cam(c, photo) for _ in range(count)]


def burst(url: str, visitors: int) -> tuple[list[float], list[str]]:
    photo = handle_file(str(CAT))
    clients = [client(url) for _ in range(visitors)]
    ready = threading.Barrier(visitors)
    times: list[float] = []
    problems: list[str] = []

    def visit(number: int) -> None:
        ready.wait(60)
        try:
            times.append(grad_cam(clients[number], photo))
        except Exception as error:  # noqa: BLE001 - counted and printed
            problems.append(f"{type(error).__name__}: {str(error)[:120]}")

    with ThreadPoolExecutor(visitors) as pool:
        list(pool.map(visit, range(visitors)))
    return times, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", choices=["imagenet", "random"], default=None)
    parser.add_argument("--weights-dir", default=os.environ.get("CNNVIS_WEIGHTS_DIR") or str(ROOT.parent / "shared" / "weights"))
    parser.add_argument("--requests", type=int, default=20, help="Grad-CAMs per latency figure")
    parser.add_argument("--visitors", type=int, default=60)
    args = parser.parse_args()
    real = Path(args.weights_dir, f"{MODEL}.weights.h5").is_file() and args.weights != "random"
    weights = ["--weights", "imagenet", "--weights-dir", args.weights_dir] if real else ["--weights", "random"]
    # Six long jobs are queued below: room for all of them in the long lane.
    server = Server([*weights, "--long-queue", "6"])
    try:
        url_s = server.wait_for("url")
        warm_s = server.wait_for("warm")
        print(f"# cnnvis serving benchmark: {platform.machine()}, {os.cpu_count()} CPUs, "
              f"{'real' if real else 'random'} {MODEL} weights, default lanes")
        print(f"- start-up: URL printed after {url_s:.1f} s; {MODEL} warm (traced) after {warm_s:.1f} s")

        idle = latencies(server.url, args.requests)
        print(f"- Grad-CAM, idle: p50 {statistics.median(idle):.2f} s, p95 {quantile(idle, 0.95):.2f} s")

        long_client, photo = client(server.url), handle_file(str(CAT))
        long_jobs = [long_client.submit(photo, MODEL, [], 5, 50, 0.01, seed, api_name="/deep_dream") for seed in range(3)]
        long_jobs += [
            long_client.submit(photo, MODEL, "top class", ["grad_cam", "layer_cam", "vanilla_gradient"], 40, api_name="/compare")
            for _ in range(3)
        ]
        time.sleep(2.0)  # the long jobs are admitted: one runs, five wait in their lane
        busy = latencies(server.url, args.requests)
        still = sum(not job.done() for job in long_jobs)
        print(f"- Grad-CAM while 3 Deep Dreams and 3 Compares are queued: p50 {statistics.median(busy):.2f} s, "
              f"p95 {quantile(busy, 0.95):.2f} s (target <= 2 s); long jobs still running or waiting "
              f"at the end: {still} of 6")
        for job in long_jobs:
            job.cancel()

        times, problems = burst(server.url, args.visitors)
        refused = [p for p in problems if re.search(r"full|busy", p, re.I)]
        print(f"- burst of {args.visitors} visitors, one Grad-CAM each at once: {len(times)} done, "
              f"{len(refused)} refused, {len(problems) - len(refused)} failed; p50 "
              f"{statistics.median(times):.2f} s, p95 {quantile(times, 0.95):.2f} s")
        for problem in problems[:5]:
            print(f"  {problem}")
        trust_client = client(server.url)
        for call in ("first", "second"):
            start = time.perf_counter()
            trust_client.predict(photo, MODEL, "top class", default_methods(), 16, 0, api_name="/trust_report")
            print(f"- trust report of the {len(default_methods())} quick methods, {call} call: "
                  f"{time.perf_counter() - start:.1f} s")
        print(f"- server peak resident memory: {server.peak / 2**20:.0f} MB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
