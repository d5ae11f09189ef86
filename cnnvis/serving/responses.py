"""What every response says about itself: ``X-Content-Type-Options: nosniff`` on all of
them, and a file served from ``/gradio_api/file=`` is shown in the browser (``inline``)
only if its bytes are an image: an upload named ``.png`` that holds HTML is served as a
download (``attachment``, ``application/octet-stream``), so a script in it never runs on
the app's origin. ``/gradio_api/file=<URL>`` (Gradio fetches public URLs for it) is
refused: the app serves only its own files and fetches nothing it is given.
"""

from __future__ import annotations

import os
import re

from .screening import route_path, send_json

FILE_ROUTE = re.compile(r"^/gradio_api/file(?:=|/)(?P<path>.*)$", re.DOTALL)
_URL = re.compile(r"(?i)^\s*[a-z][a-z0-9+.-]*://")

# The first bytes of the image formats a browser may be shown inline.
_IMAGE_SIGNATURES = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",  # BMP
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
)


def is_image_file(path: str) -> bool:
    """Whether the file's first bytes are those of a JPEG, PNG, GIF, WebP, BMP or TIFF."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return False
    return head.startswith(_IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


class ResponseHeadersMiddleware:
    """``nosniff`` everywhere; non-images from the file route only as downloads."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        served = None
        if scope.get("method") in ("GET", "HEAD"):
            match = FILE_ROUTE.match(route_path(scope))
            if match is not None:
                if _URL.match(match["path"]):
                    sentence = "This server serves only its own files."
                    return await send_json(send, 403, {"detail": sentence, "error": sentence})
                served = os.path.abspath(match["path"])

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-content-type-options"]
                headers.append((b"x-content-type-options", b"nosniff"))
                if (  # Gradio serves it (so it is a file of its cache) and would show it inline
                    served is not None
                    and message.get("status") in (200, 206)
                    and _inline(headers)
                    and not is_image_file(served)
                ):
                    headers = _as_download(headers)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _inline(headers) -> bool:
    disposition = next((v for k, v in headers if k.lower() == b"content-disposition"), b"inline")
    return not disposition.strip().lower().startswith(b"attachment")


def _as_download(headers) -> list:
    changed = []
    for key, value in headers:
        name = key.lower()
        if name == b"content-type":
            value = b"application/octet-stream"
        elif name == b"content-disposition":
            value = re.sub(rb"(?i)^\s*inline", b"attachment", value)
        changed.append((key, value))
    if not any(key.lower() == b"content-disposition" for key, _ in changed):
        changed.append((b"content-disposition", b"attachment"))
    return changed
