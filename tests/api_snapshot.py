"""The published HTTP API, as `/gradio_api/info` describes it, in a form that can be
compared with the snapshot checked in next to this file (`api_snapshot.json`).

Kept: every named endpoint, each parameter's name, label, component, JSON type, Python
type and default, and each return value's label, component and Python type. Left out:
what changes from run to run or says nothing about the contract (the example photo's
server path, example inputs, code snippets, descriptions, which are prose).

    python -m tests.api_snapshot          # print the differences from the snapshot
    python -m tests.api_snapshot --write  # record the current API (a deliberate change)
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("api_snapshot.json")


def _default(value: Any) -> Any:
    """A parameter's default, without the server path of an example file."""
    if isinstance(value, dict) and value.get("meta", {}).get("_type") == "gradio.FileData":
        return {"file": value.get("orig_name")}
    return value


def published(info: dict) -> dict:
    """The contract part of a `/gradio_api/info` answer."""
    named = {}
    for name, endpoint in sorted(info["named_endpoints"].items()):
        named[name] = {
            "parameters": [
                {
                    "name": p["parameter_name"],
                    "label": p["label"],
                    "component": p["component"],
                    "type": p["type"],
                    "python_type": p["python_type"]["type"],
                    "has_default": p["parameter_has_default"],
                    "default": _default(p["parameter_default"]),
                }
                for p in endpoint["parameters"]
            ],
            "returns": [
                {
                    "label": r["label"],
                    "component": r["component"],
                    "python_type": r["python_type"]["type"],
                }
                for r in endpoint["returns"]
            ],
        }
    return {"named_endpoints": named, "unnamed_endpoints": sorted(info["unnamed_endpoints"])}


def live(url: str) -> dict:
    with urllib.request.urlopen(url.rstrip("/") + "/gradio_api/info", timeout=30) as response:
        return published(json.load(response))


def recorded() -> dict:
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def dumps(api: dict) -> str:
    """The snapshot's text: one line per parameter and per return value, so that a
    change of the API shows as a change of the lines it touches."""

    def line(value) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    parts = ['{\n "named_endpoints": {']
    named = api["named_endpoints"]
    for i, (name, endpoint) in enumerate(named.items()):
        parts.append(f"  {line(name)}: {{")
        for key in ("parameters", "returns"):
            items = endpoint[key]
            parts.append(f'   "{key}": [')
            parts += [
                f"    {line(item)}{',' if j < len(items) - 1 else ''}"
                for j, item in enumerate(items)
            ]
            parts.append("   ]" + ("," if key == "parameters" else ""))
        parts.append("  }" + ("," if i < len(named) - 1 else ""))
    parts.append(" },")
    parts.append(f' "unnamed_endpoints": {line(api["unnamed_endpoints"])}')
    parts.append("}")
    return "\n".join(parts) + "\n"


def differences(expected: dict, actual: dict) -> list[str]:
    """What differs between two published APIs, one line each (empty: nothing)."""
    lines = []
    before, after = expected["named_endpoints"], actual["named_endpoints"]
    for name in sorted(set(before) - set(after)):
        lines.append(f"{name}: endpoint removed")
    for name in sorted(set(after) - set(before)):
        lines.append(
            f"{name}: endpoint added (record it with python -m tests.api_snapshot --write)"
        )
    for name in sorted(set(before) & set(after)):
        old, new = before[name], after[name]
        old_names = [p["name"] for p in old["parameters"]]
        new_names = [p["name"] for p in new["parameters"]]
        if old_names != new_names:
            lines.append(f"{name}: parameters {old_names} became {new_names}")
        for p, q in zip(old["parameters"], new["parameters"]):
            for key in p:
                if p[key] != q.get(key):
                    shown = lambda v: json.dumps(v, ensure_ascii=False)[:160]  # noqa: E731
                    lines.append(
                        f"{name} {p['name']}.{key}: {shown(p[key])} became {shown(q.get(key))}"
                    )
        if old["returns"] != new["returns"]:
            lines.append(f"{name}: returns {old['returns']} became {new['returns']}")
    if expected["unnamed_endpoints"] != actual["unnamed_endpoints"]:
        lines.append(
            f"unnamed endpoints {expected['unnamed_endpoints']} became {actual['unnamed_endpoints']}"
        )
    return lines


def _serve_and_read() -> dict:
    """The API of `app.demo`, served for a moment on loopback (random weights)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cnnvis.ui.settings import Settings
    from tests.serve import served

    with served(Settings(weights="random")) as (_, url):
        return live(url)


if __name__ == "__main__":
    current = _serve_and_read()
    if "--write" in sys.argv:
        SNAPSHOT.write_text(dumps(current), encoding="utf-8")
        print(f"wrote {SNAPSHOT}")
    else:
        print("\n".join(differences(recorded(), current)) or "the live API matches the snapshot")
