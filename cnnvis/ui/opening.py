"""A page that opens on results (issue 24): each tab shows its result for the photo as soon
as it opens, rather than an empty panel until its button is pressed.

A tab registers an :class:`Opener` (what its Run button computes, from the same inputs to
the same outputs). Then:

- **quick** techniques are computed when their tab opens (its ``select`` event, in the
  quick lane), and again when the photo, the model or the class changes while it is open;
- **long** techniques (Deep Dream, SmoothGrad, the checks...) are never started by opening
  a tab: it shows a result computed before for the same model, photo and settings, from
  :data:`RESULTS`, which every run fills (a Run button's too) and which
  :func:`start_precomputing` fills in the background, after the warm-up, for the example
  photo the page opens on, at the page's defaults;
- the tabs that are not open are emptied when the photo or the model changes, so no tab
  ever shows the previous photo's result beside the current photo (opened again, a tab
  recomputes, or finds its result in the cache at once).

:data:`RESULTS` is a bounded in-memory LRU keyed by the opener, the model, the photo's
bytes (SHA-256: the same example in two sessions is one entry) and every other input; its
values are the outputs as Gradio takes them, which name PNG files in Gradio's cache, so an
entry whose files the cache has deleted since (``delete_cache``) counts as a miss.
Opening never shows an error: a tab that cannot compute (no photo, a model whose weights
are missing) stays empty, and its Run button says why in one sentence.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..errors import CnnvisError

log = logging.getLogger("cnnvis.app")

Outputs = dict[str, Any]  # output name -> value


@dataclass
class Opener:
    """What a tab shows when it opens: ``run(**values)`` (the tab's Run handler) from
    ``inputs`` (name -> component) to ``outputs`` (name -> component), in ``lane``.
    ``pick`` (for a tab of several methods) turns the tab's values into the chosen
    method's: (its cache name, its handler, its values, its lane)."""

    key: str
    tab: gr.Tab
    run: Callable[..., Any]
    lane: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str | None = None  # the key of the tab it sits in (Compare's checks)
    pick: Callable[[dict[str, Any]], tuple[str, Callable, dict[str, Any], str]] | None = None
    # more triggers that show the tab's result again (a method picked in the tab)
    also: list[Callable] = field(default_factory=list)

    def chosen(self, values: Mapping[str, Any]) -> tuple[str, Callable, dict[str, Any], str]:
        if self.pick is not None:
            return self.pick(dict(values))
        return self.key, self.run, dict(values), self.lane

    def outputs_of(self, produced: Any) -> Outputs:
        """A handler's result by output name: a generator's last item, a single output's
        value under its name."""
        if inspect.isgenerator(produced):
            last = None
            for last in produced:
                pass
            produced = last
        if len(self.outputs) == 1 and not (
            isinstance(produced, dict) and set(produced) == set(self.outputs)
        ):
            return {next(iter(self.outputs)): produced}
        return dict(produced)


def call(handler: Callable, values: Mapping[str, Any], progress: Any = None) -> Any:
    """``handler(**values)``, with ``progress`` where it takes one."""
    arguments = dict(values)
    if progress is not None and "progress" in inspect.signature(handler).parameters:
        arguments["progress"] = progress
    return handler(**arguments)


# ----- the cache of results -------------------------------------------------------------


def photo_digest(path: Any) -> str | None:
    """The SHA-256 of a photo file's bytes (None without a photo or for an unreadable one)."""
    if not path:
        return None
    try:
        with open(path, "rb") as photo:
            return hashlib.file_digest(photo, "sha256").hexdigest()
    except OSError:
        return None


def _plain(value: Any) -> Any:
    """``value`` in a form that compares as the page sends it: 3.0 as 3, tuples as lists."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def result_key(opener_key: str, values: Mapping[str, Any], photo: str | None = "image") -> str:
    """The cache key of an opener's result: its key and every input, the photo (the input
    named ``photo``) by the digest of its bytes."""
    shown = {name: _plain(value) for name, value in values.items() if name != photo}
    if photo in values:
        shown[photo] = photo_digest(values[photo])
    return json.dumps([opener_key, shown], sort_keys=True)


def _files_exist(value: Any) -> bool:
    """Whether every absolute file path named in an output value still exists."""
    if isinstance(value, str):
        return not os.path.isabs(value) or os.path.exists(value)
    if isinstance(value, (list, tuple)):
        return all(_files_exist(v) for v in value)
    if isinstance(value, Mapping):
        return all(_files_exist(v) for v in value.values())
    return True


class ResultCache:
    """A bounded, thread-safe LRU of tabs' results (their outputs by name)."""

    def __init__(self, capacity: int = 96) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Outputs] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Outputs | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if not _files_exist(found):  # the cache's files were deleted since
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found

    def put(self, key: str, outputs: Outputs) -> None:
        with self._lock:
            self._entries[key] = outputs
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


RESULTS = ResultCache()


def remembering(opener_key: str, handler: Callable, names: Sequence[str]) -> Callable:
    """``handler`` (a Run button's, called with its inputs by name) whose finished results
    are also kept in :data:`RESULTS` for its tab's opening. A generator's last item is kept
    only when it ran to its end unstopped (a stopped run's caption says "stopped")."""
    if inspect.isgeneratorfunction(handler):

        @_wraps(handler)
        def stream(*args, **kwargs):
            last = None
            for last in handler(*args, **kwargs):
                yield last
            if last is not None and "stopped at" not in json.dumps(_plain(last)):
                _keep(opener_key, names, args, kwargs, last)

        return stream

    @_wraps(handler)
    def call(*args, **kwargs):
        result = handler(*args, **kwargs)
        _keep(opener_key, names, args, kwargs, result)
        return result

    return call


def _wraps(handler: Callable) -> Callable:
    return functools.wraps(handler)


def _keep(opener_key: str, names: Sequence[str], args, kwargs, result) -> None:
    values = dict(zip(names, args)) | {k: v for k, v in kwargs.items() if k in names}
    kept = result if isinstance(result, dict) else {"_": result}
    RESULTS.put(result_key(opener_key, values), kept)


# ----- opening a tab --------------------------------------------------------------------


def cleared(opener: Opener) -> Outputs:
    """The opener's outputs as they are before any run (an empty gallery, the tables'
    words of what will appear)."""
    return {name: getattr(component, "value", None) for name, component in opener.outputs.items()}


def open_result(opener: Opener, values: Mapping[str, Any], progress: Any = None) -> Outputs:
    """What ``opener``'s tab shows on opening with ``values``: the cached result, else (for
    a quick technique) the result computed now and cached, else its empty outputs."""
    if "image" in opener.inputs and not values.get("image"):
        return cleared(opener)
    try:
        name, handler, chosen_values, lane = opener.chosen(values)
    except (CnnvisError, gr.Error):
        return cleared(opener)
    key = result_key(name, chosen_values)
    found = RESULTS.get(key)
    if found is not None:
        return _named(opener, found)
    if lane != "quick":
        return cleared(opener)
    try:
        outputs = opener.outputs_of(call(handler, chosen_values, progress))
    except (CnnvisError, gr.Error) as error:  # the Run button says it, in one sentence
        log.info("%s did not open on a result: %s", opener.key, error)
        return cleared(opener)
    RESULTS.put(key, outputs)
    return outputs


def _named(opener: Opener, found: Outputs) -> Outputs:
    if set(found) == {"_"}:  # kept by a Run button with one output
        return {next(iter(opener.outputs)): found["_"]}
    return found


@dataclass
class Openers:
    """Every tab's opener, and which tab is open (a State: {"tab": key, <group>: key})."""

    openers: list[Opener] = field(default_factory=list)
    groups: dict[str, tuple[gr.Tab, str]] = field(default_factory=dict)  # key -> (tab, first)

    def add(self, opener: Opener) -> None:
        self.openers.append(opener)

    def group(self, key: str, tab: gr.Tab, first: str) -> None:
        """A tab holding tabs (Compare): opening it opens the one chosen inside it."""
        self.groups[key] = (tab, first)

    def open_key(self, opened: Mapping[str, str] | None, first: str) -> str:
        opened = dict(opened or {})
        top = opened.get("tab") or first
        if top in self.groups:
            return opened.get(top) or self.groups[top][1]
        return top


def values_of(opener: Opener, given: Mapping[int, Any]) -> dict[str, Any]:
    """``opener``'s values by name, from values by component id."""
    return {name: given[id(component)] for name, component in opener.inputs.items()}


def component_list(openers: Sequence[Opener], attribute: str) -> list:
    """The distinct components of ``openers``' inputs or outputs, in order."""
    seen: dict[int, Any] = {}
    for opener in openers:
        for component in getattr(opener, attribute).values():
            seen.setdefault(id(component), component)
    return list(seen.values())


def wire(
    demo: gr.Blocks,
    registry: Openers,
    first: str,
    triggers: Sequence[Callable],
    helper: Callable,
) -> gr.State:
    """The events: each tab's ``select`` shows its result; each of ``triggers`` (a change of
    the photo, the model or the class, once the pickers follow it) refreshes the open tab
    and empties the others. ``helper`` is :func:`cnnvis.ui.endpoints.helper`."""
    openers = registry.openers
    opened = gr.State({"tab": first})
    inputs = component_list(openers, "inputs")
    outputs = component_list(openers, "outputs")

    def group_selecting(key: str, members: list[Opener], group_inputs: list) -> Callable:
        def selected(state, *args, progress=gr.Progress()):
            state = {**dict(state or {}), "tab": key}
            showing = state.get(key) or registry.groups[key][1]
            given = {id(component): value for component, value in zip(group_inputs, args)}
            shown: dict = {opened: state}
            for opener in members:
                if opener.key == showing:
                    result = open_result(opener, values_of(opener, given), progress)
                    shown |= {opener.outputs[n]: v for n, v in result.items()}
            return shown

        selected.__cnnvis_lane__ = "quick"  # type: ignore[attr-defined]
        return selected

    def refresh(state, *args, progress=gr.Progress()):
        given = {id(component): value for component, value in zip(inputs, args)}
        showing = registry.open_key(state, first)
        shown: dict = {}
        for opener in openers:
            if opener.key == showing:
                result = open_result(opener, values_of(opener, given), progress)
            else:
                result = cleared(opener)
            shown |= {opener.outputs[name]: value for name, value in result.items()}
        return shown

    # In the quick lane's queue (concurrency_id "quick"); each computation then takes its
    # own lane inside (cnnvis.ui.work.compute), and a long tab only looks in the cache.
    refresh.__cnnvis_lane__ = "quick"  # type: ignore[attr-defined] - see lanes.lane_of
    for number, trigger in enumerate(triggers):
        helper(
            trigger, refresh, [opened, *inputs], outputs,
            name=f"tab_refreshed_{number}", concurrency_id="quick", show_progress="minimal",
        )

    def selecting(opener: Opener) -> Callable:
        tab_inputs = list(opener.inputs.values())

        def selected(state, *args, progress=gr.Progress()):
            state = dict(state or {})
            if opener.parent:
                state[opener.parent] = opener.key
                state["tab"] = opener.parent
            else:
                state["tab"] = opener.key
            values = dict(zip(opener.inputs, args))
            result = open_result(opener, values, progress)
            return {opened: state, **{opener.outputs[n]: v for n, v in result.items()}}

        selected.__cnnvis_lane__ = "quick"  # type: ignore[attr-defined]
        return selected, tab_inputs

    for opener in openers:
        fn, tab_inputs = selecting(opener)
        triggers_of = {f"{opener.key}_opened": opener.tab.select}
        triggers_of |= {f"{opener.key}_reopened_{i}": t for i, t in enumerate(opener.also)}
        for name, trigger in triggers_of.items():
            helper(
                trigger, fn, [opened, *tab_inputs], [opened, *opener.outputs.values()],
                name=name, concurrency_id="quick", show_progress="minimal",
            )
    for key, (tab, _) in registry.groups.items():
        members = [o for o in openers if o.parent == key]
        group_inputs = component_list(members, "inputs")
        helper(
            tab.select, group_selecting(key, members, group_inputs), [opened, *group_inputs],
            [opened, *component_list(members, "outputs")],
            name=f"{key}_opened", concurrency_id="quick", show_progress="minimal",
        )
    return opened


# ----- precomputing the long tabs' results ------------------------------------------------


def precompute(
    registry: Openers, values_for: Callable[[Opener], dict[str, Any]], wanted: Callable[[str], bool]
) -> int:
    """Compute and keep the result each long tab (``wanted`` by its key) opens on, with
    ``values_for(opener)`` (the page's defaults), one after another in their lanes; the
    quick tabs compute theirs when opened. Returns how many were computed. A failure is
    logged and skipped (its Run button will say it)."""
    computed = 0
    for opener in registry.openers:
        if not wanted(opener.key):
            continue
        try:
            name, handler, values, lane = opener.chosen(values_for(opener))
            key = result_key(name, values)
            if lane == "quick" or RESULTS.get(key) is not None:
                continue
            RESULTS.put(key, opener.outputs_of(call(handler, values)))
            computed += 1
            log.info("The %s tab's opening result is ready", opener.key)
        except Exception as error:  # noqa: BLE001 - logged; the page still serves
            log.info("The %s tab opens without a result: %s", opener.key, error)
    return computed


def precompute_wanted(setting: str) -> Callable[[str], bool]:
    """Which tabs to precompute, from a setting: "all", "none", or tab keys separated by
    commas ("attributions,deep_dream")."""
    text = (setting or "").strip().lower()
    if text in ("", "all"):
        return lambda key: True
    if text == "none":
        return lambda key: False
    keys = {part.strip() for part in text.split(",") if part.strip()}
    return lambda key: key in keys
