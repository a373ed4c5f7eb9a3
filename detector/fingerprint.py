"""Everything computed from one decoded image, the same way for registered works and candidates.

Embeddings are computed separately (`embed_views`) because they are batched across images.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageOps

from detector import features
from detector.hashing import HASHERS
from detector.intake import DecodedImage

#: Both kinds are cached at registration so `match.local_features` can change without re-registering.
FEATURE_KINDS = ("sift", "orb")


@dataclass(frozen=True)
class Fingerprint:
    phash: str
    dhash: str
    pdq: str
    pdq_quality: int

    def as_dict(self) -> dict:
        return {"phash": self.phash, "dhash": self.dhash, "pdq": self.pdq, "pdq_quality": self.pdq_quality}


def hashes(image: Image.Image) -> Fingerprint:
    pdq, quality = HASHERS["pdq"].hash_with_quality(image)
    return Fingerprint(
        phash=HASHERS["phash"].hash(image), dhash=HASHERS["dhash"].hash(image), pdq=pdq, pdq_quality=quality
    )


def mirrored(image: Image.Image) -> Image.Image:
    return ImageOps.mirror(image)


def local_features(decoded: DecodedImage, kind: str, image: Image.Image | None = None) -> features.LocalFeatures:
    """Local features of `image` (default: the decoded image) in full-resolution coordinates."""
    return features.extract(image or decoded.image, kind=kind, original_size=(decoded.width, decoded.height))


def query_windows(image: Image.Image, grid: int = 3, scale: float = 0.5) -> list[tuple[int, int, int, int]]:
    """The whole image plus a grid of overlapping windows (boxes in the image's pixels).

    A work that fills only part of a screenshot or a collage quadrant scores low as a whole,
    but high against the window that holds it. Windows go on the query side only: indexing
    regions of works invites false matches from their blank parts.
    """
    width, height = image.size
    win_w, win_h = max(1, int(width * scale)), max(1, int(height * scale))
    boxes = [(0, 0, width, height)]
    for row in range(grid):
        for col in range(grid):
            left = round(col * (width - win_w) / (grid - 1)) if grid > 1 else 0
            top = round(row * (height - win_h) / (grid - 1)) if grid > 1 else 0
            boxes.append((left, top, left + win_w, top + win_h))
    return boxes
