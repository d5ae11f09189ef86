"""Turn float arrays into uint8 RGB pictures.

Everything here is plain NumPy + matplotlib colormaps + Pillow: this module must never
import TensorFlow or Keras, so the app and the tests can render without loading a model.

Conventions:

- Every picture returned is a C-contiguous ``uint8`` array of shape ``H x W x 3`` in RGB
  order (matplotlib colormaps are RGB; OpenCV's BGR colormaps are never used).
  :func:`saliency` is the one exception: it returns a float map in [0, 1].
- Float inputs are mapped to [0, 1] first, then scaled to 0-255 with rounding.
- Bad parameters raise :class:`cnnvis.errors.ParameterError` with a readable sentence.
"""

from __future__ import annotations

import base64
import html
import io
import math
import sys
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.colors import Colormap
from PIL import Image, ImageDraw, ImageFont

from . import maps
from .errors import ParameterError, quoted

COLORMAPS: tuple[str, ...] = (
    "jet",
    "turbo",
    "viridis",
    "inferno",
    "magma",
    "plasma",
    "cividis",
    "hot",
    "gray",
    "RdBu_r",
    "coolwarm",
)
"""A short curated list for the UI; any matplotlib colormap name is accepted."""

GRADIENT_MODES: tuple[str, ...] = ("signed", "abs", "positive")

_ELLIPSIS = "..."
_CAPTION_FONT_SIZE = 12
_CAPTION_MARGIN = 3


# --------------------------------------------------------------------------- helpers


def _as_float(value: object, name: str) -> float:
    """``float(value)``, raising ParameterError for things that are not numbers."""
    if isinstance(value, (bool, str, bytes)):
        raise ParameterError(f"{name} must be a number, got {value!r}.")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}.") from None


def _check_alpha(alpha: float, name: str = "alpha") -> float:
    """Return ``alpha`` as a float, or raise if it is not a number in [0, 1]."""
    value = _as_float(alpha, name)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ParameterError(f"{name} must be between 0 and 1, got {alpha!r}.")
    return value


def _check_percentile(percentile: float) -> float:
    """Return a percentile in (0, 100], or raise."""
    value = _as_float(percentile, "clip_percentile")
    if not 0.0 < value <= 100.0:
        raise ParameterError(f"clip_percentile must be in (0, 100], got {percentile!r}.")
    return value


def _check_positive_int(value: int, name: str) -> int:
    """Return ``value`` if it is an integer >= 1, or raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name} must be a whole number of at least 1, got {value!r}.")
    return int(value)


def _get_cmap(cmap: str) -> Colormap:
    """Look up a matplotlib colormap by name, raising ParameterError when unknown."""
    if isinstance(cmap, str) and cmap in matplotlib.colormaps:
        return matplotlib.colormaps[cmap]
    choices = ", ".join(COLORMAPS)
    raise ParameterError(
        f"Unknown colormap {quoted(cmap)}; choose one of {choices} (or any matplotlib colormap name)."
    )


def _as_2d(values: np.ndarray, what: str) -> np.ndarray:
    """Return ``values`` as a 2-D float64 array (a trailing axis of size 1 is dropped)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2 or array.size == 0:
        raise ParameterError(f"{what} must be a non-empty H x W array, got shape {array.shape}.")
    return array


def _as_hwc(values: np.ndarray, what: str) -> np.ndarray:
    """Return ``values`` as an H x W x 3 float64 array with NaN/inf replaced by 0."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3) or array.size == 0:
        raise ParameterError(f"{what} must be an H x W x 3 array, got shape {array.shape}.")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)


def _unit_to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> contiguous uint8 (0-255), rounding to the nearest level."""
    scaled = np.rint(np.clip(unit, 0.0, 1.0) * 255.0)
    return np.ascontiguousarray(scaled.astype(np.uint8))


def _normalise(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Map ``values`` linearly so vmin -> 0 and vmax -> 1, clipped; NaN -> 0.

    When ``vmin == vmax`` values at or below it map to 0 and values above it to 1.
    """
    if not (math.isfinite(vmin) and math.isfinite(vmax)) or vmax < vmin:
        raise ParameterError(f"Need finite vmin <= vmax, got vmin={vmin!r}, vmax={vmax!r}.")
    span = vmax - vmin
    with np.errstate(invalid="ignore"):
        if span > 0:
            unit = (values - vmin) / span
        else:
            unit = np.where(values > vmin, 1.0, 0.0)
    unit = np.nan_to_num(unit, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(unit, 0.0, 1.0)


def _robust_scale(magnitudes: np.ndarray, percentile: float) -> float:
    """The ``percentile`` of non-negative ``magnitudes``, falling back to their maximum.

    Sparse maps can have a zero percentile while still holding signal; in that case the
    maximum is used. Returns 0.0 only when every value is zero.
    """
    scale = float(np.percentile(magnitudes, percentile))
    if scale > 0:
        return scale
    return float(magnitudes.max(initial=0.0))


def _resize_bilinear(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D float map with pixel-centre-aligned bilinear interpolation."""
    if values.shape == (height, width):
        return values
    picture = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
    resized = picture.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float64)


# --------------------------------------------------------------------------- colour


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 255] (e.g. a Deep Dream result) -> uint8 RGB, rounded and clipped.

    uint8 input passes through unchanged. Grey ``H x W`` or ``H x W x 1`` input is
    repeated to three channels; an alpha channel is dropped; NaN becomes 0.
    """
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or array.size == 0:
        raise ParameterError(f"An image must be H x W x 3, got shape {array.shape}.")
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.dtype != np.uint8:
        as_float = np.nan_to_num(array.astype(np.float64), nan=0.0)
        array = np.rint(np.clip(as_float, 0.0, 255.0)).astype(np.uint8)
    return np.ascontiguousarray(array)


def colorize(
    values: np.ndarray,
    cmap: str = "jet",
    *,
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Map an ``H x W`` float array through a matplotlib colormap -> uint8 RGB.

    Values are taken to lie in [0, 1] unless ``vmin``/``vmax`` say otherwise; values
    outside the range are clipped and NaN gets the colour of the low end.
    """
    colormap = _get_cmap(cmap)
    array = _as_2d(values, "The values to colorize")
    low = 0.0 if vmin is None else _as_float(vmin, "vmin")
    high = 1.0 if vmax is None else _as_float(vmax, "vmax")
    unit = _normalise(array, low, high)
    rgba = colormap(unit, bytes=True)
    return np.ascontiguousarray(rgba[:, :, :3], dtype=np.uint8)


def colorbar(cmap: str = "jet", width: int = 256, height: int = 16) -> np.ndarray:
    """A horizontal strip running through the colormap from left (0) to right (1)."""
    width = _check_positive_int(width, "width")
    height = _check_positive_int(height, "height")
    ramp = np.linspace(0.0, 1.0, width)
    return colorize(np.tile(ramp, (height, 1)), cmap)


def overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    mask_below: float | None = None,
) -> np.ndarray:
    """Blend a colourised ``heatmap`` (values in [0, 1]) over an RGB ``image``.

    ``result = (1 - alpha) * image + alpha * colorize(heatmap)``. A heatmap of another
    size is resized bilinearly to the image. Where the heatmap is below ``mask_below``
    the image shows through untouched (handy for Grad-CAM on a photo).
    """
    alpha = _check_alpha(alpha)
    if mask_below is not None:
        mask_below = _check_alpha(mask_below, "mask_below")
    picture = to_uint8(image)
    height, width = picture.shape[:2]
    heat = np.nan_to_num(_as_2d(heatmap, "The heatmap"), nan=0.0, posinf=1.0, neginf=0.0)
    heat = _resize_bilinear(heat, height, width)
    colours = colorize(heat, cmap)
    if mask_below is None:
        weight = np.float32(alpha)
    else:
        weight = np.where(heat < mask_below, 0.0, alpha).astype(np.float32)[:, :, None]
    # float32 is exact enough here (24-bit mantissa for values <= 255) and twice as fast
    blended = picture * (np.float32(1.0) - weight) + colours * weight
    return np.ascontiguousarray(np.rint(blended).astype(np.uint8))


# --------------------------------------------------------------------------- gradients


def saliency(gradient: np.ndarray, *, clip_percentile: float = 99.5) -> np.ndarray:
    """Signed ``H x W x 3`` gradient -> ``H x W`` float32 saliency in [0, 1]: the maximum
    of ``|g|`` over channels, clipped at the given percentile and divided by that value
    (:func:`cnnvis.maps.saliency`, the same map the metrics rank)."""
    return maps.saliency(gradient, clip_percentile=_check_percentile(clip_percentile))


def gradient_image(
    gradient: np.ndarray, *, mode: str = "signed", clip_percentile: float = 99.5
) -> np.ndarray:
    """Signed ``H x W x 3`` gradient (guided backprop, saliency) -> uint8 RGB.

    Modes:

    - ``"signed"``: ``0.5 + 0.5 * g / p`` with ``p`` the percentile of ``|g|``; zero is
      mid-grey and the sign of each channel shows as more or less of that colour.
    - ``"abs"``: :func:`saliency` shown with a grey colormap.
    - ``"positive"``: only the positive part, ``g / p`` on black.
    """
    percentile = _check_percentile(clip_percentile)
    if mode not in GRADIENT_MODES:
        raise ParameterError(
            f"Unknown gradient mode {mode!r}; choose one of {', '.join(GRADIENT_MODES)}."
        )
    if mode == "abs":
        return colorize(saliency(gradient, clip_percentile=percentile), "gray")
    values = _as_hwc(gradient, "The gradient")
    if mode == "positive":
        values = np.maximum(values, 0.0)
    scale = _robust_scale(np.abs(values), percentile)
    if scale == 0:
        normalised = np.zeros_like(values)
    else:
        normalised = values / scale
    if mode == "signed":
        return _unit_to_uint8(0.5 + 0.5 * normalised)
    return _unit_to_uint8(normalised)


# --------------------------------------------------------------------------- layers


def feature_map_image(
    values: np.ndarray,
    *,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """One 2-D activation map -> uint8 RGB.

    Without ``vmin``/``vmax`` the map is stretched to its own min-max; pass a shared
    range to compare maps. A constant map is drawn in the colour its value has on a
    range that includes 0: an all-zero (dead) map is the low colour, a positive constant
    the high colour.
    """
    array = _as_2d(values, "A feature map")
    finite = array[np.isfinite(array)]
    data_low = float(finite.min()) if finite.size else 0.0
    data_high = float(finite.max()) if finite.size else 0.0
    low = data_low if vmin is None else _as_float(vmin, "vmin")
    high = data_high if vmax is None else _as_float(vmax, "vmax")
    if vmin is None and vmax is None:
        if low == high:
            low, high = min(low, 0.0), max(high, 0.0)
    elif vmin is None:
        low = min(low, high)
    elif vmax is None:
        high = max(high, low)
    return colorize(array, cmap, vmin=low, vmax=high)


def kernel_image(
    kernel: np.ndarray,
    *,
    scale: float | None = None,
    upscale: int = 8,
    cmap: str = "gray",
) -> np.ndarray:
    """A conv kernel -> uint8 RGB with 0 at mid-grey, enlarged with nearest neighbour.

    ``kh x kw x 3`` kernels are read as RGB: ``0.5 + 0.5 * w / scale`` per channel.
    ``kh x kw`` (or ``kh x kw x 1``) kernels go through ``cmap`` (grey, or a diverging
    map such as ``"RdBu_r"``) with 0 in the middle. ``scale`` defaults to ``max |w|``;
    pass a shared value to compare kernels.
    """
    upscale = _check_positive_int(upscale, "upscale")
    weights = np.asarray(kernel, dtype=np.float64)
    if weights.ndim == 3 and weights.shape[2] == 1:
        weights = weights[:, :, 0]
    if weights.size == 0 or not (
        weights.ndim == 2 or (weights.ndim == 3 and weights.shape[2] == 3)
    ):
        raise ParameterError(f"A kernel must be kh x kw or kh x kw x 3, got shape {weights.shape}.")
    weights = np.nan_to_num(weights, nan=0.0, posinf=0.0, neginf=0.0)
    if scale is None:
        scale = float(np.abs(weights).max())
    elif not _as_float(scale, "scale") > 0:
        raise ParameterError(f"scale must be a positive number, got {scale!r}.")
    else:
        scale = float(scale)
    unit = 0.5 + 0.5 * weights / scale if scale > 0 else np.full_like(weights, 0.5)
    picture = _unit_to_uint8(unit) if weights.ndim == 3 else colorize(unit, cmap)
    enlarged = np.repeat(np.repeat(picture, upscale, axis=0), upscale, axis=1)
    return np.ascontiguousarray(enlarged)


# --------------------------------------------------------------------------- layout


def _caption_font(size: int = _CAPTION_FONT_SIZE) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at ``size``; the old fixed-size bitmap font if that fails."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _text_width(font: ImageFont.ImageFont | ImageFont.FreeTypeFont, text: str) -> float:
    """Rendered width of ``text`` in pixels."""
    return float(font.getlength(text))


def _printable(font: ImageFont.ImageFont | ImageFont.FreeTypeFont, text: str) -> str:
    """``text`` with characters the font cannot encode replaced by '?'."""
    try:
        font.getlength(text)
        return text
    except UnicodeEncodeError:
        return text.encode("latin-1", errors="replace").decode("latin-1")


def _fit_text(font: ImageFont.ImageFont | ImageFont.FreeTypeFont, text: str, width: int) -> str:
    """Shorten ``text`` with a trailing ellipsis until it fits in ``width`` pixels."""
    text = _printable(font, " ".join(text.split()))
    if _text_width(font, text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # longest prefix that fits together with the ellipsis
        middle = (low + high + 1) // 2
        if _text_width(font, text[:middle].rstrip() + _ELLIPSIS) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + _ELLIPSIS if low else ""


def _default_caption_height(font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> int:
    """Band height that fits one line of ``font`` plus a small margin."""
    bottom = font.getbbox("Ag|")[3]
    return int(bottom) + 2 * _CAPTION_MARGIN


def _check_background(background: int) -> int:
    """Return a grey level 0-255, or raise."""
    if isinstance(background, bool) or not isinstance(background, (int, np.integer)):
        raise ParameterError(f"background must be a grey level 0-255, got {background!r}.")
    if not 0 <= background <= 255:
        raise ParameterError(f"background must be a grey level 0-255, got {background!r}.")
    return int(background)


def grid(
    images: Sequence[np.ndarray],
    captions: Sequence[str] | None = None,
    *,
    columns: int | None = None,
    pad: int = 4,
    background: int = 255,
    caption_height: int | None = None,
) -> np.ndarray:
    """Tile RGB images into one picture, with an optional caption under each.

    Every cell is as large as the largest image (smaller ones are centred). With
    ``columns`` (default ``ceil(sqrt(n))``, at most ``n``) and ``rows = ceil(n / columns)``
    the result is ``rows * (cell_h + caption_h) + (rows + 1) * pad`` high and
    ``columns * cell_w + (columns + 1) * pad`` wide. ``caption_h`` is 0 without captions.
    Captions too wide for a cell are shortened with an ellipsis.
    """
    pictures = [to_uint8(image) for image in images]
    if not pictures:
        raise ParameterError("grid needs at least one image.")
    if captions is not None and len(captions) != len(pictures):
        raise ParameterError(
            f"Got {len(captions)} captions for {len(pictures)} images; give one per image."
        )
    count = len(pictures)
    if columns is None:
        columns = math.ceil(math.sqrt(count))
    columns = min(_check_positive_int(columns, "columns"), count)
    rows = math.ceil(count / columns)
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ParameterError(f"pad must be a whole number of at least 0, got {pad!r}.")
    background = _check_background(background)

    font = _caption_font() if captions is not None else None
    if font is None:
        band = 0
    elif caption_height is None:
        band = _default_caption_height(font)
    else:
        band = _check_positive_int(caption_height, "caption_height")

    cell_h = max(p.shape[0] for p in pictures)
    cell_w = max(p.shape[1] for p in pictures)
    height = rows * (cell_h + band) + (rows + 1) * pad
    width = columns * cell_w + (columns + 1) * pad
    canvas = np.full((height, width, 3), background, dtype=np.uint8)

    origins = []
    for index, picture in enumerate(pictures):
        row, column = divmod(index, columns)
        top = pad + row * (cell_h + band + pad)
        left = pad + column * (cell_w + pad)
        y = top + (cell_h - picture.shape[0]) // 2
        x = left + (cell_w - picture.shape[1]) // 2
        canvas[y : y + picture.shape[0], x : x + picture.shape[1]] = picture
        origins.append((top + cell_h, left))

    if font is not None and captions is not None and band > 0:
        _draw_captions(canvas, captions, origins, font, cell_w, band, background)
    return np.ascontiguousarray(canvas)


def _draw_captions(
    canvas: np.ndarray,
    captions: Sequence[str],
    origins: Sequence[tuple[int, int]],
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    cell_width: int,
    band: int,
    background: int,
) -> None:
    """Write each caption centred in the band whose top-left corner is in ``origins``."""
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    ink = (0, 0, 0) if background >= 128 else (255, 255, 255)
    available = max(cell_width - 2, 1)
    for text, (top, left) in zip(captions, origins):
        fitted = _fit_text(font, str(text), available)
        if not fitted:
            continue
        x = left + (cell_width - _text_width(font, fitted)) / 2
        y = top + max((band - font.getbbox("Ag|")[3]) // 2, 0)
        draw.text((x, y), fitted, fill=ink, font=font)
    canvas[...] = np.asarray(picture)


def add_caption(image: np.ndarray, text: str, *, background: int = 255) -> np.ndarray:
    """The image with a band of centred text below it, as wide as the image."""
    return grid([image], [text], columns=1, pad=0, background=background)


# --------------------------------------------------------------------------- charts

_CHART_MIN_SIDE, _CHART_MAX_SIDE = 200, 4096
_CHART_MAX_SERIES = 32


def _curve_series(
    entry: object, what: str
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """``(label, fractions, deletion, insertion)`` checked: 1-D, same length >= 2, finite x."""
    try:
        label, fractions, deletion, insertion = entry  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ParameterError(
            f"{what} must be (label, fractions, deletion scores, insertion scores)."
        ) from None
    x = np.asarray(fractions, dtype=np.float64)
    ys = [np.asarray(values, dtype=np.float64) for values in (deletion, insertion)]
    if x.ndim != 1 or x.size < 2 or any(y.shape != x.shape for y in ys):
        raise ParameterError(
            f"{what}: fractions and both score lists must be 1-D of one length (at least 2)."
        )
    if not np.isfinite(x).all():
        raise ParameterError(f"{what}: the fractions must be finite numbers.")
    return str(label), x, ys[0], ys[1]


def _trapezoid_area(x: np.ndarray, y: np.ndarray) -> float:
    y = np.nan_to_num(y, nan=0.0)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def _check_chart_frame(width: int, height: int, dpi: int, font_scale: float) -> int:
    """Refuse a chart size, dpi or font scale out of bounds; return the dpi."""
    for value, name in ((width, "width"), (height, "height")):
        _check_positive_int(value, name)
        if not _CHART_MIN_SIDE <= value <= _CHART_MAX_SIDE:
            raise ParameterError(
                f"{name} must be from {_CHART_MIN_SIDE} to {_CHART_MAX_SIDE} pixels, got {value}."
            )
    if isinstance(font_scale, bool) or not isinstance(font_scale, (int, float)) or not 0.5 <= font_scale <= 3:
        raise ParameterError(f"font_scale must be from 0.5 to 3, got {font_scale!r}.")
    return _check_positive_int(dpi, "dpi")


def deletion_insertion_chart(
    curves: Sequence[tuple],
    *,
    baseline: tuple | None = None,
    title: str | None = None,
    width: int = 800,
    height: int = 340,
    dpi: int = 100,
    stacked: bool = False,
    font_scale: float = 1.0,
) -> np.ndarray:
    """Deletion (left) and insertion (right) curves as a uint8 RGB ``height x width`` chart.

    ``stacked`` puts deletion above insertion instead (a chart that stays readable when a
    phone shows it about 400 pixels wide), ``font_scale`` scales every text.

    ``curves``: ``(label, fractions, deletion scores, insertion scores)`` per method
    (e.g. ``cnnvis.evaluation.metrics.Comparison.curves``); ``baseline``: the same for a random map,
    drawn dashed grey. Each legend entry carries the area under the curve (trapezoid
    rule). Drawn with matplotlib's Agg canvas on a private Figure: no pyplot state.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = [_curve_series(entry, f"Curve {i + 1}") for i, entry in enumerate(curves)]
    if not series and baseline is None:
        raise ParameterError("deletion_insertion_chart needs at least one curve.")
    if len(series) > _CHART_MAX_SERIES:
        raise ParameterError(f"Draw at most {_CHART_MAX_SERIES} curves in one chart.")
    dpi = _check_chart_frame(width, height, dpi, font_scale)
    reference = _curve_series(baseline, "The baseline") if baseline is not None else None

    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.subplots(2, 1) if stacked else figure.subplots(1, 2, sharey=True)
    colours = matplotlib.colormaps["tab10"]

    def size(points: float) -> float:
        return points * font_scale

    for side, (ax, name, better) in enumerate(
        zip(axes, ("Deletion", "Insertion"), ("lower is better", "higher is better"))
    ):
        for i, (label, x, deletion, insertion) in enumerate(series):
            y = (deletion, insertion)[side]
            ax.plot(x, y, color=colours(i % 10), linewidth=1.6,
                    label=f"{label} ({_trapezoid_area(x, y):.3f})")
        if reference is not None:
            label, x, deletion, insertion = reference
            y = (deletion, insertion)[side]
            ax.plot(x, y, color="0.45", linestyle="--", linewidth=1.4,
                    label=f"{label} ({_trapezoid_area(x, y):.3f})")
        ax.set_title(f"{name} · area: {better}", fontsize=size(9))
        ax.set_xlabel("fraction of pixels " + ("removed" if side == 0 else "inserted"), fontsize=size(8))
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=size(7))
        ax.legend(fontsize=size(7), loc="upper right" if side == 0 else "lower right", framealpha=0.8)
    for ax in axes if stacked else axes[:1]:
        ax.set_ylabel("class probability", fontsize=size(8))
    if title:
        figure.suptitle(str(title), fontsize=size(10), wrap=True)
    figure.tight_layout()
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    picture = np.ascontiguousarray(rgba[:, :, :3], dtype=np.uint8)
    return _exact_size(picture, height, width)  # dpi rounding: pad or crop to the exact size


# --------------------------------------------------------------------------- trust report

_TRUST_BAND_COLOURS = ("0.45", "tab:cyan")  # one per band: random blobs, random pixels


def _panel_series(values: object, length: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (length,):
        raise ParameterError(f"{what} must hold one number per fraction ({length}).")
    return array


def _exact_size(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad (white) or crop a chart to exactly ``height x width`` (dpi rounding)."""
    if picture.shape[:2] == (height, width):
        return picture
    exact = np.full((height, width, 3), 255, np.uint8)
    h, w = min(height, picture.shape[0]), min(width, picture.shape[1])
    exact[:h, :w] = picture[:h, :w]
    return exact


def trust_chart(
    panels: Sequence[dict],
    *,
    title: str | None = None,
    width: int = 1200,
    height: int = 380,
    dpi: int = 100,
    columns: int | None = None,
    font_scale: float = 1.0,
) -> np.ndarray:
    """The trust report's curves, one panel per test, with the random band shaded, as a
    uint8 RGB ``height x width`` chart: the panels in a row, or in rows of ``columns``
    (a chart that stays readable when a phone shows it about 400 pixels wide), every text
    scaled by ``font_scale``.

    ``panels`` (e.g. :attr:`cnnvis.evaluation.trust.TrustReport.panels`): per panel a mapping with
    ``title``, ``xlabel``, ``better`` ("lower" or "higher"), ``fractions`` (the x axis),
    ``bands`` (each a mapping with ``label``, ``mean``, ``std``, ``low`` and ``high`` per
    fraction: the range of the random maps is shaded lightly, their mean +- one standard
    deviation darker, the mean dashed) and ``curves`` (``(label, scores, area)`` per
    method, the area computed by the caller). A method keeps its colour in every panel;
    one legend below the panels names them. Nothing is computed here but the drawing.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(panels, dict) or not isinstance(panels, Sequence) or not 1 <= len(panels) <= 8:
        raise ParameterError("trust_chart needs a list of 1 to 8 panels.")
    dpi = _check_chart_frame(width, height, dpi, font_scale)
    checked = []
    for number, panel in enumerate(panels, 1):
        what = f"Panel {number}"
        try:
            x = np.asarray(panel["fractions"], dtype=np.float64)
            bands, curves = list(panel["bands"]), list(panel["curves"])
        except (TypeError, KeyError, ValueError):
            raise ParameterError(f"{what} needs fractions, bands and curves.") from None
        if x.ndim != 1 or x.size < 2 or not np.isfinite(x).all():
            raise ParameterError(f"{what}: the fractions must be at least two finite numbers.")
        if len(bands) > len(_TRUST_BAND_COLOURS) or len(curves) > _CHART_MAX_SERIES:
            raise ParameterError(
                f"{what}: at most {len(_TRUST_BAND_COLOURS)} bands and {_CHART_MAX_SERIES} curves."
            )
        shaded = []
        for band in bands:
            try:
                shaded.append(
                    (str(band["label"]),)
                    + tuple(
                        _panel_series(band[key], x.size, f"{what}: the band's {key}")
                        for key in ("mean", "std", "low", "high")
                    )
                )
            except (TypeError, KeyError):
                raise ParameterError(f"{what}: a band needs label, mean, std, low and high.") from None
        lines = []
        for curve in curves:
            try:
                label, scores, area = curve
            except (TypeError, ValueError):
                raise ParameterError(f"{what}: each curve must be (label, scores, area).") from None
            lines.append(
                (str(label), _panel_series(scores, x.size, f"{what}: {label}"), _as_float(area, "area"))
            )
        better = str(panel.get("better", ""))
        heading = str(panel.get("title", ""))
        checked.append((heading + (f" · {better} is better" if better else ""), x, shaded, lines, panel))

    columns = len(checked) if columns is None else _check_positive_int(columns, "columns")
    columns = min(columns, len(checked))
    grid_rows = math.ceil(len(checked) / columns)

    def size(points: float) -> float:
        return points * font_scale

    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    grid = np.atleast_1d(figure.subplots(grid_rows, columns, sharey=True, squeeze=False)).ravel()
    for unused in grid[len(checked):]:
        unused.set_visible(False)
    axes = grid[: len(checked)]
    colours = matplotlib.colormaps["tab10"]
    handles: dict[str, object] = {}
    for ax, (heading, x, shaded, lines, panel) in zip(axes, checked):
        for i, (label, mean, std, low, high) in enumerate(shaded):
            colour = _TRUST_BAND_COLOURS[i]
            ax.fill_between(x, low, high, color=colour, alpha=0.12, linewidth=0)
            ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.25, linewidth=0)
            (line,) = ax.plot(x, mean, color=colour, linestyle="--", linewidth=1.3)
            handles.setdefault(label, line)
        for i, (label, scores, area) in enumerate(lines):
            (line,) = ax.plot(x, scores, color=colours(i % 10), linewidth=1.5)
            handles.setdefault(label, line)
        ax.set_title(heading, fontsize=size(8 if columns == len(checked) else 6.5))
        ax.set_xlabel(str(panel.get("xlabel", "fraction of pixels")), fontsize=size(7 if columns == len(checked) else 6))
        ax.set_xlim(float(x[0]), float(x[-1]))
        ax.set_ylim(0.0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=size(7))
    for ax in axes[::columns]:
        ax.set_ylabel("class probability", fontsize=size(8))
    per_row = 6 if columns == len(checked) else 3
    figure.legend(
        list(handles.values()),
        list(handles),
        loc="lower center",
        ncol=min(len(handles), per_row),
        fontsize=size(7),
        frameon=False,
    )
    if title:
        figure.suptitle(str(title), fontsize=size(10), wrap=True)
    rows = math.ceil(len(handles) / per_row)
    line = 0.07 * font_scale * 380 / height  # one legend row's share of the height
    figure.tight_layout(rect=(0, min(0.45, line * rows + 0.02), 1, 1))
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    picture = np.ascontiguousarray(rgba[:, :, :3], dtype=np.uint8)
    return _exact_size(picture, height, width)


# --------------------------------------------------------------------------- sheets


def enlarge(picture: np.ndarray, min_side: int) -> np.ndarray:
    """Nearest-neighbour enlargement by a whole factor until the shorter side is at least
    ``min_side``, so that small maps stay crisp as thumbnails."""
    picture = to_uint8(picture)
    factor = max(1, -(-_check_positive_int(min_side, "min_side") // min(picture.shape[:2])))
    return np.ascontiguousarray(np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1))


def filter_sheet(kernels: np.ndarray, indices: Sequence[int], *, rgb: bool) -> np.ndarray:
    """A convolution's kernels on one sheet, each on its own scale (grey = 0) so its
    pattern shows: ``rgb`` kernels ``(n, kh, kw, 3)`` as colour pictures; others
    ``(n, k, kh, kw)`` as one strip per filter, its kernel on each input channel."""
    kernels = np.asarray(kernels)
    side = kernels.shape[1] if rgb else kernels.shape[-1]
    upscale = max(4, 64 // side)
    if rgb:
        cells = [kernel_image(k, upscale=upscale) for k in kernels]
        columns = None  # grid's default: about square
    else:
        cells = [_kernel_strip(slices, upscale) for slices in kernels]
        columns = math.ceil(math.sqrt(len(cells) / kernels.shape[1]))  # about square
    return grid(cells, [f"#{i}" for i in indices], columns=columns)


def _kernel_strip(slices: np.ndarray, upscale: int) -> np.ndarray:
    scale = float(np.abs(slices).max()) or None
    pictures = [kernel_image(s, scale=scale, upscale=upscale, cmap="RdBu_r") for s in slices]
    return grid(pictures, columns=len(pictures), pad=1)


def feature_map_sheet(maps: np.ndarray, channels: Sequence[int], *, cmap: str = "viridis") -> np.ndarray:
    """Feature maps ``(n, h, w)`` in a grid, each stretched to its own range, captioned
    with its channel."""
    cells = [enlarge(feature_map_image(m, cmap=cmap), 96) for m in maps]
    columns = min(len(cells), 4 if len(cells) <= 16 else 8)
    return grid(cells, [f"channel {c}" for c in channels], columns=columns)


def picture_sheet(images: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
    """Pictures (float RGB 0-255 or uint8) side by side, each labelled."""
    pictures = [to_uint8(picture) for picture in images]
    columns = min(len(pictures), 4 if len(pictures) <= 8 else 8)
    return grid(pictures, list(labels), columns=columns)


# --------------------------------------------------------------------------- results
#
# What a technique's or a check's result looks like when it shows itself: in Jupyter
# (``_repr_png_`` / ``_repr_html_``), with ``result.show()`` and ``result.save(path)``.
# The result classes only call :func:`result_picture`, :func:`result_html`, :func:`show`
# and :func:`save` (from their display methods); the drawing is all here. Results are
# recognised by their class name (this module never imports the techniques, so it never
# imports TensorFlow).

DISPLAY_SIDE = 224  # small maps are enlarged to at least this, so a notebook shows them


def _titled(picture: np.ndarray, caption: str) -> np.ndarray:
    """``picture`` with ``caption`` in a band below it (shortened to the width)."""
    return add_caption(picture, caption)


def _pair(left: np.ndarray, right: np.ndarray, texts: Sequence[str], caption: str) -> np.ndarray:
    cells = [enlarge(left, DISPLAY_SIDE), enlarge(right, DISPLAY_SIDE)]
    return _titled(grid(cells, list(texts), columns=2), caption)


def heatmap_picture(
    heatmap: np.ndarray,
    caption: str,
    *,
    image: np.ndarray | None = None,
    cmap: str = "jet",
    alpha: float = 0.5,
) -> np.ndarray:
    """A class map (values in [0, 1]): over its photo when given, and alone, captioned."""
    alone = colorize(heatmap, cmap)
    if image is None:
        return _titled(enlarge(alone, DISPLAY_SIDE), caption)
    return _pair(overlay(image, heatmap, alpha=alpha, cmap=cmap), alone,
                 ("over the photo", "the map, 0 to 1"), caption)


def attribution_picture(values: np.ndarray, caption: str) -> np.ndarray:
    """A signed attribution: signed (grey = no effect) and its saliency (bright = strong)."""
    return _pair(gradient_image(values), gradient_image(values, mode="abs"),
                 ("signed, grey = no effect", "saliency, bright = strong effect"), caption)


def prediction_chart(labels: Sequence[str], probabilities: Sequence[float], *, title: str = "",
                     width: int = 560, dpi: int = 100) -> np.ndarray:
    """Top classes as horizontal bars of their probability, the most probable on top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = np.asarray(probabilities, dtype=np.float64)
    if not labels or values.shape != (len(labels),):
        raise ParameterError("prediction_chart needs one probability per label.")
    height = max(_CHART_MIN_SIDE, 60 + 28 * len(labels))
    dpi = _check_chart_frame(width, height, dpi, 1.0)
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    ax = figure.subplots()
    rows = np.arange(len(labels))[::-1]
    ax.barh(rows, values, color="tab:blue")
    ax.set_yticks(rows, [str(label) for label in labels], fontsize=8)
    for row, value in zip(rows, values):
        ax.text(min(value, 1.0) + 0.01, row, f"{value:.1%}", va="center", fontsize=8)
    ax.set_xlim(0.0, 1.15)
    ax.set_xlabel("probability", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    if title:
        ax.set_title(str(title), fontsize=9)
    figure.tight_layout()
    canvas.draw()
    picture = np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[:, :, :3], dtype=np.uint8)
    return _exact_size(picture, height, width)


def _trust_maps(result) -> np.ndarray | None:
    image = getattr(result, "image", None)
    if image is None:
        return None
    cells = [enlarge(overlay(image, m.map), 160) for m in result.methods]
    return grid(cells, [f"{m.title}: {m.verdict}" for m in result.methods], columns=min(len(cells), 6))


def _draw_trust(result) -> np.ndarray:
    chart = trust_chart(result.panels, title=f"{result.caption} · {result.summary}")
    pictures = _trust_maps(result)
    return chart if pictures is None else grid([pictures, chart], columns=1, pad=0)


def _draw_randomization(result) -> np.ndarray:
    cells, texts = [], []
    for method, original, steps in zip(result.methods, result.original_maps, result.maps):
        for step, values in zip(result.steps, (original, *steps)):
            cells.append(enlarge(colorize(values, "jet"), 96))
            texts.append(f"{method} · {step}")
    return _titled(grid(cells, texts, columns=len(result.steps)), result.caption)


def _draw_predictions(result) -> np.ndarray:
    labels = [f"{p.label} ({p.index})" for p in result]
    title = getattr(result, "caption", "")
    return prediction_chart(labels, [p.probability for p in result], title=title)


_DRAWERS = {
    "Heatmap": lambda r: heatmap_picture(r.heatmap, r.caption, image=getattr(r, "image", None)),
    "Attribution": lambda r: attribution_picture(r.values, r.caption),
    "FeatureMaps": lambda r: _titled(feature_map_sheet(r.maps, r.channels), r.caption),
    "Filters": lambda r: _titled(filter_sheet(r.kernels, r.filter_indices, rgb=r.rgb), r.caption),
    "Dream": lambda r: _titled(enlarge(r.image, DISPLAY_SIDE), r.caption),
    "DreamFrame": lambda r: _titled(enlarge(r.image, DISPLAY_SIDE), f"Deep Dream · {r.where}"),
    "FeatureVisualization": lambda r: _titled(
        picture_sheet([enlarge(i, 128) for i in r.images], r.captions), r.caption
    ),
    "FeatureVisFrame": lambda r: _titled(
        picture_sheet([enlarge(i, 128) for i in r.images], [f"{v:.2g}" for v in r.objective]),
        f"Feature visualisation · {r.where}",
    ),
    "Predictions": _draw_predictions,
    "TrustReport": _draw_trust,
    "Faithfulness": lambda r: deletion_insertion_chart(r.curves, baseline=r.baseline, title=r.caption),
    "Comparison": lambda r: deletion_insertion_chart(r.curves, baseline=r.baseline, title=r.caption),
    "RandomizationCheck": _draw_randomization,
}


def _drawer(result):
    for kind in type(result).__mro__:
        if kind.__name__ in _DRAWERS:
            return _DRAWERS[kind.__name__]
    raise ParameterError(f"cnnvis cannot draw a {type(result).__name__}.")


def result_picture(result) -> np.ndarray:
    """Any of the package's results as one uint8 RGB picture with its caption: a class
    map over its photo, an attribution signed and as saliency, a grid of feature maps or
    filters, a prediction chart, the trust report's maps with verdicts and its curves,
    deletion/insertion curves, the randomisation check's maps, a dream."""
    return _drawer(result)(result)


def png_bytes(picture: np.ndarray) -> bytes:
    """``picture`` (anything :func:`to_uint8` takes) encoded as PNG."""
    with io.BytesIO() as buffer:
        Image.fromarray(to_uint8(picture)).save(buffer, format="png")
        return buffer.getvalue()


def _img_tag(picture: np.ndarray, alt: str) -> str:
    data = base64.b64encode(png_bytes(picture)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" style="max-width:100%">'


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def result_html(result) -> str:
    """A result as an HTML fragment for a notebook: the prediction table; the trust
    report's summary, verdict table and picture; for the others, the picture."""
    kind = {k.__name__ for k in type(result).__mro__}
    if "Predictions" in kind:
        rows = [(p.rank, p.label, p.index, f"{p.probability:.1%}", f"{p.logit:.3f}") for p in result]
        note = f"<p>{html.escape(result[0].note)}</p>" if result and result[0].note else ""
        return _table(("rank", "class", "index", "probability", "logit"), rows) + note
    if "TrustReport" in kind:
        rows = [(m.rank, m.title, m.verdict, f"{m.faithfulness:+.2f}", m.reason) for m in result.methods]
        return (
            f"<p><b>{html.escape(result.caption)}</b></p><p>{html.escape(result.summary)} "
            f"{html.escape(result.note)}</p>"
            + _table(("rank", "method", "verdict", "faithfulness", "reason"), rows)
            + _img_tag(result_picture(result), result.caption)
        )
    caption = str(getattr(result, "caption", type(result).__name__))
    return _img_tag(result_picture(result), caption)


def save(result, path) -> Path:
    """Write ``result``'s picture to ``path`` (PNG, JPEG... by the suffix; ``.html``
    writes :func:`result_html`) and return the path."""
    target = Path(path)
    if target.suffix.lower() in (".html", ".htm"):
        target.write_text(result_html(result), encoding="utf-8")
        return target
    try:
        Image.fromarray(result_picture(result)).save(target)
    except (KeyError, ValueError) as error:  # Pillow: unknown or missing suffix
        raise ParameterError(
            f"Cannot save a picture as {quoted(target.name)}: end the name with .png, .jpg or .html."
        ) from error
    return target


def show(result) -> None:
    """Show ``result``: inline in a notebook (IPython's display), else in the system's
    image viewer (Pillow's ``Image.show``)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import display

        display(result)
        return
    Image.fromarray(result_picture(result)).show()
