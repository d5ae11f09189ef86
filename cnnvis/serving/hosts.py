"""Which host names this server answers to: a guard against DNS rebinding.

A page on another site can make its own domain name resolve to 127.0.0.1 and then call
a local run of the app as "its" origin; the only trace of that is the ``Host`` header,
which names the attacker's domain. :class:`HostMiddleware` answers only requests whose
``Host`` is in :func:`allowed_hosts`: the localhost aliases, any IP address (rebinding
needs a name), the Space's own host (``SPACE_HOST``, which Hugging Face sets), and the
names in ``CNNVIS_ALLOWED_HOSTS`` (comma-separated; ``*.example.org`` for its
subdomains). Any other is refused with a 400 in one sentence, before Gradio sees it.

Credentialed requests from foreign origins are refused too. Gradio's CORS middleware,
outermost, reflects any ``Origin`` with ``Access-Control-Allow-Credentials: true`` when the
``Host`` is not a localhost alias (gradio#13594), and it defers only to a parent app's
CORS settings. So a request that carries credentials (a ``Cookie`` or an
``Authorization`` header) from an origin that is not this server's own (its ``Host``, or
one of the allowed names above, the Space's included) gets a 403 in one sentence: a
foreign page may read nothing of the visitor's session but that sentence. Requests
without credentials stay open to other origins (the API, the JavaScript client).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable

from .screening import send_json

LOCALHOST_ALIASES = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
HOSTS_VARIABLE = "CNNVIS_ALLOWED_HOSTS"


def allowed_hosts(environ: dict | None = None) -> tuple[str, ...]:
    """The host names answered besides IP addresses: the localhost aliases, ``SPACE_HOST``
    and the names of ``CNNVIS_ALLOWED_HOSTS``, lower-case."""
    environ = os.environ if environ is None else environ
    names = [*LOCALHOST_ALIASES, environ.get("SPACE_HOST", "")]
    names += environ.get(HOSTS_VARIABLE, "").split(",")
    return tuple(dict.fromkeys(name.strip().lower().rstrip(".") for name in names if name.strip()))


_HOST = re.compile(r"^(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+))(?::[0-9]{1,5})?$")


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:7860`` -> ``::1``); "" for
    a header that is not a host name and port."""
    match = _HOST.match(header.strip().lower())
    if match is None:
        return ""
    return (match["ipv6"] or match["name"]).rstrip(".")


def is_own_origin(origin: str, host_header: str, allowed: Iterable[str]) -> bool:
    """Whether ``origin`` (``scheme://host[:port]``) is this server's own: the request's
    ``Host``, or an allowed host name (an IP address is not enough: any page may name one
    only if it is served from it)."""
    scheme, _, rest = origin.strip().lower().partition("://")
    if not rest or "/" in rest or scheme not in ("http", "https"):
        return False  # "null", or not an origin
    if rest == host_header.strip().lower():
        return True
    name = host_name(rest)
    return bool(name) and any(
        name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])) for pattern in allowed
    )


def is_allowed(header: str, allowed: Iterable[str]) -> bool:
    """Whether a request with this ``Host`` header is answered."""
    name = host_name(header)
    if not name:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    for pattern in allowed:
        if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


class HostMiddleware:
    """Answers only requests to an allowed host (see the module's docstring)."""

    def __init__(self, app, hosts: Iterable[str] | None = None):
        self.app = app
        self.hosts = tuple(hosts) if hosts is not None else allowed_hosts()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        header_text = headers.get(b"host", "")
        if is_allowed(header_text, self.hosts):
            origin = headers.get(b"origin")
            credentials = b"cookie" in headers or b"authorization" in headers
            if scope["type"] == "http" and origin is not None and credentials and not is_own_origin(origin, header_text, self.hosts):
                sentence = "This server takes no requests with credentials (cookies) from another site's pages."
                return await send_json(send, 403, {"detail": sentence, "error": sentence})
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        shown = host_name(header_text)[:60] or "none or not a host name"
        sentence = (
            f"This server does not answer to the host name '{shown}'; add it to "
            f"{HOSTS_VARIABLE} if it is this server's."
        )
        await send_json(send, 400, {"detail": sentence, "error": sentence})
