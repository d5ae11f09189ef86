"""What each component may receive: the rule for one value, by component type
(:func:`screen_value`), and the file objects this server may hand on (:func:`file_problem`).

:mod:`cnnvis.serving.screening` applies these rules to every event's inputs, on every route;
its docstring lists them. A component type with no rule here is left to Gradio, and
``tests/test_screening.py`` fails until a new type of the app's has one.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from cnnvis.errors import quoted

from .file_bounds import MAX_FILE_BYTES, file_bound, size_problem

MAX_TEXT_CHARS = 1000  # a name or a text field
MAX_LIST_ITEMS = 64  # entries of a checkbox group or a multiselect
MAX_PATH_CHARS = 4096  # a file object's path
MAX_EDITOR_LAYERS = 8  # layers of an image editor's value
MAX_CHOICES_SHOWN = 12  # a refusal lists the choices when there are at most this many
FILE_MARKER = {"_type": "gradio.FileData"}
_URL = re.compile(r"(?i)^\s*[a-z][a-z0-9+.-]*:")  # http:, file:, data:, C: is not a concern here
_EDITOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


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


def escaped(text: str) -> str:
    """``text`` with what a response cannot carry as text written as escapes: a lone UTF-16
    surrogate as ``\\ud800``, a NUL and the other C0 controls as ``\\x00``."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def not_text(value: Any, limit: int = 100_000) -> str | None:
    """What in ``value`` (a string, or the lists and objects of a JSON body, keys included)
    is not text that this server passes on: "a lone UTF-16 surrogate" (it cannot be
    encoded as UTF-8, so no answer could quote it) or "a NUL character" (C strings and
    paths end there); None if there is neither. Walks at most ``limit`` items."""
    stack, seen = [value], 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "a lone UTF-16 surrogate"
            if "\0" in item:
                return "a NUL character"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def shown(value: Any) -> str:
    """A value as a sentence quotes it: at most 40 characters, escapes for what cannot be
    encoded (:func:`escaped`)."""
    if isinstance(value, str):
        return quoted(escaped(value))
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return json.dumps(value)  # NaN, Infinity and -Infinity as JSON writes them
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= 40 else f"a {len(text)}-digit number"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return quoted(escaped(text))


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

    bad = not_text(value)
    if bad:
        return f"{label} may not hold {bad}; got {shown(value)}.", value
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
