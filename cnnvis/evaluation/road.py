"""ROAD: remove pixels without leaving holes (Rong et al. 2022).

Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A Consistent and Efficient Evaluation
Strategy for Attribution Methods" (ICML), ROAD = RemOve And Debias. Deleting pixels to
black (RISE's deletion) makes images the model never saw: it reacts to the black shapes
themselves, and the shape of the mask leaks which pixels the map chose. ROAD replaces
each removed pixel by **noisy linear imputation** instead:

- every removed pixel becomes the weighted mean of its eight neighbours (direct
  neighbours weight 1/6, diagonal ones 1/12, as in the paper's reference implementation;
  at the border the mean is over the neighbours inside the image). Neighbours that
  are removed too are unknowns of the same equations, so the removed pixels are the
  solution of one sparse linear system (a discrete Laplace equation whose boundary is
  the kept pixels), solved with SciPy's sparse LU (SuperLU) for the three colour
  channels at once;
- Gaussian noise is added to the imputed pixels: the reference's ``noise=0.01`` on
  images scaled to [0, 1], i.e. a standard deviation of 2.55 on our 0-255 pixels, so the
  imputed values carry no exact trace of the mask.

Pixels are removed in two orders at a set of fractions: **MoRF** (most relevant first:
the class probability should fall fast, a low curve is good) and **LeRF** (least
relevant first: it should stay high, a high curve is good). Both orders are indexed by
the fraction *removed*: the reference implementation's LeRF at ``th_p = p`` keeps the
``p`` most relevant pixels, which is our LeRF at ``1 - p``; with the symmetric default
fractions both give the same points. One image gives the class probability (softmax) per
fraction, where the paper averages accuracy over a data set.

This module only imputes and builds the perturbed images; the forward passes run in the
caller's batched stream (see :mod:`cnnvis.evaluation.trust`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import splu

from ..errors import ParameterError
from ..registry import check_float

# (dy, dx, weight): the paper's reference weights; they sum to 1 (4 / 6 + 4 / 12).
NEIGHBOURS: tuple[tuple[int, int, float], ...] = (
    (-1, -1, 1 / 12),
    (-1, 0, 1 / 6),
    (-1, 1, 1 / 12),
    (0, -1, 1 / 6),
    (0, 1, 1 / 6),
    (1, -1, 1 / 12),
    (1, 0, 1 / 6),
    (1, 1, 1 / 12),
)
NOISE = 0.01 * 255.0  # standard deviation of the noise on imputed pixels (0-255 scale)
ORDERS = ("morf", "lerf")
ORDER_TITLES = {"morf": "ROAD most relevant first", "lerf": "ROAD least relevant first"}
# Every other point of the paper's 10 %-90 % grid: the cost of a solve grows with the
# removed share, and five points already give the curve's shape and area.
DEFAULT_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
MAX_FRACTIONS = 9
MAX_FRACTION = 0.95  # something must stay to impute from
# Each imputation holds one sparse LU factor (the trust report runs two at a time). Its
# fill grows faster than the pixel count: with 90 % removed it holds 3.7 million entries
# at 224 x 224 (about 45 MB, 0.3 s), 13 million at 400 x 400 (160 MB, 2 s) and 34 million
# at 600 x 600 (420 MB, 5.5 s), measured on a 2-core CPU; so ROAD runs on model inputs of
# at most 400 x 400 pixels.
MAX_PIXELS = 400 * 400


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """Removal fractions, strictly increasing, each in (0, MAX_FRACTION]."""
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Sequence):
        raise ParameterError("The ROAD fractions must be a list of numbers such as [0.1, 0.5, 0.9].")
    values = tuple(check_float("a ROAD fraction", f, 0.0, MAX_FRACTION) for f in fractions)
    if not 1 <= len(values) <= MAX_FRACTIONS:
        raise ParameterError(f"Give from 1 to {MAX_FRACTIONS} ROAD fractions.")
    if values[0] <= 0.0 or any(b <= a for a, b in zip(values, values[1:])):
        raise ParameterError("The ROAD fractions must be above 0 and strictly increasing.")
    return values


def check_size(shape: tuple[int, int], model: str = "the model") -> None:
    height, width = int(shape[0]), int(shape[1])
    if height * width > MAX_PIXELS:
        raise ParameterError(
            f"ROAD imputes pixels at the model's input size, at most {MAX_PIXELS:,} pixels "
            f"(400 x 400), and {model} takes {height} x {width}."
        )


def removal_count(total: int, fraction: float) -> int:
    """How many of ``total`` pixels a fraction removes (rounded, at most total - 1)."""
    return int(min(total - 1, round(fraction * total)))


def removed_pixels(ranks: np.ndarray, fraction: float, order: str) -> np.ndarray:
    """The boolean ``H x W`` mask of the pixels removed at ``fraction`` in ``order``.

    ``ranks``: 0 for the most relevant pixel (see :func:`cnnvis.evaluation.metrics.pixel_ranks`,
    which breaks ties in a seeded random order, as the reference's tiny noise does).
    """
    total = ranks.size
    count = removal_count(total, fraction)
    if order == "morf":
        return ranks < count
    if order == "lerf":
        return ranks >= total - count
    raise ParameterError(f"The ROAD order must be one of {', '.join(ORDERS)}.")


def imputation_system(removed: np.ndarray, pixels: np.ndarray) -> tuple[csc_matrix, np.ndarray, np.ndarray]:
    """The linear system of noisy linear imputation, without the noise.

    For removed pixel ``i`` with in-image neighbours ``j`` (weights ``w_ij``):
    ``(sum_j w_ij) x_i - sum_{j removed} w_ij x_j = sum_{j kept} w_ij p_j``. Returns the
    ``n x n`` matrix (symmetric, diagonally dominant), the ``n x C`` right-hand side and
    the flat indices of the ``n`` removed pixels.
    """
    height, width = removed.shape
    channels = pixels.shape[2]
    flat_removed = removed.ravel()
    index = np.flatnonzero(flat_removed)
    count = index.size
    variable = np.full(flat_removed.size, -1, np.int64)
    variable[index] = np.arange(count)
    ys, xs = np.divmod(index, width)
    known = pixels.reshape(-1, channels).astype(np.float64)
    diagonal = np.zeros(count)
    rhs = np.zeros((count, channels))
    rows, cols, values = [], [], []
    for dy, dx, weight in NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        which = np.flatnonzero(inside)
        neighbour = ny[inside] * width + nx[inside]
        diagonal[which] += weight
        unknown = flat_removed[neighbour]
        rows.append(which[unknown])
        cols.append(variable[neighbour[unknown]])
        values.append(np.full(int(unknown.sum()), -weight))
        # Each removed pixel has at most one neighbour per offset: no repeated rows here.
        rhs[which[~unknown]] += weight * known[neighbour[~unknown]]
    rows.append(np.arange(count))
    cols.append(np.arange(count))
    values.append(diagonal)
    matrix = csc_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(count, count)
    )
    return matrix, rhs, index


def impute(
    pixels: np.ndarray,
    removed: np.ndarray,
    *,
    noise: float = NOISE,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``pixels`` (``H x W x C``, 0-255) with the ``removed`` pixels (boolean ``H x W``)
    replaced by noisy linear imputation; kept pixels are returned unchanged (float32).

    The system is symmetric positive definite whenever one pixel is kept (every group of
    removed pixels touches a kept one), so SuperLU factors it without pivoting, in a
    symmetric minimum-degree order (about half the fill of its default order).
    """
    pixels = np.asarray(pixels)
    removed = np.asarray(removed, bool)
    if pixels.ndim != 3 or removed.shape != pixels.shape[:2]:
        raise ParameterError("ROAD needs an H x W x C image and an H x W mask of removed pixels.")
    result = pixels.astype(np.float32, copy=True)
    count = int(removed.sum())
    if count == 0:
        return result
    if count == removed.size:
        raise ParameterError("ROAD cannot remove every pixel: at least one must stay to impute from.")
    matrix, rhs, index = imputation_system(removed, pixels)
    factor = splu(
        matrix,
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    values = factor.solve(rhs)
    if noise > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        values += noise * rng.standard_normal(values.shape)
    result.reshape(-1, pixels.shape[2])[index] = values.astype(np.float32)
    return result


# ----- on the torus, one factor for a map and all its moved copies ---------------------
class TorusImputer:
    """Noisy linear imputation of one removal mask and of any flipped and cyclically
    moved copy of it (:class:`cnnvis.evaluation.null.Transform`), from one sparse LU
    factor.

    The trust report compares a map with copies of itself moved across the photo
    (:mod:`cnnvis.evaluation.null`). With neighbours taken on the torus (a pixel of the
    left edge has its left neighbours on the right edge), the imputation system is the
    same for a mask and for every moved copy of it: the eight weights are symmetric
    under flips and every pixel has all eight neighbours, so the copy's matrix is the
    mask's matrix with its unknowns renumbered. One factorisation then serves the map
    and its 19 copies; each copy costs one triangular solve (about 20 times less). Away
    from the photo's border this is exactly the paper's imputation; at the border the
    neighbours wrap around, for the map and its copies alike.
    """

    def __init__(self, removed: np.ndarray):
        removed = np.asarray(removed, bool)
        if removed.all():
            raise ParameterError("ROAD cannot remove every pixel: at least one must stay to impute from.")
        self.removed = removed
        height, width = removed.shape
        flat = removed.ravel()
        self.index = np.flatnonzero(flat)
        count = self.index.size
        variable = np.full(flat.size, -1, np.int64)
        variable[self.index] = np.arange(count)
        self.ys, self.xs = np.divmod(self.index, width)
        rows, cols, values = [np.arange(count)], [np.arange(count)], [np.ones(count)]
        for dy, dx, weight in NEIGHBOURS:
            neighbour = ((self.ys + dy) % height) * width + (self.xs + dx) % width
            unknown = flat[neighbour]
            rows.append(np.flatnonzero(unknown))
            cols.append(variable[neighbour[unknown]])
            values.append(np.full(int(unknown.sum()), -weight))
        matrix = csc_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(count, count)
        )
        self.factor = (
            splu(matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
            if count
            else None
        )

    def impute(self, pixels: np.ndarray, transform=None, *, noise: float = NOISE,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """``pixels`` with the mask moved by ``transform`` (None: as it is) imputed."""
        pixels = np.asarray(pixels)
        height, width, channels = pixels.shape
        result = pixels.astype(np.float32, copy=True)
        if self.factor is None:
            return result
        if transform is None:
            ys, xs, removed = self.ys, self.xs, self.removed
        else:
            ys, xs = transform.positions(self.ys, self.xs, (height, width))
            removed = transform.apply(self.removed)
        known = pixels.astype(np.float64)
        rhs = np.zeros((ys.size, channels))
        for dy, dx, weight in NEIGHBOURS:
            ny, nx = (ys + dy) % height, (xs + dx) % width
            kept = ~removed[ny, nx]
            rhs[kept] += weight * known[ny[kept], nx[kept]]
        values = self.factor.solve(rhs)
        if noise > 0:
            rng = rng if rng is not None else np.random.default_rng(0)
            values += noise * rng.standard_normal(values.shape)
        result[ys, xs] = values.astype(np.float32)
        return result


__all__ = [
    "TorusImputer",
    "NEIGHBOURS",
    "NOISE",
    "ORDERS",
    "DEFAULT_FRACTIONS",
    "check_fractions",
    "removed_pixels",
    "imputation_system",
    "impute",
]
