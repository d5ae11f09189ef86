"""What the app adds on top of the package, and how memory behaves across models.

    python benchmarks/bench_app.py            # HTTP overhead of /grad_cam + memory cycling

1. A Grad-CAM request over the HTTP API on 127.0.0.1 (gradio_client, PNG encoding and
   transfer included) against the package call it makes, both warm, medians.
2. Resident memory while cycling through ten models with the model cache's budget
   (random weights: memory does not depend on the weights' values).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

CYCLE = [
    "MobileNetV2", "ResNet50", "EfficientNetB0", "DenseNet121", "InceptionV3",
    "MobileNetV3Large", "Xception", "ConvNeXtTiny", "NASNetMobile", "VGG16",
]


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def browser_style_call(http, fn_index: int, photo: Path) -> None:
    """One /grad_cam job the way the web page runs it: upload, join the queue, read the
    event stream to completion, fetch the result PNGs (one reused HTTP connection)."""
    with open(photo, "rb") as handle:
        uploaded = http.post("/gradio_api/upload", files={"files": (photo.name, handle, "image/jpeg")})
    session = uuid.uuid4().hex[:12]
    data = [
        {"path": uploaded.json()[0], "meta": {"_type": "gradio.FileData"}, "orig_name": photo.name},
        "MobileNetV2", "", "top class", "jet", 0.5, "grad_cam",
    ]
    joined = http.post(
        "/gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None},
    )
    joined.raise_for_status()
    completed = None
    with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    completed = message
                    break
    if not (completed and completed.get("success")):
        raise RuntimeError(f"the job failed: {completed}")
    for item in completed["output"]["data"][0]:
        http.get(item["image"]["url"]).raise_for_status()


def http_overhead(repeats: int) -> None:
    import httpx
    from gradio_client import Client, handle_file

    import app
    import cnnvis
    from cnnvis import ui
    from cnnvis.ui.tabs import methods
    from cnnvis.ui.work import get_model

    weights_dir = os.environ.get("CNNVIS_WEIGHTS_DIR") or str(ROOT.parent / "shared" / "weights")
    real = Path(weights_dir, "MobileNetV2.weights.h5").is_file()
    ui.configure(ui.Settings(weights="imagenet" if real else "random", weights_dir=weights_dir if real else None))
    _, url, _ = ui.launch(
        app.demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True
    )
    try:
        photo = ROOT / "examples" / "cat.jpg"
        model = get_model("MobileNetV2")
        image = cnnvis.load_image(photo)
        arguments = ("MobileNetV2", "", "top class", "jet", 0.5)
        package = median_time(lambda: cnnvis.grad_cam(model, image), repeats)
        grad_cam = methods.method_endpoint(cnnvis.TECHNIQUES["grad_cam"])
        named = dict(zip(("model", "layer", "target_class", "colormap", "opacity"), arguments))
        handler = median_time(lambda: grad_cam(image=str(photo), **named), repeats)
        client = Client(url, verbose=False, analytics_enabled=False)
        upload = handle_file(str(photo))
        via_client = median_time(lambda: client.predict(upload, *arguments, api_name="/grad_cam"), repeats)
        # gradio_client opens a new httpx client for each of its ~5 requests per call, and
        # each loads the certificate store (about 20 ms) even for plain http:
        plain = Client(url, verbose=False, analytics_enabled=False, ssl_verify=False)
        via_plain = median_time(lambda: plain.predict(upload, *arguments, api_name="/grad_cam"), repeats)
        with httpx.Client(base_url=url) as http:
            fn_index = client._infer_fn_index("/grad_cam", None)
            via_page = median_time(lambda: browser_style_call(http, fn_index, photo), repeats)
        print(f"### Grad-CAM through the app (MobileNetV2, {'real' if real else 'random'} weights, "
              f"cat.jpg, 127.0.0.1, medians of {repeats})\n")
        print("| path | latency (ms) | more than the package call (ms) |")
        print("|---|---:|---:|")
        rows = [
            ("package call `cnnvis.grad_cam`", package),
            ("app handler (decode cached, Grad-CAM, two PNGs written)", handler),
            ("HTTP as the web page does it (upload, queue, event stream, 2 PNGs)", via_page),
            ("`gradio_client`, `ssl_verify=False` (plain http on loopback)", via_plain),
            ("`gradio_client`, defaults", via_client),
        ]
        for label, seconds in rows:
            print(f"| {label} | {seconds * 1000:.0f} | {(seconds - package) * 1000:+.0f} |")
        print()
    finally:
        app.demo.close()


def memory_cycle() -> None:
    import cnnvis
    from cnnvis.models.loading import MODEL_CACHE

    process = psutil.Process()
    image = cnnvis.load_image(ROOT / "examples" / "cat.jpg")
    budget = MODEL_CACHE.max_bytes / 2**20
    print(f"### Memory while cycling through {len(CYCLE)} models twice "
          f"(cache: {MODEL_CACHE.max_models} models, {budget:.0f} MB of weights)\n")
    print("| model | weights (MB) | cached models | cached weights (MB) | RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    baseline = process.memory_info().rss / 2**20
    peak = baseline
    for name in CYCLE * 2:
        model = cnnvis.load_model(name, weights=None)
        cnnvis.grad_cam(model, image)
        rss = process.memory_info().rss / 2**20
        peak = max(peak, rss)
        print(f"| {name} | {model.nbytes / 2**20:.0f} | {len(MODEL_CACHE.keys())} | "
              f"{MODEL_CACHE.nbytes / 2**20:.0f} | {rss:.0f} |")
        del model
    print(f"\nRSS before the first model {baseline:.0f} MB, peak {peak:.0f} MB, "
          f"peak minus the cache budget {peak - budget:.0f} MB.")


if __name__ == "__main__":
    http_overhead(repeats=int(os.environ.get("BENCH_REPEATS", "15")))
    memory_cycle()
