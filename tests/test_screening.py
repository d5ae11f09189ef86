"""Only files this server received, and only values their components take, on every route
that runs an event (cnnvis.serving.screening).

Every route x every file-object shape x every event with a file input, then bad values
for every parameter of every event: the events, their inputs, labels, bounds and choices
are read from the live app (its page configuration, which lists the private events too,
and /gradio_api/info), not from a hand-made list. Nothing of a refused file is opened:
``open`` and ``cnnvis.load_image`` are instrumented in the server's process, one canary
is a FIFO (whoever opens it blocks until a writer comes, so a reader would still be there
at the end), and a link points at a listener that records every request.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import stat
from pathlib import Path

import httpx
import pytest
from gradio.utils import get_upload_folder

import app
from cnnvis import ui
import cnnvis.ui.settings  # noqa: F401
import cnnvis

from .app_helpers import CAT, is_one_sentence
from .conftest import ROOT
from .serve import Listener, served

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

MARKER = {"_type": "gradio.FileData"}
FILE_TYPES = ("image", "imageeditor", "file")
ROUTES = ("queue/join", "call", "call/v2", "run", "api", "run/predict")


@pytest.fixture(scope="module")
def server():
    with served(ui.Settings(weights="random")) as (client, url):
        yield client, url


@pytest.fixture(scope="module")
def live(server):
    """The app as a caller sees it: every event of the page configuration with its input
    components (type, label, properties), and the API's parameter names."""
    _, url = server
    config = httpx.get(f"{url}config", timeout=30).json()
    info = httpx.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"]
    components = {component["id"]: component for component in config["components"]}
    events = []
    for dependency in config["dependencies"]:
        if not dependency["backend_fn"] or dependency["types"]["cancel"]:
            continue
        inputs = [components[i] for i in dependency["inputs"]]
        parameters = info.get(f"/{dependency['api_name']}", {}).get("parameters")
        names = [p["parameter_name"] for p in parameters] if parameters else [None] * len(inputs)
        events.append({**dependency, "components": inputs, "names": names})
    return events


class Reads:
    """Records every path the server's process opens (builtins.open, io.open, os.open)
    and every photo given to cnnvis.load_image."""

    def __init__(self, monkeypatch, watched: list[Path]) -> None:
        self.watched = {os.path.realpath(path) for path in watched}
        self.opened: list[str] = []
        real_open, real_os_open, real_load = builtins.open, os.open, cnnvis.load_image

        def note(path) -> None:
            if isinstance(path, (str, bytes, os.PathLike)) and not isinstance(path, int):
                with_real = os.path.realpath(os.fsdecode(path))
                if with_real in self.watched:
                    self.opened.append(with_real)

        def recording_open(file, *args, **kwargs):
            note(file)
            return real_open(file, *args, **kwargs)

        def recording_os_open(path, *args, **kwargs):
            note(path)
            return real_os_open(path, *args, **kwargs)

        def recording_load(source, *args, **kwargs):
            note(source)
            return real_load(source, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", recording_open)
        monkeypatch.setattr(io, "open", recording_open)
        monkeypatch.setattr(os, "open", recording_os_open)
        monkeypatch.setattr(cnnvis, "load_image", recording_load)


@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    """Files outside the upload folder that a read would reveal, and ways to point at them
    from inside it."""
    folder = tmp_path_factory.mktemp("canaries")
    secret = folder / "secret.jpg"
    shutil.copy(CAT, secret)
    fifo = folder / "pipe.jpg"
    os.mkfifo(fifo)
    inside = Path(get_upload_folder()) / "screening-test"
    inside.mkdir(parents=True, exist_ok=True)
    link = inside / "link.jpg"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(secret)
    dotdot = os.path.join(get_upload_folder(), os.path.relpath(secret, get_upload_folder()))
    assert ".." in dotdot and os.path.realpath(dotdot) == str(secret.resolve())
    yield {"secret": secret, "fifo": fifo, "link": link, "dotdot": dotdot}
    shutil.rmtree(inside, ignore_errors=True)


def shapes(canaries: dict, link_url: str) -> dict[str, object]:
    """Every way to name a file that this server did not receive."""
    secret, fifo = str(canaries["secret"]), str(canaries["fifo"])
    return {
        "no meta": {"path": secret},
        "forged meta": {"path": secret, "meta": MARKER, "orig_name": "cat.jpg"},
        "a url field": {"path": None, "url": link_url, "meta": MARKER, "orig_name": "cat.jpg"},
        "a url as the path": {"path": link_url, "meta": MARKER},
        "a file: url": {"path": f"file://{secret}", "meta": MARKER},
        "a data: url": {"path": None, "url": "data:image/png;base64,iVBORw0KGgo=", "meta": MARKER},
        "an absolute server path": {"path": "/etc/passwd", "meta": MARKER},
        "a relative path": {"path": "app.py"},
        "a symlink in the upload folder": {"path": str(canaries["link"]), "meta": MARKER},
        "../ out of the upload folder": {"path": canaries["dotdot"], "meta": MARKER},
        "a fifo": {"path": fifo},
        "the upload folder": {"path": get_upload_folder(), "meta": MARKER},
        "a stream": {"path": secret, "is_stream": True, "meta": MARKER},
        "a path that is a list": {"path": [secret], "meta": MARKER},
        "a number": 5,
        "a list of files": [{"path": secret, "meta": MARKER}],
        "a bare path": secret,
    }


def editor_value(shape) -> object:
    """A drawing whose pictures are ``shape`` (or ``shape`` itself where it is no file)."""
    if isinstance(shape, dict):
        return {"background": shape, "layers": [shape], "composite": shape}
    return shape


def defaults(event: dict) -> list:
    return [component["props"].get("value") for component in event["components"]]


def request(route: str, event: dict, data: list) -> tuple[str, dict]:
    """The path and JSON body that run ``event`` with ``data`` through ``route``."""
    name = event["api_name"]
    if route == "queue/join":
        return "queue/join", {"data": data, "fn_index": event["id"], "session_hash": "screening"}
    if route == "run/predict":
        return "run/predict", {"data": data, "fn_index": event["id"]}
    if route == "call/v2":
        names = event["names"]
        return f"call/v2/{name}", {n: v for n, v, d in zip(names, data, defaults(event)) if n and v is not d}
    return f"{route}/{name}", {"data": data}


def refusal(http: httpx.Client, url: str, path: str, body: dict) -> tuple[int, dict]:
    answer = http.post(f"{url}gradio_api/{path}", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status_code in (404, 413, 422), (path, answer.status_code, answer.text[:300])
    payload = answer.json()
    assert is_one_sentence(payload["error"]), (path, payload)
    return answer.status_code, payload


def test_no_route_reads_a_file_that_this_server_did_not_receive(server, live, canaries, monkeypatch):
    _, url = server
    events = [e for e in live if any(c["type"] in FILE_TYPES for c in e["components"])]
    names = {e["api_name"] for e in events}
    assert {"classify", "grad_cam", "score_cam", "deep_dream", "compare", "pointing_game"} <= names
    assert {"photo_drawing", "page_drawing", "photo_predictions", "box_drawn"} <= names
    reads = Reads(monkeypatch, [canaries["secret"], canaries["fifo"], "/etc/passwd", ROOT / "app.py"])
    checked = 0
    with Listener(CAT.read_bytes()) as listener, httpx.Client(timeout=30) as http:
        for shape_name, shape in shapes(canaries, f"{listener.url}/cat.jpg").items():
            for event in events:
                for index, component in enumerate(event["components"]):
                    if component["type"] not in FILE_TYPES:
                        continue
                    data = defaults(event)
                    data[index] = editor_value(shape) if component["type"] == "imageeditor" else shape
                    for route in ROUTES:
                        status, payload = refusal(http, url, *request(route, event, data))
                        if status == 422 and payload["detail"][0]["parameter_name"] != "request":
                            entry = payload["detail"][index]
                            assert not entry["is_valid"], (route, event["api_name"], shape_name, payload)
                            assert component["props"]["label"] in entry["message"], entry
                            assert str(canaries["secret"].parent) not in entry["message"]
                        checked += 1
        assert listener.requests == []  # no link was followed
        assert reads.opened == []
        # The instruments do see the server's reads: a file it received is read when used.
        [upload] = http.post(f"{url}gradio_api/upload", files={"files": ("cat.jpg", CAT.read_bytes())}).json()
        reads.watched.add(os.path.realpath(upload))
        answer = http.post(f"{url}gradio_api/call/classify", json={"data": [{"path": upload}, "MobileNetV2"]})
        assert "event: complete" in http.get(f"{url}gradio_api/call/classify/{answer.json()['event_id']}").text
        assert os.path.realpath(upload) in reads.opened
    with pytest.raises(OSError):  # nobody ever opened the FIFO to read it (they would still wait)
        os.close(os.open(canaries["fifo"], os.O_WRONLY | os.O_NONBLOCK))
    assert checked >= 17 * 20 * len(ROUTES)  # 17 file shapes x (24 events with a file input)


def test_files_this_server_received_and_the_example_photos_are_served(server, live):
    client, url = server
    with httpx.Client(timeout=60) as http:
        [upload] = http.post(f"{url}gradio_api/upload", files={"files": ("cat.jpg", CAT.read_bytes())}).json()
        example = str(ui.settings.EXAMPLES_DIR / "cat.jpg")
        for path in (upload, example):
            for body in ({"data": [{"path": path, "meta": MARKER}, "MobileNetV2"]}, {"data": [{"path": path}, "MobileNetV2"]}):
                answer = http.post(f"{url}gradio_api/call/classify", json=body)
                assert answer.status_code == 200, answer.text
                stream = http.get(f"{url}gradio_api/call/classify/{answer.json()['event_id']}").text
                assert "event: complete" in stream and "confidences" in stream, stream[-500:]
        answer = http.post(f"{url}gradio_api/call/v2/classify", json={"image": {"path": upload, "meta": MARKER}})
        assert answer.status_code == 200, answer.text
        # Events that do not queue still run through /run (the page's own method pickers).
        [changed] = [e for e in live if e["api_name"] == "grad_cam_method_changed"]
        answer = http.post(f"{url}gradio_api/run/predict", json={"data": ["layer_cam"], "fn_index": changed["id"]})
        layer_cam = cnnvis.TECHNIQUES["layer_cam"].summary[:40]
        assert answer.status_code == 200 and layer_cam in answer.text, answer.text[:300]


# ----- every parameter of every event ----------------------------------------------------

LONG = "x" * 5000


def bad_values(component: dict) -> list:
    """Values that a component of this type and these properties must never get."""
    props, kind = component["props"], component["type"]
    if kind in ("slider", "number"):
        low, high = props.get("minimum"), props.get("maximum")
        values = ["abc", True, [1], {"a": 1}, float("nan"), float("inf")]
        values += [low - 1] if low is not None else []
        values += [high + 1] if high is not None else []
        return values + ([None] if kind == "slider" else [])
    if kind == "checkbox":
        return ["yes", 1, None]
    if kind == "radio":
        return ["not-a-choice", 3, None, ["a"]]
    if kind == "checkboxgroup":
        return [5, {"a": 1}, ["not-a-method"], [None], [LONG], ["grad_cam"] * 100]
    if kind == "dropdown" and props.get("multiselect"):
        return [5, {"a": 1}, [None], [LONG], [["a"]], ["a"] * 100]
    if kind == "dropdown" and props.get("allow_custom_value"):
        return [LONG, ["a"], {"a": 1}, True]
    if kind == "dropdown":
        return ["not-a-choice", ["a"], {"a": 1}]
    if kind == "textbox":
        return [LONG, ["a"], {"a": 1}, True]
    if kind == "dataset":
        return [-1, 10**6, "abc", 1.5]
    if kind == "state":  # never read from a request: Gradio takes a State's value from the
        return []  # session (Blocks.preprocess_data), whatever the request carries
    raise AssertionError(f"no bad values for a {kind}: add them (and a screening rule) here")


def test_every_parameter_of_every_event_refuses_what_it_must_not_get(server, live):
    _, url = server
    kinds, checked = set(), 0
    with httpx.Client(timeout=30) as http:
        for event in live:
            for index, component in enumerate(event["components"]):
                if component["type"] in FILE_TYPES:
                    continue  # the test above
                kinds.add(component["type"])
                for value in bad_values(component):
                    data = defaults(event)
                    data[index] = value
                    routes = ["queue/join"] + (["call"] if event["api_visibility"] == "public" else [])
                    for route in routes:
                        status, payload = refusal(http, url, *request(route, event, data))
                        assert status == 422, payload
                        entry = payload["detail"][index]
                        message = entry["message"]
                        assert not entry["is_valid"] and message == payload["error"], (event["api_name"], value, payload)
                        label = component["props"].get("label") or event["names"][index]
                        assert label in message and is_one_sentence(message), message
                        assert "x" * 41 not in message and len(message) <= 300, message
                        checked += 1
    assert kinds >= {"slider", "number", "radio", "dropdown", "checkboxgroup", "textbox", "dataset"}
    assert checked >= 1000


def test_values_inside_the_bounds_reach_the_handlers(server, live):
    """What the screening passes on, the handlers explain in their own sentences (a layer
    given as a number is looked up as a name; a long channel number is quoted briefly)."""
    client, url = server
    [upload] = httpx.post(f"{url}gradio_api/upload", files={"files": ("cat.jpg", CAT.read_bytes())}).json()
    photo = {"path": upload, "meta": MARKER}
    cases = [
        ("feature_maps", [photo, "MobileNetV2", 5, 4, "first", "viridis"], "no layer called '5'"),
        ("feature_visualization", ["MobileNetV2", "channels", "", 4, "9" * 900, [], 4, 32, 0], "No layer has a channel '999"),
        ("compare", [photo, "MobileNetV2", "top class", "grad_cam", 4], None),
    ]
    with httpx.Client(timeout=120) as http:
        for api_name, data, words in cases:
            answer = http.post(f"{url}gradio_api/call/{api_name}", json={"data": data})
            assert answer.status_code == 200, answer.text
            stream = http.get(f"{url}gradio_api/call/{api_name}/{answer.json()['event_id']}").text
            if words is None:
                assert "event: complete" in stream, stream[-300:]
                continue
            message = json.loads(stream.split("event: error", 1)[1].split("data:", 1)[1].strip())["error"]
            assert words in message and is_one_sentence(message) and len(message) < 200, message


def test_a_request_that_is_not_an_event_is_refused_in_one_sentence(server):
    _, url = server
    with httpx.Client(timeout=30) as http:
        for path, body in [
            ("call/classify", "not json"),
            ("call/classify", "[1, 2]"),
            ("call/classify", json.dumps({"data": "a photo"})),
            ("call/classify", json.dumps({"data": [None]})),
            ("call/no_such_endpoint", json.dumps({"data": []})),
            ("queue/join", json.dumps({"data": [], "fn_index": 10**6, "session_hash": "x"})),
            ("call/v2/classify", json.dumps({"imagee": None})),
            ("call/v2/photo_drawing", json.dumps({"image": None})),
            ("call/compare", json.dumps({"data": [None, "MobileNetV2", "", ["m" * 2_000_000], 4]})),
        ]:
            answer = http.post(f"{url}gradio_api/{path}", content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code in (404, 413, 422), (path, answer.status_code, answer.text[:200])
            message = answer.json()["error"]
            assert is_one_sentence(message) and len(message) <= 300, message


def test_the_screening_never_holds_a_file_open_or_lets_a_fifo_block(server, canaries):
    """Refusing a FIFO only looks up its type; the server answers at once."""
    _, url = server
    mode = os.stat(canaries["fifo"]).st_mode
    assert stat.S_ISFIFO(mode)
    answer = httpx.post(f"{url}gradio_api/call/classify", json={"data": [{"path": str(canaries["fifo"])}, "MobileNetV2"]}, timeout=10)
    assert answer.status_code == 422 and "did not receive" in answer.json()["error"]
