"""Every private Gradio API the app relies on (cnnvis.serving.gradio_compat) exists, with
the shape the app uses, in the installed Gradio: an upgrade fails here, naming what
changed, before the app misbehaves."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from cnnvis.serving import gradio_compat

ROOT = Path(__file__).resolve().parents[1]


def test_the_installed_gradio_is_the_pinned_one():
    assert gr.__version__ == gradio_compat.PINNED_GRADIO, (
        f"Gradio {gr.__version__} is installed; cnnvis.serving.gradio_compat was checked "
        f"against {gradio_compat.PINNED_GRADIO}: check each private API it uses, then update the pin"
    )
    assert f"gradio=={gradio_compat.PINNED_GRADIO}" in (ROOT / "requirements.txt").read_text()


def test_the_request_context_has_what_the_app_reads():
    from gradio.context import LocalContext

    for name in ("request", "blocks", "event_id"):
        assert hasattr(getattr(LocalContext, name, None), "get"), f"LocalContext.{name} is gone or not a ContextVar"
    token = LocalContext.request.set(SimpleNamespace(session_hash="abc"))
    try:
        assert gradio_compat.request_session() == "abc"
    finally:
        LocalContext.request.reset(token)
    assert gradio_compat.request_session() is None and gradio_compat.current_event() is None


def test_the_queue_has_the_jobs_the_app_reads():
    from gradio.queueing import Event, Queue

    assert "active_jobs" in inspect.getsource(Queue.__init__), "Queue.active_jobs is gone"
    source = inspect.getsource(Event)
    assert re.search(r"self\._id\b", source), "Event._id is gone"
    assert re.search(r"self\.alive\b", source) or "def alive" in source, "Event.alive is gone"
    blocks = gr.Blocks()
    assert hasattr(blocks, "_queue"), "Blocks._queue is gone"
    queue = SimpleNamespace(active_jobs=[[SimpleNamespace(_id="e", alive=True)], None])
    assert gradio_compat.event_alive(queue, "e")
    queue.active_jobs[0][0].alive = False
    assert not gradio_compat.event_alive(queue, "e") and not gradio_compat.event_alive(queue, "f")


def test_the_image_editor_keeps_its_pictures_where_the_app_bounds_them():
    editor = gr.ImageEditor()
    assert isinstance(gradio_compat.editor_pictures(editor), dict), "ImageEditor.blob_storage is gone"
    assert gradio_compat.editor_pictures(gr.Image()) is None


@pytest.mark.parametrize("component", [gr.Image(), gr.CheckboxGroup(choices=["a"])], ids=["Image", "CheckboxGroup"])
def test_preprocess_and_api_info_are_called_on_the_instance(component):
    assert list(inspect.signature(type(component).preprocess).parameters)[:2] == ["self", "payload"]
    assert list(inspect.signature(type(component).api_info).parameters) == ["self"]
    gradio_compat.replace_preprocess(component, lambda payload: ("mine", payload))
    gradio_compat.replace_api_info(component, lambda: {"type": "mine"})
    assert component.preprocess(1) == ("mine", 1) and component.api_info() == {"type": "mine"}


def test_no_module_but_gradio_compat_reaches_into_gradio():
    """The private names live in one module: none of them appears anywhere else."""
    private = re.compile(r"LocalContext|\._queue\b|\bactive_jobs\b|\bblob_storage\b|\.preprocess\s*=|\.api_info\s*=")
    found = []
    for path in (ROOT / "cnnvis").rglob("*.py"):
        if path.name == "gradio_compat.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if private.search(code) and not code.strip().startswith(("\"", "'", "-", "``", ":")):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, found
