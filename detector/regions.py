"""Rectangles of photographic texture inside a candidate: where a small embedded copy may sit.

A work pasted small into a page screenshot is a few hundred pixels wide. Seen whole, the page's
text and layout take most of the local-feature budget and dilute a whole-image embedding; seen
through its own rectangle, the work is the picture. Those rectangles are found without knowing any
work: a photo is textured almost everywhere (sensor noise, fine detail), while a page's
background, bars and the gaps between lines of text are flat fill.

1. A pixel is *busy* where the gray levels of its 3x3 neighbourhood spread by at least
   `_BUSY_STD` (flat fill and JPEG-smoothed backgrounds stay below it; photo detail is above).
2. A pixel is *photographic* where nearly all (`_DENSE_SHARE`) of a `_DENSITY_WINDOW`-wide
   square around it is busy: lines of text at reading size leave flat gaps between strokes and
   lines, so they do not reach it (very small text can: it then costs a region, not a false
   match, since every region is verified like the whole image); an opening then cuts thin bridges (a caption touching the photo), and a
   closing joins parts of one photo that a flat strip splits.
3. Connected photographic areas become boxes. A box is cut along its gutters (a recursive XY-cut): full
   rows or columns of even colour, such as the white seams between the panels of a collage or of a photo
   grid on a page, which the closing joined. Each panel is then a picture of its own: seen whole, a
   collage's panel gets a quarter of the coarse keypoint budget at a quarter of the size, too few to find
   its work among 100,000.
4. Boxes too small to verify (a side under `_MIN_SIDE` pixels, the verifier's least footprint side) or
   too large to need a region of their own (the whole image already sees them) are dropped, and the
   largest `MAX_REGIONS` kept.

Core module: values in, values out.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]

#: Regions examined per candidate. Each costs one local-feature extraction at about 512 px
#: (`features.REGION_SIDE`, and one embedding); four cover a page's main picture, a side picture and two more,
#: or the four panels of a 2x2 collage (equal panels: with three, the copy in the fourth would go unseen).
MAX_REGIONS = 4
#: Long side at which regions are searched; images are decoded at about 1024 px.
_ANALYSE_SIDE = 1024
#: Gray-level spread (0-255) of a 3x3 neighbourhood above which it is detail, not fill. A page's
#: background and bars spread by 0; a photo reduced into a page keeps about one level almost everywhere,
#: even a soft one (a wooden desk pasted at 224 px: 75% of its pixels reach 1, a third reach 2). JPEG
#: ringing beside text at high quality reaches 1 too, which costs a region, never a match (every region is
#: verified like the whole image).
_BUSY_STD = 1.0
#: Window (px at the analysis side) and share of busy pixels in it that make a pixel photographic.
_DENSITY_WINDOW = 15
_DENSE_SHARE = 0.85
#: Opening that cuts bridges thinner than this many pixels between photographic areas.
_OPENING = 9
#: Closing that joins parts of one photo split by a flat strip (a dark background, a clipped sky)
#: narrower than this; text never becomes photographic, so it is not joined in.
_CLOSING = 25
#: Least side of a region, in pixels of the analysed image (the verifier's least footprint side).
_MIN_SIDE = 48
#: A region covering more than this share of the image is the image: it needs no region of its own.
_MAX_SHARE = 0.6
#: Gray-level spread along a whole row or column of a box under which it is a gutter between panels: a
#: seam of one colour, with the JPEG ringing beside a photo's edge (2-4 levels). A full line of a photo
#: spreads by tens of levels; one through flat sky would have to cross every panel's sky.
_GUTTER_STD = 4.0
#: Least share of a panel cut from a box that must be photographic for it to be a region (a cut can also
#: shave off a flat strip, such as a sky or a border band). An uncut box needs none: a soft photo's area
#: (a rocket against a clear sky) is photographic only in parts.
_PANEL_DENSE = 0.5
#: Rounds of the XY-cut: each cuts a part along its column gutters where it has any, else along its row gutters.
_CUT_DEPTH = 3


def textured_regions(image: Image.Image, limit: int = MAX_REGIONS) -> list[Box]:
    """Up to `limit` boxes (left, top, right, bottom in `image` pixels) of photographic texture, largest first."""
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    scale = min(1.0, _ANALYSE_SIDE / max(gray.shape))
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    mean = cv2.blur(gray, (3, 3))
    variance = cv2.blur(gray * gray, (3, 3)) - mean * mean
    busy = (variance >= _BUSY_STD ** 2).astype(np.float32)
    dense = (cv2.blur(busy, (_DENSITY_WINDOW, _DENSITY_WINDOW)) >= _DENSE_SHARE).astype(np.uint8)
    if not dense.any():  # most pages, charts and clip art: no photographic pixel, nothing to join or label
        return []
    dense = cv2.morphologyEx(dense, cv2.MORPH_OPEN, np.ones((_OPENING, _OPENING), np.uint8))
    dense = cv2.morphologyEx(dense, cv2.MORPH_CLOSE, np.ones((_CLOSING, _CLOSING), np.uint8))
    count, stats = _components(dense)
    height, width = gray.shape
    # The density window trims about half its width off each edge of a photo; give it back.
    pad = _DENSITY_WINDOW // 2
    found = []
    for left, top, w, h, area in stats[1:count]:
        if min(w, h) < _MIN_SIDE:
            continue
        box = (max(0, left - pad), max(0, top - pad), min(width, left + w + pad), min(height, top + h + pad))
        panels = _xy_cut(gray, box, _CUT_DEPTH)
        if len(panels) > 1:
            found.extend(_photographic_panels(dense, panels, width * height))
        elif w * h <= _MAX_SHARE * width * height:
            found.append((int(area), box))
    found.sort(key=lambda item: -item[0])
    return [tuple(round(v / scale) for v in box) for _, box in found[:limit]]


def _components(dense: np.ndarray) -> tuple[int, np.ndarray]:
    """`cv2.connectedComponentsWithStats` of `dense` (4-connected), labelled within the box around its photographic
    pixels and placed back in the image: OpenCV's labelling costs about 3 ms on a 1024 px image even where it is all
    background, and a page's photographic pixels sit in a small part of it."""
    left, top, width, height = cv2.boundingRect(dense)
    if not width:  # the opening took every photographic pixel away
        return 1, np.zeros((1, 5), np.int32)
    count, _, stats, _ = cv2.connectedComponentsWithStats(dense[top:top + height, left:left + width], connectivity=4)
    stats[1:, cv2.CC_STAT_LEFT] += left
    stats[1:, cv2.CC_STAT_TOP] += top
    return count, stats


def _photographic_panels(dense: np.ndarray, panels: list[Box], image_area: int) -> list[tuple[int, Box]]:
    """(photographic pixels, box) of each of `panels` that is large enough to verify, small enough to need a
    region of its own, and mostly photographic (`_PANEL_DENSE`)."""
    kept = []
    for panel in panels:
        left, top, right, bottom = panel
        width, height = right - left, bottom - top
        photographic = int(dense[top:bottom, left:right].sum())
        if (min(width, height) >= _MIN_SIDE and width * height <= _MAX_SHARE * image_area
                and photographic >= _PANEL_DENSE * width * height):
            kept.append((photographic, panel))
    return kept


def _xy_cut(gray: np.ndarray, box: Box, depth: int) -> list[Box]:
    """`box` cut into panels along its gutters (`_GUTTER_STD`) for `depth` rounds, each along the columns where
    it can, else along the rows; the box itself when it has none. A gutter within `_MIN_SIDE` pixels of an end of the box is not cut (a border)."""
    if depth == 0:
        return [box]
    left, top, right, bottom = box
    area = gray[top:bottom, left:right]
    for axis in (0, 1):  # axis 0: each column's spread down the rows; a gutter cuts across x
        spans = _between_gutters(area.std(axis=axis) <= _GUTTER_STD)
        if len(spans) < 2:
            continue
        parts = [(left + a, top, left + b, bottom) if axis == 0 else (left, top + a, right, top + b) for a, b in spans]
        return [panel for part in parts for panel in _xy_cut(gray, part, depth - 1)]
    return [box]


def _between_gutters(gutter: np.ndarray) -> list[tuple[int, int]]:
    """The spans (start, end) of a line of `gutter` flags between the runs of gutters that are at least
    `_MIN_SIDE` from both ends (the whole line when there is none)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], gutter.astype(np.int8), [0]))))
    spans, start = [], 0
    for run_start, run_end in zip(edges[::2], edges[1::2]):
        if run_start - start >= _MIN_SIDE and len(gutter) - run_end >= _MIN_SIDE:
            spans.append((start, int(run_start)))
            start = int(run_end)
    spans.append((start, len(gutter)))
    return spans
