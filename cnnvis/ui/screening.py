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
  takes several; and each within its bound (:mod:`cnnvis.ui.file_bounds`: a photo, any
  file, 10 MB; a ``gr.File`` that takes ``.keras`` files only, 128 MB; its size looked
  up, never opened);
- numbers: finite, within a slider's or number field's bounds; a checkbox: true or false;
- a radio, or a dropdown without custom values: one of its choices; a checkbox group or a
  multiselect: a list of at most :data:`MAX_LIST_ITEMS` entries, each one of the choices
  unless custom values are allowed;
- text (a textbox, a dropdown with custom values): at most :data:`MAX_TEXT_CHARS`
  characters (or a number).

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
import math
import os
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnvis.errors import quoted

from .file_bounds import MAX_FILE_BYTES, file_bound, size_problem

log = logging.getLogger("cnnvis.ui.screening")

MAX_BODY_BYTES = 1_000_000  # an event's JSON body (the page sends a few kilobytes)
MAX_TEXT_CHARS = 1000  # a name or a text field
MAX_LIST_ITEMS = 64  # entries of a checkbox group or a multiselect
MAX_PATH_CHARS = 4096  # a file object's path
MAX_EDITOR_LAYERS = 8  # layers of an image editor's value
MAX_CHOICES_SHOWN = 12  # a refusal lists the choices when there are at most this many

EVENT_ROUTE = re.compile(
    r"^/gradio_api/(?:(?P<join>queue/join)|call/v2/(?P<v2>[^/]+)|call/(?P<call>[^/]+)"
    r"|(?:run|api)/(?P<run>[^/]+))/?$"
)
FILE_MARKER = {"_type": "gradio.FileData"}
_URL = re.compile(r"(?i)^\s*[a-z][a-z0-9+.-]*:")  # http:, file:, data:, C: is not a concern here
_EDITOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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


# --------------------------------------------------------------------------- files


def received_roots(extra_roots: Iterable[str | os.PathLike] = ()) -> list[str]:
    """The real paths of the folders whose files this server may hand to a component:
    Gradio's upload (and result) folder, then ``extra_roots``."""
    from gradio.utils import get_upload_folder

    return [os.path.realpath(folder) for folder in (get_upload_folder(), *extra_roots)]


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def file_problem(value: Any, roots: Sequence[str]) -> tuple[str | None, Any]:
    """What is wrong with a file object (None if nothing), and the value to pass on (a file
    of ``roots[1:]`` loses its Gradio marker, since Gradio accepts marked files from its
    upload folder only). Nothing of the file is opened: only its real path is resolved
    and its type looked up."""
    if not isinstance(value, dict):
        return _describe_non_file(value), value
    path, url, meta = value.get("path"), value.get("url"), value.get("meta")
    if meta is not None and meta != FILE_MARKER:
        return "a file object with an unknown marker", value
    if value.get("is_stream"):
        return "a stream", value
    if url is not None and not isinstance(url, str):
        return "a file object whose url is not text", value
    if isinstance(url, str) and url.strip().lower().startswith("data:"):
        return "data embedded in the request (a data: URL)", value
    if path is None or path == "":
        return ("a link" if url else "a file object without a path"), value
    if not isinstance(path, str):
        return "a file object whose path is not text", value
    if _URL.match(path):
        return "a link", value
    if len(path) > MAX_PATH_CHARS or "\0" in path:
        return "a path that is not a file's", value
    real = os.path.realpath(path)  # symlinks and .. resolved; nothing is read
    root = next((root for root in roots if _within(real, root)), None)
    if root is None or not os.path.isfile(real):
        name = os.path.basename(path.rstrip("/\\")) or path
        return f"a file that this server did not receive or no longer keeps ({quoted(name)})", value
    if root != roots[0] and meta is not None:
        return None, {key: item for key, item in value.items() if key != "meta"}
    return None, value


def _describe_non_file(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{json.dumps(value)}"
    if isinstance(value, (int, float)):
        return f"the number {shown(value)}"
    if isinstance(value, str):
        return "a link" if _URL.match(value) else "text, not a file object (upload the file first)"
    if isinstance(value, list):
        return "a list"
    return "something else"


# --------------------------------------------------------------------------- values


def shown(value: Any) -> str:
    """A value as a sentence quotes it: at most 40 characters."""
    if isinstance(value, str):
        return quoted(value)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return json.dumps(value)  # NaN, Infinity and -Infinity as JSON writes them
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= 40 else f"a {len(text)}-digit number"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = type(value).__name__
    return quoted(text)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (
        isinstance(value, int) or math.isfinite(value)
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _choices(component) -> list:
    return [value for _, value in getattr(component, "choices", None) or ()]


def _one_of(label: str, choices: list, value: Any) -> str:
    if choices and len(choices) <= MAX_CHOICES_SHOWN:
        return f"{label} must be one of {', '.join(str(c) for c in choices)}; got {shown(value)}."
    return f"{shown(value)} is not one of the choices of {label}."


def _text_problem(value: Any) -> bool:
    if value is None or _is_number(value):
        return False
    return not isinstance(value, str) or len(value) > MAX_TEXT_CHARS


def screen_value(component, value: Any, label: str, roots: Sequence[str]) -> tuple[str | None, Any]:
    """One sentence if ``value`` is not something ``component`` should get (else None),
    and the value to pass on."""
    from gradio import components as gc

    if isinstance(component, gc.ImageEditor):
        return _editor_problem(value, label, roots)
    if isinstance(component, gc.File):
        return _uploaded_file_problem(component, value, label, roots[:1])
    if isinstance(component, (gc.Image, gc.Audio, gc.Video)):
        if value is None:
            return None, value
        problem, value = file_problem(value, roots)
        if problem:
            return f"{label} must be a file uploaded to this server (or one of its example photos); got {problem}.", value
        return size_problem(value, label, MAX_FILE_BYTES), value
    if isinstance(component, (gc.Slider, gc.Number)):
        return _number_problem(component, value, label, none_allowed=isinstance(component, gc.Number)), value
    if isinstance(component, gc.Checkbox):
        ok = isinstance(value, bool)
        return (None if ok else f"{label} must be true or false; got {shown(value)}."), value
    if isinstance(component, gc.CheckboxGroup):
        return _list_problem(value, label, _choices(component)), value
    if isinstance(component, gc.Radio):
        choices = _choices(component)
        return (None if value in choices else _one_of(label, choices, value)), value
    if isinstance(component, gc.Dropdown):
        custom = component.allow_custom_value
        if component.multiselect:
            return _list_problem(value, label, None if custom else _choices(component)), value
        if custom:
            if _text_problem(value):
                return f"{label} must be a name of at most {MAX_TEXT_CHARS} characters; got {shown(value)}.", value
            return None, value
        choices = _choices(component)
        return (None if value is None or value in choices else _one_of(label, choices, value)), value
    if isinstance(component, gc.Dataset):  # an example, by its index
        count = len(getattr(component, "raw_samples", None) or getattr(component, "samples", None) or ())
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count):
            return None, value
        return f"{label} must be the index of one of its {count} examples, from 0 to {count - 1}; got {shown(value)}.", value
    if isinstance(component, gc.Textbox):
        if _text_problem(value):
            return f"{label} must be a text of at most {MAX_TEXT_CHARS} characters; got {shown(value)}.", value
        return None, value
    return None, value  # no rule: Gradio's own checks apply


def _number_problem(component, value: Any, label: str, none_allowed: bool) -> str | None:
    if value is None and none_allowed:
        return None
    low, high = getattr(component, "minimum", None), getattr(component, "maximum", None)
    if _is_number(value) and (low is None or value >= low) and (high is None or value <= high):
        return None
    if low is not None and high is not None:
        bounds = f" from {_number(low)} to {_number(high)}"
    elif low is not None:
        bounds = f" of at least {_number(low)}"
    elif high is not None:
        bounds = f" of at most {_number(high)}"
    else:
        bounds = " (a finite one)"
    return f"{label} must be a number{bounds}; got {shown(value)}."


def _list_problem(value: Any, label: str, choices: list | None) -> str | None:
    """A list of names (a single name counts as a list of one); with ``choices``, each one
    of them."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return f"{label} must be a list of names; got {shown(value)}."
    if len(items) > MAX_LIST_ITEMS:
        return f"{label} takes at most {MAX_LIST_ITEMS} entries; got {len(items)}."
    for item in items:
        if _text_problem(item) or item is None:
            return f"{label} must be a list of names of at most {MAX_TEXT_CHARS} characters; got {shown(item)} in it."
        if choices is not None and item not in choices:
            return _one_of(label, choices, item)
    return None


def _uploaded_file_problem(component, value: Any, label: str, roots: Sequence[str]) -> tuple[str | None, Any]:
    """A ``gr.File``'s value: files this server received (never an example photo), one
    unless the component takes several, each within :func:`file_bound`."""
    if value is None:
        return None, value
    several = getattr(component, "file_count", "single") != "single"
    if isinstance(value, list) and not several:
        return f"{label} takes one file uploaded to this server; got a list.", value
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_LIST_ITEMS:
        return f"{label} takes at most {MAX_LIST_ITEMS} files; got {len(items)}.", value
    passed = []
    for item in items:
        problem, item = file_problem(item, roots)
        if problem:
            return f"{label} must be a file uploaded to this server; got {problem}.", value
        problem = size_problem(item, label, file_bound(component))
        if problem:
            return problem, value
        passed.append(item)
    return None, passed if isinstance(value, list) else passed[0]


def _editor_problem(value: Any, label: str, roots: Sequence[str]) -> tuple[str | None, Any]:
    """An image editor's value: a drawing made on this page (its pictures sent by the page
    beforehand, named by ``id``, or files this server received)."""
    if value is None:
        return None, value
    if not isinstance(value, dict):
        return f"{label} must be a drawing made on this page; got {_describe_non_file(value)}.", value
    if not set(value) <= {"background", "layers", "composite", "id"}:
        other = next(key for key in value if key not in ("background", "layers", "composite", "id"))
        return f"{label} must be a drawing made on this page; got an object with a field {shown(other)}.", value
    if value.get("id") is not None and not (isinstance(value["id"], str) and _EDITOR_ID.match(value["id"])):
        return f"{label} must be a drawing made on this page; got the id {shown(value['id'])}.", value
    layers = value.get("layers")
    if layers is not None and (not isinstance(layers, list) or len(layers) > MAX_EDITOR_LAYERS):
        return f"{label} takes a list of at most {MAX_EDITOR_LAYERS} layers; got {_describe_non_file(layers) if not isinstance(layers, list) else len(layers)}.", value
    passed = dict(value)
    for key in ("background", "composite"):
        if value.get(key) is not None:
            problem, passed[key] = file_problem(value[key], roots)
            if problem:
                return f"{label} must be a drawing made on this page; its {key} is {problem}.", value
    if layers:
        passed["layers"] = []
        for layer in layers:
            problem, layer = (None, None) if layer is None else file_problem(layer, roots)
            if problem:
                return f"{label} must be a drawing made on this page; a layer is {problem}.", value
            passed["layers"].append(layer)
    return None, passed


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
    body = json.dumps(payload, ensure_ascii=False).encode()
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
        except Exception:  # noqa: BLE001 - refuse (fail closed) rather than let it through
            log.exception("Screening failed on %s", route_path(scope))
            return request_refusal("This request could not be checked, so it was not run.", 400)
        return outcome if isinstance(outcome, Refusal) or outcome is not body else None
