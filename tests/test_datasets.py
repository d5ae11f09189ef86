"""Whole datasets: batched techniques against the package functions, the pipeline, the
Parquet layout, resume, errors, seeds, evaluation, and Ray against the local engine."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cnnvis
from cnnvis.datasets import explain_dataset, read_results, table_rows
from cnnvis.datasets import decode as decode_module
from cnnvis.datasets.batched import RESERVED, uses_layer
from cnnvis.techniques.base import Heatmap
from cnnvis.datasets.decode import decode_file, prefetch
from cnnvis.datasets.evaluation import METRICS, evaluate_dataset
from cnnvis.datasets.inputs import expand_inputs
from cnnvis.datasets.parquet import ERRORS, RESULTS
from cnnvis.datasets.source import ModelSource
from cnnvis.errors import ParameterError, UnknownLayerError

from .dataset_helpers import FAST_OPTIONS, example_photos, photo_folder, save_tiny_model

# Every heatmap and attribution technique of the registry.
# Map methods that run on every model (attention rollout needs a transformer: tests/test_hub_models.py).
MAP_TECHNIQUES = {
    n: t for n, t in cnnvis.TECHNIQUES.items() if t.output in ("heatmap", "attribution") and t.needs is None
}
METHODS = list(MAP_TECHNIQUES)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny model as the command line loads it (the same cached model and compiled
    functions as tests/test_cli.py)."""
    path = save_tiny_model(tmp_path_factory.getbasetemp())
    return ModelSource.parse(str(path), preprocessing="none").load()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder(tmp_path_factory.mktemp("datasets"))


def package_map(model, name, image, **kwargs):
    """What the single-image package function returns, as an array."""
    result = MAP_TECHNIQUES[name].function(model, image, **kwargs)
    return result, (result.heatmap if hasattr(result, "heatmap") else result.values)


def method_options(name, seed=None):
    options = dict(FAST_OPTIONS.get(name, {}))
    if seed is not None and name == "smoothgrad":
        options["seed"] = seed
    return options


def assert_same_map(got, expected, what):
    """Equal to 1e-5 of the map's scale (heatmaps are in [0, 1]; gradients are small)."""
    scale = max(float(np.abs(expected).max()), 1e-12)
    assert got.shape == expected.shape, what
    assert float(np.abs(got - expected).max()) <= 1e-5 * scale, what


# ----- batched = the package functions --------------------------------------------------
def raw_maps(run, paths, method, target_class=None, logits=False):
    """The run's results (the techniques' own, at native resolution) for ``paths``."""
    explainer = run.explainer
    items = [decode_file(str(p), explainer.input_size, run.settings.seed) for p in paths]
    classes = None
    if target_class is not None:
        classes = np.full(len(items), target_class, np.int32)
    results, values = explainer.results(explainer.batch(items, classes), method)
    return (items, results, values) if logits else (items, results)


@pytest.mark.parametrize("name", METHODS)
def test_batched_equals_the_package_function_for_every_registry_method(tiny, name):
    paths = example_photos()[:5]  # photos of several sizes, one batch
    run = explain_dataset(tiny, paths, [name], options={k: v for k, v in FAST_OPTIONS.items() if k == name})
    items, maps = raw_maps(run, paths, name)
    assert len(maps) == len(items) == 5
    for item, raw in zip(items, maps):
        image = cnnvis.load_image(item.path)
        result, expected = package_map(tiny, name, image, **method_options(name, item.seed))
        assert raw.class_index == result.class_index
        assert_same_map(raw.at(image.shape[:2]), expected, f"{name} on {os.path.basename(item.path)}")


@pytest.mark.parametrize("name", [n for n in METHODS if n in ("grad_cam", "guided_grad_cam", "score_cam", "smoothgrad")])
def test_batched_explains_the_class_asked_for(tiny, name):
    paths = example_photos()[:3]
    run = explain_dataset(tiny, paths, [name], target_class=2)
    items, maps = raw_maps(run, paths, name, target_class=2)
    for item, raw in zip(items, maps):
        image = cnnvis.load_image(item.path)
        kwargs = {"seed": item.seed} if name == "smoothgrad" else {}
        _, expected = package_map(tiny, name, image, target_class=2, **kwargs)
        assert raw.class_index == 2
        assert_same_map(raw.at(image.shape[:2]), expected, name)


def test_the_cam_family_and_the_input_gradients_compute_a_batch_per_call():
    """Their batch forms are registered with them (no hand-kept list), and the CAM ones
    take the run's layer; guided backprop's own layer (a channel's) is not the run's."""
    batched = {name for name, t in MAP_TECHNIQUES.items() if t.batch is not None}
    cams = {"grad_cam", "grad_cam_plus_plus", "layer_cam", "score_cam", "eigen_cam", "guided_grad_cam"}
    assert batched >= cams | {"guided_backprop", "vanilla_gradient", "gradient_x_input"}
    assert {name for name in batched if uses_layer(MAP_TECHNIQUES[name])} == cams


def test_batched_equals_the_package_on_mobilenet_v2_real_weights(mobilenet_v2):
    paths = [example_photos()[i] for i in (2, 6)]  # cat.jpg, rocket.jpg
    names = ["grad_cam", "guided_grad_cam"]  # the batched CAM pass and the guided gradient
    run = explain_dataset(mobilenet_v2, paths, names)
    for name in names:
        items, maps, logits = raw_maps(run, paths, name, logits=True)
        for item, raw in zip(items, maps):
            image = cnnvis.load_image(item.path)
            result, expected = package_map(mobilenet_v2, name, image)
            assert raw.class_index == result.class_index
            assert_same_map(raw.at(image.shape[:2]), expected, name)
    assert maps[0].class_index == 285 and mobilenet_v2.probability(logits[0], 285) > 0.5  # cat.jpg: Egyptian cat
    assert maps[0].layer == "out_relu" and maps[0].factors is not None
    assert maps[0].native.shape == (224, 224, 3)  # at the model's input, not the photo's


def test_a_heatmap_brings_its_native_grid_to_any_size_bilinear_up_and_by_area_down():
    grid = np.linspace(0.0, 1.0, 48, dtype=np.float32).reshape(6, 8)
    result = Heatmap(grid, (30, 40), "Grad-CAM", "tiny", "features", 0, "class 0", 0.0)
    np.testing.assert_array_equal(result.heatmap, cnnvis.images.resize_map(grid, (30, 40)))
    assert result.heatmap is result.heatmap  # computed once, kept
    np.testing.assert_allclose(result.at((3, 4)), grid.reshape(3, 2, 4, 2).mean(axis=(1, 3)), atol=1e-6)
    np.testing.assert_array_equal(result.at((6, 8)), grid)


# ----- the pipeline -------------------------------------------------------------------
def test_decoding_runs_at_most_a_window_ahead_of_the_model():
    pulled = []

    def paths():
        for index in range(40):
            pulled.append(index)
            yield str(example_photos()[index % 8])

    stream = prefetch(paths(), (16, 16), 0, workers=3, window=5)
    for consumed in range(1, 12):
        next(stream)
        assert len(pulled) <= consumed + 5
    stream.close()
    assert len(pulled) < 40


def test_two_batches_are_computed_at_once_never_more_and_rows_keep_the_file_order(tiny, photos, monkeypatch):
    """While one batch's pass runs, the next batch is computed beside it (BATCHES_IN_FLIGHT);
    a third waits, and the rows still come in the order of the files."""
    import threading

    from cnnvis.datasets import run as run_module
    from cnnvis.datasets.explain import Explainer

    assert run_module.BATCHES_IN_FLIGHT == 2
    expected = [(r.path, r.method) for r in explain_dataset(tiny, photos, ["grad_cam"], batch_size=2)]
    real_explain = Explainer.explain
    lock = threading.Lock()
    active, most, calls = [0], [0], [0]
    second_started, third_started = threading.Event(), threading.Event()

    def explain(self, items, wanted=None, out_dir=None, on_image=None):
        with lock:
            active[0] += 1
            calls[0] += 1
            most[0] = max(most[0], active[0])
            number = calls[0]
            (second_started if active[0] == 2 else third_started if active[0] >= 3 else threading.Event()).set()
        try:
            if number <= 2:  # the first two batches wait until both run,
                assert second_started.wait(60), "the second batch never started beside the first"
                third_started.wait(0.5)  # and give a third the chance to start (it must not)
            return real_explain(self, items, wanted, out_dir, on_image)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(Explainer, "explain", explain)
    rows = list(explain_dataset(tiny, photos, ["grad_cam"], batch_size=2))
    assert most[0] == 2 and not third_started.is_set()
    assert calls[0] > 2 and [(r.path, r.method) for r in rows] == expected


def test_a_batch_that_fails_ends_the_run_with_its_error_after_the_rows_before_it(tiny, photos, monkeypatch):
    from cnnvis.datasets.explain import Explainer

    real_explain = Explainer.explain
    calls = []

    def explain(self, items, wanted=None, out_dir=None, on_image=None):
        calls.append(len(items))
        if len(calls) == 2:
            raise MemoryError("the second batch")
        return real_explain(self, items, wanted, out_dir, on_image)

    monkeypatch.setattr(Explainer, "explain", explain)
    stream = iter(explain_dataset(tiny, photos, ["grad_cam", "eigen_cam"], batch_size=2))
    first = [next(stream), next(stream)]  # the first batch's rows (one photo: batches ramp up from 1)
    with pytest.raises(MemoryError, match="the second batch"):
        next(stream)
    assert len({row.path for row in first}) == 1 and calls[0] == 1
    assert len(calls) <= 3  # no batch was started after the failure was known


def test_rows_come_in_file_order_with_the_settings_on_every_row(tiny, photos):
    run = explain_dataset(tiny, photos, ["grad_cam", "vanilla_gradient"], batch_size=3, map_size=12, seed=7)
    rows = list(run)
    paths = expand_inputs(photos)
    good = [p for p in paths if os.path.basename(p) not in ("notes.jpg", "empty.png", "cut.jpg")]
    assert [r.path for r in rows] == [p for p in good for _ in range(2)]
    assert [r.method for r in rows[:2]] == ["grad_cam", "vanilla_gradient"]
    assert {e.path for e in run.errors} == set(paths) - set(good)
    for row in rows:
        assert row.map.shape == (12, 12) and row.map.dtype == np.float32
        assert 0.0 <= row.map.min() and row.map.max() <= 1.0
        assert row.cnnvis_version == cnnvis.__version__ and row.model == "tiny"
        params = row.parameters
        assert params["seed"] == 7 and params["map_size"] == [12, 12] and params["class"] == "top"
        assert params["layer"] == ("features" if row.method == "grad_cam" else None)
        assert 0.0 < row.probability <= 1.0 and row.label == f"class {row.class_index}"


def sigmoid_headed_model():
    """A 3-class multi-label model ending in a Dense sigmoid (seeded, 16 x 16)."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return cnnvis.wrap_model(keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(x)), "0-1")


def test_the_parquet_probability_is_classifys_for_a_sigmoid_head(tmp_path):
    """One rule for the probabilities on every path: a dataset row says what
    :func:`cnnvis.classify` says (one sigmoid per class), for every kind of method."""
    vis = sigmoid_headed_model()
    assert vis.head.rule == "sigmoid"
    paths = example_photos()[:3]
    methods = ["grad_cam", "score_cam", "vanilla_gradient", "guided_grad_cam", "smoothgrad"]
    explain_dataset(vis, paths, methods, options={"smoothgrad": {"samples": 2}, "score_cam": {"max_channels": 2}}).write(tmp_path)
    rows = table_rows(read_results(tmp_path))
    assert len(rows) == len(paths) * len(methods)
    for row in rows:
        predictions = cnnvis.classify(vis, cnnvis.load_image(row.path), top=3)
        top = predictions[0]
        assert row.class_index == top.index, row.method
        assert row.probability == pytest.approx(top.probability, rel=1e-5), row.method
        assert row.probability == pytest.approx(1 / (1 + np.exp(-row.logit)), rel=1e-6)
        logits = np.array([p.logit for p in sorted(predictions, key=lambda p: p.index)])
        across = float(np.exp(top.logit) / np.exp(logits).sum())  # what a softmax would say
        assert abs(row.probability - across) > 0.05, row.method


def test_a_file_that_cannot_be_read_goes_to_the_errors_table_and_the_run_goes_on(tiny, photos, tmp_path):
    summary = explain_dataset(tiny, photos, ["grad_cam"], batch_size=4).write(tmp_path / "out")
    assert (summary.images, summary.rows, summary.errors) == (8, 8, 3)
    errors = pq.read_table(tmp_path / "out" / ERRORS).to_pylist()
    kinds = {os.path.basename(e["path"]): e["kind"] for e in errors}
    assert kinds == {"notes.jpg": "NotAnImageError", "empty.png": "NotAnImageError", "cut.jpg": "TruncatedImageError"}
    assert all(e["error"].endswith(".") and "\n" not in e["error"] for e in errors)
    assert read_results(tmp_path / "out").num_rows == 8


def test_results_are_a_fixed_shape_tensor_column_written_a_row_group_per_batch(tiny, photos, tmp_path):
    explain_dataset(tiny, photos, ["grad_cam", "gradient_x_input"], batch_size=3, map_size=20).write(tmp_path / "out")
    table = read_results(tmp_path / "out")
    column = table.schema.field("map")
    assert isinstance(column.type, pa.FixedShapeTensorType)
    assert column.type.shape == [20, 20] and column.type.value_type == pa.float32()
    assert b"cnnvis.map" in table.schema.metadata
    maps = table.column("map").combine_chunks().to_numpy_ndarray()
    assert maps.shape == (16, 20, 20)
    parts = sorted(os.listdir(tmp_path / "out" / RESULTS))
    assert parts == ["part-00000.parquet", "part-00001.parquet"]
    # 8 readable photos (the errors take no room) in batches ramping up to 3: 1, 2, 3, 2.
    # The first batch is a part of its own (readable at once), the rest a row group each.
    groups = [pq.ParquetFile(tmp_path / "out" / RESULTS / part).num_row_groups for part in parts]
    assert groups == [1, 3]
    assert pq.read_table(tmp_path / "out" / RESULTS / parts[0]).num_rows == 1 * 2  # one photo, two methods
    rows = table_rows(table)
    assert {r.output for r in rows} == {"heatmap", "attribution"}
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["settings"]["methods"] == ["grad_cam", "gradient_x_input"]


def test_results_do_not_depend_on_the_batch_size(tiny, photos):
    methods = ["grad_cam", "score_cam", "guided_grad_cam", "smoothgrad"]
    options = {"smoothgrad": {"samples": 6}, "score_cam": {"max_channels": 3}}
    results = {}
    for batch_size in (1, 3, 8):
        rows = list(explain_dataset(tiny, photos, methods, options=options, batch_size=batch_size, seed=3))
        results[batch_size] = {(r.path, r.method): r for r in rows}
    assert len(results[1]) == 8 * len(methods)
    for batch_size in (3, 8):
        for key, row in results[1].items():
            other = results[batch_size][key]
            assert other.class_index == row.class_index and other.seed == row.seed
            np.testing.assert_array_equal(other.map, row.map, err_msg=f"{key} at batch size {batch_size}")


def test_an_images_seed_comes_from_the_run_seed_and_the_files_content(tiny, tmp_path):
    source = example_photos()[1]
    shutil.copy(source, tmp_path / "a.jpg")
    shutil.copy(source, tmp_path / "b copy.jpg")
    shutil.copy(example_photos()[2], tmp_path / "c.jpg")
    rows = {os.path.basename(r.path): r for r in explain_dataset(tiny, tmp_path, ["smoothgrad"], seed=1)}
    assert rows["a.jpg"].seed == rows["b copy.jpg"].seed != rows["c.jpg"].seed
    np.testing.assert_array_equal(rows["a.jpg"].map, rows["b copy.jpg"].map)
    other = {os.path.basename(r.path): r for r in explain_dataset(tiny, tmp_path, ["smoothgrad"], seed=2)}
    assert other["a.jpg"].seed != rows["a.jpg"].seed
    assert not np.array_equal(other["a.jpg"].map, rows["a.jpg"].map)
    assert decode_module.image_seed(1, rows["a.jpg"].sha256) == rows["a.jpg"].seed


def test_png_overlays_are_written_for_each_row(tiny, tmp_path):
    summary = explain_dataset(tiny, example_photos()[:2], ["grad_cam", "vanilla_gradient"], png=True).write(tmp_path)
    rows = table_rows(read_results(tmp_path))
    assert summary.rows == 4 and all(row.png for row in rows)
    for row in rows:
        picture = cnnvis.load_image(tmp_path / row.png)
        assert picture.shape[:2] == (row.image_height, row.image_width)  # examples are under 1024 px


# ----- resume -------------------------------------------------------------------------
def test_resume_does_only_what_is_missing(tiny, photos, tmp_path):
    out = tmp_path / "out"
    paths = expand_inputs(photos)
    half = tmp_path / "half.txt"
    half.write_text("# the first half\n" + "\n".join(paths[: len(paths) // 2]) + "\n")
    first = explain_dataset(tiny, half, ["grad_cam"], batch_size=2).write(out)
    assert first.images + first.errors == len(paths) // 2

    with pytest.raises(ParameterError, match="--resume"):
        explain_dataset(tiny, photos, ["grad_cam"]).write(out)
    with pytest.raises(ParameterError, match="other settings"):
        explain_dataset(tiny, photos, ["grad_cam"], seed=5).write(out, resume=True)

    second = explain_dataset(tiny, photos, ["grad_cam"], batch_size=2).write(out, resume=True)
    assert second.skipped == len(paths) // 2
    assert first.images + second.images == 8 and first.errors + second.errors == 3
    third = explain_dataset(tiny, photos, ["grad_cam", "eigen_cam"], batch_size=2).write(out, resume=True)
    assert (third.images, third.rows, third.skipped) == (8, 8, 3)  # eigen_cam only; errors not retried
    table = read_results(out)
    keys = list(zip(table.column("path").to_pylist(), table.column("method").to_pylist()))
    assert len(keys) == len(set(keys)) == 16
    reference = {(r.path, r.method): r for r in explain_dataset(tiny, photos, ["grad_cam", "eigen_cam"])}
    for row in table_rows(table):
        np.testing.assert_array_equal(row.map, reference[(row.path, row.method)].map)


def test_resume_sets_aside_what_a_killed_run_left(tiny, photos, tmp_path):
    out = tmp_path / "out"
    explain_dataset(tiny, photos, ["grad_cam"], batch_size=2).write(out)
    results = out / RESULTS
    part = sorted(results.glob("part-*.parquet"))[-1]  # the last part (the first holds 1 photo)
    lost = pq.read_table(part).num_rows
    # A process killed while writing: a half-written part, and a hidden temporary file.
    data = part.read_bytes()
    (results / "part-00007.parquet").write_bytes(data[: len(data) // 2])
    (results / ".part-00008.parquet.tmp").write_bytes(b"PAR1")
    part.unlink()
    summary = explain_dataset(tiny, photos, ["grad_cam"], batch_size=2).write(out, resume=True)
    assert summary.set_aside == ("part-00007.parquet",)
    assert lost > 1 and summary.images == lost and summary.skipped == 3 + 8 - lost
    left = sorted(os.listdir(results))
    assert ".incomplete-part-00007.parquet" in left and not [n for n in left if n.endswith(".tmp")]
    assert read_results(out).num_rows == 8


# ----- checks before any work -----------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"methods": ["grad_cam", "deep_dream"]}, ParameterError, "no heatmap or attribution method"),
        ({"methods": ["grad_cam", "grad_cam"]}, ParameterError, "once"),
        ({"options": {"smoothgrad": {"samples": 3}}}, ParameterError, "not among the methods"),
        ({"methods": ["smoothgrad"], "options": {"smoothgrad": {"sample": 3}}}, ParameterError, "samples"),
        ({"methods": ["grad_cam"], "options": {"grad_cam": {"batch_size": 3}}}, ParameterError, "none"),
        ({"batch_size": 0}, ParameterError, "batch_size"),
        ({"map_size": 5000}, ParameterError, "map_size"),
        ({"layer": "gap"}, UnknownLayerError, "feature map"),
        ({"layer": "nope"}, UnknownLayerError, "no layer"),
        ({"target_class": 9}, cnnvis.UnknownClassError, "0 to 3"),
        ({"engine": "spark"}, ParameterError, "engine"),
    ],
)
def test_mistakes_are_one_sentence_before_any_work(tiny, kwargs, error, words):
    arguments = {"methods": ["grad_cam"], **kwargs}
    methods = arguments.pop("methods")
    with pytest.raises(error, match=words) as caught:
        explain_dataset(tiny, example_photos()[:1], methods, **arguments)
    assert "\n" not in str(caught.value)


def test_inputs_folders_globs_and_lists(tmp_path, photos):
    all_photos = expand_inputs(photos)
    assert len(all_photos) == 11 and any("/more/" in p for p in all_photos)
    (photos / ".hidden.jpg").write_bytes(b"x")
    (photos / "readme.md").write_text("not listed")
    assert expand_inputs(photos) == all_photos  # hidden files and other extensions skipped
    assert expand_inputs(str(photos / "**" / "c*.jpg")) == sorted(
        p for p in all_photos if os.path.basename(p).startswith("c")
    )
    listing = photos / "list.txt"
    listing.write_text("# two photos\n\ncat.jpg\n" + str(photos / "more") + "\ncat.jpg\n")
    assert expand_inputs([listing]) == [str(photos / "cat.jpg"), *expand_inputs(photos / "more")]
    nested = tmp_path / "nested.txt"
    nested.write_text(str(listing) + "\n")
    for bad, words in [([tmp_path / "none"], "no file or folder"), ([str(tmp_path / "*.gif")], "matches no"), ([nested], "nested"), ([], "at least one")]:
        with pytest.raises(ParameterError, match=words):
            expand_inputs(bad)


# ----- evaluation -----------------------------------------------------------------------
def test_evaluate_gives_the_numbers_of_the_per_image_metric_function(tiny, photos):
    methods = ["grad_cam", "vanilla_gradient", "smoothgrad"]
    evaluation = evaluate_dataset(
        tiny, photos, methods, steps=6, random_maps=2, seed=4, batch_size=3, options={"smoothgrad": {"samples": 3}}
    )
    images = list(evaluation)
    assert len(images) == 8 and len(evaluation.errors) == 3
    for image in images[:4]:
        photo = cnnvis.load_image(image.path)
        seed = decode_file(image.path, (16, 16), 4).seed
        for method in methods:
            kwargs = {"samples": 3, "seed": seed} if method == "smoothgrad" else {}
            result = MAP_TECHNIQUES[method].function(tiny, photo, target_class=image.class_index, **kwargs)
            expected = cnnvis.deletion_insertion(
                tiny, photo, result, target_class=image.class_index, steps=6, seed=4, random_maps=2
            )
            assert image.values[method]["deletion"] == pytest.approx(expected.deletion.auc, abs=1e-9)
            assert image.values[method]["insertion"] == pytest.approx(expected.insertion.auc, abs=1e-9)
            assert image.values["random"]["deletion"] == pytest.approx(expected.random_deletion.auc, abs=1e-9)
            assert image.values["random"]["insertion"] == pytest.approx(expected.random_insertion.auc, abs=1e-9)
            road = cnnvis.evaluation.perturbation.road_curves(
                tiny, photo, result, target_class=image.class_index, seed=4, random_maps=2
            )
            assert image.values[method]["road_morf"] == pytest.approx(road.morf.area, abs=1e-9)
            assert image.values[method]["road_lerf"] == pytest.approx(road.lerf.area, abs=1e-9)
            assert image.values["random"]["road_morf"] == pytest.approx(road.random_morf.area, abs=1e-9)
    summary = {row["method"]: row for row in evaluation.summary_rows()}
    assert list(summary) == methods + ["random"]
    deletions = [image.values["grad_cam"]["deletion"] for image in images]
    assert summary["grad_cam"]["images"] == 8
    assert summary["grad_cam"]["deletion_mean"] == pytest.approx(np.mean(deletions))
    assert summary["grad_cam"]["deletion_std"] == pytest.approx(np.std(deletions, ddof=1))
    table = evaluation.table()
    assert "Deletion, mean probability (↓)" in table and "Insertion, mean probability (↑)" in table and "random map (blobs)" in table


def test_metrics_are_a_registry_of_columns():
    for name, metric in METRICS.items():
        assert metric.name == name and metric.paper and metric.columns
        assert all(column.better in ("lower", "higher") for column in metric.columns)
    assert {"deletion_insertion", "road"} <= set(METRICS)
    with pytest.raises(ParameterError, match="no metric"):
        evaluate_dataset("MobileNetV2", example_photos()[:1], metrics=["shapley"])


# ----- Ray ------------------------------------------------------------------------------
def test_the_ray_engine_writes_the_rows_and_maps_of_the_local_engine(tmp_path, tmp_path_factory, photos, monkeypatch):
    ray = pytest.importorskip("ray", reason='the Ray engine needs pip install "cnnvis[ray]"')
    model = save_tiny_model(tmp_path_factory.getbasetemp())
    methods = ["grad_cam", "smoothgrad", "guided_backprop"]
    settings = dict(preprocessing="none", options={"smoothgrad": {"samples": 3}}, batch_size=3, seed=2)
    local = explain_dataset(model, photos, methods, **settings).write(tmp_path / "local")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no usage report, no network
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        remote = explain_dataset(model, photos, methods, engine="ray", **settings).write(tmp_path / "ray")
    finally:
        ray.shutdown()
    assert (remote.images, remote.rows, remote.errors) == (local.images, local.rows, local.errors) == (8, 24, 3)
    ours = sorted(table_rows(read_results(tmp_path / "local")), key=lambda r: (r.path, r.method))
    theirs = sorted(table_rows(read_results(tmp_path / "ray")), key=lambda r: (r.path, r.method))
    assert read_results(tmp_path / "ray").schema == read_results(tmp_path / "local").schema
    for a, b in zip(ours, theirs, strict=True):
        assert {k: v for k, v in vars(a).items() if k != "map"} == {k: v for k, v in vars(b).items() if k != "map"}
        np.testing.assert_array_equal(a.map, b.map)
    errors = lambda name: sorted(pq.read_table(tmp_path / name / ERRORS).to_pylist(), key=str)  # noqa: E731
    assert errors("ray") == errors("local")


def test_a_batched_implementation_applies_every_declared_option_of_its_technique():
    import inspect

    for name, technique in MAP_TECHNIQUES.items():
        if technique.batch is None:
            continue
        parameters = inspect.signature(technique.batch).parameters
        taken = {p for p, v in parameters.items() if v.kind == v.KEYWORD_ONLY} - set(RESERVED)
        assert taken == {o.name for o in technique.options} - set(RESERVED), name
