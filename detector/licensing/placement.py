"""Where a copy sits on its page, for pricing: how wide it is shown relative to the page, and whether
the page's screenshot shows it in the first screen (above the fold).

- Share of the page width: the width the page declared for the image (else the copy's own pixel
  width) over the page's width, which is the screenshot's viewport width, or `report.viewport`'s
  (the window screenshots are taken in) when there is none; at most 1.
- Above the fold: only when the match has a screenshot (detector.screenshots). The copy, scaled to
  its displayed size, is looked for in the screenshot by normalised cross-correlation (OpenCV);
  found with a correlation of at least FOUND, its top edge above the viewport's height is above
  the fold. Not found (a carousel, a lazy image, a page changed since), it is not a factor.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

import cv2
import numpy as np
from PIL import Image

from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store

FOUND = 0.8
# Both images are shrunk so the copy's long side is about this many pixels before the search: plenty
# to place it, and it keeps the search quick on a tall page.
_SEARCH_SIDE = 96


@dataclass(frozen=True)
class Placement:
    share: Decimal | None       # displayed width / page width, two decimals; None: size unknown
    share_why: str
    above_fold: bool | None     # None: no screenshot, or the copy was not found in it
    fold_why: str


def _gray(data: bytes) -> np.ndarray | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("L"))
    except Exception:  # noqa: BLE001 (Pillow raises many types on bytes it cannot read)
        return None


def displayed_size(candidate: dict, copy: np.ndarray | None) -> tuple[int, int] | None:
    """(width, height) the page showed the copy at: as declared (one side scales the other), else its own."""
    width, height = candidate.get("declared_width"), candidate.get("declared_height")
    if width and height:
        return int(width), int(height)
    if copy is None:
        return (int(width), 0) if width else None
    natural_h, natural_w = copy.shape[:2]
    if width:
        return int(width), max(1, round(natural_h * width / natural_w))
    if height:
        return max(1, round(natural_w * height / natural_h)), int(height)
    return natural_w, natural_h


def locate(screenshot: np.ndarray, copy: np.ndarray, size: tuple[int, int]) -> tuple[int, float] | None:
    """(top edge in screenshot pixels, correlation) of the copy shown at `size`, or None if it cannot fit."""
    width, height = size
    if width > screenshot.shape[1]:  # shown wider than the window: the page scaled it down to fit
        width, height = screenshot.shape[1], max(1, round(height * screenshot.shape[1] / width))
    scale = min(1.0, _SEARCH_SIDE / max(width, height))
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    template = cv2.resize(copy, small, interpolation=cv2.INTER_AREA)
    page = cv2.resize(screenshot, (max(1, round(screenshot.shape[1] * scale)), max(1, round(screenshot.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)
    if template.shape[0] > page.shape[0] or template.shape[1] > page.shape[1] or min(template.shape) < 4:
        return None
    scores = cv2.matchTemplate(page, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (_, top) = cv2.minMaxLoc(scores)
    return round(top / scale), float(best)


def assess(ws: Workspace, store: Store, match: dict, candidate: dict | None, copy_bytes: bytes | None,
           viewport: tuple[int, int]) -> Placement:
    candidate = candidate or {}
    copy = _gray(copy_bytes) if copy_bytes else None
    size = displayed_size(candidate, copy)
    shot = store.latest_screenshot(match["id"])
    page_width = shot["viewport_width"] if shot else viewport[0]
    where = "the screenshot's window" if shot else "the screenshot window (report.viewport)"
    if size is None:
        share, share_why = None, "displayed size not known"
    else:
        share = min(Decimal(1), (Decimal(size[0]) / page_width).quantize(Decimal("0.01")))
        share_why = f"shown {size[0]} px wide, {share * 100:.0f}% of the {page_width} px width of {where}"
    if shot is None or not shot.get("sha256"):
        return Placement(share, share_why, None, "no screenshot of the page")
    blobs = BlobStore(ws.blobs_dir)
    picture = _gray(blobs.get(shot["sha256"])) if shot["sha256"] in blobs else None
    found = locate(picture, copy, size) if picture is not None and copy is not None and size and size[1] else None
    if found is None or found[1] < FOUND:
        return Placement(share, share_why, None, f"not found in the screenshot of {shot['taken_at'][:10]}")
    top, fold = found[0], shot["viewport_height"]
    if top < fold:
        return Placement(share, share_why, True, f"top edge at {top} px, within the first {fold} px screen")
    return Placement(share, share_why, False, f"top edge at {top} px, below the first {fold} px screen")
