"""The trust report's null: the same maps, moved; and the rank test against it.

A map's deletion, insertion and ROAD curves depend on *where* it puts its weight and on
its *shape*: a few sharp pixels, smooth blobs, edges. Uniform random maps share neither,
so a sparse edge map can beat them under ROAD whatever it explains (the guided
backpropagation of another photo does). The null of the report keeps the shape and
changes only the place: each null map is the method's own map **flipped** (left-right
and up-down, each with probability 1/2) and **moved** cyclically by a random offset of a
quarter to three quarters of each side, so that it really lies elsewhere (the centre of
its weight moves by at least a quarter of the shorter side). Its values, sparsity and texture are those of the
map; the pixels it marks are not. This is the idea of spatial permutation ("spin")
nulls (Alexander-Bloch et al. 2018) applied to saliency; the rank test is a Monte Carlo
permutation test (Besag & Clifford 1989; Phipson & Smyth 2010).

Each method gets its own null, made from its own map: a pool shared by methods of one
kind would mix shapes (the moved copies of a map concentrated on one region are worse
than random, and uniform noise would beat them), and the test would no longer be exact.

The test (:func:`combined_share`): on each curve, every map (the method's and the ``N``
null maps) gets the share of the others it beats (ties count half); its combined score
is the mean of those shares over the curves. The method's **share** is the part of the
null whose combined score it beats, and its **p-value** ``(1 + #null maps scoring at
least as well) / (N + 1)``. When the method's map is exchangeable with the null (its
place carries no information), that p-value is at most ``alpha`` with probability at
most ``alpha``: with ``N = 19`` null maps, beating all of them happens by chance at most
once in 20 (5 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

MIN_SHIFT, MAX_SHIFT = 0.25, 0.75  # of each side: a moved map lies elsewhere


def _centre(values: np.ndarray) -> tuple[float, float]:
    """The centre of a map's weight on the torus (circular mean of each axis, in pixels)."""
    weight = np.asarray(values, np.float64)
    weight = weight - weight.min()
    if weight.sum() <= 0:
        weight = np.ones_like(weight)
    centre = []
    for axis, size in enumerate(weight.shape):
        profile = weight.sum(axis=1 - axis)
        angle = 2 * np.pi * np.arange(size) / size
        mean = np.arctan2((profile * np.sin(angle)).sum(), (profile * np.cos(angle)).sum())
        centre.append(float(mean % (2 * np.pi)) * size / (2 * np.pi))
    return centre[0], centre[1]


def _torus_distance(a: tuple[float, float], b: tuple[float, float], shape: tuple[int, int]) -> float:
    d = [min(abs(x - y), size - abs(x - y)) for x, y, size in zip(a, b, shape)]
    return float(np.hypot(*d))


@dataclass(frozen=True)
class Transform:
    """Flip (up-down, left-right), then roll cyclically by (dy, dx)."""

    flip_y: bool
    flip_x: bool
    dy: int
    dx: int

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The transformed H x W array (a map, its pixel ranks, a mask)."""
        result = values
        if self.flip_y:
            result = result[::-1, :]
        if self.flip_x:
            result = result[:, ::-1]
        return np.ascontiguousarray(np.roll(result, (self.dy, self.dx), axis=(0, 1)))

    def positions(self, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Where the pixels at (ys, xs) go."""
        height, width = shape
        ys = height - 1 - ys if self.flip_y else ys
        xs = width - 1 - xs if self.flip_x else xs
        return (ys + self.dy) % height, (xs + self.dx) % width


IDENTITY = Transform(False, False, 0, 0)


def draw_transform(values: np.ndarray, rng: np.random.Generator, *, tries: int = 50) -> Transform:
    """A random flip and a cyclic shift of ``[MIN_SHIFT, MAX_SHIFT]`` of each side, such
    that the centre of the map's weight (on the torus) moves by at least ``MIN_SHIFT``
    of the shorter side: a flip followed by a shift could otherwise put a symmetric map
    (a quadrant) back where it was. After ``tries`` rejected draws the last is kept."""
    height, width = values.shape
    centre = _centre(values)
    least = MIN_SHIFT * min(height, width)
    for _ in range(tries):
        flip_x, flip_y = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
        dy = int(rng.integers(round(MIN_SHIFT * height), round(MAX_SHIFT * height) + 1))
        dx = int(rng.integers(round(MIN_SHIFT * width), round(MAX_SHIFT * width) + 1))
        transform = Transform(flip_y, flip_x, dy, dx)
        y, x = centre
        moved_y = ((height - 1 - y) if flip_y else y) + dy  # a flip mirrors the circular mean
        moved_x = ((width - 1 - x) if flip_x else x) + dx
        if _torus_distance((moved_y % height, moved_x % width), centre, (height, width)) >= least:
            break
    return transform


def moved(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``values`` (H x W) moved by :func:`draw_transform` (float32)."""
    return draw_transform(values, rng).apply(values).astype(np.float32)


def null_transforms(values: np.ndarray, count: int, seed: int, key: Sequence[int] = ()) -> list[Transform]:
    """``count`` transforms of one map, from ``numpy.random.default_rng([seed, 13,
    *key])`` (``key`` names the map, so its null depends on nothing else)."""
    rng = np.random.default_rng([seed, 13, *key])
    return [draw_transform(values, rng) for _ in range(count)]


def null_maps(values: np.ndarray, count: int, seed: int, key: Sequence[int] = ()) -> list[np.ndarray]:
    """The ``count`` moved copies of one map that :func:`null_transforms` make."""
    return [t.apply(values).astype(np.float32) for t in null_transforms(values, count, seed, key)]


def beaten_share(value: float, others: np.ndarray, higher_is_better: bool = True) -> float:
    """The share of ``others`` that ``value`` beats, ties counting half."""
    others = np.asarray(others, np.float64)
    if not higher_is_better:
        value, others = -value, -others
    wins = float(np.sum(others < value)) + 0.5 * float(np.sum(others == value))
    return wins / len(others)


def curve_shares(scores: np.ndarray) -> np.ndarray:
    """Per row of ``scores`` (maps x curves, higher = better), per curve, the share of
    the other rows it beats (ties half)."""
    scores = np.asarray(scores, np.float64)
    rows = scores.shape[0]
    below = (scores[None, :, :] < scores[:, None, :]).sum(axis=1)
    ties = (scores[None, :, :] == scores[:, None, :]).sum(axis=1) - 1  # not itself
    return (below + 0.5 * ties) / max(rows - 1, 1)


def combined_share(method: np.ndarray, null: np.ndarray) -> tuple[float, float, np.ndarray]:
    """The rank test of the module: ``method`` (curves,) and ``null`` (N, curves) are
    scores where higher is better. Returns (share of the null the method's combined score
    beats, the permutation p-value, the per-curve shares of the null it beats)."""
    null = np.asarray(null, np.float64).reshape(-1, len(method))
    table = np.vstack([np.asarray(method, np.float64)[None, :], null])
    per_curve = curve_shares(table)
    combined = per_curve.mean(axis=1)
    share = beaten_share(combined[0], combined[1:])
    p_value = (1.0 + float(np.sum(combined[1:] >= combined[0]))) / (len(null) + 1.0)
    each = np.array([beaten_share(table[0, t], table[1:, t]) for t in range(table.shape[1])])
    return share, p_value, each


__all__ = [
    "Transform",
    "IDENTITY",
    "draw_transform",
    "null_transforms","moved", "null_maps", "beaten_share", "curve_shares", "combined_share"]
