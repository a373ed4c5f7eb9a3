"""Normalised cross-correlation of two aligned images, judged tile by tile so that a caption, a logo
or a crop edge over part of a copy does not hide it.

Both verifiers judge their aligned pair with it: the keypoint verifier (`detector.verify`) on the
band-passed pixels of the footprint, the photometric aligner (`detector.align`) on the band-passed
structure of a low-texture work.

Core module: values in, values out.
"""

from __future__ import annotations

import itertools

import numpy as np

#: A tile counts when this share of it lies under the mask.
_TILE_COVERAGE = 0.3
#: With fewer usable tiles than this, the whole mask is compared at once.
_MIN_TILES = 4


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equally shaped arrays, in [-1, 1]; 0 when either is flat."""
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 1e-6 else 0.0


def tiled_ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray, tiles: int = 4,
              structure: np.ndarray | None = None, min_structure: float = 0.0) -> float:
    """NCC of `a` and `b` under the boolean `mask`, judged tile by tile: the mean over the better
    half of a tiles x tiles grid laid over the mask's bounding box.

    Where a copy shows the work, its tiles correlate almost perfectly; a caption, a logo, a
    crop edge or a rotation's corners spoil the tiles they touch and no others, and the better
    half ignores them as long as they are fewer than half. A second photo of the same scene
    differs in light and parallax everywhere, so even its better tiles stay low. With too few
    usable tiles the whole mask is compared at once. With `structure`, a tile where it varies
    less than `min_structure` carries no evidence either way and is left out.
    """
    ys, xs = np.nonzero(mask)
    y_edges = np.linspace(ys.min(), ys.max() + 1, tiles + 1).astype(int)
    x_edges = np.linspace(xs.min(), xs.max() + 1, tiles + 1).astype(int)
    scores = []
    for y0, y1 in itertools.pairwise(y_edges):
        for x0, x1 in itertools.pairwise(x_edges):
            inside = mask[y0:y1, x0:x1]
            if (inside.size and inside.mean() >= _TILE_COVERAGE and inside.sum() >= 32
                    and (structure is None or structure[y0:y1, x0:x1][inside].std() >= min_structure)):
                scores.append(ncc(a[y0:y1, x0:x1][inside], b[y0:y1, x0:x1][inside]))
    if len(scores) < _MIN_TILES:
        return ncc(a[mask], b[mask])
    better_half = sorted(scores, reverse=True)[: (len(scores) + 1) // 2]
    return float(np.mean(better_half))
