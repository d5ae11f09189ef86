"""Disk and what is served back (cnnvis.serving.uploads, cnnvis.serving.responses), through the
app's HTTP API on loopback: one file per upload request, a cache that an attacker tries to
fill, bounded image-editor pictures, ``nosniff`` everywhere, non-images never inline."""

from __future__ import annotations

import io
import os
import time
import urllib.parse
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio.utils import get_upload_folder
from PIL import Image
from starlette.middleware import Middleware

from cnnvis.serving.connections import HeartbeatMiddleware
from cnnvis.serving.hosts import HostMiddleware

import gradio as gr

import app
from cnnvis import ui
import cnnvis.ui.settings  # noqa: F401
from cnnvis.serving import uploads
from cnnvis.serving.responses import ResponseHeadersMiddleware
from cnnvis.serving.screening import ScreeningMiddleware
from cnnvis.serving.uploads import (
    CacheBound,
    UploadMiddleware,
    cache_lifespan,
    cached_files,
    trim_editor_pictures,
)

from .app_helpers import CAT, is_one_sentence
from .serve import Listener, served

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

MB = 2**20
BOUND = 12 * MB  # the test server's cache bound (the app's: uploads.CACHE_MAX_BYTES)


@pytest.fixture(scope="module")
def server():
    """The app with a small cache bound, applied every 0.3 s (its own wiring otherwise).
    The cache folder is this test process's own (app.py sets GRADIO_TEMP_DIR)."""
    bound = CacheBound(max_bytes=BOUND)
    # Earlier tests' uploads and results (this test process's own folder) may be evicted:
    # aged past the bound's minimum age, so that the bound below starts from an evictable cache.
    aged = time.time() - 2 * uploads.CACHE_MIN_AGE_SECONDS
    for file in cached_files(get_upload_folder()):
        os.utime(file.path, (aged, aged))
    app_kwargs = {
        "middleware": [
            Middleware(ResponseHeadersMiddleware),
            Middleware(HostMiddleware),
            Middleware(HeartbeatMiddleware),
            Middleware(UploadMiddleware, bound=bound),
            Middleware(ScreeningMiddleware, extra_roots=[ui.settings.EXAMPLES_DIR]),
        ],
        "lifespan": cache_lifespan(bound, every=0.3),
    }
    assert [m.cls for m in ui.LAUNCH_KWARGS["app_kwargs"]["middleware"]] == [m.cls for m in app_kwargs["middleware"]]
    with served(ui.Settings(weights="random"), app_kwargs=app_kwargs) as (client, url):
        yield client, url


def png_bytes(height: int = 64, width: int = 64, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def folder_bytes() -> int:
    return sum(file.size for file in cached_files(get_upload_folder()))


def test_an_upload_request_takes_one_file(server):
    _, url = server
    before = len(cached_files(get_upload_folder()))
    with httpx.Client(timeout=60) as http:
        one = http.post(f"{url}gradio_api/upload", files={"files": ("a.png", png_bytes())})
        assert one.status_code == 200 and len(one.json()) == 1
        for count in (2, 1000):
            files = [("files", (f"{i}.png", b"x" * 100)) for i in range(count)]
            answer = http.post(f"{url}gradio_api/upload", files=files)
            assert answer.status_code == 413, answer.text
            assert is_one_sentence(answer.json()["error"]) and "at most 1 file" in answer.json()["error"]
    # The refused requests left at most their first part behind (evicted by the bound later).
    assert len(cached_files(get_upload_folder())) <= before + 3


def test_the_cache_cannot_be_filled_past_its_bound(server):
    _, url = server
    kept = uploads.kept_files(app.demo)
    assert kept and all(Path(path).exists() for path in kept)  # the page's own files (examples...)
    paths: list[str] = []
    with httpx.Client(timeout=60) as http:
        for number in range(12):  # 12 x 2 MB, against a bound of 12 MB
            start = time.time() - 3600
            for age, path in enumerate(paths):  # as if uploaded a while ago, in this order
                if os.path.exists(path):
                    os.utime(path, (start + age, start + age))
            answer = http.post(f"{url}gradio_api/upload", files={"files": (f"fill{number}.bin", os.urandom(2 * MB))})
            assert answer.status_code == 200, answer.text
            paths.append(answer.json()[0])
            assert folder_bytes() <= BOUND
    present = [Path(path).exists() for path in paths]
    assert present[-1] and not present[0] and present == sorted(present)  # the oldest went first
    assert all(Path(path).exists() for path in kept)  # never the page's own files
    # What the app writes itself (its results) is bound too, on the schedule.
    results = Path(get_upload_folder()) / "results-test"
    results.mkdir(exist_ok=True)
    for number in range(3):
        path = results / f"result{number}.png"
        path.write_bytes(os.urandom(4 * MB))
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    deadline = time.monotonic() + 30
    while folder_bytes() > BOUND and time.monotonic() < deadline:
        time.sleep(0.1)
    assert folder_bytes() <= BOUND


def test_a_declared_size_beyond_one_file_is_refused_before_anything_is_evicted(server):
    """A Content-Length of a terabyte must not make the bound evict the whole cache."""
    import http.client

    _, url = server
    parts = urllib.parse.urlsplit(url)
    old = Path(get_upload_folder()) / "declared-test" / "old.bin"
    old.parent.mkdir(exist_ok=True)
    old.write_bytes(b"x" * 1000)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    # Headers only, no body: the answer must come from the declared size alone. The response
    # is read whole (headers and body may arrive in separate packets).
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("POST", "/gradio_api/upload")
        connection.putheader("Content-Type", "multipart/form-data; boundary=b")
        connection.putheader("Content-Length", "1000000000000")
        connection.endheaders()
        response = connection.getresponse()
        status, answer = response.status, response.read().decode(errors="replace")
    finally:
        connection.close()
    assert status == 413 and "larger than the 128 MB" in answer, (status, answer[:300])
    assert old.exists()
    old.unlink()


def test_files_that_may_still_be_written_are_not_evicted(tmp_path):
    """With only fresh files in the way, the bound refuses room rather than delete them."""
    bound = CacheBound(max_bytes=3 * MB)
    for number in range(2):
        (tmp_path / f"new{number}").write_bytes(b"x" * MB)
    old = tmp_path / "sub" / "old"
    old.parent.mkdir()
    old.write_bytes(b"x" * MB)
    aged = time.time() - 2 * uploads.CACHE_MIN_AGE_SECONDS
    os.utime(old, (aged, aged))
    assert bound.trim(str(tmp_path), incoming=MB)  # room by deleting the old file
    assert not old.exists() and not old.parent.exists()
    assert not bound.trim(str(tmp_path), incoming=2 * MB)  # the fresh ones stay
    assert len(cached_files(str(tmp_path))) == 2


def test_every_response_says_nosniff(server):
    client, url = server
    with httpx.Client(timeout=60) as http:
        [upload] = http.post(f"{url}gradio_api/upload", files={"files": ("cat.png", png_bytes())}).json()
        responses = [
            http.get(url),
            http.get(f"{url}config"),
            http.get(f"{url}gradio_api/info"),
            http.get(f"{url}theme.css"),
            http.get(f"{url}gradio_api/file=" + urllib.parse.quote(upload)),
            http.get(f"{url}gradio_api/file=/etc/passwd"),
            http.get(f"{url}no-such-page"),
            http.post(f"{url}gradio_api/call/classify", json={"data": [5, "MobileNetV2"]}),
            http.post(f"{url}gradio_api/upload", files=[("files", ("a", b"a")), ("files", ("b", b"b"))]),
        ]
    for response in responses:
        assert response.headers.get("x-content-type-options") == "nosniff", (response.url, response.status_code)


def test_an_upload_that_is_not_an_image_is_never_served_inline(server):
    _, url = server
    html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
    with httpx.Client(timeout=60) as http:
        for name, data, inline in (("page.png", html, False), ("page.jpg", b"GIF8" + html, False), ("photo.png", png_bytes(), True), ("cat.jpg", CAT.read_bytes(), True)):
            [path] = http.post(f"{url}gradio_api/upload", files={"files": (name, data)}).json()
            for method in ("GET", "HEAD"):
                answer = http.request(method, f"{url}gradio_api/file=" + urllib.parse.quote(path))
                assert answer.status_code == 200
                disposition = answer.headers.get("content-disposition", "")
                if inline:
                    assert disposition.startswith("inline") and answer.headers["content-type"].startswith("image/"), answer.headers
                else:
                    assert disposition.startswith("attachment"), answer.headers
                    assert answer.headers["content-type"] == "application/octet-stream", answer.headers


def test_the_file_route_fetches_no_url(server):
    _, url = server
    with Listener(b"<html>hello</html>") as listener, httpx.Client(timeout=30) as http:
        for target in (f"{listener.url}/x.png", "http://example.com/x.png", "HTTPS://example.com/x"):
            answer = http.get(f"{url}gradio_api/file={target}")
            assert answer.status_code == 403 and is_one_sentence(answer.json()["error"]), answer.text
        assert listener.requests == []


def accept_blob(http, url: str, files: list, blob_id: str = "drawing1") -> httpx.Response:
    """An image-editor picture sent the way the page sends it (component_server, multipart)."""
    [editor] = [b for b in app.demo.blocks.values() if isinstance(b, gr.ImageEditor)]
    fields = {"component_id": str(editor._id), "session_hash": "uploads", "fn_name": "accept_blobs", "id": blob_id, "type": "layer", "index": "0"}
    return http.post(f"{url}gradio_api/component_server", data=fields, files=files)


def test_image_editor_pictures_are_bounded(server):
    _, url = server
    [editor] = [b for b in app.demo.blocks.values() if isinstance(b, gr.ImageEditor)]
    editor.blob_storage.clear()
    with httpx.Client(timeout=60) as http:
        answer = accept_blob(http, url, [("file", ("layer.png", png_bytes(64, 64)))])
        assert answer.status_code == 200, answer.text
        assert "drawing1" in editor.blob_storage
        two = [("file", ("a.png", png_bytes())), ("file", ("b.png", png_bytes(seed=1)))]
        answer = accept_blob(http, url, two, "drawing2")
        assert answer.status_code == 413 and "at most 1 picture" in answer.json()["error"]
        # A picture of more pixels than the page ever sends is not kept.
        huge = io.BytesIO()
        Image.new("L", (3000, 2000)).save(huge, "PNG")
        answer = accept_blob(http, url, [("file", ("layer.png", huge.getvalue()))], "drawing3")
        assert answer.status_code == 200
        assert "drawing3" not in editor.blob_storage and "drawing1" in editor.blob_storage
    editor.blob_storage.clear()


def test_image_editor_pictures_are_dropped_oldest_first_beyond_their_bytes():
    from gradio.components.image_editor import EditorDataBlobs

    blocks = gr.Blocks()
    with blocks:
        editor = gr.ImageEditor()
    picture = png_bytes(32, 32)
    for number in range(5):
        editor.blob_storage[f"d{number}"] = EditorDataBlobs(background=picture, layers=[picture], composite=None)
    editor.blob_storage["text"] = EditorDataBlobs(background=b"not a picture", layers=[], composite=None)
    dropped = trim_editor_pictures(blocks, max_bytes=5 * len(picture))
    assert dropped == 4 and list(editor.blob_storage) == ["d3", "d4"]
