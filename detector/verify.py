"""Geometric and photometric verification that a candidate image contains a registered work.

Precision comes first: a verified match may end in a takedown notice. Different photos of the same
building or scene share dozens of RANSAC-consistent keypoints, so the inlier count alone cannot
tell a copy from a look-alike. A pair is verified only when every gate holds:

1. enough inliers for the homography to be more than chance (`min_inliers`);
2. a high share of the ratio-test matches agrees with that one homography (`min_inlier_ratio`):
   a copy's distinctive matches are nearly all consistent, a look-alike's are mostly not;
3. the homography is a plausible picture of a flat image: the work's outline maps to a convex,
   unflipped, not wildly stretched quadrilateral (degenerate fits are rejected outright);
4. the matched footprint is big enough to judge (`min_footprint_side`, `min_asset_coverage`);
5. the work warped into the candidate correlates with the candidate's pixels across the
   footprint (`min_ncc`), judged on a grid of tiles: a copy reproduces the work wherever it
   shows it, so the better half of the tiles correlate almost perfectly even when a caption, a
   logo or a crop edge spoils the rest; a second photo of the same scene differs in light,
   parallax and everything off the fitted plane, so even its better tiles stay low.

Core module: values in, values out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from detector.correlation import tiled_ncc
from detector.features import DEFAULT_ANALYSE_SIDE, LocalFeatures
from detector.geometry import area, box, clip_convex, degeneracy, project, resize_map, shift
from detector.nearest import nearest

# Four point pairs determine a homography; fewer keypoints cannot even be tried.
_MIN_POINTS = 4
# Band-pass of the photometric check, in pixels of its grid: keeps detail from about 2 to 12 px.
_BAND_SIGMAS = (1.0, 6.0)
#: Gray-level spread (0-255) under which a 7x7 patch of the copy counts as flat.
_FLAT_STD = 1.5
#: Least share of the work's textured part of the footprint that must be textured in the copy too for NCC to be
#: judged (where both are flat, as a sky is, nothing is said either way).
_MIN_TEXTURED_SHARE = 0.15


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one (candidate, work) pair.

    verified: every gate passed. method: how: the feature kind used on the candidate whole ("sift" /
        "orb"), on one of its photographic regions ("sift-region" / "orb-region", see
        `detector.cascade`), or direct photometric alignment of a low-texture work ("ecc", see
        `detector.align`, where good_matches and inliers are 0).
    good_matches: matches surviving the ratio test and the mutual (cross) check.
    inliers: good matches consistent with the fitted homography. inlier_ratio: inliers / good_matches.
    asset_coverage: share of the work's area that lies inside the candidate under the transform.
    candidate_coverage: share of the candidate's area covered by the work's projected footprint.
    ncc: normalised cross-correlation of the warped work and the candidate over the footprint.
    mirrored: the transform maps the work onto a horizontally mirrored copy.
    transform: 3x3 homography from work pixels to candidate pixels (original sizes, pixel centres
        at integer coordinates), or None when no plausible one was found.
    reason: "ok", or every gate that failed, separated by "; ".
    """

    verified: bool
    method: str
    good_matches: int
    inliers: int
    inlier_ratio: float
    asset_coverage: float
    candidate_coverage: float
    ncc: float
    mirrored: bool
    transform: list[list[float]] | None
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Verifier:
    """Decides whether a candidate contains a work, from both images' local features.

    ratio: Lowe's ratio test; a match is kept when its nearest neighbour is closer than `ratio`
        times the second nearest. 0.8 is Lowe's own operating point (it discards 90% of false
        matches and 5% of correct ones); a mutual nearest-neighbour check follows.
    ransac_threshold: reprojection tolerance of RANSAC, in pixels of the candidate as analysed at
        1024 px long side; keypoints are located at that resolution, so the tolerance grows in
        proportion for larger originals.
    min_inliers: least inliers. With fewer than a dozen, a homography (8 degrees of freedom) can
        be fitted to chance agreements; this gate only rules out weak evidence, it does not
        separate look-alikes (other gates do).
    min_inlier_ratio: least inliers / good matches. For a true copy nearly all ratio-test matches
        belong to the one transform (0.8 and above even for small copies in busy pages, seen on
        the bundled photos); for two photos of the same place the consistent ones are a minority
        among matches between repeated or merely similar structures. 0.4 leaves room for copies
        whose surroundings add stray matches.
    max_anisotropy: most the homography may stretch one way over the other at any corner of the
        work (ratio of its Jacobian's singular values). A flat picture seen at a tilt t stretches
        by about 1/cos(t), so 4 allows tilts up to 75 degrees; near-singular fits reach tens.
        (Transforms that shrink the work to a speck or blow it up far past the candidate are
        caught by `min_footprint_side` and `min_asset_coverage`.)
    min_footprint_side: least square root of the footprint's area inside the candidate, in
        candidate pixels: a smaller copy is too small to verify photometrically.
    min_asset_coverage: least share of the work visible in the candidate. Below a twentieth the
        match is about a detail (a sign, a logo), not the work.
    min_ncc: least normalised cross-correlation between the warped work and the candidate over
        the footprint, both band-pass filtered so that shapes count and the overall layout of
        light and dark (which two photos of one scene share) does not. Aligned copies score above
        0.95 after re-encoding, rescaling, recolouring, rotation or perspective, and about 0.65
        under a dense text watermark; unrelated pixels score near 0, and a near-symmetric photo
        matched against its own mirror image (the closest look-alike at hand) about 0.5.
    ncc_side: long side, in pixels, of the common grid on which NCC is computed.
    """

    ratio: float = 0.8
    ransac_threshold: float = 4.0
    min_inliers: int = 15
    min_inlier_ratio: float = 0.4
    max_anisotropy: float = 4.0
    min_footprint_side: float = 48.0
    min_asset_coverage: float = 0.05
    min_ncc: float = 0.6
    ncc_side: int = 256

    def __post_init__(self):
        checks = [
            ("ratio", 0 < self.ratio <= 1, "a number in (0, 1]"),
            ("ransac_threshold", self.ransac_threshold > 0, "a positive number of pixels"),
            ("min_inliers", self.min_inliers >= _MIN_POINTS, f"an integer of at least {_MIN_POINTS}"),
            ("min_inlier_ratio", 0 <= self.min_inlier_ratio <= 1, "a number in [0, 1]"),
            ("max_anisotropy", self.max_anisotropy >= 1, "a number of at least 1"),
            ("min_footprint_side", self.min_footprint_side >= 0, "a non-negative number of pixels"),
            ("min_asset_coverage", 0 <= self.min_asset_coverage <= 1, "a number in [0, 1]"),
            ("min_ncc", -1 <= self.min_ncc <= 1, "a number in [-1, 1]"),
            ("ncc_side", self.ncc_side >= 32, "an integer of at least 32"),
        ]
        for name, ok, accepted in checks:
            if not ok:
                raise ValueError(f"Verifier {name} must be {accepted}; got {getattr(self, name)!r}.")

    def verify(
        self,
        candidate: LocalFeatures,
        work: LocalFeatures,
        candidate_gray: np.ndarray,
        work_gray: np.ndarray | Callable[[], np.ndarray],
        candidate_mirror: LocalFeatures | None = None,
    ) -> Verdict:
        """Verify that `candidate` shows `work`, directly or (given `candidate_mirror`) mirrored.

        `candidate_gray` and `work_gray` are 2-D uint8 grayscale images, at any size: they are
        only used for the photometric check. `work_gray` may be a function that returns it: it is
        then called only for a pair that gets as far as that check (most shortlisted works that are
        not copies fail on their matches first, and loading a work's pixels costs more than
        matching it). `candidate_mirror` holds the features of the
        horizontally flipped candidate, in the flipped frame; it is tried only when the direct
        match fails, and its transform is reported in the real (unflipped) candidate frame.
        When both fail, the verdict of the attempt with more inliers is returned.
        """
        for name, features in (("candidate", candidate), ("work", work), ("candidate_mirror", candidate_mirror)):
            if features is not None and features.kind != work.kind:
                raise ValueError(
                    f"{name} features are {features.kind!r} but work features are {work.kind!r}; "
                    "extract both images' features with the same kind."
                )
        _check_gray("candidate_gray", candidate_gray)
        work_gray = _LazyGray(work_gray)
        if candidate_mirror is not None and (candidate_mirror.width, candidate_mirror.height) != (
            candidate.width,
            candidate.height,
        ):
            raise ValueError(
                f"candidate_mirror is {candidate_mirror.width}x{candidate_mirror.height} but the "
                f"candidate is {candidate.width}x{candidate.height}; extract it from the candidate "
                "flipped left to right (PIL.ImageOps.mirror) with the same original_size."
            )
        direct = self._attempt(candidate, work, candidate_gray, work_gray, mirrored=False)
        if direct.verified or candidate_mirror is None:
            return direct
        mirror = self._attempt(candidate_mirror, work, np.ascontiguousarray(candidate_gray[:, ::-1]), work_gray, mirrored=True)
        return mirror if mirror.verified or mirror.inliers > direct.inliers else direct

    def _attempt(self, candidate, work, candidate_gray, work_gray, mirrored: bool) -> Verdict:
        def verdict(reason, good=0, inliers=0, transform=None, asset=0.0, cand=0.0, ncc=0.0):
            if transform is not None and mirrored:
                transform = _unflip(transform, candidate.width)
            return Verdict(
                verified=reason == "ok",
                method=work.kind,
                good_matches=int(good),
                inliers=int(inliers),
                inlier_ratio=float(inliers / good) if good else 0.0,
                asset_coverage=float(asset),
                candidate_coverage=float(cand),
                ncc=float(ncc),
                mirrored=mirrored,
                transform=None if transform is None else [[float(v) for v in row] for row in transform],
                reason=reason,
            )

        for name, features in (("candidate", candidate), ("work", work)):
            if len(features.points) < self.min_inliers:
                return verdict(
                    f"too few keypoints: {name} has {len(features.points)} < {self.min_inliers} "
                    "(a flat, blurred or tiny image)"
                )
        work_idx, cand_idx = _mutual_ratio_matches(work.descriptors, candidate.descriptors, work.kind, self.ratio)
        good = len(work_idx)
        if good < self.min_inliers:
            return verdict(f"too few good matches: {good} < {self.min_inliers}", good)

        src = work.points[work_idx].astype(np.float64)
        dst = candidate.points[cand_idx].astype(np.float64)
        threshold = self.ransac_threshold * max(1.0, max(candidate.width, candidate.height) / DEFAULT_ANALYSE_SIDE)
        homography, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, threshold, maxIters=5000, confidence=0.999)
        if homography is None or not np.all(np.isfinite(homography)) or abs(homography[2, 2]) < 1e-12:
            return verdict("no consistent transform: RANSAC found none", good)
        homography = homography / homography[2, 2]
        inliers = int(mask.sum())

        work_box = box(work.width, work.height)
        footprint = project(homography, work_box)
        degenerate = degeneracy(homography, work_box, self.max_anisotropy)
        if degenerate:
            return verdict(f"degenerate transform: {degenerate}", good, inliers)

        cand_box = box(candidate.width, candidate.height)
        visible = clip_convex(footprint, cand_box)
        visible_area = area(visible)
        asset = area(project(np.linalg.inv(homography), visible)) / area(work_box) if len(visible) >= 3 else 0.0
        cand = visible_area / area(cand_box)
        ncc = _photometric_ncc(homography, work, candidate, work_gray(), candidate_gray, self.ncc_side)

        failed = []
        if inliers < self.min_inliers:
            failed.append(f"too few inliers: {inliers} < {self.min_inliers}")
        if inliers / good < self.min_inlier_ratio:
            failed.append(f"inlier ratio too low: {inliers / good:.2f} < {self.min_inlier_ratio:.2f}")
        if np.sqrt(visible_area) < self.min_footprint_side:
            failed.append(f"footprint too small: {np.sqrt(visible_area):.0f} px side < {self.min_footprint_side:.0f}")
        if asset < self.min_asset_coverage:
            failed.append(f"too little of the work visible: {asset:.2f} < {self.min_asset_coverage:.2f}")
        if ncc < self.min_ncc:
            failed.append(f"pixels do not correlate: ncc {ncc:.2f} < {self.min_ncc:.2f}")
        return verdict("; ".join(failed) or "ok", good, inliers, homography, asset, cand, ncc)


def _check_gray(name: str, gray) -> np.ndarray:
    if not (isinstance(gray, np.ndarray) and gray.ndim == 2 and gray.dtype == np.uint8):
        got = f"{gray.dtype}{list(gray.shape)}" if isinstance(gray, np.ndarray) else type(gray).__name__
        raise ValueError(f"{name} must be a 2-D uint8 grayscale array; got {got}. Pass np.asarray(image.convert('L')).")
    return gray


class _LazyGray:
    """A grayscale image given as an array (checked now) or a function returning one (called, and checked, once,
    when first needed)."""

    def __init__(self, given):
        self.given = given if callable(given) else _check_gray("work_gray", given)
        self.gray = None if callable(given) else given

    def __call__(self) -> np.ndarray:
        if self.gray is None:
            self.gray = _check_gray("work_gray", self.given())
        return self.gray


def _mutual_ratio_matches(query: np.ndarray, train: np.ndarray, kind: str, ratio: float):
    """Indices (query, train) of matches that pass Lowe's ratio test and are mutual nearest neighbours.

    Brute force (`detector.nearest`) is exact and deterministic, and at a few thousand descriptors per image
    it is fast.
    """
    if not len(query) or not len(train):
        return np.zeros(0, int), np.zeros(0, int)
    neighbours = nearest(query, train, binary=kind != "sift")
    query_idx = neighbours.mutual(neighbours.ratio_pass(ratio))
    return query_idx, neighbours.first[query_idx]


@dataclass(frozen=True)
class Agreement:
    """How far the ratio-test matches of a candidate to a work agree on one affine transform."""

    good: int
    inliers: int

    @property
    def ratio(self) -> float:
        return self.inliers / self.good if self.good else 0.0


def affine_agreement(candidate: LocalFeatures, work: LocalFeatures, ratio: float, threshold: float) -> Agreement:
    """The matches of `candidate` to `work` (mutual, under Lowe's `ratio`) and how many of them one affine
    transform explains within `threshold` pixels of the candidate. Cheaper than `Verifier.verify` (no
    homography, no photometry): the cascade asks it whether a pair could be a copy at all."""
    work_idx, cand_idx = _mutual_ratio_matches(work.descriptors, candidate.descriptors, work.kind, ratio)
    if len(work_idx) < _MIN_POINTS:
        return Agreement(len(work_idx), 0)
    _, mask = cv2.estimateAffine2D(work.points[work_idx], candidate.points[cand_idx], method=cv2.RANSAC,
                                   ransacReprojThreshold=threshold)
    return Agreement(len(work_idx), int(mask.sum()) if mask is not None else 0)


def _photometric_ncc(homography, work, candidate, work_gray, candidate_gray, side: int) -> float:
    """NCC between the work warped into the candidate and the candidate, over the footprint.

    Both are compared on a grid at most `side` pixels long, laid over the footprint's bounding box
    inside the candidate (so a small copy inside a big page is still compared at a useful size).
    Both are band-pass filtered first: a difference of Gaussians keeps shapes and textures and
    drops the overall layout of light and dark, which two photos of one scene share.
    """
    cand_to_gray = resize_map((candidate.width, candidate.height), (candidate_gray.shape[1], candidate_gray.shape[0]))
    quad = project(cand_to_gray @ homography, box(work.width, work.height))
    gh, gw = candidate_gray.shape
    x0, y0 = np.floor(np.clip(quad.min(axis=0), 0, [gw, gh])).astype(int)
    x1, y1 = np.ceil(np.clip(quad.max(axis=0) + 1, 0, [gw, gh])).astype(int)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0.0
    crop = candidate_gray[y0:y1, x0:x1]
    factor = min(1.0, side / max(crop.shape))
    grid_size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    target = cv2.resize(crop, grid_size, interpolation=cv2.INTER_AREA)
    work_to_grid = (
        resize_map(crop.shape[::-1], grid_size)
        @ shift(-x0, -y0)
        @ cand_to_gray
        @ homography
        @ resize_map((work_gray.shape[1], work_gray.shape[0]), (work.width, work.height))
    )
    # Shrink the work first to about its size on the grid, so the warp does not alias.
    footprint_area = area(project(work_to_grid, box(work_gray.shape[1], work_gray.shape[0])))
    shrink = min(1.0, np.sqrt(footprint_area / work_gray.size))
    small_size = (max(1, round(work_gray.shape[1] * shrink)), max(1, round(work_gray.shape[0] * shrink)))
    small = cv2.resize(work_gray, small_size, interpolation=cv2.INTER_AREA)
    small_to_grid = work_to_grid @ resize_map(small_size, (work_gray.shape[1], work_gray.shape[0]))
    warped = cv2.warpPerspective(small, small_to_grid, grid_size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full(small.shape, 255, np.uint8), small_to_grid, grid_size, flags=cv2.INTER_NEAREST)
    # Interpolation blends the work with the black outside along the footprint's edge.
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0
    footprint = int(mask.sum())
    # Flat fill in the copy (the corners a rotation adds, a solid box behind a caption) and
    # flat areas of the work itself (sky) carry no evidence either way: compare where the copy
    # has texture, as long as that is a fair part of where the work has it. (A share of the whole
    # footprint refused a crop that is mostly sky around a rocket; a picture showing one detail of
    # a work on flat ground still shows too little of the work's texture to be judged.)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # windows clear of the black outside
    work_textured = int((inner & (_local_std(warped) >= _FLAT_STD)).sum())
    mask &= _local_std(target) >= _FLAT_STD
    if footprint < 64 or mask.sum() < max(64, _MIN_TEXTURED_SHARE * work_textured):
        return 0.0
    return tiled_ncc(_band_pass(warped, mask), _band_pass(target, mask), mask)


def _local_std(image: np.ndarray, size: int = 7) -> np.ndarray:
    """Standard deviation of gray levels in a size x size window around each pixel."""
    image = image.astype(np.float32)
    mean = cv2.blur(image, (size, size))
    return np.sqrt(np.maximum(cv2.blur(image * image, (size, size)) - mean * mean, 0))


def _band_pass(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Difference of Gaussians computed from the pixels under `mask` only (normalised convolution),
    so that whatever lies outside the footprint cannot leak into it."""
    weight = mask.astype(np.float32)
    image = image.astype(np.float32) * weight

    def blur(sigma):
        return cv2.GaussianBlur(image, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(weight, (0, 0), sigma), 1e-6)

    return blur(_BAND_SIGMAS[0]) - blur(_BAND_SIGMAS[1])

def _unflip(homography: np.ndarray, width: int) -> np.ndarray:
    """Re-express a transform into the left-right flipped candidate in the real candidate's frame."""
    flip = np.array([[-1.0, 0, width - 1], [0, 1.0, 0], [0, 0, 1.0]])
    return flip @ homography
