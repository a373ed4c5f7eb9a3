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
3. Connected photographic areas become boxes; boxes too small to verify (a side under
   `_MIN_SIDE` pixels, the verifier's least footprint side) or too large to need a region of
   their own (the whole image already sees them) are dropped, and the largest `MAX_REGIONS` kept.

Core module: values in, values out.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]

#: Regions examined per candidate. Each costs one local-feature extraction of about half a
#: 1024 px image (and one embedding), so three keep a candidate's cost within about 1.5 times
#: today's while covering a page's main picture, a side picture and one more.
MAX_REGIONS = 3
#: Long side at which regions are searched; images are decoded at about 1024 px.
_ANALYSE_SIDE = 1024
#: Gray-level spread (0-255) of a 3x3 neighbourhood above which it is detail, not fill. JPEG at
#: usual qualities leaves flat fill within about one level; photos' noise alone exceeds two.
_BUSY_STD = 2.0
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


def textured_regions(image: Image.Image, limit: int = MAX_REGIONS) -> list[Box]:
    """Up to `limit` boxes (left, top, right, bottom in `image` pixels) of photographic texture, largest first."""
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    scale = min(1.0, _ANALYSE_SIDE / max(gray.shape))
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    mean = cv2.blur(gray, (3, 3))
    spread = np.sqrt(np.maximum(cv2.blur(gray * gray, (3, 3)) - mean * mean, 0))
    busy = (spread >= _BUSY_STD).astype(np.float32)
    dense = (cv2.blur(busy, (_DENSITY_WINDOW, _DENSITY_WINDOW)) >= _DENSE_SHARE).astype(np.uint8)
    dense = cv2.morphologyEx(dense, cv2.MORPH_OPEN, np.ones((_OPENING, _OPENING), np.uint8))
    dense = cv2.morphologyEx(dense, cv2.MORPH_CLOSE, np.ones((_CLOSING, _CLOSING), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(dense, connectivity=4)
    height, width = gray.shape
    # The density window trims about half its width off each edge of a photo; give it back.
    pad = _DENSITY_WINDOW // 2
    found = []
    for left, top, w, h, area in stats[1:count]:
        if min(w, h) < _MIN_SIDE or w * h > _MAX_SHARE * width * height:
            continue
        box = (max(0, left - pad), max(0, top - pad), min(width, left + w + pad), min(height, top + h + pad))
        found.append((int(area), tuple(round(v / scale) for v in box)))
    found.sort(key=lambda item: -item[0])
    return [box for _, box in found[:limit]]
