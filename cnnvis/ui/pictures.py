"""Results turned into pictures: each technique's result drawn as its tab shows it, with
its caption, and the pictures written as PNG files for the galleries.

:func:`files` encodes a gallery's pictures as lossless PNG with zlib level 1 straight into
Gradio's cache, and the galleries get the file paths: Gradio would encode arrays at
Pillow's default level 6, which on a 2-core CPU takes about 50 ms per photo-sized picture;
level 1 is five times faster for files about a third larger. Files in the cache are used
as they are, and cleaned by the demo's ``delete_cache`` like Gradio's own.

A file's folder is named by the hash of its bytes (as Gradio names its own), so the same
picture asked for by many visitors at once is one file; it is written once, atomically
(a new file renamed into place), so a visitor downloading it never reads it half-written
(Gradio's ``save_bytes_to_cache`` rewrites it in place: 60 identical Grad-CAMs at once
sent one visitor an empty file).
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from gradio.utils import get_upload_folder
from PIL import Image

import cnnvis

from .. import render
from ..images import fit_within

Gallery = list[tuple[np.ndarray, str]]  # pictures with their captions, before encoding
PNG_LEVEL = 1


def png(picture: np.ndarray) -> str:
    """``picture`` (any array render.to_uint8 takes) as a PNG file in Gradio's cache."""
    with io.BytesIO() as buffer:
        Image.fromarray(render.to_uint8(picture)).save(
            buffer, format="png", compress_level=PNG_LEVEL
        )
        return cached_file(buffer.getvalue(), "result.png")


def cached_file(data: bytes, name: str) -> str:
    """``data`` as the file ``name`` in Gradio's cache, in a folder named by its hash:
    written once, atomically; the same bytes again reuse the file."""
    path = Path(get_upload_folder()) / hashlib.sha256(data).hexdigest() / name
    if path.is_file() and path.stat().st_size == len(data):
        return str(path.resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{name}.{uuid.uuid4().hex}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)  # readers of an older copy keep theirs; new ones see it whole
    return str(path.resolve())


def files(gallery: Gallery) -> list[tuple[str, str]]:
    """A gallery's pictures as PNG files, with their captions."""
    return [(png(picture), text) for picture, text in gallery]


def caption(model: cnnvis.VisModel, text: str) -> str:
    return f"{text} · random weights" if model.weights == "random" else text


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def filters_picture(result: cnnvis.Filters) -> np.ndarray:
    """All shown kernels on one sheet, each on its own scale (grey = 0) so its pattern shows."""
    return render.filter_sheet(result.kernels, result.filter_indices, rgb=result.rgb)


def maps_picture(result: cnnvis.FeatureMaps, colormap: str) -> np.ndarray:
    return render.feature_map_sheet(result.maps, result.channels, cmap=colormap)


def strongest_channel_overlay(photo: np.ndarray, result: cnnvis.FeatureMaps, colormap: str):
    """The most active of the shown channels, stretched to [0, 1], over the photo."""
    index = int(np.argmax(result.mean_activation[result.channels]))
    values = result.maps[index]
    span = float(values.max() - values.min())
    unit = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    return render.overlay(photo, unit, cmap=colormap), int(result.channels[index])


def heatmap_gallery(model, photo: np.ndarray, result, colormap: str, opacity: float) -> Gallery:
    text = caption(model, result.caption)
    return [
        (
            render.overlay(photo, result.heatmap, alpha=opacity, cmap=colormap),
            f"{text} · over the photo",
        ),
        (render.colorize(result.heatmap, colormap), f"{text} · the map alone, from 0 to 1"),
    ]


def attribution_gallery(model, result: cnnvis.Attribution, extra: str = "") -> Gallery:
    """An attribution as a student reads it first, its magnitude capped at the 99th
    percentile (:func:`cnnvis.render.attribution_image`), then its signs."""
    text = caption(model, result.caption + extra)
    return [
        (
            render.attribution_image(result.values),
            f"{text} · {MAGNITUDE_WORDS}",
        ),
        (render.gradient_image(result.values), f"{text} · {SIGNED_WORDS}"),
    ]


MAGNITUDE_WORDS = "magnitude, bright = strong effect (capped at the 99th percentile)"
SIGNED_WORDS = "signed, grey = no effect"


def map_picture(photo: np.ndarray, method: str, values: np.ndarray) -> np.ndarray:
    """A method's H x W map drawn as its tab draws it: a heatmap over the photo, an
    attribution's saliency in grey (bright = strong effect)."""
    if cnnvis.TECHNIQUES[method].output == "heatmap":
        return render.overlay(photo, values, alpha=0.5, cmap="jet")
    return render.colorize(values, "gray")


def feature_sheet(images: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Feature visualisation pictures side by side, each labelled."""
    return render.picture_sheet(images, labels)


def _outline(picture: np.ndarray, box: Sequence[int], width: int, colour) -> None:
    x0, y0, x1, y1 = box
    picture[y0 : y0 + width, x0 : x1 + 1] = colour
    picture[max(y1 - width + 1, 0) : y1 + 1, x0 : x1 + 1] = colour
    picture[y0 : y1 + 1, x0 : x0 + width] = colour
    picture[y0 : y1 + 1, max(x1 - width + 1, 0) : x1 + 1] = colour


def mark_box(picture: np.ndarray, box: Sequence[float], peak: tuple[int, int]) -> np.ndarray:
    """The pointing game drawn: the object's box in white (edged in black) and the map's
    peak as a black-and-white cross."""
    marked = picture.copy()
    height, width = marked.shape[:2]
    line = max(2, round(max(height, width) / 250))
    x0, x1 = (min(max(round(v), 0), width - 1) for v in (box[0], box[2]))
    y0, y1 = (min(max(round(v), 0), height - 1) for v in (box[1], box[3]))
    _outline(marked, (x0, y0, x1, y1), line + 2, (0, 0, 0))
    inner = (min(x0 + 1, x1), min(y0 + 1, y1), max(x1 - 1, x0), max(y1 - 1, y0))
    _outline(marked, inner, line, (255, 255, 255))
    x, y = peak
    arm = 5 * line
    for colour, grow in (((0, 0, 0), line), ((255, 255, 255), 0)):  # black edge, white core
        half = (line + grow) // 2 + grow // 2
        across = slice(max(x - arm - grow, 0), x + arm + grow + 1)
        down = slice(max(y - arm - grow, 0), y + arm + grow + 1)
        marked[max(y - half, 0) : y + half + 1, across] = colour
        marked[down, max(x - half, 0) : x + half + 1] = colour
    return marked


def ranked_maps(vis: cnnvis.VisModel, photo: np.ndarray, result) -> Gallery:
    """Compare's maps, most faithful first, each captioned with its areas and the random
    map's (a Comparison of cnnvis.evaluation.metrics)."""
    target = f"{result.label} ({result.class_index})"
    random = (
        f"random map: deletion {result.random_deletion.auc:.3f}, "
        f"insertion {result.random_insertion.auc:.3f}"
    )
    return [
        (
            map_picture(photo, row.name, row.map),
            caption(
                vis,
                f"#{rank} {row.title} · deletion {row.deletion.auc:.3f}, insertion "
                f"{row.insertion.auc:.3f}, score {row.score:.3f} · {vis.name} · {target} · "
                f"{random} · deletion: lower is better, insertion: higher is better, score: "
                f"insertion minus deletion · {row.seconds:.1f} s",
            ),
        )
        for rank, row in enumerate(result.rows, 1)
    ]


def faithfulness_chart(vis: cnnvis.VisModel, result) -> np.ndarray:
    return render.deletion_insertion_chart(
        result.curves,
        baseline=result.baseline,
        title=caption(vis, result.caption),
        width=760,  # stacked, large type: readable on a phone's 400 pixels too
        height=900,
        stacked=True,
        font_scale=1.6,
    )


def randomization_results(vis: cnnvis.VisModel, photo: np.ndarray, result, seed: int):
    """The sanity check drawn: one grid (a row per method, a column per step) and the
    table of similarities per step (a RandomizationCheck of cnnvis.evaluation.metrics)."""
    titles = [cnnvis.TECHNIQUES[name].title for name in result.methods]
    cells, texts = [], []
    for i, name in enumerate(result.methods):  # a row per method, a column per step
        cells += [fit_within(map_picture(photo, name, m), 176) for m in result.maps[i]]
        texts += [f"{titles[i]}: trained"] + [
            f"{step} · rho {rho:.2f}" for step, rho in zip(result.steps[1:], result.spearman[i][1:])
        ]
    target = f"{result.label} ({result.class_index})"
    grid = (
        render.grid(cells, texts, columns=len(result.steps)),
        caption(
            vis,
            f"Model randomisation · {vis.name} · {target} · seed {seed} · a row per method "
            f"({', '.join(titles)}): the trained model's map, then layers re-drawn from the "
            f"top down to the one named (all {result.layers_randomised[-1]} at the right); "
            "rho: rank correlation with the trained model's map",
        ),
    )
    headers = ["re-drawn down to (layers)"] + [
        f"{title} {what}" for title in titles for what in ("ρ", "SSIM")
    ]
    steps_done = ["nothing (trained)"] + [
        f"{step} ({result.layers_randomised[j]})" for j, step in enumerate(result.steps) if j
    ]
    rows = [
        [steps_done[j]]
        + [
            round(float(values[i, j]), 3)
            for i in range(len(result.methods))
            for values in (result.spearman, result.ssim)
        ]
        for j in range(len(result.steps))
    ]
    return [grid], {"headers": headers, "data": rows}


def pointing_picture(vis, photo: np.ndarray, method: str, result, values, outcome):
    """A method's map with the box and its peak marked, captioned hit or miss (a
    PointingResult of cnnvis.evaluation.metrics)."""
    verdict = "hit" if outcome.hit else "miss"
    where = (
        "inside the box"
        if outcome.distance == 0
        else f"{outcome.distance:.0f} px from the box (tolerance {outcome.tolerance:g} px)"
    )
    peak = f"({outcome.peak[0]}, {outcome.peak[1]})"
    picture = mark_box(map_picture(photo, method, values), outcome.box, outcome.peak)
    return picture, caption(vis, f"{result.caption} · {verdict}: its peak {peak} is {where}")


def feature_gallery(vis: cnnvis.VisModel, result, labels: Sequence[str]) -> Gallery:
    """Feature visualisation's pictures: all on one sheet, then each on its own with how
    far its objective rose (a FeatureVisualization of cnnvis)."""
    settings = f"{result.size} px, seed {result.seed}"
    measure = "mean activation" if result.layer is not None else "logit"
    shown = (
        f"channels {', '.join(map(str, result.channels))}"
        if result.channels is not None
        else ", ".join(labels)
    )
    dead = [result.layer is not None and final <= 0 for final in result.final]
    named = [f"{label} (dead)" if silent else label for label, silent in zip(labels, dead)]
    sheet = caption(vis, f"{result.caption} · {shown} · {settings}")
    gallery = [(feature_sheet(result.images, named), sheet)]
    for picture, label, start, final, silent in zip(
        result.images, labels, result.start, result.final, dead
    ):
        rose = f"{measure} {start:.3g} at the start, {final:.3g} at the end"
        if silent:
            rose += " (a dead channel: nothing made it respond, so the picture stays grey)"
        text = f"{result.caption} · {label} · {rose} · {settings}"
        gallery.append((render.to_uint8(picture), caption(vis, text)))
    return gallery


def pointing_results(vis: cnnvis.VisModel, photo: np.ndarray, games) -> tuple[Gallery, dict]:
    """The pointing game of several methods drawn (a list of cnnvis.evaluation.checks.PointingGame):
    each map marked and captioned, and the table of hits and misses."""
    gallery = [
        pointing_picture(vis, photo, game.name, game.result, game.map, game.outcome)
        for game in games
    ]
    rows = [
        [
            game.title,
            "hit" if game.outcome.hit else "miss",
            *game.outcome.peak,
            round(game.outcome.distance, 1),
        ]
        for game in games
    ]
    headers = ["method", "result", "peak x", "peak y", "pixels from the box"]
    return gallery, {"headers": headers, "data": rows}


# ----- the trust report (cnnvis.evaluation.trust) -------------------------------------------------------

TRUST_COLUMNS = {  # a curve test's column in the table, and its words in a caption
    "deletion": "deletion",
    "insertion": "insertion",
    "road_morf": "ROAD most relevant first",
    "road_lerf": "ROAD least relevant first",
}


def evidence_words(evidence) -> str:
    """One number of a verdict, short: "0.185 (beats 95%)", "ρ 0.12–0.31 pass",
    "beats 100%, p 0.05", "hit"."""
    if evidence.test == "sanity":
        values = evidence.samples or (evidence.value,)
        low, high = min(values), max(values)
        span = f"{low:.2f}" if high - low < 0.005 else f"{low:.2f}–{high:.2f}"
        return f"ρ {span} {evidence.outcome}"
    if evidence.test == "pointing":
        return evidence.outcome if evidence.outcome == "hit" else f"miss by {evidence.value:.0f} px"
    if evidence.test == "placement":
        return f"beats {evidence.share:.0%}, p {evidence.p_value:.2f} {evidence.outcome}"
    return f"{evidence.value:.3f} (beats {evidence.share:.0%})"


def trust_map_picture(photo: np.ndarray, method) -> np.ndarray:
    """A report's map (a MethodTrust) drawn as its tab draws it (map_picture); a method
    of one's own by the granularity of its map: blobs over the photo, pixels in grey."""
    if method.name in cnnvis.TECHNIQUES:
        return map_picture(photo, method.name, method.map)
    if method.band == "blobs":
        return render.overlay(photo, method.map, alpha=0.5, cmap="jet")
    return render.colorize(method.map, "gray")


def trust_table(report) -> dict:
    """The ranked table of a TrustReport: rank, method, verdict and why, four columns that
    fit a phone's width (the reason carries the numbers that decided; every number is in
    the maps' captions and in the report's JSON)."""
    headers = ["#", "method", "verdict", "why"]
    rows = [[m.rank, m.title, m.verdict, m.reason] for m in report.methods]
    return {"headers": headers, "data": rows}


def trust_maps(vis: cnnvis.VisModel, photo: np.ndarray, report) -> Gallery:
    """Each method's map in the report's order (with the box and the map's peak when the
    pointing game was played), captioned with its verdict, its reason and its numbers."""
    target = f"{report.label} ({report.class_index})"
    gallery = []
    for m in report.methods:
        picture = trust_map_picture(photo, m)
        if m.pointing is not None:
            picture = mark_box(picture, m.pointing.box, m.pointing.peak)
        numbers = [f"sanity check {evidence_words(m.evidence_for('sanity'))}"]
        numbers += [f"placement {evidence_words(m.evidence_for('placement'))}"]
        numbers += [
            f"{words} {evidence_words(m.evidence_for(test))}" for test, words in TRUST_COLUMNS.items()
        ]
        if m.pointing is not None:
            numbers.append(f"pointing game {evidence_words(m.evidence_for('pointing'))}")
        text = (
            f"#{m.rank} {m.title}: {m.verdict} · {m.reason} · {', '.join(numbers)} · areas "
            f"are mean probabilities, compared with {report.null_maps} copies of the map moved "
            f"across the photo · {vis.name} · {target}"
        )
        gallery.append((picture, caption(vis, text)))
    return gallery


def trust_chart(vis: cnnvis.VisModel, report) -> np.ndarray:
    """The report's four curves, each with the band of the moved maps shaded."""
    return render.trust_chart(
        report.panels,
        title=caption(vis, report.caption),
        width=760,  # two by two, large type: readable on a phone's 400 pixels too
        height=900,
        columns=2,
        font_scale=1.5,
    )
