"""The ``cnnvis`` command line: explain, evaluate and classify whole folders of photos.

    cnnvis explain  --model MobileNetV2 --methods grad_cam,smoothgrad photos/ --out runs/a
    cnnvis evaluate --model MobileNetV2 --methods grad_cam,layer_cam photos/ --out runs/eval
    cnnvis classify --model MobileNetV2 photos/
    cnnvis models

Inputs are image files, folders (recursive), glob patterns and text files listing paths
(see :mod:`cnnvis.datasets.inputs`). The method choices are the registry's heatmap and
attribution techniques (``cnnvis.TECHNIQUES``). A mistake (an unknown name, a number out
of bounds, a missing file) ends the command with one sentence and exit status 2; a file
that cannot be read as an image does not: it is reported and the run goes on.

Start-up: the parser and the checks of names and inputs need no TensorFlow
(:mod:`cnnvis.datasets.choices`), so ``--help`` answers at once and a mistake is reported
before TensorFlow loads. TensorFlow is then imported with its native start-up lines
filtered (:mod:`cnnvis.serving.native_log`) unless ``--verbose`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Sequence

os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # share a GPU with others

USER_ERROR = 2
INTERRUPTED = 130
RUN_MANIFEST = "run.json"  # cnnvis.datasets.parquet.MANIFEST (a test checks), without importing pyarrow


# ----- argument types -------------------------------------------------------------------
def _class(value: str):
    """``top`` -> None (each image's top class); digits -> an index; else a label/id."""
    if value.strip().lower() in ("top", "top class", ""):
        return None
    return int(value) if value.strip().isdigit() else value


def _methods(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _option(value: str) -> tuple[str, str, object]:
    """``METHOD.NAME=VALUE``; the value is read as JSON (numbers, lists), else as text."""
    key, sep, raw = value.partition("=")
    method, dot, name = key.strip().partition(".")
    if not (sep and dot and method and name):
        raise argparse.ArgumentTypeError(f"expected METHOD.NAME=VALUE, e.g. smoothgrad.samples=20; got {value!r}")
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw
    return method, name, parsed


def _options(items) -> dict[str, dict]:
    options: dict[str, dict] = {}
    for method, name, value in items or []:
        options.setdefault(method, {})[name] = value
    return options


# ----- the parser -----------------------------------------------------------------------
def _method_help() -> str:
    from .datasets.choices import MAP_METHODS

    return ", ".join(MAP_METHODS)


def _options_help() -> str:
    """Each method's options (the registry's declarations, as cnnvis.datasets.choices holds them)."""
    from .datasets.choices import MAP_METHODS

    return "; ".join(f"{name}: {', '.join(options)}" for name, options in MAP_METHODS.items() if options)


def _add_model(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        required=True,
        help="a registry model (see `cnnvis models`), or a saved Keras model file (.keras)",
    )
    group.add_argument(
        "--weights",
        default="imagenet",
        help="imagenet (the weights folder first, then Keras' download), random, or a "
        "weights file (default: imagenet)",
    )
    group.add_argument(
        "--weights-dir",
        help="folder of <Model>.weights.h5 files (default: $CNNVIS_WEIGHTS_DIR)",
    )
    group.add_argument(
        "--preprocessing",
        help="for a .keras file: how 0-255 RGB pixels become its input (caffe, tf, torch, none)",
    )


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders (searched recursively), glob patterns, or .txt files listing paths",
    )


def _add_work(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("work")
    group.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    group.add_argument(
        "--workers", type=int, help="threads decoding photos ahead of the model (default: half the CPU cores)"
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_verbose(group)


def _add_verbose(group) -> None:
    group.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's (and Ray's) own start-up and log lines"
    )


def _add_explanation(parser: argparse.ArgumentParser, methods_help: str) -> None:
    group = parser.add_argument_group("explanation")
    group.add_argument(
        "--methods",
        type=_methods,
        default=["grad_cam"],
        help=f"comma-separated, from: {methods_help} (default: grad_cam)",
    )
    group.add_argument("--layer", help="the CAM layer (default: the feature map the model's head reads)")
    group.add_argument(
        "--class",
        dest="target_class",
        type=_class,
        default=None,
        metavar="CLASS",
        help="top (each image's top class, the default), or a class index, ImageNet id or label",
    )
    group.add_argument(
        "--option",
        dest="options",
        action="append",
        type=_option,
        metavar="METHOD.NAME=VALUE",
        help="a method's option, e.g. smoothgrad.samples=20 (repeatable); the options: "
        + _options_help(),
    )
    group.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds SmoothGrad and the random maps; each image's seed comes from it and the "
        "file's content, so results do not depend on --batch-size (default 0)",
    )


def build_parser() -> argparse.ArgumentParser:
    from .version import __version__

    methods_help = _method_help()
    parser = argparse.ArgumentParser(
        prog="cnnvis",
        description="Explain, evaluate and classify folders of photos with the ImageNet CNNs of keras.applications.",
    )
    parser.add_argument("--version", action="version", version=f"cnnvis {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    explain = commands.add_parser(
        "explain",
        help="maps for every image and method, written to Parquet",
        description="Explain every image with each method; writes OUT/results.parquet (one row "
        "per image and method, the map as a fixed-shape tensor) and OUT/errors.parquet.",
    )
    _add_model(explain)
    _add_explanation(explain, methods_help)
    out = explain.add_argument_group("output")
    out.add_argument("--out", required=True, help="the output folder")
    out.add_argument(
        "--map-size",
        type=int,
        help="side of the stored maps, in pixels (default: the model's input size)",
    )
    out.add_argument("--png", action="store_true", help="also write overlays to OUT/png/<method>/")
    out.add_argument("--resume", action="store_true", help="go on with an earlier run in OUT: skip what is written")
    engine = explain.add_argument_group("engine")
    engine.add_argument("--engine", choices=("local", "ray"), default="local", help="local (default) or ray (pip install \"cnnvis[ray]\")")
    engine.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor (default 0)")
    engine.add_argument("--ray-workers", type=int, help="Ray actors at most (default: GPUs / --gpus-per-worker, else 1)")
    _add_work(explain)
    _add_inputs(explain)

    evaluate = commands.add_parser(
        "evaluate",
        help="deletion and insertion per method over the images, with a random-map baseline",
        description="Faithfulness of each method over the images (RISE deletion and insertion, "
        "Petsiuk et al. 2018), mean and spread, with the random-map baseline; prints the table "
        "and writes OUT/evaluation.csv and OUT/evaluation_images.csv.",
    )
    _add_model(evaluate)
    _add_explanation(evaluate, methods_help)
    from .datasets.choices import METRICS

    measures = evaluate.add_argument_group("measures")
    measures.add_argument(
        "--metrics",
        type=_methods,
        default=list(METRICS),
        help=f"comma-separated, from: {', '.join(METRICS)} (default: all)",
    )
    measures.add_argument("--steps", type=int, default=20, help="perturbation steps per curve (default 20)")
    measures.add_argument("--random", choices=("blobs", "pixels"), default="blobs", help="kind of random map (default blobs)")
    measures.add_argument("--random-maps", type=int, default=3, help="random maps averaged for the baseline (default 3)")
    evaluate.add_argument("--out", default=".", help="folder for the CSV files (default: the current folder)")
    _add_work(evaluate)
    _add_inputs(evaluate)

    classify = commands.add_parser(
        "classify",
        help="the top classes of every image",
        description="The model's top classes for every image; prints them, and writes OUT/classes.csv with --out.",
    )
    _add_model(classify)
    classify.add_argument("--top", type=int, default=5, help="classes per image (default 5)")
    classify.add_argument("--out", help="also write OUT/classes.csv")
    _add_work(classify)
    _add_inputs(classify)

    models = commands.add_parser(
        "models",
        help="the registry's models and which weights are available",
        description="Every registry model with its input size, preprocessing and where its ImageNet weights come from.",
    )
    models.add_argument("--weights-dir", help="folder of <Model>.weights.h5 files (default: $CNNVIS_WEIGHTS_DIR)")
    models.add_argument(
        "--hub",
        action="store_true",
        help="also list keras-hub's ImageNet classifiers (keras_hub:<preset>, the hub extra)",
    )
    _add_verbose(models)
    return parser


# ----- checks before TensorFlow loads ---------------------------------------------------
def check_early(args) -> None:
    """The mistakes that need no TensorFlow, in the order the package checks them
    (metrics, the model, methods and options, the inputs, the output folder): a missing
    file or an unknown name is reported in a second. Expanded inputs replace
    ``args.inputs``, so the folders are walked once."""
    from .datasets import choices
    from .datasets.inputs import expand_inputs

    if args.command == "models":
        return
    if args.command == "evaluate":
        args.metrics = choices.check_metrics(args.metrics)
    choices.check_model(args.model)
    choices.check_weights(args.model, args.weights)
    if args.command in ("explain", "evaluate"):
        choices.check_names(args.methods, _options(args.options), choices.MAP_METHODS)
    args.inputs = expand_inputs(args.inputs)
    if args.command == "explain" and not args.resume:
        out_dir = os.path.abspath(args.out)
        if os.path.exists(os.path.join(out_dir, RUN_MANIFEST)):
            from .datasets.files import shown_name
            from .errors import ParameterError, quoted

            raise ParameterError(
                f"The folder {quoted(shown_name(out_dir))} already holds a run; add --resume to go on "
                "with it, or choose another --out."
            )


def start_tensorflow(verbose: bool) -> None:
    """Import TensorFlow and Keras now. Unless ``verbose``: its native start-up lines
    (oneDNN, "Could not find cuda drivers", printed before its log level is read) are
    filtered, and its Python loggers keep to errors."""
    if verbose or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the native lines after start-up
    from .serving.native_log import quiet_native_start

    with quiet_native_start():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    for name in ("tensorflow", "absl", "keras", "ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


# ----- commands -------------------------------------------------------------------------
def _explain_arguments(args) -> dict:
    return dict(
        weights=args.weights,
        weights_dir=args.weights_dir,
        preprocessing=args.preprocessing,
        layer=args.layer,
        target_class=args.target_class,
        options=_options(args.options),
        seed=args.seed,
        batch_size=args.batch_size,
        workers=args.workers,
    )


def run_explain(args) -> int:
    from .datasets import explain_dataset

    run = explain_dataset(
        args.model,
        args.inputs,
        args.methods,
        map_size=args.map_size,
        png=args.png,
        engine=args.engine,
        gpus_per_worker=args.gpus_per_worker,
        ray_workers=args.ray_workers,
        **_explain_arguments(args),
    )
    from .datasets.files import shown_name

    summary = run.write(args.out, resume=args.resume, progress=not args.quiet, verbose=args.verbose)
    for name in map(shown_name, summary.set_aside):
        print(
            f"A part file of an earlier run that could not be read whole, {name}, was set aside "
            f"(renamed .incomplete-{name}); its photos were done again.",
            file=sys.stderr,
        )
    if summary.left_out:
        print(f"{summary.left_out} input file(s) inside the output folder were left out (the output is never an input).", file=sys.stderr)
    done = f"; {summary.skipped} already done" if summary.skipped else ""
    print(
        f"Explained {summary.images} images with {len(run.settings.methods)} method(s): {summary.rows} rows "
        f"in {summary.seconds:.1f} s ({summary.rate:.2f} images/s){done}."
    )
    if summary.errors:
        print(f"{summary.errors} file(s) could not be read: see {shown_name(os.path.join(summary.out, 'errors.parquet'))}.")
    print(f"Results: {shown_name(os.path.join(summary.out, 'results.parquet'))}")
    return 0


def run_evaluate(args) -> int:
    from .datasets.evaluation import evaluate_dataset

    evaluation = evaluate_dataset(
        args.model,
        args.inputs,
        args.methods,
        metrics=args.metrics,
        steps=args.steps,
        random=args.random,
        random_maps=args.random_maps,
        **_explain_arguments(args),
    )
    from .datasets.files import shown_name

    files = evaluation.write(args.out, progress=not args.quiet)
    print(evaluation.table())
    if evaluation.errors:
        print(f"{len(evaluation.errors)} file(s) could not be read: see {shown_name(files['errors'])}.")
    print(f"Written: {shown_name(files['summary'])}, {shown_name(files['images'])}")
    return 0


def run_classify(args) -> int:
    import csv

    from .datasets.classify import classify_dataset
    from .datasets.decode import FileError
    from .datasets.files import shown_name, stored_name

    results = classify_dataset(
        args.model,
        args.inputs,
        top=args.top,
        weights=args.weights,
        weights_dir=args.weights_dir,
        preprocessing=args.preprocessing,
        batch_size=args.batch_size,
        workers=args.workers,
    )
    handle = writer = None
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        handle = open(os.path.join(args.out, "classes.csv"), "w", newline="", encoding="utf-8")
        writer = csv.writer(handle)
        writer.writerow(["path", "rank", "index", "wnid", "label", "probability", "logit"])
    errors = 0
    try:
        for result in results:
            if isinstance(result, FileError):
                errors += 1
                print(f"{shown_name(result.path)}: {result.error}", file=sys.stderr)
                continue
            shown = "  ".join(f"{p.rank}. {p.label} {p.probability:.3f}" for p in result.predictions)
            print(f"{shown_name(result.path)}\t{shown}")
            if writer is not None:
                for p in result.predictions:
                    writer.writerow([stored_name(result.path), p.rank, p.index, p.wnid or "", p.label, repr(p.probability), repr(p.logit)])
    finally:
        if handle is not None:
            handle.close()
    if errors:
        print(f"{errors} file(s) could not be read.", file=sys.stderr)
    return 0


def run_models(args) -> int:
    from .models.loading import REGISTRY, weights_status

    if args.weights_dir is not None and not os.path.isdir(args.weights_dir):
        from .errors import ParameterError, quoted

        raise ParameterError(f"The weights folder {quoted(args.weights_dir)} does not exist.")
    rows = []
    for name in sorted(REGISTRY):
        spec = REGISTRY[name]
        status = weights_status(name, args.weights_dir)  # reads no weights, downloads nothing
        rows.append((name, f"{spec.input_size} x {spec.input_size}", spec.family, status.label, status.detail))
    headers = ("model", "input", "preprocessing", "ImageNet weights", "")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(4)]
    for row in [headers, *rows]:
        print(("  ".join(value.ljust(width) for value, width in zip(row[:4], widths)) + "  " + row[4]).rstrip())
    ready = sum(row[3] == "ready" for row in rows)
    print(f"{len(rows)} models, {ready} with ImageNet weights ready here; every one also runs with --weights random.")
    if getattr(args, "hub", False):
        from .models import hub

        print()
        headers = ("keras-hub model", "input", "parameters", "weights")
        rows = [
            (spec.name, f"{spec.input_size} x {spec.input_size}", f"{spec.parameters / 1e6:.1f} M", hub.status_tag(spec))
            for spec in hub.hub_models()
        ]
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(4)]
        for row in [headers, *rows]:
            print("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip())
        print(f"{len(rows)} keras-hub presets (downloaded from Kaggle on first use).")
    return 0


COMMANDS = {"explain": run_explain, "evaluate": run_evaluate, "classify": run_classify, "models": run_models}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (2 for a user's mistake)."""
    from .errors import CnnvisError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_early(args)
        start_tensorflow(args.verbose)
        return COMMANDS[args.command](args)
    except CnnvisError as error:
        print(f"cnnvis {args.command}: error: {error}", file=sys.stderr)
        return USER_ERROR
    except OSError as error:  # the output folder or a list file: the system said no
        from .datasets.files import shown_name

        where = f" ({shown_name(os.path.basename(str(error.filename)))})" if error.filename else ""
        print(f"cnnvis {args.command}: error: {error.strerror or error}{where}.", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print(f"cnnvis {args.command}: stopped; what was written is kept (add --resume to go on).", file=sys.stderr)
        return INTERRUPTED


__all__ = ["build_parser", "main"]
