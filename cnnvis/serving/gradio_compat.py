"""Every use of Gradio beyond its public API, in one place (pinned: gradio 6.31.0).

Gradio offers no supported way to do these; each function says what it relies on, and
``tests/test_gradio_compat.py`` checks that each of those attributes and signatures
exists in the installed Gradio, and fails loudly, naming them, when the pinned version
changes.

- :func:`request_session`: the ``session_hash`` of the request being served, from
  ``gradio.context.LocalContext.request`` (as Gradio's own ``gradio.caching`` reads it);
- :func:`event_alive`: whether the queued event being served is still wanted, from
  ``LocalContext.blocks``/``LocalContext.event_id`` and the queue's ``_queue.active_jobs``
  (its events' ``_id`` and ``alive``);
- :func:`editor_pictures`: the pictures an ``ImageEditor`` holds in memory
  (``ImageEditor.blob_storage``, filled by ``/component_server``);
- :func:`replace_preprocess`, :func:`replace_api_info`: a component's ``preprocess`` or
  ``api_info`` replaced on one instance (Gradio calls them as bound methods).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PINNED_GRADIO = "6.31.0"


def request_session() -> str | None:
    """The ``session_hash`` of the Gradio request being served (None outside one)."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return getattr(request, "session_hash", None) or None


def current_event() -> tuple[Any, str] | None:
    """The queue and the event id of the queued request being served (None outside one)."""
    from gradio.context import LocalContext

    queue = getattr(LocalContext.blocks.get(None), "_queue", None)
    event_id = LocalContext.event_id.get(None)
    if queue is None or not event_id:
        return None
    return queue, event_id


def event_alive(queue: Any, event_id: str) -> bool:
    """Whether the event ``event_id`` is a running job of ``queue`` whose client is still
    there (False once it was cancelled or its client went away)."""
    for job in list(getattr(queue, "active_jobs", None) or ()):
        for event in job or ():
            if getattr(event, "_id", None) == event_id:
                return bool(getattr(event, "alive", True))
    return False  # no longer a running job


def editor_pictures(block: Any) -> dict | None:
    """The pictures an ``ImageEditor`` holds in memory, by id (None for another block)."""
    from gradio.components import ImageEditor

    storage = getattr(block, "blob_storage", None) if isinstance(block, ImageEditor) else None
    return storage if isinstance(storage, dict) else None


def replace_preprocess(component: Any, preprocess: Callable[[Any], Any]) -> None:
    """``component.preprocess(payload)`` becomes ``preprocess(payload)`` on this instance."""
    component.preprocess = preprocess


def replace_api_info(component: Any, api_info: Callable[[], dict]) -> None:
    """``component.api_info()`` becomes ``api_info()`` on this instance."""
    component.api_info = api_info
