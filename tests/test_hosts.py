"""The host allow-list (cnnvis.serving.hosts) against DNS rebinding, on a bare ASGI app."""

from __future__ import annotations

import asyncio
import json

from cnnvis.serving.hosts import HostMiddleware, allowed_hosts, host_name, is_allowed

from .app_helpers import is_one_sentence


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _call(host: bytes | None, hosts=None) -> tuple[int, bytes]:
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    headers = [] if host is None else [(b"host", host)]
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    asyncio.run(HostMiddleware(_ok, hosts)(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_localhost_ip_addresses_and_configured_hosts_are_answered():
    hosts = allowed_hosts({"SPACE_HOST": "someone-cnnvis.hf.space", "CNNVIS_ALLOWED_HOSTS": "lab.example.org, *.uni.example"})
    for host in (b"localhost:7860", b"127.0.0.1:7860", b"[::1]:7860", b"0.0.0.0", b"192.168.1.20:7860",
                 b"[fe80::1]", b"someone-cnnvis.hf.space", b"LAB.example.org.", b"gpu.uni.example:8080"):
        assert _call(host, hosts) == (200, b"ok"), host


def test_other_host_names_are_refused_in_one_sentence():
    hosts = allowed_hosts({"SPACE_HOST": "someone-cnnvis.hf.space"})
    for host in (b"rebind.attacker.example:7860", b"localhost.attacker.example", b"hf.space",
                 b"evil-someone-cnnvis.hf.space", b"uni.example", b"", None):
        status, body = _call(host, hosts)
        assert status == 400, host
        message = json.loads(body)["error"]
        assert is_one_sentence(message) and "CNNVIS_ALLOWED_HOSTS" in message, message


def test_host_names_are_read_without_their_port():
    assert host_name("Example.org:8080") == "example.org"
    assert host_name("[::1]:7860") == "::1"
    assert not is_allowed("localhost:7860@evil.example", allowed_hosts({}))


def _call_from(origin: bytes | None, cookie: bool, host: bytes = b"127.0.0.1:7860", hosts=None) -> int:
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    headers = [(b"host", host)] + ([(b"origin", origin)] if origin else []) + ([(b"cookie", b"s=1")] if cookie else [])
    scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join", "headers": headers}
    asyncio.run(HostMiddleware(_ok, hosts or allowed_hosts({"SPACE_HOST": "someone-cnnvis.hf.space"}))(scope, receive, send))
    return sent[0]["status"]


def test_requests_with_credentials_from_foreign_origins_are_refused():
    """Gradio reflects any Origin with credentials allowed when the Host is not a localhost
    alias (gradio#13594): a credentialed request from another site gets only a 403."""
    space = b"someone-cnnvis.hf.space"
    assert _call_from(b"https://evil.example", cookie=True, host=space) == 403
    assert _call_from(b"null", cookie=True, host=space) == 403
    assert _call_from(b"http://localhost:9999", cookie=True) == 200  # a local page, as Gradio allows
    assert _call_from(b"https://evil.example", cookie=False, host=space) == 200  # the open API
    assert _call_from(b"https://someone-cnnvis.hf.space", cookie=True, host=space) == 200  # its own page
    assert _call_from(b"https://someone-cnnvis.hf.space", cookie=True, host=b"10.0.0.5:7860") == 200  # behind a proxy
    assert _call_from(b"http://127.0.0.1:7860", cookie=True) == 200
    assert _call_from(None, cookie=True) == 200  # not from a page
