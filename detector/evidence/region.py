"""Where the work and the copy meet: the matched region on both images, from the verified transform.

The verifier stores a homography from work pixels to copy pixels. Projecting the work's border
through it shows where the work sits in the copy, but a cropped copy holds only part of the work,
so that outline runs outside the copy. Cutting it to the copy's frame gives what is visible; mapping
that back through the inverse gives the part of the work that was copied. The ratio of the two
areas is the scale at which the work is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Polygon = list[tuple[float, float]]


def _project(h: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """`points` (n x 2) through homography `h`, or None when one lands behind the camera."""
    projected = np.column_stack([points, np.ones(len(points))]) @ h.T
    if np.any(projected[:, 2] <= 1e-9):
        return None
    return projected[:, :2] / projected[:, 2:]


def _rectangle(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=float)


def _area(polygon: np.ndarray) -> float:
    return float(abs(cv2.contourArea(polygon.astype(np.float32)))) if len(polygon) >= 3 else 0.0


def _clip(polygon: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The part of convex `polygon` inside the rectangle (0, 0)-(size)."""
    area, inside = cv2.intersectConvexConvex(polygon.astype(np.float32), _rectangle(size).astype(np.float32))
    return np.zeros((0, 2)) if inside is None or area <= 0 else inside.reshape(-1, 2).astype(float)


def outline(transform, work_size: tuple[int, int]) -> Polygon | None:
    """The work's whole border projected through `transform` (work pixels to copy pixels), uncut,
    or None when there is no usable transform (missing, malformed, or folding a corner behind the
    camera). The portal draws it in an SVG whose viewBox cuts it to the copy."""
    h = _homography(transform)
    border = None if h is None else _project(h, _rectangle(work_size))
    return None if border is None else [(float(x), float(y)) for x, y in border]


def _homography(transform) -> np.ndarray | None:
    try:
        h = np.asarray(transform, dtype=float)
    except (TypeError, ValueError):
        return None
    if h.shape != (3, 3) or not np.all(np.isfinite(h)) or abs(np.linalg.det(h)) < 1e-12:
        return None
    return h


@dataclass(frozen=True)
class Regions:
    """The matched region in both images' full-size pixels.

    in_copy: where the work appears in the copy, cut to the copy's frame.
    in_work: the part of the work that the copy shows.
    work_share: in_work's share of the work's area. scale: the linear size of the work in the copy
    relative to the original (0.6: shown at 60%). cut: the work's border runs outside the copy.
    """

    in_copy: Polygon
    in_work: Polygon
    work_share: float
    scale: float
    cut: bool


def matched_regions(transform, work_size: tuple[int, int], copy_size: tuple[int, int]) -> Regions | None:
    """The matched region of a verified transform, or None when there is none to draw (no transform,
    a malformed or degenerate one, or one that puts none of the work inside the copy)."""
    h = _homography(transform)
    border = None if h is None else _project(h, _rectangle(work_size))
    if border is None:
        return None
    in_copy = _clip(border, copy_size)
    if _area(in_copy) <= 0:
        return None
    # Every point of in_copy is the image of a work point, so the inverse maps it back safely.
    in_work = _project(np.linalg.inv(h), in_copy)
    if in_work is None:
        return None
    in_work = _clip(in_work, work_size)
    work_area = _area(in_work)
    if work_area <= 0:
        return None
    return Regions(
        in_copy=[(float(x), float(y)) for x, y in in_copy],
        in_work=[(float(x), float(y)) for x, y in in_work],
        work_share=min(1.0, work_area / (work_size[0] * work_size[1])),
        scale=float(np.sqrt(_area(in_copy) / work_area)),
        cut=_area(in_copy) < _area(border) * 0.99,  # (a pixel-centre half pixel is no cut)
    )
