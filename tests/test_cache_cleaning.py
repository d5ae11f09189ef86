"""Gradio's cache cleaning, on a server that cleans every second (the app itself: every
hour, files older than an hour). A module of its own: a server that deletes every file
older than a second would delete the uploads of slower tests before their events read them;
and a server launched after it must not inherit its schedule."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

import app
from cnnvis import ui
from cnnvis.ui.settings import Settings

from .serve import served
from .test_hostile import MODEL, call_raw, noise, result_of, save, works


@pytest.fixture  # closed before the next test, which starts servers of its own
def server():
    with served(Settings(weights="random"), delete_cache=(1, 1)) as (client, url):
        yield client, url


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cleaning")


def test_results_and_uploads_in_the_cache_are_deleted(server, corpus):
    """Results and uploads do not pile up: the server deletes them once they are a second old."""
    client, url = server
    upload_me = save(corpus, "upload.png", Image.fromarray(noise(64, 64, seed=7)))
    made = []
    for count in (4, 5, 6):
        status, text = call_raw(url, "filters", json.dumps({"data": [MODEL, "", count, "first"]}))
        [[sheet]] = result_of(text)
        made.append(Path(sheet["image"]["path"]))
    with httpx.Client(timeout=30) as http, open(upload_me, "rb") as photo:
        [upload] = http.post(f"{url}gradio_api/upload", files={"files": ("upload.png", photo)}).json()
    photo = {"path": upload, "meta": {"_type": "gradio.FileData"}, "orig_name": "upload.png"}
    assert len(result_of(call_raw(url, "classify", json.dumps({"data": [photo, MODEL]}))[1])[0]["confidences"]) == 5
    made.append(Path(upload))
    cache = Path(app.demo.GRADIO_CACHE).resolve()
    assert all(path.resolve().is_relative_to(cache) for path in made)
    deadline = time.monotonic() + 20
    while any(path.exists() for path in made) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [path for path in made if path.exists()]
    works(client)


@pytest.mark.server
def test_a_server_after_a_fast_cleaning_one_keeps_its_uploads(corpus):
    """Each launch gets its own schedule: Gradio writes its delete_cache lifespan into the
    app_kwargs it is given, so with one shared dict every later server of the process also
    deleted files older than a second (an upload gone before its event read it)."""
    lifespan = ui.LAUNCH_KWARGS["app_kwargs"]["lifespan"]
    with served(Settings(weights="random"), delete_cache=(1, 1)):
        pass
    assert ui.LAUNCH_KWARGS["app_kwargs"]["lifespan"] is lifespan
    photo = save(corpus, "kept.png", Image.fromarray(noise(64, 64, seed=8)))
    with served(Settings(weights="random")) as (client, url):
        with httpx.Client(timeout=30) as http, open(photo, "rb") as data:
            [upload] = http.post(f"{url}gradio_api/upload", files={"files": ("kept.png", data)}).json()
        time.sleep(3)  # three rounds of a one-second schedule, had it been inherited
        assert Path(upload).is_file()
        works(client)
