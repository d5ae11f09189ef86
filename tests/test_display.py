"""Results show themselves: every result type draws as its picture in Jupyter
(``_repr_png_``, ``_repr_html_`` for the prediction table and the trust report), and
``show()`` / ``save(path)`` work in scripts; the drawing is cnnvis.render's."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, ImageShow

import cnnvis
from cnnvis import render
from cnnvis.errors import ParameterError
from cnnvis.techniques.base import Displayed

from .tiny import cam_model, seeded_image, wrap

SIDE = 32


@pytest.fixture(scope="module")
def model():
    return wrap(cam_model(size=SIDE), "none")


@pytest.fixture(scope="module")
def image():
    return seeded_image(SIDE, SIDE, seed=3)


def decoded(data: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "PNG"
    return np.asarray(picture.convert("RGB"))


def every_result(model, image):
    """One result of every kind the package returns."""
    return {
        "Heatmap": cnnvis.grad_cam(model, image),
        "Occlusion": cnnvis.occlusion(model, image, window=8, stride=8),
        "Attribution": cnnvis.guided_backprop(model, image),
        "IntegratedGradients": cnnvis.integrated_gradients(model, image, steps=4),
        "Predictions": cnnvis.classify(model, image, top=3),
        "FeatureMaps": cnnvis.feature_maps(model, image, ["features"], count=4)[0],
        "Filters": cnnvis.filters(model),
        "Dream": cnnvis.deep_dream(model, image, octaves=1, steps=2, layers=["features"]),
        "DreamFrame": next(cnnvis.deep_dream_frames(model, image, octaves=1, steps=2, layers=["features"])),
        "FeatureVisFrame": next(
            cnnvis.feature_visualization_frames(model, layer="features", channels=[0], steps=2, size=SIDE)
        ),
        "FeatureVisualization": cnnvis.feature_visualization(
            model, layer="features", channels=[0, 1], steps=2, size=SIDE
        ),
        "Faithfulness": cnnvis.deletion_insertion(model, image, cnnvis.grad_cam(model, image).heatmap, steps=4),
        "Comparison": cnnvis.compare(model, image, ["grad_cam", "vanilla_gradient"], steps=4),
        "RandomizationCheck": cnnvis.randomization_check(model, image, ["grad_cam"], steps=2),
        "TrustReport": cnnvis.trust_report(
            model, image, ["grad_cam", "vanilla_gradient"], steps=4, road_fractions=[0.5],
            sanity_draws=2,
        ),
    }


@pytest.fixture(scope="module")
def results(model, image):
    return every_result(model, image)


def test_every_result_type_of_the_package_can_draw_itself(results):
    """Each class that displays (every subclass of Displayed) is among the results drawn
    here, and render knows how to draw it."""
    kinds = set()
    stack = [Displayed]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("cnnvis."):
                kinds.add(sub.__name__)
    drawn = {type(r).__name__ for r in results.values()}
    assert kinds - {"DisplayedAsHtml"} <= drawn
    for result in results.values():
        picture = decoded(result._repr_png_())
        assert picture.ndim == 3 and picture.shape[2] == 3 and min(picture.shape[:2]) >= 100
        np.testing.assert_array_equal(picture, result.picture())


def test_a_heatmap_is_drawn_over_its_photo_with_its_caption(results, image):
    cam = results["Heatmap"]
    assert cam.image is image or np.array_equal(cam.image, image)
    picture = cam.picture()
    over = render.enlarge(render.overlay(image, cam.heatmap, alpha=0.5, cmap="jet"), render.DISPLAY_SIDE)
    alone = render.enlarge(render.colorize(cam.heatmap, "jet"), render.DISPLAY_SIDE)
    side = over.shape[0]
    np.testing.assert_array_equal(picture[4 : 4 + side, 4 : 4 + side], over)  # grid padding 4
    np.testing.assert_array_equal(picture[4 : 4 + side, 8 + side : 8 + 2 * side], alone)
    captioned = render.add_caption(np.zeros((10, picture.shape[1], 3), np.uint8), cam.caption)
    np.testing.assert_array_equal(picture[-(captioned.shape[0] - 10) :], captioned[10:])


def test_without_its_photo_a_heatmap_shows_the_map_alone():
    bare = cnnvis.Heatmap(np.eye(8, dtype=np.float32), (8, 8), "m", "net", "layer", 0, "cat", 1.0)
    assert bare.image is None
    assert bare.picture().shape[1] == render.DISPLAY_SIDE


def test_an_attribution_is_shown_signed_and_as_saliency(results):
    attribution = results["Attribution"]
    picture = attribution.picture()
    signed = render.enlarge(render.gradient_image(attribution.values), render.DISPLAY_SIDE)
    side = signed.shape[0]
    np.testing.assert_array_equal(picture[4 : 4 + side, 4 : 4 + side], signed)


def test_predictions_are_a_list_shown_as_a_table(results, model, image):
    predictions = results["Predictions"]
    assert isinstance(predictions, list) and len(predictions) == 3
    assert predictions == list(predictions) and all(isinstance(p, cnnvis.Prediction) for p in predictions)
    page = predictions._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    assert len(rows) == 4  # the header and one row per class
    for prediction, row in zip(predictions, rows[1:]):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[:4] == [str(prediction.rank), prediction.label, str(prediction.index), f"{prediction.probability:.1%}"]
    assert predictions.caption == f"Top 3 · {model.name}"


def test_the_trust_report_shows_its_verdicts_maps_and_curves(results):
    report = results["TrustReport"]
    page = report._repr_html_()
    for method in report.methods:
        assert f"<td style='text-align:left'>{method.verdict}</td>" in page
        assert method.title in page
    assert report.summary in page and page.count("<img ") == 1
    chart = render.trust_chart(report.panels, title=f"{report.caption} · {report.summary}")
    picture = report.picture()
    assert picture.shape[1] == chart.shape[1] and picture.shape[0] > chart.shape[0]  # maps above
    np.testing.assert_array_equal(picture[-chart.shape[0] :], chart)


def test_save_writes_the_picture_or_the_page(results, tmp_path):
    cam = results["Heatmap"]
    assert cam.save(tmp_path / "cam.png") == tmp_path / "cam.png"
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "cam.png")), cam.picture())
    results["TrustReport"].save(tmp_path / "report.html")
    assert "<table>" in (tmp_path / "report.html").read_text(encoding="utf-8")
    with pytest.raises(ParameterError, match=r"^Cannot save a picture as 'cam\.txt': end the name with"):
        cam.save(tmp_path / "cam.txt")


def test_show_outside_a_notebook_opens_the_picture_in_the_image_viewer(results):
    shown = []

    class Recorder(ImageShow.Viewer):
        def show(self, image, **options):
            shown.append(np.asarray(image.convert("RGB")))
            return 1

    recorder = Recorder()
    ImageShow.register(recorder, order=-1)  # Pillow's own hook for image viewers
    try:
        results["Predictions"].show()
    finally:
        ImageShow._viewers.remove(recorder)
    assert len(shown) == 1
    np.testing.assert_array_equal(shown[0], results["Predictions"].picture())


def test_a_foreign_object_is_refused_in_one_sentence():
    with pytest.raises(ParameterError, match="cnnvis cannot draw a dict."):
        render.result_picture({})


def test_the_notebooks_page_names_every_result_that_displays():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "notebooks.md").read_text(encoding="utf-8")
    stack, kinds = [Displayed], set()
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("cnnvis."):
                kinds.add(sub.__name__)
    assert [k for k in sorted(kinds - {"DisplayedAsHtml"}) if f"`{k}`" not in page] == []
