"""Verification of low-texture works by direct photometric alignment (ECC), where keypoints fail.

A dark, soft wallpaper (a night sky with faint clouds, a gradient) gives SIFT no keypoints at all,
so `verify.Verifier` can never verify a copy of it. Its evidence is in the pixels instead: the
faint structure on top of the smooth trend. `Aligner` aligns the work with the candidate by
maximising their enhanced correlation coefficient (Evangelidis & Psarakis 2008, OpenCV's
`findTransformECC`), from a few starting placements, then judges the aligned pair like the
verifier's photometric gate, on the structure alone:

- both images are band-passed (a difference of Gaussians): the smooth trend, which any two
  gradients share once aligned, is removed, and so is pixel noise (JPEG, grain);
- the work must have structure to compare (`min_structure`): two plain gradients are not evidence;
- the fitted transform must be a plausible picture of a flat image (the verifier's own test), show
  a large part of the work (`min_asset_coverage`) at a judgeable size (`min_footprint_side`);
- the structures must correlate (`min_ncc`), judged as the mean of the better half of a 4x4 grid
  of tiles, so a caption or stickers over part of the copy do not hide it.

Core module: values in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detector.correlation import tiled_ncc
from detector.geometry import area, box, clip_convex, degeneracy, project, resize_map
from detector.verify import Verdict

Hint = tuple[float, float, float, float]  # left, top, right, bottom as shares of the candidate's size

#: Long sides of the alignment pyramid, coarse to fine: coarse levels find the placement, the
#: finest refines it. Smooth works have nothing finer to offer than about 128 px shows.
_PYRAMID = (32, 64, 128)
#: The band kept, as shares of the compared image's long side: from 1/128 (drops pixel noise and
#: JPEG blocks) to 1/12 (drops the gradient and vignetting, keeps clouds and soft shapes).
_BAND = (1 / 128, 1 / 12)
#: Band-passed values are clipped at this many robust standard deviations, so that bright captions
#: or stickers over the copy cannot steer the alignment.
_CLIP = 3.0
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)


@dataclass(frozen=True)
class Aligner:
    """Verifies that a candidate shows a low-texture work by aligning their pixels.

    low_texture_keypoints: a work with fewer SIFT keypoints than this is low-texture, and only such
        works are aligned. A copy keeps only part of a work's keypoints (blur and recompression
        take most of the faint ones), so a work with fewer than four times the verifier's 15
        inliers rarely verifies by keypoints; textured works keep the keypoint verifier, whose
        inlier gates are the stronger evidence.
    min_structure: least standard deviation, in gray levels, of the work's band-passed structure
        over the footprint. 8-bit quantisation alone leaves about 0.3 levels; below one level the
        work is a bare gradient or flat colour, which aligns with any other.
    min_ncc: least correlation of the aligned structures (better half of the tiles). Aligned copies
        keep about 0.89 and more under JPEG, blur, recolouring, crops, captions and stickers; two
        different cloud fields, after the alignment has bent one onto the other (six degrees of
        freedom fitted to a few dozen soft blobs), reach about 0.5 (both measured over 42 copies
        and 24 pairs of generated skies, a recipe other than the tests'). This is stricter than the
        keypoint verifier's 0.6, which follows geometric gates that smooth images cannot offer.
    min_asset_coverage: least share of the work inside the candidate. A low-texture match rests on
        the structure of the whole; a small part of a soft image says too little.
    min_footprint_side: least square root of the footprint's area in candidate pixels.
    max_anisotropy: as the keypoint verifier's.
    """

    low_texture_keypoints: int = 60
    min_structure: float = 1.0
    min_ncc: float = 0.8
    min_asset_coverage: float = 0.5
    min_footprint_side: float = 48.0
    max_anisotropy: float = 4.0

    def applies(self, work_keypoints: int) -> bool:
        """Whether a work with this many keypoints is low-texture (to be aligned, not matched)."""
        return work_keypoints < self.low_texture_keypoints

    def verify(self, work_gray: np.ndarray, candidate_gray: np.ndarray, work_size: tuple[int, int],
               candidate_size: tuple[int, int], hints: list[Hint] = ()) -> Verdict:
        """Align `work_gray` with `candidate_gray` (2-D uint8, any size, standing for images of
        `work_size` and `candidate_size` pixels) and judge the aligned pair.

        Alignment starts from the work stretched over the whole candidate, fitted inside it,
        covering it, and stretched over each `hints` box (e.g. the embedding window that nominated
        it); the placement whose structure correlates best is judged. The verdict's transform maps
        work pixels to candidate pixels at the given sizes, as the keypoint verifier's does.
        """
        best = None
        for start in _starts(work_gray.shape, candidate_gray.shape, hints):
            for transform in (start, _ecc(work_gray, candidate_gray, start)):
                if transform is None or degeneracy(transform, box(work_gray.shape[1], work_gray.shape[0]),
                                                    self.max_anisotropy):
                    continue
                ncc, structure = _structure_ncc(work_gray, candidate_gray, transform, self.min_structure)
                if best is None or ncc > best[0]:
                    best = (ncc, structure, transform)
        if best is None:
            return _verdict("no plausible alignment: every placement was degenerate")
        ncc, structure, transform = best
        homography = (resize_map(candidate_gray.shape[::-1], candidate_size) @ transform
                      @ resize_map(work_size, work_gray.shape[::-1]))
        homography = homography / homography[2, 2]
        cand_box, work_box = box(*candidate_size), box(*work_size)
        visible = clip_convex(project(homography, work_box), cand_box)
        visible_area = area(visible)
        asset = area(project(np.linalg.inv(homography), visible)) / area(work_box) if len(visible) >= 3 else 0.0
        failed = []
        if structure < self.min_structure:
            failed.append(f"too little structure to align: {structure:.2f} < {self.min_structure:.2f} gray levels "
                          "(a bare gradient or flat colour)")
        if np.sqrt(visible_area) < self.min_footprint_side:
            failed.append(f"footprint too small: {np.sqrt(visible_area):.0f} px side < {self.min_footprint_side:.0f}")
        if asset < self.min_asset_coverage:
            failed.append(f"too little of the work visible: {asset:.2f} < {self.min_asset_coverage:.2f}")
        if ncc < self.min_ncc:
            failed.append(f"structure does not correlate: ncc {ncc:.2f} < {self.min_ncc:.2f}")
        return _verdict("; ".join(failed) or "ok", homography, asset, visible_area / area(cand_box), ncc)


def _verdict(reason: str, transform=None, asset=0.0, cand=0.0, ncc=0.0) -> Verdict:
    return Verdict(
        verified=reason == "ok", method="ecc", good_matches=0, inliers=0, inlier_ratio=0.0,
        asset_coverage=float(asset), candidate_coverage=float(cand), ncc=float(ncc), mirrored=False,
        transform=None if transform is None else [[float(v) for v in row] for row in transform], reason=reason,
    )


def _band(gray: np.ndarray, clip: bool = True, robust: bool = False) -> np.ndarray:
    """The band-passed image (see `_BAND`), optionally clipped at `_CLIP` robust deviations.

    `robust`: the trend is a median rather than a Gaussian, so that a bright caption or sticker
    does not spread into the structure around it (a Gaussian trend carries it a band's width
    away); used where the structures are compared. `gray` must then be uint8.
    """
    side = max(gray.shape)
    image = gray.astype(np.float32)
    fine, coarse = (max(0.5, side * share) for share in _BAND)
    if robust:
        trend = cv2.medianBlur(gray, 2 * round(coarse) + 1).astype(np.float32)
    else:
        trend = cv2.GaussianBlur(image, (0, 0), coarse)
    band = cv2.GaussianBlur(image, (0, 0), fine) - trend
    if clip:
        spread = 1.4826 * float(np.median(np.abs(band))) + 1e-3  # the MAD's estimate of a deviation
        band = np.clip(band, -_CLIP * spread, _CLIP * spread)
    return band


def _fit(work_shape, candidate_shape, placement) -> np.ndarray:
    """The work (rows, cols) placed over `placement` (left, top, right, bottom in candidate pixels)."""
    (wh, ww), (left, top, right, bottom) = work_shape, placement
    return np.array([[(right - left) / ww, 0, left], [0, (bottom - top) / wh, top], [0, 0, 1.0]])


def _starts(work_shape, candidate_shape, hints) -> list[np.ndarray]:
    (wh, ww), (ch, cw) = work_shape, candidate_shape
    starts = [_fit(work_shape, candidate_shape, (0, 0, cw, ch))]
    for scale in (min(cw / ww, ch / wh), max(cw / ww, ch / wh)):  # fitted inside, covering
        left, top = (cw - ww * scale) / 2, (ch - wh * scale) / 2
        starts.append(_fit(work_shape, candidate_shape, (left, top, left + ww * scale, top + wh * scale)))
    for left, top, right, bottom in hints:
        starts.append(_fit(work_shape, candidate_shape, (left * cw, top * ch, right * cw, bottom * ch)))
    return starts


def _resized(gray: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    factor = side / max(gray.shape)
    size = (max(8, round(gray.shape[1] * factor)), max(8, round(gray.shape[0] * factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), factor


def _ecc(work_gray: np.ndarray, candidate_gray: np.ndarray, start: np.ndarray) -> np.ndarray | None:
    """`start` refined by ECC on the band-passed images, coarse to fine; None when it diverges.

    An affine motion: copies of wallpapers are scaled, cropped and shifted, rarely seen at a tilt,
    and fewer degrees of freedom fit less of an unrelated image's structure.
    """
    transform = start
    for side in _PYRAMID:
        work, fw = _resized(work_gray, side)
        candidate, fc = _resized(candidate_gray, side)
        level = np.diag([fc, fc, 1.0]) @ transform @ np.diag([1 / fw, 1 / fw, 1.0])
        warp = (level[:2] / level[2, 2]).astype(np.float32)
        try:
            _, warp = cv2.findTransformECC(_band(work), _band(candidate), warp, cv2.MOTION_AFFINE,
                                           _ECC_CRITERIA, None, 1)
        except cv2.error:  # "the algorithm stopped before its convergence": no alignment from here
            return None
        transform = np.diag([1 / fc, 1 / fc, 1.0]) @ np.vstack([warp, [0, 0, 1]]).astype(np.float64) @ np.diag([fw, fw, 1.0])
    return transform


def _structure_ncc(work_gray: np.ndarray, candidate_gray: np.ndarray, transform: np.ndarray,
                   min_structure: float) -> tuple[float, float]:
    """(tiled NCC, the work's structure in gray levels) of the two structures, compared in the work's
    frame at the pyramid's finest side: the candidate is pulled back onto the work first, so that
    both are band-passed at the same scale of the work. Tiles where the work itself has less than
    `min_structure` (a near-black corner that JPEG flattened) carry no evidence either way and are
    left out, as the keypoint verifier leaves flat fill out."""
    work, factor = _resized(work_gray, _PYRAMID[-1])
    height, width = work.shape
    to_candidate = transform @ np.diag([1 / factor, 1 / factor, 1.0])
    flags = cv2.INTER_AREA | cv2.WARP_INVERSE_MAP
    pulled = cv2.warpPerspective(candidate_gray, to_candidate, (width, height), flags=flags)
    inside = cv2.warpPerspective(np.full(candidate_gray.shape, 255, np.uint8), to_candidate, (width, height),
                                 flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    work_band, pulled_band = _band(work, robust=True), _band(pulled, robust=True)
    # Band-passing near the footprint's edge mixes in what lies outside it: leave that margin out.
    margin = 2 * round(max(height, width) * _BAND[1]) + 1
    mask = cv2.erode(inside, np.ones((margin, margin), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    if mask.sum() < 64:
        return 0.0, 0.0
    plain = _band(work, clip=False, robust=True)
    structure = float(plain[mask].std())
    return tiled_ncc(work_band, pulled_band, mask, structure=plain, min_structure=min_structure), structure

