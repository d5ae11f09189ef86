"""Which sessions have a live connection, and from which client: Gradio's heartbeat.

The page and ``gradio_client`` keep one request open to
``/gradio_api/heartbeat/<session_hash>`` for as long as they are connected (Gradio runs
the ``unload`` events when it ends). :class:`HeartbeatMiddleware` watches these requests
as they pass (it changes nothing in them) and keeps, in :data:`CONNECTIONS`, each
session's open heartbeats and the client they come from: the connection's address (on a
Space, where every request comes through Hugging Face's proxy, the first address of
``X-Forwarded-For``, which that proxy sets). An uploaded model is held only for a session
with a live heartbeat, and counted against its client, not against a session hash that
the caller chooses (:mod:`cnnvis.serving.sessions`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .screening import route_path

HEARTBEAT_ROUTE = re.compile(r"^/gradio_api/heartbeat/(?P<session>[^/]+)/?$")
LIVE_WAIT_SECONDS = 5.0  # how long a load waits for its session's heartbeat to arrive


@dataclass
class Connections:
    """Open heartbeats by session: ``session -> [client, ...]`` (one per open stream)."""

    clock: Callable[[], float] = time.monotonic
    _open: dict[str, list[str]] = field(default_factory=dict)
    _condition: threading.Condition = field(default_factory=threading.Condition)

    def opened(self, session: str, client: str) -> None:
        with self._condition:
            self._open.setdefault(session, []).append(client)
            self._condition.notify_all()

    def closed(self, session: str, client: str) -> None:
        with self._condition:
            clients = self._open.get(session, [])
            if client in clients:
                clients.remove(client)
            if not clients:
                self._open.pop(session, None)

    def is_live(self, session: str | None) -> bool:
        with self._condition:
            return bool(session) and session in self._open

    def client_of(self, session: str | None) -> str | None:
        """The client of a session's (first) open heartbeat; None if it has none."""
        with self._condition:
            clients = self._open.get(session or "")
            return clients[0] if clients else None

    def wait_live(self, session: str | None, seconds: float = LIVE_WAIT_SECONDS) -> bool:
        """Whether ``session`` has a heartbeat, waiting up to ``seconds`` for one (a
        client opens it beside its first requests, not before them)."""
        with self._condition:
            return self._condition.wait_for(lambda: bool(session) and session in self._open, seconds)

    def clear(self) -> None:
        with self._condition:
            self._open.clear()


CONNECTIONS = Connections()


def client_address(scope: dict) -> str:
    """Who is on the other end of a request: its connection's address, or on a Space
    (``SPACE_HOST`` set) the first address that Hugging Face's proxy puts in
    ``X-Forwarded-For``."""
    if os.environ.get("SPACE_HOST"):
        forwarded = next((v for k, v in scope.get("headers", ()) if k.lower() == b"x-forwarded-for"), b"")
        first = forwarded.decode("latin-1").split(",", 1)[0].strip()
        if first:
            return first
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class HeartbeatMiddleware:
    """Records each open heartbeat in ``connections`` for as long as it is open."""

    def __init__(self, app, connections: Connections | None = None):
        self.app = app
        self.connections = connections or CONNECTIONS

    async def __call__(self, scope, receive, send):
        match = HEARTBEAT_ROUTE.match(route_path(scope)) if scope["type"] == "http" and scope.get("method") == "GET" else None
        if match is None:
            return await self.app(scope, receive, send)
        session, client = match["session"], client_address(scope)
        self.connections.opened(session, client)
        try:
            await self.app(scope, receive, send)
        finally:
            self.connections.closed(session, client)
