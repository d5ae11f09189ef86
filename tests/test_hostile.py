"""Hostile and malformed input through the app's HTTP API on loopback.

The corpus is generated here, not committed: empty, text and HTML files named .jpg, cut
JPEG and PNG files, a 50000 x 50000 PNG in a few bytes, images too small or too thin, the
colour modes a photo may come in, an animated GIF, an SVG that points at a listener of
ours, a rotated JPEG and a file over the size limit; then bad parameters of every kind,
and Gradio's own protections (the file route, URL inputs, the size limit, the cache).
Each gets a correct result or one sentence, and the next valid request works.
"""

from __future__ import annotations

import http.client
import json
import struct
import time
import urllib.parse
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError, ValidationError
from PIL import Image, ImageOps

import app
from cnnvis.ui import LAUNCH_KWARGS
from cnnvis.serving import file_bounds
from cnnvis.ui.settings import Settings

from .app_helpers import (
    CAT,
    bomb_png,
    is_one_sentence,
    refusal_message,
    rotated_jpeg,
    truncated_jpeg,
)
from .serve import Listener, served

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

MODEL = "MobileNetV2"
APP_DELETE_CACHE = app.demo.delete_cache  # as the app sets it (test_cache_cleaning cleans faster)


@pytest.fixture(scope="module")
def server():
    with served(Settings(weights="random")) as (client, url):
        yield client, url


@pytest.fixture(scope="module")
def client(server):
    return server[0]


def works(client) -> None:
    """A valid request right after: the server is up and serves."""
    assert len(client.predict(handle_file(str(CAT)), MODEL, api_name="/classify")["confidences"]) == 5


def refused(client, *args, api_name: str) -> str:
    """The sentence of a refusal: the handler's (AppError) or the input screening's
    (ValidationError, see cnnvis.serving.screening)."""
    with pytest.raises((AppError, ValidationError)) as caught:
        client.predict(*args, api_name=api_name)
    message = refusal_message(caught.value)
    assert is_one_sentence(message), message
    assert str(Path.cwd()) not in message and "/tmp" not in message, message
    works(client)
    return message


def started_from(client, path: Path) -> np.ndarray:
    """The photo as the server decoded it: Deep Dream (one octave, one step) returns the
    photo it started from, losslessly, next to the dream."""
    dream, photo = client.predict(
        handle_file(str(path)), MODEL, [], 1, 1, 0.001, 0, api_name="/deep_dream"
    )
    assert "Deep Dream" in dream["caption"] and photo["caption"] == "The photo it started from"
    return np.asarray(Image.open(photo["image"]).convert("RGB"))


# ----- the corpus ------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def save(folder: Path, name: str, picture: Image.Image, **options) -> Path:
    path = folder / name
    picture.save(path, **options)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


REFUSED_FILES = {
    "empty file": (lambda f: write(f, "empty.jpg", b""), "empty"),
    "text named .jpg": (
        lambda f: write(f, "notes.jpg", b"Dear diary,\nnot a photo.\n" * 20),
        "not an image",
    ),
    "HTML named .jpg": (
        lambda f: write(f, "page.jpg", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        "not an image",
    ),
    "truncated JPEG": (truncated_jpeg, "damaged or incomplete"),
    "truncated PNG": (
        lambda f: write(f, "cut.png", _png_bytes(Image.fromarray(noise(256, 256)))[:20_000]),
        "damaged or incomplete",
    ),
    "50000 x 50000 PNG": (lambda f: bomb_png(f, 50_000, 50_000), "2,500 megapixels"),
    "1 x 1 image": (lambda f: save(f, "dot.png", Image.new("RGB", (1, 1), "red")), "at least 16"),
    "3 x 3000 image": (lambda f: save(f, "line.png", Image.fromarray(noise(3000, 3))), "at least 16"),
    "GIF whose first frame is cut": (
        lambda f: write(f, "cut.gif", _gif_bytes()[:2_000]),
        "damaged or incomplete",
    ),
}


def _png_bytes(picture: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _gif_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    frames = [Image.fromarray(noise(64, 64, seed)) for seed in range(3)]
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


@pytest.mark.parametrize("case", list(REFUSED_FILES))
def test_broken_files_are_refused_in_one_sentence(client, corpus, case):
    make, words = REFUSED_FILES[case]
    message = refused(client, handle_file(str(make(corpus))), MODEL, api_name="/classify")
    assert words in message, message


def _modes(folder: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """Valid but unusual images, and the RGB pixels each must decode to."""
    cases = {}
    # 16-bit grey: 0..65535 maps to 0..255 by dividing by 257.
    grey16 = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))
    path = save(folder, "grey16.png", Image.fromarray(grey16))
    assert Image.open(path).mode in ("I;16", "I")
    cases["16-bit grey"] = path, np.repeat(np.rint(grey16 / 257.0).astype(np.uint8)[..., None], 3, 2)
    # CMYK JPEG: Pillow's own conversion is the reference.
    cmyk = Image.fromarray(noise(48, 64)).convert("CMYK")
    path = save(folder, "cmyk.jpg", cmyk, quality=95)
    cases["CMYK JPEG"] = path, np.asarray(Image.open(path).convert("RGB"))
    # Palette with a transparent index: transparent pixels become white.
    palette = Image.new("P", (64, 48), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (32, 0, 64, 48))
    path = save(folder, "palette.png", palette, transparency=0)
    expected = np.full((48, 64, 3), 255, np.uint8)
    expected[:, 32:] = (255, 0, 0)
    cases["palette with transparency"] = path, expected
    # Grey with alpha (LA): opaque grey on the left, transparent on the right.
    la = np.zeros((48, 64, 2), np.uint8)
    la[..., 0] = 100
    la[:, :32, 1] = 255
    path = save(folder, "la.png", Image.fromarray(la, "LA"))
    expected = np.full((48, 64, 3), 255, np.uint8)
    expected[:, :32] = 100
    cases["grey with alpha (LA)"] = path, expected
    # RGBA at half opacity: blended over white.
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 2] = 255
    rgba[..., 3] = 128
    path = save(folder, "rgba.png", Image.fromarray(rgba, "RGBA"))
    half = np.rint(255 * (1 - 128 / 255)).astype(np.uint8)
    cases["RGBA"] = path, np.broadcast_to(np.array([half, half, 255], np.uint8), (48, 64, 3))
    # Animated GIF: its first frame (red), not the green one after it.
    frames = [Image.new("RGB", (64, 48), colour) for colour in ("red", "lime")]
    path = folder / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    cases["animated GIF"] = path, np.broadcast_to(np.array([255, 0, 0], np.uint8), (48, 64, 3))
    # A JPEG whose EXIF says "rotate 90": stored 40 wide and 20 high, dark on the left.
    stored = np.full((20, 40, 3), 230, np.uint8)
    stored[:, :20] = 20
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(folder, "rotated.jpg", Image.fromarray(stored), exif=exif, quality=100)
    cases["EXIF rotate 90"] = path, np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    return cases


def test_unusual_but_valid_images_decode_correctly(client, corpus):
    for case, (path, expected) in _modes(corpus).items():
        decoded = started_from(client, path)
        assert decoded.shape == expected.shape, case
        tolerance = 3 if path.suffix == ".jpg" else 0
        difference = np.abs(decoded.astype(int) - expected.astype(int)).max()
        assert difference <= tolerance, (case, difference)


def test_exif_rotation_is_applied(client, corpus):
    decoded = started_from(client, rotated_jpeg(corpus))
    assert decoded.shape[:2] == (40, 20)  # upright: 20 wide, 40 high
    stored = np.full((20, 40, 3), 230, np.uint8)
    stored[:, :20] = 20  # dark on the stored left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": the left comes on top
    decoded = started_from(client, save(corpus, "left.jpg", Image.fromarray(stored), exif=exif, quality=100))
    assert decoded[:18].mean() < 60 and decoded[22:].mean() > 200


def test_a_thin_photo_gives_results_of_its_own_shape(client, corpus):
    path = save(corpus, "thin.png", Image.fromarray(noise(16, 3000)))
    overlay, heatmap = client.predict(
        handle_file(str(path)), MODEL, "", "top class", "jet", 0.5, "grad_cam", api_name="/grad_cam"
    )
    # Shrunk to 1024 px long, but kept 16 px high (the least a photo may have).
    assert Image.open(overlay["image"]).size == Image.open(heatmap["image"]).size == (1024, 16)
    dream, photo = client.predict(handle_file(str(path)), MODEL, [], 1, 2, 0.01, 0, api_name="/deep_dream")
    assert Image.open(photo["image"]).size == (1024, 16)
    assert Image.open(dream["image"]).size == (512, 8)  # dreams are at most 512 px long


def test_a_hostile_svg_is_refused_and_fetches_nothing(client, corpus):
    with Listener() as listener:
        svg = f"""<?xml version="1.0"?>
<?xml-stylesheet href="{listener.url}/style.css"?>
<!DOCTYPE svg [<!ENTITY secret SYSTEM "{listener.url}/entity">]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64">
  <image href="{listener.url}/image.png" xlink:href="{listener.url}/xlink.png" width="64" height="64"/>
  <use href="{listener.url}/use.svg#x"/>
  <text>&secret;</text>
</svg>""".encode()
        for name in ("drawing.svg", "drawing.png"):  # by its name or disguised
            message = refused(client, handle_file(str(write(corpus, name, svg))), MODEL, api_name="/classify")
            assert "SVG" in message or "not an image" in message
        time.sleep(0.5)
        assert listener.requests == []


def test_a_url_instead_of_a_file_is_never_fetched(client, monkeypatch):
    from gradio import processing_utils

    with Listener(CAT.read_bytes()) as listener:
        url = f"{listener.url}/cat.jpg"
        message = refused(client, handle_file(url), MODEL, api_name="/classify")
        assert "link" in message
        # Even from a host Gradio would trust, the app downloads nothing.
        monkeypatch.setattr(processing_utils, "PUBLIC_HOSTNAME_WHITELIST", ["127.0.0.1"])
        refused(client, handle_file(url), MODEL, api_name="/classify")
        assert listener.requests == []


def test_a_file_over_the_size_limit_is_refused(client, corpus):
    big = write(corpus, "big.jpg", CAT.read_bytes() + b"\0" * (10 * 2**20))
    with pytest.raises(Exception, match="(?i)size|large|limit|413") as caught:
        client.predict(handle_file(str(big)), MODEL, api_name="/classify")
    assert "Traceback" not in str(caught.value)
    works(client)


# ----- bad parameters ----------------------------------------------------------------------

LONG = "x" * 10_000
PHOTO = object()  # replaced by the cat photo


BAD_PARAMETERS = {
    "unknown model": (("LeNet", "", 4, "first"), "/filters", "no model called 'LeNet'"),
    "a model that is a path": (("../../etc/passwd", "", 4, "first"), "/filters", "no model called"),
    "a 10000-character model": ((LONG, "", 4, "first"), "/filters", "at most 1000 characters"),
    "a model that is a number": ((123, "", 4, "first"), "/filters", "no model called '123'"),
    "unknown layer": ((PHOTO, MODEL, "block_99", 4, "first", "viridis"), "/feature_maps", "no layer called"),
    "a layer with a newline": ((PHOTO, MODEL, "out_relu\nDROP", 4, "first", "viridis"), "/feature_maps", "no layer"),
    "a 10000-character layer": ((PHOTO, MODEL, LONG, 4, "first", "viridis"), "/feature_maps", "at most 1000"),
    "a layer that is a list": ((MODEL, ["a", "b"], 4, "first"), "/filters", "layer"),
    "a class above 999": ((PHOTO, MODEL, "", "1000", "jet", 0.5), "/grad_cam", "from 0 to 999"),
    "a negative class": ((PHOTO, MODEL, "-1"), "/guided_backprop", "out of range"),
    "a 20-digit class": ((PHOTO, MODEL, "", "9" * 20), "/guided_grad_cam", "from 0 to 999"),
    "an unknown class": ((PHOTO, MODEL, "", "dragon"), "/guided_grad_cam", "dragon"),
    "a class that is a list": ((PHOTO, MODEL, "", [1, 2], "jet", 0.5), "/grad_cam", "class"),
    "a negative count": ((MODEL, "", -5, "first"), "/filters", "from 1 to 64"),
    "an absurd count": ((MODEL, "", 10**9, "first"), "/filters", "from 1 to 64"),
    "a fractional count": ((MODEL, "", 4.5, "first"), "/filters", "whole number"),
    "a count that is text": ((MODEL, "", "ten", "first"), "/filters", "must be a number"),
    "an unknown order": ((MODEL, "", 4, "sideways"), "/filters", "must be one of"),
    "an unknown colormap": ((PHOTO, MODEL, "", "top class", "nocmap", 0.5), "/grad_cam", "colormap"),
    "a negative opacity": ((PHOTO, MODEL, "", "top class", "jet", -1), "/grad_cam", "from 0 to 1"),
    "an opacity that is text": ((PHOTO, MODEL, "", "top class", "jet", "abc"), "/grad_cam", "must be a number"),
    "zero octaves": ((PHOTO, MODEL, [], 0, 1, 0.01, 0), "/deep_dream", "from 1 to 5"),
    "absurd octaves": ((PHOTO, MODEL, [], 10**6, 1, 0.01, 0), "/deep_dream", "from 1 to 5"),
    "zero steps": ((PHOTO, MODEL, [], 1, 0, 0.01, 0), "/deep_dream", "from 1 to 50"),
    "absurd steps": ((PHOTO, MODEL, [], 1, 10**6, 0.01, 0), "/deep_dream", "from 1 to 50"),
    "a negative step size": ((PHOTO, MODEL, [], 1, 1, -1, 0), "/deep_dream", "Step size"),
    "a negative seed": ((PHOTO, MODEL, [], 1, 1, 0.01, -1), "/deep_dream", "Seed"),
    "a huge seed": ((PHOTO, MODEL, [], 1, 1, 0.01, 2**40), "/deep_dream", "Seed"),
    "twenty dream layers": ((PHOTO, MODEL, ["out_relu"] * 20, 1, 1, 0.01, 0), "/deep_dream", "between 1 and 8"),
    "dream layers that are a number": ((PHOTO, MODEL, 5, 1, 1, 0.01, 0), "/deep_dream", "list of names"),
    "no photo": ((None, MODEL), "/classify", "Upload a photo"),
}


@pytest.mark.parametrize("case", list(BAD_PARAMETERS))
def test_bad_parameters_are_refused_in_one_sentence(client, case):
    args, api_name, words = BAD_PARAMETERS[case]
    args = tuple(handle_file(str(CAT)) if a is PHOTO else a for a in args)
    message = refused(client, *args, api_name=api_name)
    assert words in message, message


def call_raw(url: str, api_name: str, body: str) -> tuple[int, str]:
    """POST a hand-written JSON body to /gradio_api/call/<api_name> and read the result
    (what a script that does not use gradio_client sends, NaN and all)."""
    with httpx.Client(timeout=60) as http:
        answer = http.post(
            f"{url}gradio_api/call/{api_name}",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        if answer.status_code != 200:
            return answer.status_code, answer.text
        event = answer.json()["event_id"]
        stream = http.get(f"{url}gradio_api/call/{api_name}/{event}")
        return stream.status_code, stream.text


def result_of(text: str):
    """The data of a /call/ stream's "complete" event."""
    assert "event: complete" in text, text
    return json.loads(text.split("event: complete", 1)[1].split("data:", 1)[1].strip())


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_that_are_not_finite_are_refused(server, number):
    client, url = server
    status, text = call_raw(url, "filters", f'{{"data": ["{MODEL}", "", {number}, "first"]}}')
    assert status == 422, text  # refused by the input screening, before the queue
    message = json.loads(text)["error"]
    assert is_one_sentence(message) and "must be" in message, message
    works(client)


def test_a_server_path_as_the_photo_is_never_read(server):
    client, url = server
    for path in ("/etc/passwd", str(Path(app.__file__)), "../app.py"):
        photo = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "x.jpg"}
        status, text = call_raw(url, "classify", json.dumps({"data": [photo, MODEL]}))
        assert "root:" not in text and "import" not in text, text
        assert "event: error" in text or status >= 400, text
    works(client)


# ----- Gradio's own protections ------------------------------------------------------------


def raw_get(url: str, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..`` or ``%2e``);
    ``headers``, if given, receives the response's headers (lower-case names)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        if headers is not None:
            headers.update({name.lower(): value for name, value in response.getheaders()})
        return response.status, response.read()
    finally:
        connection.close()


def test_the_file_route_serves_no_server_file(server):
    client, url = server
    here = Path(app.__file__).resolve()
    secrets = [b"root:x:0:0", here.read_bytes()[:200], b"def build_demo"]
    paths = [
        "/gradio_api/file=/etc/passwd",
        "/gradio_api/file=%2Fetc%2Fpasswd",
        "/gradio_api/file=%252Fetc%252Fpasswd",
        "/gradio_api/file=../../../../../../etc/passwd",
        "/gradio_api/file=..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        f"/gradio_api/file={here}",
        "/gradio_api/file=app.py",
        "/gradio_api/file=../app.py",
        "/gradio_api/file=./app.py",
        f"/gradio_api/file={here.parent}/tests/conftest.py",
        "/gradio_api/file=/proc/self/environ",
        "/gradio_api/file=/proc/self/cmdline",
        "/file=/etc/passwd",
        "/file=app.py",
        "/static/../app.py",
        "/static/%2e%2e/%2e%2e/app.py",
        "/assets/../../app.py",
        "/gradio_api/file=http://127.0.0.1:1/x",
    ]
    for path in paths:
        status, body = raw_get(url, path)
        assert status in (400, 403, 404, 405, 422), (path, status, body[:200])
        for secret in secrets:
            assert secret not in body, (path, body[:200])
    # The route does serve what it should: a result the server just made.
    status, text = call_raw(url, "filters", json.dumps({"data": [MODEL, "", 4, "first"]}))
    [[sheet]] = result_of(text)
    status, body = raw_get(url, urllib.parse.urlsplit(sheet["image"]["url"]).path)
    assert status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_uploaded_svg_or_html_is_served_only_as_a_download(server, corpus):
    """A script in an uploaded SVG or HTML file must not run on the app's origin when
    someone follows a link to it."""
    client, url = server
    script = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
    for name in ("x.svg", "x.html"):
        with httpx.Client(timeout=30) as http:
            [path] = http.post(f"{url}gradio_api/upload", files={"files": (name, script)}).json()
        headers: dict = {}
        status, body = raw_get(url, "/gradio_api/file=" + urllib.parse.quote(path), headers)
        if status == 200:
            assert "attachment" in headers.get("content-disposition", ""), headers
            assert headers.get("content-type", "").startswith("application/octet-stream"), headers
        else:
            assert status in (403, 404), status


def test_launch_settings_keep_gradio_protections_on():
    # Gradio's one bound for every upload is the largest file the app takes, a .keras
    # model; every other upload is held to 10 MB by cnnvis.serving.uploads (test_own_model_app).
    assert LAUNCH_KWARGS["max_file_size"] == file_bounds.MAX_MODEL_FILE_BYTES == 128 * 2**20
    assert file_bounds.MAX_FILE_BYTES == 10 * 2**20
    assert LAUNCH_KWARGS["show_error"] is False
    assert not LAUNCH_KWARGS.get("allowed_paths")
    assert not LAUNCH_KWARGS.get("share")
    frequency, age = APP_DELETE_CACHE
    assert 0 < frequency <= 3600 and 0 < age <= 24 * 3600


# ----- the pinned Gradio ---------------------------------------------------------------------

GRADIO_FLOOR = (6, 20)  # 6.16 fixed SSRF in SVG postprocessing, 6.20 the file= proxy and
# max_file_size on /component_server (see SECURITY.md)


def version(text: str) -> tuple[int, ...]:
    import re

    match = re.fullmatch(r"\s*(\d+)\.(\d+)(?:\.(\d+))?\s*", text)
    assert match, f"not a plain version: {text!r}"
    return tuple(int(part or 0) for part in match.groups())


def gradio_pin_problems(requirements: str, readme: str, pyproject: str) -> list[str]:
    """What is wrong with the Gradio versions the project pins (empty: nothing)."""
    import re

    problems = []
    pins = re.findall(r"(?m)^\s*gradio\s*==\s*([^\s#;]+)", requirements)
    front = readme.split("---", 2)[1] if readme.startswith("---") else ""
    sdk = re.findall(r"(?m)^sdk_version:\s*[\"']?([^\"'\s]+)[\"']?\s*$", front)
    floor = re.findall(r"gradio\s*>=\s*([\d.]+)", pyproject)
    if len(pins) != 1:
        return [f"requirements.txt must pin gradio exactly once: {pins}"]
    if len(sdk) != 1:
        return ["README.md's front matter must give the Space's sdk_version once"]
    if version(pins[0]) != version(sdk[0]):
        problems.append(f"requirements.txt pins gradio {pins[0]}, the Space runs {sdk[0]}")
    if version(pins[0]) < GRADIO_FLOOR:
        problems.append(f"gradio {pins[0]} predates security fixes")
    if len(floor) != 1 or version(floor[0]) < GRADIO_FLOOR:
        problems.append(f"pyproject.toml's gradio floor {floor} predates security fixes")
    return problems


def test_the_gradio_pin_and_the_space_sdk_agree_and_are_recent_enough():
    root = Path(app.__file__).resolve().parent
    texts = [(root / name).read_text() for name in ("requirements.txt", "README.md", "pyproject.toml")]
    assert gradio_pin_problems(*texts) == []
    requirements, readme, pyproject = texts
    # The check does catch what it is for.
    pin = readme.split("sdk_version:", 1)[1].split()[0].strip("\"'")
    assert gradio_pin_problems(requirements.replace(f"gradio=={pin}", "gradio==6.19.0"), readme, pyproject)
    assert gradio_pin_problems(requirements, readme.replace(pin, "6.30.0", 1), pyproject)
    assert gradio_pin_problems(requirements, readme, pyproject.replace("gradio>=", "gradio>=6.1,<6.2 #"))


def test_every_numeric_parameter_of_every_endpoint_is_bounded(client):
    """Whatever endpoints the app has, each slider and number refuses absurd values and
    text in one sentence (the other parameters at their documented defaults)."""
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    checked = 0
    for api_name, endpoint in info.items():
        parameters = endpoint["parameters"]
        defaults = [
            handle_file(str(CAT)) if p["component"] == "Image" else p.get("parameter_default")
            for p in parameters
        ]
        for index, parameter in enumerate(parameters):
            if parameter["component"] not in ("Slider", "Number"):
                continue
            for value in (-(10**12), 10**12, "abc"):
                args = list(defaults)
                args[index] = value
                with pytest.raises((AppError, ValidationError)) as caught:
                    client.predict(*args, api_name=api_name)
                message = refusal_message(caught.value)
                assert is_one_sentence(message), (api_name, parameter["parameter_name"], message)
                checked += 1
    assert checked >= 30
    works(client)


# ----- bounds in the package (what no API call can bypass) ------------------------------------


@pytest.fixture(scope="module")
def tiny():
    from .tiny import cam_model, wrap

    return wrap(cam_model(size=32, channels=6, classes=10), "tf")


def _call(function, model, image, **options):
    import inspect

    positional = [p for p in inspect.signature(function).parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    names = [p.name for p in positional]
    args = [model] + ([image] if "image" in names else [])
    if function.__name__ in ("compare", "pointing_games"):
        options.setdefault("methods", ["grad_cam"])
    if function.__name__ == "pointing_games":
        options.setdefault("box", (4, 4, 20, 20))
    result = function(*args, **options)
    if hasattr(result, "__next__"):
        result = list(result)
    return result


def test_every_numeric_option_of_every_technique_and_metric_is_bounded(tiny):
    """Every registered technique (and the metrics) refuses absurd, negative, fractional,
    non-finite and textual values of each of its numeric options, before any work."""
    import inspect

    import cnnvis
    from cnnvis.evaluation import checks
    from cnnvis.evaluation import metrics
    from cnnvis.errors import CnnvisError

    image = noise(32, 32)
    # (a technique that needs a transformer is refused on this CNN before its options count)
    functions = [t.function for t in cnnvis.TECHNIQUES.values() if t.needs is None]
    functions += [cnnvis.deep_dream_frames, cnnvis.feature_visualization_frames]
    functions += [metrics.deletion_insertion, checks.randomization_check]
    checked = []
    for function in functions:
        valid = {"saliency": np.ones((32, 32), np.float32)} if function is metrics.deletion_insertion else {}
        _call(function, tiny, image, **valid)  # with its defaults, it works on this model
        for parameter in inspect.signature(function).parameters.values():
            default = parameter.default
            if parameter.kind != parameter.KEYWORD_ONLY or isinstance(default, bool):
                continue
            if not isinstance(default, (int, float)):
                continue
            for value in (10**12, -(10**12), float("nan"), float("inf"), "abc"):
                options = {parameter.name: value}
                if function is metrics.deletion_insertion:
                    options["saliency"] = np.ones((32, 32), np.float32)
                with pytest.raises(CnnvisError) as caught:
                    _call(function, tiny, image, **options)
                assert is_one_sentence(str(caught.value)), (function.__name__, parameter.name, value)
            checked.append(f"{function.__name__}.{parameter.name}")
    assert len(checked) >= 35, checked


def test_feature_maps_refuse_endless_channel_lists(tiny):
    import cnnvis
    from cnnvis.errors import ParameterError

    with pytest.raises(ParameterError, match="between 1 and 4096 channels"):
        cnnvis.feature_maps(tiny, noise(32, 32), "features", channels=[0] * 5000)
    with pytest.raises(ParameterError, match="channel must be"):
        cnnvis.feature_maps(tiny, noise(32, 32), "features", channels=["0; rm -rf"])
    [maps] = cnnvis.feature_maps(tiny, noise(32, 32), "features", channels=3)
    assert list(maps.channels) == [3]


@pytest.mark.fullsize
def test_deep_dream_work_is_bounded_and_small_photos_dream():
    import cnnvis
    from cnnvis.errors import ParameterError

    vis = cnnvis.load_model("MobileNetV3Small", weights=None)
    with pytest.raises(ParameterError, match="too much work"):
        cnnvis.deep_dream(vis, noise(600, 600), octaves=8, steps=200)
    with pytest.raises(ParameterError, match="too much work"):
        cnnvis.deep_dream(vis, noise(1024, 1024), octaves=2, steps=60, max_side=1024)
    with pytest.raises(ParameterError, match="max_side must be from 32 to 1024"):
        cnnvis.deep_dream(vis, noise(64, 64), max_side=2048)
    with pytest.raises(ParameterError, match="list of layer names"):
        cnnvis.deep_dream(vis, noise(64, 64), layers=5)
    for shape in ((16, 16), (16, 3000), (2000, 17)):  # smaller than a network's smallest input
        dream = cnnvis.deep_dream(vis, noise(*shape), octaves=2, steps=1)
        fitted = cnnvis.images.fit_within(noise(*shape), 512)
        assert dream.image.shape == fitted.shape and np.isfinite(dream.image).all()


def test_batches_are_capped_by_pixels():
    from cnnvis.techniques import compiled

    assert compiled.capped_batch_size((224, 224), 256) == 32
    assert compiled.capped_batch_size((224, 224), 8) == 8
    assert compiled.capped_batch_size((600, 600), 256) == 4
    assert compiled.capped_batch_size((4000, 4000), 256) == 1


def test_thin_images_keep_a_usable_width():
    from cnnvis.images import fit_within

    assert fit_within(noise(16, 3000), 1024, min_side=16).shape == (16, 1024, 3)
    assert fit_within(noise(3000, 20), 1024, min_side=16).shape == (1024, 16, 3)
    assert fit_within(noise(10, 3000), 1024, min_side=16).shape == (10, 1024, 3)  # never enlarged
    assert fit_within(noise(600, 3000), 1024, min_side=16).shape == (205, 1024, 3)


# ----- no route answers 500 ----------------------------------------------------------------

NOT_TEXT = {
    "a lone surrogate": "\ud800",
    "a NUL": "cat\x00.jpg",
    "a file object with a lone surrogate": {"path": "x\udfff.jpg", "meta": {"_type": "gradio.FileData"}},
}


def _refused_in_one_sentence(answer: httpx.Response, where: str) -> None:
    assert 400 <= answer.status_code < 500, (where, answer.status_code, answer.text[:300])
    assert answer.headers.get("x-content-type-options") == "nosniff", where
    message = answer.json()["error"]
    assert is_one_sentence(message), (where, message)


def _names_the_bad_text(answer: httpx.Response, case: str, where) -> None:
    """The refusal's sentence for the parameter says what was wrong, quoted escaped."""
    messages = [entry["message"] for entry in answer.json()["detail"] if not entry["is_valid"]]
    wanted = "a NUL character" if "NUL" in case else "a lone UTF-16 surrogate"
    found = [m for m in messages if f"may not hold {wanted}" in m]
    assert found, (where, messages)
    assert ("\\x00" if "NUL" in case else "\\u") in found[0], found[0]


def test_text_that_cannot_be_encoded_is_refused_on_every_parameter_of_every_route(server):
    """A lone UTF-16 surrogate or a NUL, in every input of every event (the private ones
    too) through queue/join, /call/<name> and /call/v2/<name>: a one-sentence 4xx that
    quotes it escaped, on one keep-alive connection that is never dropped (a 500 drops it:
    httpx would raise)."""
    client, url = server
    checked = 0
    with httpx.Client(base_url=url, timeout=30) as http:
        for fn_index, fn in app.demo.fns.items():
            if fn.fn is None or not fn.inputs or fn.cancels:
                continue
            names = [p["parameter_name"] for p in (
                client.view_api(print_info=False, return_format="dict")["named_endpoints"]
                .get(f"/{fn.api_name}", {}).get("parameters", [])
            )]
            for index in range(len(fn.inputs)):
                for case, bad in NOT_TEXT.items():
                    data = [None] * len(fn.inputs)
                    data[index] = bad
                    where = (fn.api_name, index, case)
                    body = {"data": data, "fn_index": fn_index, "session_hash": "nosurrogates"}
                    answer = http.post("gradio_api/queue/join", content=json.dumps(body))
                    _refused_in_one_sentence(answer, ("join", *where))
                    _names_the_bad_text(answer, case, where)
                    if fn.api_name and names:
                        answer = http.post(f"gradio_api/call/{fn.api_name}", content=json.dumps({"data": data}))
                        _refused_in_one_sentence(answer, ("call", *where))
                        _names_the_bad_text(answer, case, where)
                        if index < len(names):
                            v2 = json.dumps({**dict.fromkeys(names), names[index]: bad})
                            answer = http.post(f"gradio_api/call/v2/{fn.api_name}", content=v2)
                            _refused_in_one_sentence(answer, ("v2", *where))
                            _names_the_bad_text(answer, case, where)
                    checked += 1
        # Outside the inputs: the session, a key, a name in the URL.
        for body in (
            {"data": [None, MODEL], "fn_index": 0, "session_hash": "\ud800"},
            {"data": [None, MODEL], "fn_index": 0, "session_hash": "s", "\x00": 1},
        ):
            _refused_in_one_sentence(http.post("gradio_api/queue/join", content=json.dumps(body)), body)
        _refused_in_one_sentence(http.post("gradio_api/call/%ED%A0%80", content='{"data": []}'), "a name")
    assert checked >= 100, checked
    works(client)


MULTIPART = {
    "a files part without a filename": b'Content-Disposition: form-data; name="files"\r\n\r\nabc',
    "a filename that is not UTF-8": b'Content-Disposition: form-data; name="files"; filename="\xed\xa0\x80\xff.png"\r\n\r\nabc',
    "a NUL in the filename": b'Content-Disposition: form-data; name="files"; filename="a\x00.png"\r\n\r\nabc',
    "a header without a colon": b"garbage\r\n\r\nabc",
    "no headers": b"\r\nabc",
    "another field only": b'Content-Disposition: form-data; name="other"\r\n\r\nabc',
}


@pytest.mark.parametrize("boundary", [b"xx", None])
def test_malformed_multipart_parts_get_a_4xx(server, boundary):
    """Every malformed part, and a body cut short, to the upload route: answered (a 4xx in
    one sentence, or Gradio's own answer to what it can read), never a 500, on one
    keep-alive connection."""
    client, url = server
    with httpx.Client(base_url=url, timeout=30) as http:
        for case, part in MULTIPART.items():
            for ending in (b"\r\n--xx--\r\n", b""):
                content = b"--xx\r\n" + part + ending
                kind = "multipart/form-data" + ("; boundary=xx" if boundary else "")
                answer = http.post("gradio_api/upload", content=content, headers={"Content-Type": kind})
                assert answer.status_code < 500, (case, ending, answer.status_code, answer.text[:200])
                assert answer.headers.get("x-content-type-options") == "nosniff", case
                if answer.status_code >= 400 and answer.headers.get("content-type", "").startswith("application/json"):
                    body = answer.json()
                    message = body.get("error") or body.get("detail")
                    assert isinstance(message, str) and "Traceback" not in message, (case, body)
        answer = http.post("gradio_api/upload", files={"files": (None, b"abc")})
        _refused_in_one_sentence(answer, "a files part without a filename")
        assert "filename" in answer.json()["error"]
    works(client)


def test_a_request_to_another_host_name_is_refused(server):
    """DNS rebinding: a page whose own name resolves to this server reaches it with that
    name as its Host; the app answers only its own names (cnnvis.serving.hosts)."""
    client, url = server
    port = urllib.parse.urlsplit(url).port
    with httpx.Client(timeout=30) as http:
        for path in ("", "gradio_api/info", "gradio_api/call/classify"):
            answer = http.get(f"{url}{path}", headers={"Host": f"rebind.attacker.example:{port}"})
            _refused_in_one_sentence(answer, path)
        assert http.get(f"{url}gradio_api/info", headers={"Host": f"localhost:{port}"}).status_code == 200
        # Credentials from another site's page: refused, whatever Gradio's CORS would allow.
        body = json.dumps({"data": [None, MODEL], "fn_index": 0, "session_hash": "cors"})
        foreign = {"Origin": "https://evil.example", "Cookie": "session=1", "Content-Type": "application/json"}
        _refused_in_one_sentence(http.post(f"{url}gradio_api/queue/join", content=body, headers=foreign), "cors")
    works(client)
