"""Plane geometry of images under a homography: outlines, their projections, areas and clipping, the
test that a fitted transform can be a picture of a flat image, and the maps between one image's
pixel grids at two sizes.

Both verifiers use them: the keypoint verifier (`detector.verify`) on a RANSAC homography, the
photometric aligner (`detector.align`) on an ECC one. Conventions: points are (x, y) rows of a
float array; pixel centres lie at integer coordinates, so an image of width w spans -0.5 to w - 0.5;
a homography is a 3x3 array mapping homogeneous column vectors.

Core module: values in, values out.
"""

from __future__ import annotations

import numpy as np


def box(width: int, height: int) -> np.ndarray:
    """The image's outline along its pixel edges: top-left, top-right, bottom-right, bottom-left."""
    return np.array([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]])


def project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`points` (n x 2) mapped through `homography`, back in Cartesian coordinates."""
    homogeneous = np.c_[points, np.ones(len(points))] @ homography.T
    return homogeneous[:, :2] / homogeneous[:, 2:]


def area(polygon: np.ndarray) -> float:
    """Area of a simple polygon given by its corners in order (the shoelace formula); 0 under 3 corners."""
    if len(polygon) < 3:
        return 0.0
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def clip_convex(polygon: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """The part of a convex polygon inside an axis-aligned `outline` (as `box` gives it), by
    Sutherland-Hodgman; an empty (0 x 2) array when they do not overlap."""
    (x0, y0), (x1, y1) = outline[0], outline[2]
    edges = [
        (lambda p: p[0] >= x0, lambda p, q: _at_x(p, q, x0)),
        (lambda p: p[0] <= x1, lambda p, q: _at_x(p, q, x1)),
        (lambda p: p[1] >= y0, lambda p, q: _at_y(p, q, y0)),
        (lambda p: p[1] <= y1, lambda p, q: _at_y(p, q, y1)),
    ]
    points = list(polygon)
    for inside, crossing in edges:
        clipped = []
        for i, current in enumerate(points):
            previous = points[i - 1]
            if inside(current):
                if not inside(previous):
                    clipped.append(crossing(previous, current))
                clipped.append(current)
            elif inside(previous):
                clipped.append(crossing(previous, current))
        points = clipped
        if not points:
            break
    return np.array(points, dtype=np.float64).reshape(-1, 2)


def degeneracy(homography: np.ndarray, outline: np.ndarray, max_anisotropy: float) -> str:
    """Why `homography` cannot be a view of the flat picture with this `outline` (4 corners, as `box`
    gives them), or "" when it can: the outline must stay in front of the horizon, keep its corners
    turning the same way (not mirrored, not collapsed) and stretch at no corner more than
    `max_anisotropy` times more one way than the other."""
    w = np.c_[outline, np.ones(4)] @ homography[2]
    if np.any(w <= 0):
        return "the work's outline crosses the horizon"
    # With the whole outline on the near side of the horizon the footprint is convex, and its
    # corners all turn the same way: the work's way unless the transform mirrors it.
    quad = project(homography, outline)
    turns = [_cross(quad[i], quad[(i + 1) % 4], quad[(i + 2) % 4]) for i in range(4)]
    if min(turns) <= 0:
        return "the work's outline is mirrored" if max(turns) < 0 else "the work's outline collapses to a line"
    stretches = np.array([_stretch(homography, corner) for corner in outline])
    anisotropy = (stretches[:, 0] / np.maximum(stretches[:, 1], 1e-12)).max()
    if anisotropy > max_anisotropy:
        return f"stretched {anisotropy:.1f}x more one way than the other (> {max_anisotropy:g})"
    return ""


def shift(dx: float, dy: float) -> np.ndarray:
    """The translation by (dx, dy) as a homography."""
    return np.array([[1.0, 0, dx], [0, 1.0, dy], [0, 0, 1.0]])


def resize_map(from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Maps pixel-centre coordinates of an image of `from_size` (width, height) onto the same image
    resized to `to_size`: edges map onto edges, so a corner pixel's centre moves by half a pixel."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return shift(-0.5, -0.5) @ np.diag([sx, sy, 1.0]) @ shift(0.5, 0.5)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _stretch(homography: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Singular values (largest first) of the homography's Jacobian at `point`: how it stretches there."""
    x, y = point
    h = homography
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
    v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
    jacobian = np.array(
        [
            [(h[0, 0] - u * h[2, 0]) / w, (h[0, 1] - u * h[2, 1]) / w],
            [(h[1, 0] - v * h[2, 0]) / w, (h[1, 1] - v * h[2, 1]) / w],
        ]
    )
    return np.linalg.svd(jacobian, compute_uv=False)


def _at_x(p, q, x):
    t = (x - p[0]) / (q[0] - p[0])
    return np.array([x, p[1] + t * (q[1] - p[1])])


def _at_y(p, q, y):
    t = (y - p[1]) / (q[1] - p[1])
    return np.array([p[0] + t * (q[0] - p[0]), y])
