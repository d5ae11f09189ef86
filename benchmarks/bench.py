"""Speed of every technique, as ratios to the compiled forward pass of the same model.

    python benchmarks/bench.py                       # the six reference models
    python benchmarks/bench.py --models MobileNetV2  # one model
    python benchmarks/bench.py --peers --curves      # + tf-keras-vis and scaling curves
    python benchmarks/bench.py --device gpu          # the GPU table (refuses without a GPU)
    python benchmarks/bench.py --models MobileNetV2,vit-base  # a ViT-Base (keras-hub config)

Each figure is the median of several warm calls of the public function on a real photo
(examples/cat.jpg, 451 x 300), end to end (resizing, the compiled call, upsampling).
"forward" is the compiled forward pass alone on a model-size batch, measured in the same
run, so the ratios are comparable across machines. Random weights are used where real
ones are not available: the cost of a network does not depend on its weights' values.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import cnnvis  # noqa: E402
import cnnvis.models.devices  # noqa: E402
from cnnvis import TECHNIQUES  # noqa: E402
from cnnvis.techniques import compiled  # noqa: E402
from cnnvis.techniques.base import prepare  # noqa: E402

REFERENCE_MODELS = ["MobileNetV2", "ResNet50", "InceptionV3", "EfficientNetB0", "VGG16", "ConvNeXtTiny"]
# Techniques timed outside the registry loop (no image, or one step stands for the method).
SPECIAL = {"filters", "deep_dream", "feature_visualization", "compare"}
# Settings for the table: batched methods at the sample counts the targets name.
OPTIONS = {
    "smoothgrad": ({"samples": 16}, "16 samples"),
    "integrated_gradients": ({"steps": 15}, "16 points"),
    "score_cam": ({"max_channels": 256}, "256 channels"),
}
# Forward passes (or gradients) each batched method makes, for passes per second.
PASSES = {"smoothgrad": 16, "integrated_gradients": 16, "score_cam": 256}


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(first call, median of ``repeats`` further calls), in seconds."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times) if times else first


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


VIT_BASE = "vit-base"  # keras-hub's ViT-Base/16 at 224 px, built from its config (no download)


def vit_base() -> cnnvis.VisModel:
    """ViT-B/16 (12 blocks, 12 heads, 768 wide, 1000 classes) from the config of keras-hub's
    vit_base_patch16_224_imagenet, seeded random weights, its preset's preprocessing (-1..1)."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072
    )
    converter = keras_hub.layers.ViTImageConverter(image_size=(224, 224), scale=1 / 127.5, offset=-1.0)
    classifier = keras_hub.models.ViTImageClassifier(
        backbone=backbone,
        num_classes=1000,
        preprocessor=keras_hub.models.ViTImageClassifierPreprocessor(image_converter=converter),
    )
    return cnnvis.wrap_model(classifier, name="ViT-Base/16 (keras-hub config)")


def load(name: str, weights_dir: Path | None) -> tuple[cnnvis.VisModel, str]:
    if name == VIT_BASE:
        return vit_base(), "random"
    if weights_dir and (weights_dir / f"{name}.weights.h5").is_file():
        return cnnvis.load_model(name, weights_dir=weights_dir), "imagenet"
    return cnnvis.load_model(name, weights=None), "random"


def eager_grad_cam(model: cnnvis.VisModel, batch: np.ndarray) -> Callable[[], object]:
    """The common keras.io recipe: an eager GradientTape over a two-output sub-model."""
    keras_model = model.keras_model
    # the default layer may be an operation rather than a layer (ConvNeXt's residual add)
    [maps_output] = [op.output for op in keras_model.operations if op.name == model.default_layer]
    grad_model = tf.keras.Model(keras_model.input, [maps_output, keras_model.output])
    x = model.preprocessing.apply(batch)

    def run():
        with tf.GradientTape() as tape:
            maps, predictions = grad_model(x, training=False)
            score = predictions[:, int(tf.argmax(predictions[0]))]
        return tape.gradient(score, maps)

    return run


def on_photo(result) -> object:
    """The result with its map brought to the photo's size, as the app shows it: results
    keep their native map and resize on request, so the upsampling is timed here."""
    getattr(result, "heatmap", None)
    getattr(result, "values", None)
    return result


def bench_model(name: str, image: np.ndarray, repeats: int, weights_dir: Path | None) -> dict:
    rows: dict[str, dict] = {}
    start = time.perf_counter()
    model, weights = load(name, weights_dir)
    load_s = time.perf_counter() - start
    batch = prepare(model, image).batch

    forward = compiled.forward(model)
    first, warm = timed(lambda: forward(batch).numpy(), repeats)
    rows["forward (compiled)"] = {"first": first, "warm": warm}
    base = warm
    _, eager = timed(lambda: model.keras_model(batch, training=False).numpy(), max(3, repeats // 2))
    rows["forward (eager)"] = {"first": None, "warm": eager}
    if name != VIT_BASE:  # a ViT's blocks are no graph nodes: the recipe cannot reach them
        _, eager_cam = timed(eager_grad_cam(model, batch), max(3, repeats // 2))
        rows["Grad-CAM, eager keras.io recipe"] = {"first": None, "warm": eager_cam}

    gradient = compiled.input_gradient(model, guided=False)
    _, one_gradient = timed(lambda: gradient(batch, np.array([-1], np.int32))[0].numpy(), repeats)
    rows["one input gradient (compiled)"] = {"first": None, "warm": one_gradient}

    for technique in TECHNIQUES.values():
        if technique.name in SPECIAL or technique.output in ("ranking", "randomization", "pointing"):
            continue  # the checks are measured in benchmarks/bench_trust.py
        options, label = OPTIONS.get(technique.name, ({}, ""))
        call = lambda t=technique, o=options: on_photo(t.function(model, image, **o))  # noqa: E731
        try:
            first, warm = timed(call, 3 if technique.name == "score_cam" else repeats)
        except cnnvis.ParameterError:  # refused on this model (guided backprop on a ViT,
            continue  # attention rollout on a CNN): no row
        title = f"{technique.title} ({label})" if label else technique.title
        rows[title] = {"first": first, "warm": warm}
        if technique.name in PASSES:
            rows[title]["passes_per_s"] = PASSES[technique.name] / warm
            rows[title]["x_gradient"] = warm / one_gradient

    layers = list(model.visual_layers)
    four = [layers[int(i)] for i in np.linspace(len(layers) * 0.2, len(layers) - 1, 4)]
    first, warm = timed(lambda: cnnvis.feature_maps(model, image, four), repeats)
    rows["Feature maps, 4 layers"] = {"first": first, "warm": warm}
    first, warm = timed(lambda: cnnvis.filters(model), repeats)
    rows["Filters (first conv)"] = {"first": first, "warm": warm}

    # One Deep Dream step at the model's input size, against the forward pass at that size.
    step = compiled.dream_step(model, model.dream_layers)
    dream = model.preprocessing.apply(batch)
    low, high = (b.astype(np.float32) for b in model.preprocessing.pixel_bounds())
    weights_vec = np.ones(len(model.dream_layers), np.float32)
    args = (dream, weights_vec, np.full(3, 0.01, np.float32), np.zeros(2, np.int32), low, high)
    first, warm = timed(lambda: step(*args)[1].numpy(), repeats)
    rows["Deep Dream, one step"] = {"first": first, "warm": warm}

    # Feature visualisation at the model's input size: (16 steps - 1 step) / 15 per step.
    side = int(batch.shape[1])
    vis = lambda n: cnnvis.feature_visualization(model, channels=[0], steps=n, size=side)  # noqa: E731
    first, _ = timed(lambda: vis(1), 0)
    _, one = timed(lambda: vis(1), 3)
    _, sixteen = timed(lambda: vis(16), 3)
    rows["Feature visualisation, one step"] = {"first": first, "warm": (sixteen - one) / 15}

    for row in rows.values():
        row["ratio"] = row["warm"] / base
    return {"model": name, "weights": weights, "load_s": load_s, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def bench_peers(image: np.ndarray, name: str, repeats: int, weights_dir: Path | None) -> list[dict]:
    """tf-keras-vis 0.8.7 on the same model, image and class (a dev-only dependency)."""
    import keras

    keras.utils.disable_interactive_logging()  # ScoreCAM's model.predict draws progress bars
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    model, _ = load(name, weights_dir)
    batch = prepare(model, image).batch
    seed = model.preprocessing.apply(batch)
    klass = cnnvis.classify(model, image, top=1)[0].index
    score = CategoricalScore([klass])
    theirs_model = model.keras_model  # logits already: no model modifier needed
    pairs = [
        ("Grad-CAM", lambda: Gradcam(theirs_model, clone=False)(score, seed, penultimate_layer=model.default_layer),
         lambda: cnnvis.grad_cam(model, image, target_class=klass)),
        ("Saliency", lambda: Saliency(theirs_model, clone=False)(score, seed),
         "vanilla_gradient"),
        ("SmoothGrad (20 samples)", lambda: Saliency(theirs_model, clone=False)(score, seed, smooth_samples=20),
         "smoothgrad"),
        ("Grad-CAM++", lambda: GradcamPlusPlus(theirs_model, clone=False)(score, seed, penultimate_layer=model.default_layer),
         "grad_cam_plus_plus"),
        ("Score-CAM", lambda: Scorecam(theirs_model, clone=False)(score, seed, penultimate_layer=model.default_layer, batch_size=32),
         "score_cam"),
    ]
    results = []
    for title, theirs, ours in pairs:
        if isinstance(ours, str):
            if ours not in TECHNIQUES:
                continue
            kwargs = {"samples": 20} if ours == "smoothgrad" else {}
            ours = lambda n=ours, kw=kwargs: TECHNIQUES[n].function(model, image, target_class=klass, **kw)  # noqa: E731
        peer_repeats = 1 if title == "Score-CAM" else repeats
        _, their_time = timed(theirs, peer_repeats)
        _, our_time = timed(ours, peer_repeats)
        results.append({"method": title, "tf_keras_vis": their_time, "cnnvis": our_time, "speedup": their_time / our_time})
    return results


def bench_curves(image: np.ndarray, weights_dir: Path | None, repeats: int) -> dict:
    """How cost grows: image size, number of layers, batch size (MobileNetV2)."""
    model, _ = load("MobileNetV2", weights_dir)
    curves: dict[str, list] = {}
    rng = np.random.default_rng(0)
    for side in (224, 512, 1024, 2048):
        photo = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        _, warm = timed(lambda: cnnvis.grad_cam(model, photo), repeats)
        curves.setdefault("Grad-CAM vs image side", []).append((side, warm))
    step = compiled.dream_step(model, model.dream_layers)
    low, high = (b.astype(np.float32) for b in model.preprocessing.pixel_bounds())
    for side in (128, 256, 384, 512):
        dream = rng.uniform(-1, 1, (1, side, side, 3)).astype(np.float32)
        args = (dream, np.ones(len(model.dream_layers), np.float32), np.full(3, 0.01, np.float32),
                np.zeros(2, np.int32), low, high)
        _, warm = timed(lambda: step(*args)[1].numpy(), repeats)
        curves.setdefault("Deep Dream step vs image side", []).append((side, warm))
    layers = list(model.visual_layers)
    for count in (1, 2, 4, 8, 16, 32):
        chosen = tuple(layers[int(i)] for i in np.linspace(0, len(layers) - 1, count))
        _, warm = timed(lambda: cnnvis.feature_maps(model, image, chosen), repeats)
        curves.setdefault("Feature maps vs number of layers", []).append((count, warm))
    gradient = compiled.input_gradient(model, guided=False)
    batch = prepare(model, image).batch
    for size in (1, 4, 16, 32, 64):
        stacked = np.repeat(batch, size, axis=0)
        index = np.full(size, -1, np.int32)
        _, warm = timed(lambda: gradient(stacked, index)[0].numpy(), max(2, repeats // 2))
        curves.setdefault("Input gradient vs batch size", []).append((size, warm))
    forward = compiled.forward(model)
    for size in (1, 8, 32, 64, 128):
        stacked = np.repeat(batch, size, axis=0)
        _, warm = timed(lambda: forward(stacked).numpy(), max(2, repeats // 2))
        curves.setdefault("Forward vs batch size (Score-CAM, occlusion)", []).append((size, warm))
    return curves


def print_model(result: dict) -> None:
    print(f"\n### {result['model']} ({result['weights']} weights): load {result['load_s']:.1f} s, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB\n")
    print("| technique | warm (ms) | x forward | first call (s) | notes |")
    print("|---|---:|---:|---:|---|")
    for title, row in result["rows"].items():
        first = "" if row["first"] is None else f"{row['first']:.2f}"
        notes = ""
        if "passes_per_s" in row:
            notes = f"{row['passes_per_s']:.0f} passes/s, {row['x_gradient']:.1f}x one input gradient"
        print(f"| {title} | {row['warm'] * 1000:.1f} | {row['ratio']:.2f} | {first} | {notes} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(REFERENCE_MODELS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--weights-dir", type=Path, default=os.environ.get("CNNVIS_WEIGHTS_DIR") or ROOT.parent / "shared" / "weights")
    parser.add_argument("--peers", action="store_true", help="also time tf-keras-vis on MobileNetV2")
    parser.add_argument("--curves", action="store_true", help="also print how cost grows")
    parser.add_argument("--json", type=Path, help="write all figures to this file")
    parser.add_argument("--device", choices=cnnvis.models.devices.DEVICES, default="auto",
                        help="auto: the GPU if there is one; cpu: hide GPUs; gpu: require one")
    args = parser.parse_args()
    device = cnnvis.models.devices.configure(args.device)
    weights_dir = args.weights_dir if args.weights_dir and Path(args.weights_dir).is_dir() else None
    image = cnnvis.load_image(ROOT / "examples" / "cat.jpg")
    devices = [d.device_type for d in tf.config.list_physical_devices()]
    print(f"# cnnvis benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"devices {devices}, computing on the {device}, TensorFlow {tf.__version__}")
    report: dict = {"machine": {"cpus": os.cpu_count(), "devices": devices, "device": str(device),
                                "tf": tf.__version__}, "models": []}
    for name in args.models.split(","):
        result = bench_model(name.strip(), image, args.repeats, weights_dir)
        print_model(result)
        report["models"].append(result)
    if args.peers:
        peers = bench_peers(image, "MobileNetV2", args.repeats, weights_dir)
        print("\n### Against tf-keras-vis 0.8.7 (MobileNetV2, same image and class)\n")
        print("| method | tf-keras-vis (ms) | cnnvis (ms) | speed-up |")
        print("|---|---:|---:|---:|")
        for row in peers:
            print(f"| {row['method']} | {row['tf_keras_vis'] * 1000:.0f} | {row['cnnvis'] * 1000:.1f} | {row['speedup']:.1f}x |")
        report["peers"] = peers
    if args.curves:
        curves = bench_curves(image, weights_dir, args.repeats)
        print("\n### How cost grows (MobileNetV2)\n")
        for title, points in curves.items():
            print(f"- {title}: " + ", ".join(f"{x}: {t * 1000:.0f} ms" for x, t in points))
        report["curves"] = curves
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
