"""Serving the app on loopback for the hostile-input, fault and load tests: in this process
(so a test can patch the package under it) or as `python app.py` (so the server's own
memory can be measured), plus a loopback listener that records every request it gets."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]
# A client waits this long for any one answer: far above any wait a correct server makes
# on a busy 2-core machine, so a test fails on what was served, never on the clock.
CLIENT_TIMEOUT_S = 1800


def patient_client(url: str, **kwargs) -> Client:
    """A gradio_client for tests: no analytics, quiet, and no HTTP time-out that a busy
    machine could trip (``CLIENT_TIMEOUT_S``)."""
    kwargs.setdefault("verbose", False)
    return Client(
        url, analytics_enabled=False, httpx_kwargs={"timeout": CLIENT_TIMEOUT_S}, **kwargs
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(settings, delete_cache: tuple[int, int] | None = None, **launch) -> Iterator[tuple[Client, str]]:
    """``app.demo`` on 127.0.0.1 with ``settings`` (and LAUNCH_KWARGS, which ``launch``
    may override; ``delete_cache`` replaces the app's cache cleaning schedule); yields a
    client, which downloads results to a folder of its own, and the server's URL."""
    import app
    from cnnvis import ui

    saved, saved_cleaning = ui.current(), app.demo.delete_cache
    ui.configure(settings)
    if delete_cache is not None:
        app.demo.delete_cache = delete_cache
    _, url, _ = ui.launch(
        app.demo,
        settings,
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **launch,
    )
    downloads = tempfile.mkdtemp(prefix="cnnvis-client-")
    client = None
    try:
        client = patient_client(url, download_files=downloads)
        yield client, url
    finally:
        if client is not None:
            client.close()  # its heartbeat stream, which the server would wait for
        close_and_wait(app.demo)
        app.demo.delete_cache = saved_cleaning
        ui.configure(saved)
        ui.apply_queue(app.demo, saved)
        shutil.rmtree(downloads, ignore_errors=True)


SHUTDOWN_SECONDS = 60


def close_and_wait(demo) -> None:
    """Close ``demo``'s server and return once its thread has ended.

    Gradio's ``close`` waits 5 s for the server, which goes on waiting for the connections
    still open (a client's event stream); when it ends at last, its lifespan deletes every
    upload the Blocks knows of, and ``app.demo`` is one Blocks for every server of a test
    process: the next module's uploads went with it ("The file 'page.jpg' does not exist").
    A server still running after ``close`` is made to quit as a second Ctrl+C does
    (uvicorn's ``force_exit``: no more waiting, no lifespan shutdown)."""
    server = demo.server
    demo.close()
    thread = getattr(server, "thread", None)
    if thread is not None and thread.is_alive():
        server.force_exit = True
        thread.join(SHUTDOWN_SECONDS)
        assert not thread.is_alive(), f"the server did not quit in {SHUTDOWN_SECONDS} s"


def wait_until_up(url: str, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url + "gradio_api/info", timeout=2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)


@contextlib.contextmanager
def app_process(log: Path, *args: str, env: dict | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python app.py --host 127.0.0.1 --port <free> *args`` as the Space runs it; yields
    its URL and the process."""
    port = free_port()
    environment = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "CNNVIS_OFFLINE": "1",
        **(env or {}),
    }
    command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), *args]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, log)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


class Listener:
    """An HTTP server on 127.0.0.1 that records the path of every request it receives.

    ``body`` is served to GET requests (status 200); with ``stall`` set, a request is held
    open (headers sent, no body) until ``release()``.
    """

    def __init__(self, body: bytes = b"", stall: bool = False) -> None:
        self.requests: list[str] = []
        self.body = body
        self.stall = stall
        self._release = threading.Event()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                listener.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(listener.body) or 1))
                self.end_headers()
                if listener.stall:
                    listener._release.wait(60)
                self.wfile.write(listener.body or b"x")

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


class MemorySampler:
    """Samples the resident memory of a process (and its children) every ``period`` s."""

    def __init__(self, pid: int, period: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.period = period
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        import psutil

        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.rss()))
            self._stop.wait(self.period)

    def peak(self, since: float = 0.0) -> int:
        return max((rss for t, rss in self.samples if t >= since), default=self.rss())

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
