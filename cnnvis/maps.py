"""Maps at any size, and one ``H x W`` map from any technique's result: what the metrics
compare and rank.

No TensorFlow, used by the techniques' results, the metrics and :mod:`cnnvis.render`
alike, so that the package never asks the drawing module to compute for it.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError
from .images import resize_image, resize_map

SALIENCY_PERCENTILE = 99.5  # the top 0.5 % of |gradient| saturate (one stray pixel cannot)


def at_size(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A map (``h x w`` or ``h x w x c``) brought to ``size = (height, width)``: the one
    resize of every technique's result.

    Shrinking (no side grows) averages areas (``cv2.INTER_AREA``, as
    :func:`cnnvis.images.resize_image` shrinks a photo), so each output pixel is the mean
    of the map over the pixels it covers; otherwise bilinear, pixel centres aligned with
    the photo's (:func:`cnnvis.images.resize_map`). The same size gives a float32 copy.
    """
    values = np.asarray(values, dtype=np.float32)
    height, width = int(size[0]), int(size[1])
    if values.shape[:2] == (height, width):
        return values.copy()
    if height <= values.shape[0] and width <= values.shape[1]:
        return resize_image(values, (height, width))
    return resize_map(values, (height, width))


def saliency(gradient: np.ndarray, *, clip_percentile: float = SALIENCY_PERCENTILE) -> np.ndarray:
    """Signed ``H x W x 3`` attribution -> ``H x W`` float32 saliency in [0, 1].

    The largest ``|g|`` over the colour channels (Simonyan et al. 2014), clipped at the
    given percentile and divided by it (the maximum when that percentile is 0), so zero
    stays zero and a zero gradient gives zeros. NaN and infinities count as 0.
    """
    if isinstance(clip_percentile, bool) or not isinstance(clip_percentile, (int, float)) or not (
        0 < float(clip_percentile) <= 100
    ):
        raise ParameterError(f"The clip percentile must be in (0, 100], got {clip_percentile!r}.")
    values = np.asarray(gradient, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    if values.ndim != 3 or values.shape[2] not in (1, 3) or values.size == 0:
        raise ParameterError(f"The gradient must be an H x W x 3 array, got shape {values.shape}.")
    magnitude = np.abs(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)).max(axis=2)
    scale = float(np.percentile(magnitude, float(clip_percentile)))
    if scale <= 0:
        scale = float(magnitude.max(initial=0.0))
    if scale == 0:
        return np.zeros(magnitude.shape, dtype=np.float32)
    return np.clip(magnitude / scale, 0.0, 1.0).astype(np.float32)


def saliency_map(result) -> np.ndarray:
    """An ``H x W`` float32 map from a technique's result or an array.

    A heatmap result gives its ``heatmap`` (at the photo's size); an attribution result
    (or any ``H x W x 3`` array) gives :func:`saliency` of its values; an ``H x W`` array
    is used as it is. For a result at its native resolution, pass ``result.native``.
    """
    if hasattr(result, "heatmap"):
        values = np.asarray(result.heatmap)
    elif isinstance(getattr(result, "values", None), np.ndarray):
        values = np.asarray(result.values)
    else:
        values = np.asarray(result)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[..., 0]
    if values.ndim == 3 and values.shape[2] == 3:
        return saliency(values)
    if values.ndim != 2 or values.size == 0:
        raise ParameterError(
            "A saliency map must be an H x W array (or an H x W x 3 attribution), "
            f"got shape {values.shape}."
        )
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise ParameterError("A saliency map must hold real numbers.")
    return np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
