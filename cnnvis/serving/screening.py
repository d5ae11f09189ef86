"""Screening: every event's inputs are checked against their components before Gradio sees
them, on every route that carries an event.

Gradio checks only the file objects that carry ``"meta": {"_type": "gradio.FileData"}``
(and refuses the others with ``{"error": null}``); a file object without it reaches the
component, which reads the path it names. Its components' own checks of other values
(a slider's range, a radio's choices) answer in messages of their own or not at all. So
:class:`ScreeningMiddleware`, a pure ASGI middleware, reads the JSON body of every request
that runs an event (``/gradio_api/queue/join``, ``/call/<name>``, ``/call/v2/<name>``,
``/run/<name>`` and ``/api/<name>``, the private events by ``fn_index`` too), finds the
event's input components, and refuses any value that its component should not get, with
one sentence that names the parameter (its label, then its API name) and quotes at most 40
characters of what was sent:

- a file (``gr.Image``, ``gr.ImageEditor``, ``gr.File``...): only a file this server
  received (Gradio's upload folder) or one of ``extra_roots`` (the app's example photos),
  compared as real paths (symlinks and ``..`` resolved), a regular file, never a link, a
  ``data:`` URL, a stream, a number or a list; nothing of it is opened; a ``gr.File``
  (a model file, a class-names file) only from the upload folder, one file unless it
  takes several; and each within its bound (:mod:`cnnvis.serving.file_bounds`: a photo, any
  file, 10 MB; a ``gr.File`` that takes ``.keras`` files only, 128 MB; its size looked
  up, never opened);
- numbers: finite, within a slider's or number field's bounds; a checkbox: true or false;
- a radio, or a dropdown without custom values: one of its choices; a checkbox group or a
  multiselect: a list of at most :data:`~cnnvis.serving.values.MAX_LIST_ITEMS` entries, each one of the choices
  unless custom values are allowed;
- text (a textbox, a dropdown with custom values): at most :data:`~cnnvis.serving.values.MAX_TEXT_CHARS`
  characters (or a number);
- no value, and nothing else in the body (the session, keys included), holds a lone
  UTF-16 surrogate or a NUL character (:func:`~cnnvis.serving.values.not_text`): a
  surrogate cannot be encoded as UTF-8, and a NUL ends C strings and paths.

Every answer is ASCII JSON (escapes for the rest), so a refusal can quote anything sent.

A refusal is Gradio's own validation answer (the answer of an event's ``validator=``):
HTTP 422 with ``{"detail": [{"__type__": "validate", "is_valid": ..., "message": ...,
"parameter_name": ...}, ...], "error": "<the first sentence>"}``. ``gradio_client`` raises
``ValidationError`` with each sentence, the web page shows each next to its component,
and a script reads ``error``. The body is bounded (:data:`MAX_BODY_BYTES`).

A new event needs nothing to be screened: its inputs are screened by their component
types. A component type with no rule here is left to Gradio.
"""

from __future__ import annotations

import json
import logging
import os
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from .values import not_text, received_roots, screen_value, shown

log = logging.getLogger("cnnvis.serving.screening")

MAX_BODY_BYTES = 1_000_000  # an event's JSON body (the page sends a few kilobytes)
EVENT_ROUTE = re.compile(
    r"^/gradio_api/(?:(?P<join>queue/join)|call/v2/(?P<v2>[^/]+)|call/(?P<call>[^/]+)"
    r"|(?:run|api)/(?P<run>[^/]+))/?$"
)



# --------------------------------------------------------------------------- refusals


@dataclass
class Refusal:
    """One or more sentences for the caller, as Gradio's validation answer."""

    sentences: list[tuple[str, str]]  # (parameter name, sentence)
    status: int = 422
    entries: list[dict] = field(default_factory=list)

    @property
    def sentence(self) -> str:
        return self.sentences[0][1]

    def payload(self) -> dict:
        entries = self.entries or [_entry(name, sentence) for name, sentence in self.sentences]
        return {"detail": entries, "error": self.sentence}


def _entry(name: str, sentence: str | None) -> dict:
    return {
        "__type__": "validate",
        "is_valid": sentence is None,
        "message": sentence or "",
        "parameter_name": name,
    }


def request_refusal(sentence: str, status: int = 422) -> Refusal:
    """A refusal of the request as a whole (not of one parameter)."""
    return Refusal([("request", sentence)], status)


# --------------------------------------------------------------------------- events


def parameter_names(fn) -> list[str]:
    """The API names of an event's inputs, in order (as Gradio's API page names them)."""
    from gradio.utils import get_function_params

    names = list(getattr(fn, "input_parameter_names", None) or ())
    if not names and fn.fn is not None:
        names = [name for name, *_ in get_function_params(fn.fn)]
    return [
        (names[i] if i < len(names) and names[i] else f"param_{i}") for i in range(len(fn.inputs))
    ]


def _label(component, name: str) -> str:
    text = getattr(component, "label", None)
    if not text:
        return f"“{name}”"
    return f"“{text}”" if text == name else f"“{text}” ({name})"


def screen_event(fn, values: list, roots: Sequence[str]) -> Refusal | list:
    """Screen the values of an event's inputs (one per input, in order): a
    :class:`Refusal`, or the values to pass on."""
    return screen_values(fn.inputs, parameter_names(fn), values, roots, batch=fn.batch)


def screen_values(
    inputs: Sequence,
    names: Sequence[str],
    values: Sequence,
    roots: Sequence[str],
    given: Sequence[bool] | None = None,
    batch: bool = False,
) -> Refusal | list:
    """Screen ``values[i]`` for ``inputs[i]`` (named ``names[i]``); ``given[i]`` False
    marks a default that Gradio fills in itself, which is not screened."""
    sentences, passed = [], []
    for index, (component, value) in enumerate(zip(inputs, values)):
        if given is not None and not given[index]:
            passed.append(value)
            continue
        label = _label(component, names[index])
        samples = value if batch and isinstance(value, list) else [value]
        results = [screen_value(component, sample, label, roots) for sample in samples]
        problem = next((sentence for sentence, _ in results if sentence), None)
        if problem:
            sentences.append((names[index], problem))
        passed.append([v for _, v in results] if samples is value else results[0][1])
    if sentences:
        problems = dict(sentences)
        return Refusal(sentences, entries=[_entry(name, problems.get(name)) for name in names])
    return passed


def _event_values(fn, data: Any) -> list | Refusal:
    """The value of each input from a request's ``data`` list (which may leave out the
    inputs that the API skips, as Gradio's simple format does)."""
    inputs = fn.inputs
    if not isinstance(data, list):
        return request_refusal(f"The request's data must be a list of {len(inputs)} values; got {shown(data)}.")
    if len(data) == len(inputs):
        return list(data)
    api_inputs = [block for block in inputs if not getattr(block, "skip_api", False)]
    if len(data) == len(api_inputs):
        values = iter(data)
        return [None if getattr(block, "skip_api", False) else next(values) for block in inputs]
    return request_refusal(
        f"This endpoint takes {len(api_inputs)} values ({', '.join(parameter_names(fn)) or 'none'}); got {len(data)}."
    )


_API_INFO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _api_parameters(blocks, api_name: str) -> list[dict] | None:
    """The API's parameters of an endpoint (as ``/call/v2`` reads them), computed once per
    Blocks."""
    if blocks not in _API_INFO:
        _API_INFO[blocks] = blocks.get_api_info(all_endpoints=True)["named_endpoints"]
    info = _API_INFO[blocks].get(f"/{api_name}")
    return None if info is None else info["parameters"]


def screen_request(blocks, route: re.Match, body: Any, roots: Sequence[str]) -> Refusal | Any:
    """Screen one event request's parsed JSON body: a :class:`Refusal`, or the body to pass
    on (the same body, or one whose example files lost Gradio's marker)."""
    if not isinstance(body, dict):
        return request_refusal("The request must be a JSON object.")
    name = route["v2"] or route["call"] or route["run"]
    fn = _find_event(blocks, body if not (route["v2"] or route["call"]) else {}, name)
    if isinstance(fn, Refusal):
        return fn
    if fn.fn is None or fn.cancels or getattr(fn, "is_cancel_function", False):
        return body  # no inputs reach a function (Gradio sends the session to cancels)
    if route["v2"]:
        return _screen_v2(blocks, fn, body, roots)
    values = _event_values(fn, body.get("data"))
    if isinstance(values, Refusal):
        return values
    passed = screen_event(fn, values, roots)
    if isinstance(passed, Refusal):
        return passed
    if len(body["data"]) == len(passed) and passed != body["data"]:
        return {**body, "data": passed}
    return body


def _find_event(blocks, body: dict, api_name: str | None):
    """The event a request runs, as Gradio's ``route_utils.get_fn`` finds it: by
    ``fn_index`` if the body gives one, else by API name."""
    fn_index = body.get("fn_index")
    if fn_index is not None:
        if isinstance(fn_index, bool) or not isinstance(fn_index, int) or fn_index not in blocks.fns:
            return request_refusal(f"There is no event number {shown(fn_index)}.", 404)
        return blocks.fns[fn_index]
    if api_name is None:
        return request_refusal("The request must say which event it runs (its fn_index).")
    for fn in blocks.fns.values():
        if fn.api_name == api_name:
            return fn
    return request_refusal(f"There is no endpoint called {shown('/' + api_name)}.", 404)


def _screen_v2(blocks, fn, body: dict, roots: Sequence[str]) -> Refusal | dict:
    """``/call/v2/<name>``: values by parameter name, defaults for the others."""
    parameters = _api_parameters(blocks, fn.api_name)
    if parameters is None:
        return request_refusal(f"There is no endpoint called {shown('/' + str(fn.api_name))}.", 404)
    names = [p["parameter_name"] for p in parameters]
    unknown = [key for key in body if key not in names and key != "oauth_token"]
    if unknown:
        return request_refusal(
            f"This endpoint has no parameter {shown(unknown[0])}; its parameters are {', '.join(names)}."
        )
    missing = [p["parameter_name"] for p in parameters if p["parameter_name"] not in body and not p.get("parameter_has_default")]
    if missing:
        return request_refusal(f"This endpoint needs a value for {missing[0]}.")
    api_inputs = [block for block in fn.inputs if not getattr(block, "skip_api", False)]
    values = [body.get(name) for name in names]
    passed = screen_values(api_inputs, names, values, roots, given=[name in body for name in names])
    if isinstance(passed, Refusal):
        return passed
    return {**body, **{name: value for name, value in zip(names, passed) if name in body}}


# --------------------------------------------------------------------------- middleware


def route_path(scope: dict) -> str:
    """The request's path inside the app (without the root path it is mounted under)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


async def read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None if it is longer than ``limit`` bytes."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def replay(body: bytes, receive):
    """A ``receive`` that gives ``body`` first, then whatever the client sends next."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def send_json(send, status: int, payload: dict) -> None:
    """Answer ``payload`` as JSON; ASCII with escapes, so that whatever a caller sent (a
    lone UTF-16 surrogate included) can be quoted back."""
    body = json.dumps(payload).encode("ascii")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ScreeningMiddleware:
    """Screens the inputs of every event request before Gradio sees them (see the module's
    docstring); pass it to ``launch(app_kwargs={"middleware": [Middleware(ScreeningMiddleware,
    extra_roots=[examples])]})``."""

    def __init__(self, app, extra_roots: Iterable[str | os.PathLike] = (), max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.extra_roots = [Path(root) for root in extra_roots]
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        route = EVENT_ROUTE.match(route_path(scope))
        if route is None:
            return await self.app(scope, receive, send)
        raw = await read_body(receive, self.max_body_bytes)
        if raw is None:
            refusal = request_refusal(f"The request is larger than {self.max_body_bytes // 1000} kB.", 413)
            return await send_json(send, refusal.status, refusal.payload())
        outcome = self._screen(scope, route, raw)
        if isinstance(outcome, Refusal):
            return await send_json(send, outcome.status, outcome.payload())
        if outcome is not None:
            raw = json.dumps(outcome).encode()
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(raw)).encode())]}
        await self.app(scope, replay(raw, receive), send)

    def _screen(self, scope, route: re.Match, raw: bytes) -> Refusal | dict | None:
        """A refusal, a new body, or None to pass the body on unchanged."""
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return request_refusal("The request body is not valid JSON.")
        try:
            blocks = scope["app"].get_blocks()
            outcome = screen_request(blocks, route, body, received_roots(self.extra_roots))
            bad = None if isinstance(outcome, Refusal) else not_text(body)
            if bad:  # outside the inputs: the session, the event's data...
                return request_refusal(f"The request holds {bad}, which this server does not take.")
        except Exception:  # noqa: BLE001 - refuse (fail closed) rather than let it through
            log.exception("Screening failed on %s", route_path(scope))
            return request_refusal("This request could not be checked, so it was not run.", 400)
        return outcome if isinstance(outcome, Refusal) or outcome is not body else None
