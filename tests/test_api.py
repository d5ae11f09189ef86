"""The app served on 127.0.0.1 and called through gradio_client: every named endpoint,
its outputs (PNG files with captions), and its refusals."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError, ValidationError
from PIL import Image

import app
from cnnvis import registry, ui
from cnnvis.ui import endpoints
from cnnvis.ui import errors as ui_errors
from cnnvis.ui.settings import Settings

from . import api_snapshot
from .app_helpers import (
    CAT,
    EGYPTIAN_CAT,
    WEIGHTS,
    app_settings,
    bomb_png,
    is_one_sentence,
    refusal_message,
    text_file,
    truncated_jpeg,
)
from .serve import close_and_wait, free_port, patient_client


# gradio's queue (pandas 3) warns on every event; nothing to do with the app.
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

MODEL = "MobileNetV2"
CAT_SIZE = Image.open(CAT).size  # (width, height)


@pytest.fixture(scope="module", params=[WEIGHTS], ids=[f"weights={WEIGHTS}"])
def client():
    saved = ui.current()
    ui.configure(app_settings())
    _, url, _ = ui.launch(
        app.demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True
    )
    client = None
    try:
        client = patient_client(url)
        yield client
    finally:
        if client is not None:
            client.close()
        close_and_wait(app.demo)
        ui.configure(saved)
        ui.apply_queue(app.demo, saved)


@pytest.fixture(scope="module")
def cat():
    return handle_file(str(CAT))


def check_pngs(
    items, count: int, *words: str, size: tuple[int, int] | None = None
) -> list[Image.Image]:
    assert len(items) == count
    pictures = []
    for item in items:
        assert set(item) >= {"image", "caption"}
        for word in words:
            assert word in item["caption"], (word, item["caption"])
        picture = Image.open(item["image"])
        assert picture.format == "PNG" and picture.mode == "RGB"
        if size is not None:
            assert picture.size == size
        pictures.append(picture)
    return pictures


# The endpoints and their parameters as the README documents them: a change here is a
# change of the published API.
HEATMAP = ["image", "model", "layer", "target_class", "colormap", "opacity"]
ATTRIBUTION = ["image", "model", "target_class"]
DOCUMENTED = {
    "/classify": ["image", "model"],
    "/filters": ["model", "layer", "count", "order"],
    "/feature_maps": ["image", "model", "layer", "count", "order", "colormap"],
    "/guided_backprop": ATTRIBUTION,
    "/grad_cam": [*HEATMAP, "method"],
    "/guided_grad_cam": ["image", "model", "layer", "target_class"],
    "/deep_dream": ["image", "model", "layers", "octaves", "steps", "step_size", "seed"],
    "/grad_cam_plus_plus": HEATMAP,
    "/layer_cam": HEATMAP,
    "/score_cam": [*HEATMAP, "max_channels"],
    "/eigen_cam": HEATMAP,
    "/attention_rollout": HEATMAP,
    "/occlusion": ["image", "model", "target_class", "colormap", "opacity", "window", "stride"],
    "/vanilla_gradient": ATTRIBUTION,
    "/smoothgrad": [*ATTRIBUTION, "samples", "noise", "seed"],
    "/integrated_gradients": [*ATTRIBUTION, "baseline", "steps"],
    "/gradient_x_input": ATTRIBUTION,
    "/feature_visualization": [
        "model",
        "target",
        "layer",
        "count",
        "channels",
        "classes",
        "steps",
        "size",
        "seed",
    ],
    "/compare": ["image", "model", "target_class", "methods", "steps"],
    "/sanity_check": ["image", "model", "target_class", "methods", "steps", "seed"],
    "/pointing_game": [
        "image",
        "model",
        "target_class",
        "methods",
        "x0",
        "y0",
        "x1",
        "y1",
        "tolerance",
    ],
    "/load_model": ["model_file", "preprocessing", "class_names", "input_size"],
    "/trust_report": [
        "image",
        "model",
        "target_class",
        "methods",
        "steps",
        "seed",
        "x0",
        "y0",
        "x1",
        "y1",
    ],
    "/stop_deep_dream": [],
    "/stop_feature_visualization": [],
}


@pytest.fixture(scope="module")
def api_info(client):
    return client.view_api(print_info=False, return_format="dict")


def test_named_endpoints_are_the_documented_set(api_info):
    assert sorted(api_info["named_endpoints"]) == sorted(DOCUMENTED) == sorted(endpoints.published(app.demo))
    assert not api_info["unnamed_endpoints"]
    for name, parameters in DOCUMENTED.items():
        endpoint = api_info["named_endpoints"][name]
        assert [p["parameter_name"] for p in endpoint["parameters"]] == parameters, name
        assert len(endpoint["description"]) > 40, name  # the handler's docstring
    layer = api_info["named_endpoints"]["/grad_cam"]["parameters"][2]
    assert layer["python_type"]["type"] == "str"  # any layer of any model, not today's choices


def test_the_published_api_matches_the_snapshot(client):
    """Every endpoint, parameter (name, order, label, component, type, default) and return
    value of the live `/gradio_api/info` is the one recorded in tests/api_snapshot.json:
    what callers rely on cannot change by accident (a deliberate change re-records it)."""
    problems = api_snapshot.differences(api_snapshot.recorded(), api_snapshot.live(client.src))
    assert not problems, "the published API differs from tests/api_snapshot.json:\n" + "\n".join(problems)


def test_the_snapshot_comparison_reports_each_kind_of_change():
    """The comparison itself catches a removed endpoint, a renamed or retyped parameter, a
    changed default and an added endpoint, each in a line that names it."""
    recorded = api_snapshot.recorded()
    changed = copy.deepcopy(recorded)
    endpoints = changed["named_endpoints"]
    del endpoints["/classify"]
    endpoints["/filters"]["parameters"][1]["name"] = "layer_name"
    endpoints["/score_cam"]["parameters"][-1]["default"] = 32
    endpoints["/smoothgrad"]["parameters"][-1]["python_type"] = "float"
    endpoints["/new"] = endpoints["/eigen_cam"]
    lines = api_snapshot.differences(recorded, changed)
    assert lines[0] == "/classify: endpoint removed" and lines[1].startswith("/new: endpoint added")
    assert "/filters: parameters ['model', 'layer', 'count', 'order'] became" in "\n".join(lines)
    assert any(line.startswith("/score_cam max_channels.default: 64 became 32") for line in lines)
    assert any(line.startswith('/smoothgrad seed.python_type: "int" became "float"') for line in lines)
    assert api_snapshot.differences(recorded, recorded) == []


def test_new_endpoints_document_their_types_and_defaults(api_info):
    endpoints = api_info["named_endpoints"]

    def parameter(endpoint: str, name: str) -> dict:
        [found] = [p for p in endpoints[endpoint]["parameters"] if p["parameter_name"] == name]
        return found

    assert parameter("/compare", "methods")["python_type"]["type"] == "list[str]"
    assert "score_cam" not in parameter("/compare", "methods")["parameter_default"]
    assert parameter("/score_cam", "max_channels")["parameter_default"] == 64
    assert parameter("/feature_visualization", "classes")["python_type"]["type"] == "list[str]"
    assert parameter("/feature_visualization", "channels")["parameter_default"] == ""
    for corner in ("x0", "y0", "x1", "y1"):  # no default: API callers give the box
        assert not parameter("/pointing_game", corner)["parameter_has_default"]
        # ...but the trust report's box is optional: no box, no pointing game
        assert parameter("/trust_report", corner)["parameter_has_default"]
        assert parameter("/trust_report", corner)["parameter_default"] is None
    assert parameter("/trust_report", "methods")["parameter_default"] == registry.quick_map_methods()
    assert "Score-CAM" in endpoints["/score_cam"]["description"]


def test_classify(client, cat):
    result = client.predict(cat, MODEL, api_name="/classify")
    confidences = result["confidences"]
    assert len(confidences) == 5 and result["label"] == confidences[0]["label"]
    if WEIGHTS == "real":
        assert result["label"] == EGYPTIAN_CAT and confidences[0]["confidence"] > 0.5


def test_filters(client):
    [sheet] = check_pngs(
        client.predict(MODEL, "", 16, "norm", api_name="/filters"), 1, "Filters", MODEL, "Conv1"
    )
    assert min(sheet.size) > 64


def zlib_level(path) -> int:
    """The compression level a PNG's first IDAT chunk declares (its zlib header's FLEVEL:
    0 for levels 0-1, 1 for 2-5, 2 for 6, 3 for 7-9; RFC 1950)."""
    import struct

    data = Path(path).read_bytes()
    position = 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind == b"IDAT":
            return data[position + 9] >> 6
        position += 12 + length
    raise AssertionError(f"{path} has no IDAT chunk")


def test_result_pictures_are_encoded_fast_as_png_level_1(client, cat):
    """The handlers write their PNGs (zlib level 1, not Pillow's default 6) into Gradio's
    cache, and Gradio serves those files as they are."""
    items = client.predict(cat, MODEL, "", "top class", "jet", 0.5, "grad_cam", api_name="/grad_cam")
    assert [zlib_level(item["image"]) for item in items] == [0, 0]
    _, chart = client.predict(cat, MODEL, "top class", ["eigen_cam"], 4, api_name="/compare")
    assert zlib_level(chart) == 0
    reference = Path(items[0]["image"]).with_name("level6.png")
    Image.open(items[0]["image"]).save(reference)  # Pillow's default, for contrast
    assert zlib_level(reference) == 2


def test_feature_maps(client, cat):
    items = client.predict(
        cat, MODEL, "block_3_expand_relu", 9, "first", "magma", api_name="/feature_maps"
    )
    check_pngs(items, 2, "Feature maps", "block_3_expand_relu", "56x56")
    assert Image.open(items[1]["image"]).size == CAT_SIZE


def test_guided_backprop(client, cat):
    items = client.predict(cat, MODEL, "Egyptian cat", api_name="/guided_backprop")
    check_pngs(items, 2, "Guided backprop", MODEL, "Egyptian cat (285)", size=CAT_SIZE)


def test_grad_cam(client, cat):
    items = client.predict(cat, MODEL, "", "282", "jet", 0.5, "grad_cam", api_name="/grad_cam")
    overlay, heatmap = check_pngs(
        items, 2, "Grad-CAM", "out_relu", "tiger cat (282)", size=CAT_SIZE
    )
    assert overlay.tobytes() != heatmap.tobytes()


def test_grad_cam_with_defaults_by_keyword(client, cat):
    items = client.predict(image=cat, model=MODEL, api_name="/grad_cam")
    check_pngs(items, 2, "Grad-CAM", size=CAT_SIZE)


def test_guided_grad_cam(client, cat):
    items = client.predict(cat, MODEL, "block_16_project", "top class", api_name="/guided_grad_cam")
    check_pngs(items, 2, "Guided Grad-CAM", "Grad-CAM at block_16_project", size=CAT_SIZE)


def test_deep_dream_streams(client, cat):
    job = client.submit(
        cat, MODEL, ["block_5_add", "block_8_add"], 2, 4, 0.02, 1, api_name="/deep_dream"
    )
    final = job.result(timeout=120)
    outputs = job.outputs()
    assert len(outputs) >= 3  # intermediate pictures came before the result
    check_pngs(outputs[0], 1, "in progress")
    dream, photo = check_pngs(final, 2, size=CAT_SIZE)
    assert "block_5_add, block_8_add" in final[0]["caption"] and "seed 1" in final[0]["caption"]
    assert dream.tobytes() != photo.tobytes()


# Every method endpoint, with small settings (a second or so on a CPU each).
METHOD_CALLS = {
    "/grad_cam_plus_plus": ("", "281", "jet", 0.5),
    "/layer_cam": ("block_13_expand_relu", "281", "jet", 0.5),
    "/score_cam": ("", "281", "jet", 0.5, 8),
    "/eigen_cam": ("", "281", "jet", 0.5),
    "/occlusion": ("281", "jet", 0.5, 64, 64),
    "/vanilla_gradient": ("281",),
    "/smoothgrad": ("281", 4, 0.1, 3),
    "/integrated_gradients": ("281", "white", 4),
    "/gradient_x_input": ("281",),
}
METHOD_WORDS = {
    "/grad_cam_plus_plus": ("Grad-CAM++", "out_relu"),
    "/layer_cam": ("LayerCAM", "block_13_expand_relu"),
    "/score_cam": ("Score-CAM", "8 of 1280 channels"),
    "/eigen_cam": ("Eigen-CAM", "class-agnostic"),
    "/occlusion": ("Occlusion", "64-pixel grey window, stride 64"),
    "/vanilla_gradient": ("Gradient",),
    "/smoothgrad": ("SmoothGrad", "4 samples", "seed 3"),
    "/integrated_gradients": ("Integrated Gradients", "4 steps", "white baseline", "gap"),
    "/gradient_x_input": ("Gradient x input",),
}


@pytest.mark.parametrize("api_name", list(METHOD_CALLS))
def test_each_method_endpoint(client, cat, api_name):
    items = client.predict(cat, MODEL, *METHOD_CALLS[api_name], api_name=api_name)
    first, second = check_pngs(
        items, 2, MODEL, "tabby (281)", *METHOD_WORDS[api_name], size=CAT_SIZE
    )
    assert first.tobytes() != second.tobytes()


def test_grad_cam_takes_every_heatmap_method(client, cat):
    items = client.predict(
        cat, MODEL, "", "top class", "jet", 0.5, "eigen_cam", api_name="/grad_cam"
    )
    check_pngs(items, 2, "Eigen-CAM", size=CAT_SIZE)


def test_feature_visualization_streams(client):
    job = client.submit(
        MODEL, "channels", "", 2, "", [], 8, 64, 1, api_name="/feature_visualization"
    )
    final = job.result(timeout=120)
    outputs = job.outputs()
    assert len(outputs) >= 3  # intermediate pictures came before the result
    check_pngs(outputs[0], 1, "in progress")
    sheet, *pictures = check_pngs(final, 3, "Feature visualisation", MODEL, "8 steps", "seed 1")
    assert [p.size for p in pictures] == [(64, 64)] * 2 and sheet.size[0] > 128
    items = client.predict(
        MODEL, "class", "", 1, "", ["flamingo"], 4, 64, 0, api_name="/feature_visualization"
    )
    check_pngs(items, 2, "class logits", "flamingo (130)")


def test_compare(client, cat):
    gallery, chart = client.predict(
        cat, MODEL, "top class", ["eigen_cam", "gradient_x_input"], 4, api_name="/compare"
    )
    check_pngs(gallery, 2, "deletion", "insertion", "random map", size=CAT_SIZE)
    ranks, titles = zip(*(item["caption"].split(" · ")[0].split(" ", 1) for item in gallery))
    assert ranks == ("#1", "#2") and set(titles) == {"Eigen-CAM", "Gradient x input"}
    picture = Image.open(chart)
    assert picture.format == "PNG" and picture.size == (760, 900)


def test_sanity_check(client, cat):
    gallery, table = client.predict(
        cat, MODEL, "top class", ["grad_cam"], 1, 5, api_name="/sanity_check"
    )
    check_pngs(gallery, 1, "Model randomisation", "Grad-CAM", "seed 5")
    assert table["headers"] == ["re-drawn down to (layers)", "Grad-CAM ρ", "Grad-CAM SSIM"]
    assert len(table["data"]) == 2 and table["data"][0][1:] == [1.0, 1.0]


def test_pointing_game(client, cat):
    width, height = CAT_SIZE
    gallery, table = client.predict(
        cat,
        MODEL,
        "top class",
        ["grad_cam", "occlusion"],
        0,
        0,
        width - 1,
        height - 1,
        15,
        api_name="/pointing_game",
    )
    check_pngs(gallery, 2, "hit: its peak", size=CAT_SIZE)
    assert [row[:2] for row in table["data"]] == [["Grad-CAM", "hit"], ["Occlusion", "hit"]]


def test_trust_report(client, cat):
    """One method, few steps, no box: what the page shows, and the report as JSON."""
    summary, table, maps, curves, report = client.predict(
        image=cat, model=MODEL, methods=["grad_cam"], steps=4, seed=3, api_name="/trust_report"
    )
    [method] = report["methods"]
    assert method["name"] == "grad_cam" and method["verdict"] in ("trusted", "use with care", "not trusted")
    assert report["box"] is None and report["steps"] == 4 and report["seed"] == 3
    assert {e["test"] for e in method["evidence"]} == {
        "sanity", "deletion", "insertion", "road_morf", "road_lerf", "placement"
    }
    assert table["headers"][:4] == ["#", "method", "verdict", "why"]
    assert table["data"] == [[1, "Grad-CAM", method["verdict"], method["reason"], *table["data"][0][4:]]]
    assert "pointing game" not in table["headers"]  # no box given
    check_pngs(maps, 1, f"#1 Grad-CAM: {method['verdict']}", method["reason"], size=CAT_SIZE)
    assert report["summary"] in summary
    picture = Image.open(curves)
    assert picture.format == "PNG" and picture.size == (760, 900)
    if WEIGHTS == "real":
        # Grad-CAM's map moves with the classifier: never "fail" (issue 22: over 8 draws it
        # may be "mixed" on a photo where it survives some of them).
        assert report["label"] == "Egyptian cat" and method["evidence"][0]["outcome"] != "fail"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    return {
        "not an image": handle_file(str(text_file(folder))),
        "truncated": handle_file(str(truncated_jpeg(folder))),
        "huge": handle_file(str(bomb_png(folder))),
    }


BAD_CALLS = {
    "no image": lambda cat, bad: ((None, MODEL), "/classify"),
    "not an image": lambda cat, bad: (
        (bad["not an image"], MODEL, "top class"),
        "/guided_backprop",
    ),
    "truncated": lambda cat, bad: ((bad["truncated"], MODEL), "/classify"),
    "huge": lambda cat, bad: ((bad["huge"], MODEL, "", "top class", "jet", 0.5), "/grad_cam"),
    "unknown model": lambda cat, bad: (("LeNet", "", 4, "first"), "/filters"),
    "unknown layer": lambda cat, bad: (
        (cat, MODEL, "block_99", 4, "first", "viridis"),
        "/feature_maps",
    ),
    "unknown class": lambda cat, bad: ((cat, MODEL, "", "dragon"), "/guided_grad_cam"),
    "class out of range": lambda cat, bad: ((cat, MODEL, "", "-3", "jet", 0.5), "/grad_cam"),
    "count out of range": lambda cat, bad: ((MODEL, "", 500, "first"), "/filters"),
    "opacity out of range": lambda cat, bad: ((cat, MODEL, "", "top class", "jet", 7), "/grad_cam"),
    "steps out of range": lambda cat, bad: ((cat, MODEL, [], 1, 0, 0.01, 0), "/deep_dream"),
    "unknown dream layer": lambda cat, bad: ((cat, MODEL, ["nope"], 1, 1, 0.01, 0), "/deep_dream"),
    "negative seed": lambda cat, bad: ((cat, MODEL, [], 1, 1, 0.01, -1), "/deep_dream"),
    "Score-CAM channels out of range": lambda cat, bad: (
        (cat, MODEL, "", "top class", "jet", 0.5, 5000),
        "/score_cam",
    ),
    "occlusion stride beyond its square": lambda cat, bad: (
        (cat, MODEL, "top class", "jet", 0.5, 16, 40),
        "/occlusion",
    ),
    "unknown baseline": lambda cat, bad: (
        (cat, MODEL, "top class", "grey", 4),
        "/integrated_gradients",
    ),
    "channels that are not numbers": lambda cat, bad: (
        (MODEL, "channels", "", 2, "three", [], 4, 64, 0),
        "/feature_visualization",
    ),
    "unknown method to compare": lambda cat, bad: (
        (cat, MODEL, "top class", ["grad_cam", "magic"], 4),
        "/compare",
    ),
    "too many methods to sanity-check": lambda cat, bad: (
        (cat, MODEL, "top class", list(registry.map_methods())[:9], 1, 0),
        "/sanity_check",
    ),
    "no box": lambda cat, bad: (
        (cat, MODEL, "top class", ["grad_cam"], None, None, None, None, 15),
        "/pointing_game",
    ),
    "half a box for the trust report": lambda cat, bad: (
        (cat, MODEL, "top class", ["grad_cam"], 4, 0, 10, 10, None, None),
        "/trust_report",
    ),
    "trust report in one step": lambda cat, bad: (
        (cat, MODEL, "top class", ["grad_cam"], 1, 0),
        "/trust_report",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_is_refused_in_one_sentence_and_the_next_request_works(
    client, cat, bad_files, case
):
    args, api_name = BAD_CALLS[case](cat, bad_files)
    # The handler's sentence (AppError), or the input screening's (ValidationError).
    with pytest.raises((AppError, ValidationError)) as caught:
        client.predict(*args, api_name=api_name)
    assert is_one_sentence(refusal_message(caught.value)), str(caught.value)
    assert len(client.predict(cat, MODEL, api_name="/classify")["confidences"]) == 5


def test_model_without_weights(client, cat, tmp_path):
    saved = ui.current()
    ui.configure(Settings(weights="imagenet", weights_dir=str(tmp_path)))
    try:
        with pytest.raises(AppError) as caught:
            client.predict(cat, "DenseNet121", api_name="/classify")
    finally:
        ui.configure(saved)
    message = str(caught.value)
    assert "DenseNet121" in message and "weights" in message and is_one_sentence(message)
    assert len(client.predict(cat, MODEL, api_name="/classify")["confidences"]) == 5


def test_unexpected_and_out_of_memory_errors_keep_the_server_up(client, cat, monkeypatch):
    import tensorflow as tf

    import cnnvis

    def broken(*args, **kwargs):
        raise KeyError("internal detail")

    def exhausted(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    for fault, expected in ((broken, ui_errors.GENERIC_ERROR), (exhausted, ui_errors.MEMORY_ERROR)):
        monkeypatch.setattr(cnnvis, "guided_backprop", fault)
        with pytest.raises(AppError) as caught:
            client.predict(cat, MODEL, "top class", api_name="/guided_backprop")
        assert str(caught.value) == expected
    monkeypatch.undo()
    check_pngs(client.predict(cat, MODEL, "top class", api_name="/guided_backprop"), 2)


def test_uploads_over_the_size_limit_are_refused(client, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(CAT.read_bytes() + b"\0" * (11 * 2**20))  # a valid JPEG with 11 MB of padding
    with pytest.raises(Exception, match="(?i)size|large|limit|413"):
        client.predict(handle_file(str(big)), MODEL, api_name="/classify")
    assert (
        len(client.predict(handle_file(str(CAT)), MODEL, api_name="/classify")["confidences"]) == 5
    )


def http_page_blocks() -> list[str]:
    """The Python blocks of docs/http-api.md, in order."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "http-api.md").read_text()
    return [block.split("```", 1)[0] for block in page.split("```python\n")[1:]]


def readme_http_example() -> str:
    """The HTTP API page's example of every endpoint (its block that calls /load_model)."""
    (block,) = [block for block in http_page_blocks() if 'api_name="/load_model"' in block]
    return block


def test_readme_http_example_covers_every_endpoint():
    example = readme_http_example()
    shown = set(re.findall(r'api_name="(/\w+)"', example))
    names = set(endpoints.published(app.demo))
    assert shown == names, sorted(names ^ shown)


def readme_own_model_block() -> str:
    """The HTTP API page's first block: it saves cat_or_dog.keras and its class names."""
    (block,) = [block for block in http_page_blocks() if 'model.save("cat_or_dog.keras")' in block]
    return block


def test_readme_http_example_runs(client, monkeypatch, tmp_path):
    """The HTTP API page's gradio_client calls, as written, against this server, in a
    folder with the example photos and the model file that the page's first block saves."""
    example = readme_http_example()
    address = 'Client("http://127.0.0.1:7860/")'
    assert address in example
    (tmp_path / "examples").symlink_to(Path(__file__).resolve().parents[1] / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_own_model_block(), "docs/http-api.md", "exec"), {})
    namespace: dict = {}
    exec(compile(example.replace(address, "_client"), "docs/http-api.md", "exec"), {"_client": client}, namespace)
    assert namespace["mine"] == "Your model: cat_or_dog"
    assert {c["label"] for c in namespace["mine_top"]["confidences"]} == {"0 · cat", "1 · dog"}
    assert len(namespace["top5"]["confidences"]) == 5
    assert namespace["gallery"] and check_pngs(namespace["gallery"], len(namespace["gallery"]))
    check_pngs(namespace["dream"], 2)
    assert Image.open(namespace["chart"]).format == "PNG"
