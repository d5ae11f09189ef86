"""Uploads and the disk they take: one file per upload request, a bound on the total size of
Gradio's upload and result cache (oldest files evicted first), and bounded image-editor
pictures held in memory.

- ``/gradio_api/upload`` takes up to 1000 files per request in Gradio; the page sends one
  per request, so :class:`UploadMiddleware` counts the multipart parts as the body streams
  in and refuses the request at the second part, in one sentence; a part named ``files``
  without a filename (which Gradio's route answers with a 500) is refused with a 400.
- Gradio's ``max_file_size`` (one bound for every upload, which the page also checks
  before sending) is the largest file the app takes: a ``.keras`` model
  (:data:`cnnvis.serving.file_bounds.MAX_MODEL_FILE_BYTES`). Every other upload (a photo, a
  class-names file) is refused beyond :data:`cnnvis.serving.file_bounds.MAX_FILE_BYTES` as its
  body streams in, the bound chosen by the file's name in its part's headers (which come
  before its bytes); and a file is screened again by size when an event gets it
  (:mod:`cnnvis.serving.screening`), so a large file uploaded under a ``.keras`` name is never
  taken as a photo.
- Every upload first makes room in the cache (:class:`CacheBound`), and the same bound is
  applied every :data:`CACHE_TRIM_SECONDS` to what the app writes there itself (its
  result pictures) by :func:`cache_lifespan`, next to Gradio's ``delete_cache`` schedule
  (which removes files by age only).
- The image editor sends its pictures to ``/gradio_api/component_server``, where Gradio
  keeps them in memory until the event that uses them: at most
  :data:`MAX_COMPONENT_SERVER_CALLS` such requests are handled at once, each with at most
  one file, and the pictures kept are bounded in count of pixels each and in bytes in all
  (oldest dropped first).
- ``/gradio_api/process_recording`` (video recordings, trimmed with ffmpeg) is refused: the
  app has no video input.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .file_bounds import MAX_FILE_BYTES, MAX_MODEL_FILE_BYTES, MODEL_FILE_SUFFIX, is_model_file_name
from .screening import route_path, send_json

log = logging.getLogger("cnnvis.serving.uploads")

MB = 2**20
MAX_FILES_PER_UPLOAD = 1  # the page uploads its photo alone
CACHE_MAX_BYTES = 2048 * MB  # uploads and results in Gradio's cache folder, together
CACHE_TRIM_SECONDS = 10  # how often the bound is applied to what the app itself writes
# A file younger than this may still be being written, or wait in the queue for the event
# that reads it (a class's burst queues for a minute or more): kept.
CACHE_MIN_AGE_SECONDS = 120.0
MAX_COMPONENT_SERVER_CALLS = 4  # image-editor pictures received at once (each held in memory)
MAX_EDITOR_BLOB_BYTES = 64 * MB  # image-editor pictures kept in memory, in all
MAX_EDITOR_PIXELS = 4_000_000  # pixels of one image-editor picture (the page sends <= 1 MP)
MULTIPART_FIELDS_BYTES = 64 * 1024  # an upload's body beyond its file (boundaries, fields)


# --------------------------------------------------------------------------- the cache


@dataclass(frozen=True)
class CachedFile:
    path: str
    size: int
    modified: float


def cached_files(folder: str) -> list[CachedFile]:
    """Every regular file under ``folder`` (symlinks are not followed), oldest first."""
    found = []
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            with contextlib.suppress(OSError):
                status = os.lstat(path)
                if os.path.isfile(path) and not os.path.islink(path):
                    found.append(CachedFile(path, status.st_size, status.st_mtime))
    return sorted(found, key=lambda file: file.modified)


@dataclass
class CacheBound:
    """At most ``max_bytes`` in the cache folder: the oldest files are deleted first,
    except those Gradio keeps for the page (examples, default values) and files younger
    than :data:`CACHE_MIN_AGE_SECONDS`."""

    max_bytes: int = CACHE_MAX_BYTES

    def trim(self, folder: str, keep: Iterable[str] = (), incoming: int = 0) -> bool:
        """Delete the oldest files until the folder holds at most ``max_bytes`` with room
        for ``incoming`` more bytes; False if that room cannot be made."""
        files = cached_files(folder)
        total = sum(file.size for file in files)
        if total + incoming <= self.max_bytes:
            return True
        kept = {os.path.realpath(path) for path in keep}
        recent = time.time() - CACHE_MIN_AGE_SECONDS
        evicted = 0
        for file in files:
            if total + incoming <= self.max_bytes:
                break
            if file.modified > recent or os.path.realpath(file.path) in kept:
                continue
            with contextlib.suppress(OSError):
                os.remove(file.path)
                total -= file.size
                evicted += 1
                _remove_empty_parents(file.path, folder)
        if evicted:
            log.info("Cache bound: %d oldest files deleted, %.0f MB kept", evicted, total / MB)
        return total + incoming <= self.max_bytes


def _remove_empty_parents(path: str, folder: str) -> None:
    parent = os.path.dirname(path)
    while os.path.realpath(parent) != os.path.realpath(folder):
        try:
            os.rmdir(parent)  # only if empty
        except OSError:
            return
        parent = os.path.dirname(parent)


def kept_files(blocks) -> set[str]:
    """Files Gradio keeps in its cache for the page (examples, default values)."""
    kept: set[str] = set()
    for block in getattr(blocks, "blocks", {}).values():
        kept.update(getattr(block, "keep_in_cache", ()) or ())
    return kept


def cache_folder() -> str:
    from gradio.utils import get_upload_folder

    return get_upload_folder()


def cache_lifespan(bound: CacheBound | None = None, every: float = CACHE_TRIM_SECONDS):
    """A lifespan for ``launch(app_kwargs={"lifespan": ...})``: applies ``bound`` to the
    cache folder every ``every`` seconds while the server runs."""
    bound = bound or CacheBound()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        import anyio

        async def trim_forever():
            while True:
                await asyncio.sleep(every)
                try:
                    await anyio.to_thread.run_sync(bound.trim, cache_folder(), kept_files(app.get_blocks()))
                except Exception:  # noqa: BLE001 - the next round tries again
                    log.exception("Could not apply the cache bound")

        task = asyncio.create_task(trim_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


# --------------------------------------------------------------------------- image-editor pictures


def trim_editor_pictures(blocks, max_bytes: int = MAX_EDITOR_BLOB_BYTES, max_pixels: int = MAX_EDITOR_PIXELS) -> int:
    """Drop image-editor pictures that Gradio holds in memory (``ImageEditor.blob_storage``,
    filled by ``/component_server`` until an event uses them): any that is not an image of
    at most ``max_pixels``, then the oldest until at most ``max_bytes`` remain. Returns how
    many drawings were dropped."""
    from .gradio_compat import editor_pictures

    dropped = 0
    for block in list(getattr(blocks, "blocks", {}).values()):
        storage = editor_pictures(block)
        if storage is None:
            continue
        for key in list(storage):
            if not all(_small_picture(blob, max_pixels) for blob in _blobs(storage.get(key))):
                storage.pop(key, None)
                dropped += 1
        total = sum(len(blob) for entry in list(storage.values()) for blob in _blobs(entry))
        for key in list(storage):  # dicts keep insertion order: oldest first
            if total <= max_bytes:
                break
            total -= sum(len(blob) for blob in _blobs(storage.pop(key, None)))
            dropped += 1
    return dropped


def _blobs(entry) -> list[bytes]:
    if entry is None:
        return []
    items = [getattr(entry, "background", None), getattr(entry, "composite", None), *(getattr(entry, "layers", None) or [])]
    return [item for item in items if isinstance(item, (bytes, bytearray))]


def _small_picture(blob: bytes, max_pixels: int) -> bool:
    """Whether ``blob`` is a PNG, JPEG or WebP of at most ``max_pixels`` (header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob), formats=("PNG", "JPEG", "WEBP")) as picture:
            width, height = picture.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return False
    return width * height <= max_pixels


# --------------------------------------------------------------------------- the middleware


class _FileCounter:
    """Counts the file parts of a multipart body (those whose Content-Disposition names a
    filename) and its bytes, as the body streams through (python-multipart, the parser
    Starlette and Gradio use)."""

    def __init__(self, content_type: bytes) -> None:
        from python_multipart.multipart import MultipartParser, parse_options_header

        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        self.files = 0
        self.size = 0
        self.file_size = 0  # the bytes of the file parts (the largest bounded exactly)
        self.names: list[str] = []  # the file names, as the parts' headers give them
        self.malformed: str | None = None  # a part that Gradio's upload route cannot take
        self._field, self._value, self._is_file, self._name = b"", b"", False, None
        callbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._add("_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
        }
        self._parser = MultipartParser(boundary, callbacks) if boundary else None

    def _add(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def _part_begin(self) -> None:
        self._is_file, self._name = False, None

    def _header_end(self) -> None:
        if self._field.strip().lower() == b"content-disposition":
            self._name = _part_name(self._value)
            if b"filename" in self._value.lower():
                self._is_file = True
                self.names.append(_file_name(self._value))
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        self.files += self._is_file
        if self._name == b"files" and not self._is_file and self.malformed is None:
            # Gradio's upload route reads every "files" part as a file: a 500 otherwise.
            self.malformed = "Each part named files must be a file (its Content-Disposition needs a filename)."

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.file_size += end - start

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._parser is not None and chunk:
            try:
                self._parser.write(chunk)
            except Exception:  # noqa: BLE001 - a malformed body is Gradio's to refuse
                self._parser = None


def _file_name(disposition: bytes) -> str:
    """The ``filename`` of a part's Content-Disposition header ("" if there is none)."""
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(disposition)
    return options.get(b"filename", b"").decode("utf-8", "replace")


def _part_name(disposition: bytes) -> bytes | None:
    """The ``name`` of a part's Content-Disposition header (None if there is none)."""
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(disposition)
    return options.get(b"name")


def _header(scope, name: bytes) -> bytes:
    return next((value for key, value in scope.get("headers", ()) if key.lower() == name), b"")


class UploadMiddleware:
    """One file per upload request, room in the cache before each upload, bounded
    image-editor pictures, no video-recording route (see the module's docstring)."""

    def __init__(
        self,
        app,
        max_files: int = MAX_FILES_PER_UPLOAD,
        bound: CacheBound | None = None,
        max_component_server_calls: int = MAX_COMPONENT_SERVER_CALLS,
        folder: Callable[[], str] = cache_folder,
    ):
        self.app = app
        self.max_files = max_files
        self.bound = bound or CacheBound()
        self.folder = folder
        self._component_calls = asyncio.Semaphore(max_component_server_calls)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = route_path(scope).rstrip("/")
        if path == "/gradio_api/process_recording":
            return await refuse(send, 404, "This app takes no video recordings.")
        if path == "/gradio_api/upload":
            return await self._upload(scope, receive, send)
        if path == "/gradio_api/component_server":
            blocks = _blocks(scope)

            async def send_after_trimming(message):  # the caller sees the pictures bounded
                if blocks is not None and message["type"] == "http.response.body" and not message.get("more_body"):
                    trim_editor_pictures(blocks)
                await send(message)

            async with self._component_calls:
                await self._counted(scope, receive, send_after_trimming, "picture")
            return None
        return await self.app(scope, receive, send)

    async def _upload(self, scope, receive, send):
        import anyio

        blocks = _blocks(scope)
        largest = _largest_body(blocks)
        try:
            declared = int(_header(scope, b"content-length") or 0)
        except ValueError:
            declared = 0
        if largest is not None and declared > largest:  # refused before any room is made
            return await refuse(send, 413, f"This request is larger than the {largest // MB} MB that one file may take.")
        incoming = declared or largest or 0
        room = await anyio.to_thread.run_sync(self.bound.trim, self.folder(), kept_files(blocks), incoming)
        if not room:
            return await refuse(send, 507, "The server's space for uploads is full; please try again in a minute.")
        await self._counted(scope, receive, send, "file")

    async def _counted(self, scope, receive, send, what: str):
        """Pass the request on while counting its multipart file parts and bytes; refuse it,
        in one sentence, as soon as a part named ``files`` is not a file (400), it has more
        than ``max_files`` files, a file part larger
        than a file of its kind may be (:func:`_file_bound`, by its name), or more bytes than
        such a file and a few fields take."""
        counter = _FileCounter(_header(scope, b"content-type"))
        blocks = _blocks(scope)
        refusal, status = None, 413

        async def counted_receive():
            nonlocal refusal, status
            if refusal is not None:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                counter.feed(message.get("body", b""))
                model = what == "file" and any(map(is_model_file_name, counter.names))
                max_bytes = _file_bound(blocks, model)
                if counter.malformed is not None:
                    refusal, status = counter.malformed, 400
                elif counter.files > self.max_files:
                    noun = what if self.max_files == 1 else f"{what}s"
                    refusal = f"This server takes at most {self.max_files} {noun} per request; this one had more."
                elif max_bytes is not None and (
                    counter.file_size > max_bytes or counter.size > max_bytes + MULTIPART_FIELDS_BYTES
                ):
                    kind = f"a {MODEL_FILE_SUFFIX} model file" if model else f"one {what}"
                    other = "" if model or what != "file" else f" (a {MODEL_FILE_SUFFIX} model file may take {_file_bound(blocks, True) // MB} MB)"
                    refusal = f"This request is larger than the {max_bytes // MB} MB that {kind} may take{other}."
                if refusal is not None:
                    return {"type": "http.disconnect"}  # the app stops reading the body
            return message

        async def guarded_send(message):
            if refusal is None:
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if refusal is None:
                raise
        if refusal is not None:
            await refuse(send, status, refusal)


async def refuse(send, status: int, sentence: str) -> None:
    """Answer with one sentence, as FastAPI's errors do (``detail``) and as the app's
    other refusals do (``error``)."""
    await send_json(send, status, {"detail": sentence, "error": sentence})


def _file_bound(blocks, model: bool) -> int | None:
    """The most bytes one uploaded file may have: Gradio's ``max_file_size``, and at most
    MAX_MODEL_FILE_BYTES for a model file, MAX_FILE_BYTES for any other (None: Gradio
    sets no limit)."""
    largest = getattr(blocks, "max_file_size", None)
    if largest is None:
        return None
    return min(largest, MAX_MODEL_FILE_BYTES if model else MAX_FILE_BYTES)


def _largest_body(blocks) -> int | None:
    """The most bytes a request carrying one file may have: Gradio's ``max_file_size`` and
    the multipart fields around it (None: no size limit is set)."""
    largest = getattr(blocks, "max_file_size", None)
    return None if largest is None else largest + MULTIPART_FIELDS_BYTES


def _blocks(scope):
    app = scope.get("app")
    return app.get_blocks() if app is not None and hasattr(app, "get_blocks") else None
