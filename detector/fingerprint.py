"""Everything computed from one decoded image, the same way for registered works and candidates.

A candidate is fingerprinted once (`fingerprint_candidate`): its hashes and its mirror image's,
its local features and its mirror image's, the local features of its photographic regions (where
a small embedded copy may sit, `detector.regions`), and the embeddings of its query windows
(the grid and those regions). That one object is what the shortlist and verification read.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from PIL import Image, ImageOps

from detector import features
from detector.embedders import Embedder
from detector.hashing import HASHERS
from detector.intake import DecodedImage
from detector.regions import MAX_REGIONS, textured_regions

#: Both kinds are cached at registration so `match.local_features` can change without re-registering.
FEATURE_KINDS = ("sift", "orb")

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Fingerprint:
    """A picture's perceptual hashes. A candidate's leave out what detection does not compare (None): its dHash
    always, and its mirror image's PDQ unless that mirror image's pHash finds a work (`candidate_hashes`)."""

    phash: str
    dhash: str | None
    pdq: str | None
    pdq_quality: int | None

    def as_dict(self) -> dict:
        return {"phash": self.phash, "dhash": self.dhash, "pdq": self.pdq, "pdq_quality": self.pdq_quality}


@dataclass(frozen=True, eq=False)  # eq=False: it holds numpy arrays
class Region:
    """A rectangle of photographic texture in a candidate (box in the decoded image's pixels) and its
    local features, extracted at more resolution but expressed in the whole original's pixels."""

    box: Box
    features: features.LocalFeatures

    @cached_property
    def mirror_features(self) -> features.LocalFeatures | None:
        """The region's features as the candidate's mirror image shows them: a page flipped left to right holds its
        small copy flipped, which the whole image's mirror view, at the screen's resolution, sees too small to find.
        SIFT's are the region's permuted (`features.mirror_of`, no extraction); None for ORB's (it would need one)."""
        return features.mirror_of(self.features) if self.features.kind == "sift" else None

    def views(self) -> list[features.LocalFeatures]:
        """The region's features, and its mirror image's where they exist."""
        return [self.features] + ([self.mirror_features] if self.mirror_features is not None else [])


@dataclass(frozen=True, eq=False)  # eq=False: it holds numpy arrays
class CandidatePrint:
    """One candidate image, analysed once: what every shortlist source and the verifier read.

    features and mirror_features are those of the stage the candidate reached: low-resolution ones after
    `screen_candidate`, full-resolution ones after `with_full_features`.

    window_vectors is None without an embedder; otherwise row i embeds `windows[i]` (the grid
    windows, then the regions' boxes).
    """

    sha256: str
    hashes: Fingerprint
    mirror_hashes: Fingerprint
    features: features.LocalFeatures
    mirror_features: features.LocalFeatures
    windows: list[Box]
    window_vectors: np.ndarray | None
    regions: tuple[Region, ...] = field(default=())

    def views(self) -> list[features.LocalFeatures]:
        """The local features of each view that has any: the image whole, mirrored, and each region (and its mirror
        image, `Region.views`)."""
        return [view for pair in self.view_pairs() for view in pair if view is not None and len(view)]

    def view_pairs(self) -> list[tuple[features.LocalFeatures, features.LocalFeatures | None]]:
        """The image whole and each region, each with its mirror image's features where they exist (SIFT's are its
        own permuted, `features.mirror_of`)."""
        return [(self.features, self.mirror_features), *((r.features, r.mirror_features) for r in self.regions)]


def hashes(image: Image.Image) -> Fingerprint:
    """pHash, dHash and PDQ of an RGB `image` (a registered work's, or a candidate's)."""
    image = _rgb(image)
    return _fingerprint(_reduced(image), np.asarray(image))


def candidate_hashes(image: Image.Image, mirror_pdq: Callable[[str], bool] = lambda phash: True
                     ) -> tuple[Fingerprint, Fingerprint]:
    """The pHash and PDQ of a candidate `image` and of its mirror image, the same bits as `hashes` of each, no dHash.

    The small copy pHash reads is reduced once and flipped (reducing commutes with flipping), so the mirror
    image's pHash is nearly free; its PDQ reads every pixel again (40% of the hashing). The mirror image's PDQ is
    computed only when `mirror_pdq(its pHash)` says so: the detector asks whether that pHash finds a registered
    work, the one case where it counts (pHash and PDQ together decide a pair without geometry, `detector.decide`);
    a mirrored copy whose pHash finds nothing is found by its mirrored features, as PDQ alone could only nominate.
    """
    image = _rgb(image)
    small = _reduced(image, ("phash",))
    pixels = np.asarray(image)
    flipped = {name: copy.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for name, copy in small.items()}
    direct = _fingerprint(small, pixels)
    mirror_phash = HASHERS["phash"].hash(flipped["phash"])
    mirror = _fingerprint(flipped, pixels[:, ::-1]) if mirror_pdq(mirror_phash) else Fingerprint(
        phash=mirror_phash, dhash=None, pdq=None, pdq_quality=None)
    return direct, mirror


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")  # intake's images are RGB already


def _reduced(image: Image.Image, names: tuple[str, ...] = ("phash", "dhash")) -> dict[str, Image.Image]:
    """The small grayscale copies `names` read (`hashing.PHasher.reads`)."""
    gray = image.convert("L")
    return {name: gray.resize(HASHERS[name].reads, Image.Resampling.LANCZOS) for name in names}


def _fingerprint(small: dict[str, Image.Image], pixels: np.ndarray) -> Fingerprint:
    pdq, quality = HASHERS["pdq"].hash_pixels(pixels)
    dhash = HASHERS["dhash"].hash(small["dhash"]) if "dhash" in small else None
    return Fingerprint(phash=HASHERS["phash"].hash(small["phash"]), dhash=dhash, pdq=pdq, pdq_quality=quality)


def mirrored(image: Image.Image) -> Image.Image:
    return ImageOps.mirror(image)


def local_features(decoded: DecodedImage, kind: str, image: Image.Image | None = None) -> features.LocalFeatures:
    """Local features of `image` (default: the decoded image) in full-resolution coordinates."""
    return features.extract(image or decoded.image, kind=kind, original_size=(decoded.width, decoded.height))


def fingerprint_candidate(sha256: str, decoded: DecodedImage, kind: str, embedder: Embedder | None,
                          seconds: Counter | None = None, max_regions: int = MAX_REGIONS) -> CandidatePrint:
    """Fingerprint a candidate whole, every stage at full resolution; `seconds` (if given) gains the time of each
    stage. (Detection goes through `screen_candidate` first, and on to `with_full_features` only when
    `detector.cascade` lets it.)

    `max_regions`: photographic regions examined (0: none, as before regions existed).
    """
    return with_full_features(screen_candidate(sha256, decoded, kind, embedder, seconds, max_regions=max_regions),
                              decoded, seconds)


def screen_candidate(sha256: str, decoded: DecodedImage, kind: str, embedder: Embedder | None,
                     seconds: Counter | None = None, coarse: tuple[int, int] | None = None,
                     max_regions: int = MAX_REGIONS, mirror_pdq: Callable[[str], bool] = lambda phash: True
                     ) -> CandidatePrint:
    """The cheap part of a candidate's fingerprint: hashes (and its mirror image's, `candidate_hashes` with
    `mirror_pdq`), its photographic regions' features, its windows' embeddings, and, given `coarse` (long side,
    most keypoints), local features of the whole image and its mirror image at that low resolution (else none:
    `with_full_features` adds them). `seconds` (if given) gains the time of each stage.
    """
    seconds = seconds if seconds is not None else Counter()
    image = decoded.image
    clock = time.perf_counter()
    image_hashes, mirror_hashes = candidate_hashes(image, mirror_pdq)
    seconds["hash"] += time.perf_counter() - clock

    clock = time.perf_counter()
    boxes = textured_regions(image, max_regions) if max_regions else []
    regions = tuple(Region(box, features.extract_region(image, box, kind, (decoded.width, decoded.height)))
                    for box in boxes)
    seconds["regions"] += time.perf_counter() - clock

    clock = time.perf_counter()
    windows = query_windows(image) + boxes
    window_vectors = embedder.embed([image.crop(box) for box in windows]) if embedder is not None else None
    seconds["embed"] += time.perf_counter() - clock

    clock = time.perf_counter()
    if coarse is None:
        feats = mirror_feats = features.empty(kind, (decoded.width, decoded.height))
    else:
        feats, mirror_feats = _coarse_features(decoded, kind, *coarse)
    seconds["coarse_features"] += time.perf_counter() - clock
    return CandidatePrint(sha256, image_hashes, mirror_hashes, feats, mirror_feats, windows, window_vectors, regions)


def with_coarse_features(candidate: CandidatePrint, decoded: DecodedImage, coarse: tuple[int, int]) -> CandidatePrint:
    """`candidate` with its whole image's (and mirror image's) features seen at another low resolution, `coarse`
    (long side, most keypoints); its regions and the rest as they were."""
    feats, mirror_feats = _coarse_features(decoded, candidate.features.kind, *coarse)
    return replace(candidate, features=feats, mirror_features=mirror_feats)


def coarse_pass_side(kind: str, side: int) -> int:
    """The long side a coarse pass of `kind` runs at to see the finest scale SIFT sees at `side`: SIFT doubles its
    input before its first octave and ORB does not, so ORB's pass runs at twice the side."""
    return side if kind == "sift" else 2 * side


def _coarse_features(decoded: DecodedImage, kind: str, side: int, most: int) -> tuple[features.LocalFeatures,
                                                                                       features.LocalFeatures]:
    """Local features of the whole image and of its mirror image at long side `side` (SIFT's), at most `most`
    keypoints."""
    image, size = decoded.image, (decoded.width, decoded.height)
    side = coarse_pass_side(kind, side)
    feats = features.extract(image, kind, max_features=most, analyse_side=side, original_size=size, one_pass=True)
    # SIFT's mirror-image features are a permutation of these (half the screen's cost); ORB's are not.
    mirror_feats = (features.mirror_of(feats) if kind == "sift" else
                    features.extract(mirrored(image), kind, max_features=most, analyse_side=side, original_size=size))
    return feats, mirror_feats


def with_full_features(candidate: CandidatePrint, decoded: DecodedImage, seconds: Counter | None = None) -> CandidatePrint:
    """`candidate` with the local features of the whole image and its mirror image at full resolution (SIFT's
    mirror-image features are the image's permuted, `features.mirror_of`)."""
    seconds = seconds if seconds is not None else Counter()
    clock = time.perf_counter()
    kind = candidate.features.kind
    feats = local_features(decoded, kind)
    mirror_feats = (features.mirror_of(feats) if kind == "sift" else
                    local_features(decoded, kind, image=mirrored(decoded.image)))
    seconds["features"] += time.perf_counter() - clock
    return replace(candidate, features=feats, mirror_features=mirror_feats)


def query_windows(image: Image.Image, grid: int = 3, scale: float = 0.5) -> list[Box]:
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
