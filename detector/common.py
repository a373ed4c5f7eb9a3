"""How much of a verified match rests on an element that other registered works contain too.

Two different works can share a part that is truly identical: the same canton on two flags, a
photographer's logo stamped on every photo, a publisher's frame. A copy of one shows that part,
and so does every other work carrying it; the part verifies perfectly (its geometry and pixels are
the same), so verification alone cannot tell a copy of the work from another picture that only
carries the element. The catalogue can: an element that another, unrelated registered work also
contains is common, not evidence of copying this work.

For one (candidate, work) pair with a fitted transform (verified, or partial evidence):
1. the work keypoints the match rests on: those whose nearest candidate descriptor passes the ratio
   test and lies where the verified transform puts them (`matched_keypoints`);
2. the works that may contain the same keypoints: the local-feature shortlist index is searched
   with their descriptors, and the works holding most of the nearest neighbours are taken;
3. each of those works is checked exactly on its full features: the keypoints are matched to it
   (ratio test, then one homography by RANSAC); the ones it explains are found in it. A work that
   shares most of this work's area is a version of the same picture (registered twice, recoloured),
   not a common element, and is left out;
4. `share`: the fraction of the matched area (cells of a grid over the work holding matched
   keypoints, each weighted by the share of its keypoints found elsewhere) that at least one
   other work contains.

A match that rests mostly on such keypoints is not allowed to be a `match` on that evidence alone
(detector.decide). A copy of the work itself rests mostly on the parts only this work has, so it
keeps matching, recoloured, mirrored or lightly edited as it may be.

Core module: values in, values out (the index and a loader of stored features are passed in).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from detector.features import DEFAULT_ANALYSE_SIDE, LocalFeatures
from detector.nearest import nearest
from detector.verify import Verdict
from index.local import LocalFeatureIndex

#: Lowe's ratio for the keypoint matches this module makes (the verifier's own operating point).
_RATIO = 0.8
#: Reprojection tolerance, in pixels at the 1024 px analysis size (as the verifier's RANSAC).
_TOLERANCE = 4.0
#: Least keypoints one homography must explain for another work to contain the element: fewer
#: can be chance agreement between unrelated pictures.
_MIN_SHARED = 10
#: The matched area is measured on a _GRID x _GRID grid over the work.
_GRID = 8
#: Least index neighbours (of the match's keypoints) a work needs to be checked as a possible sharer.
_MIN_HITS = 2


@dataclass(frozen=True)
class CommonElements:
    """What a geometric match (verified or partial) shares with other registered works.

    keypoints: the work's keypoints the match rests on. common: how many of them at least one
    other registered work also contains. share: the share of the matched area they make up
    (0 when nothing matched).
    shared_with: the ids of those other works. versions: ids of works found to show most of this
    work's area (versions of the same picture), which do not make anything common.
    """

    keypoints: int
    common: int
    share: float
    shared_with: list[int]
    versions: list[int]

    def as_dict(self) -> dict:
        return {"keypoints": self.keypoints, "common": self.common, "share": self.share,
                "shared_with": self.shared_with, "versions": self.versions}


def matched_keypoints(work: LocalFeatures, candidate: LocalFeatures, verdict: Verdict,
                      candidate_mirror: LocalFeatures | None = None) -> np.ndarray:
    """Indices of the work keypoints that the fitted transform explains in the candidate.

    A mirrored verdict's transform maps onto the real candidate frame; the keypoints it matched
    were found in the mirror image, whose coordinates are flipped back here.
    """
    if verdict.transform is None or not len(work) or not len(candidate):
        return np.zeros(0, int)
    target = candidate
    points = candidate.points.astype(np.float64)
    if verdict.mirrored and candidate_mirror is not None and len(candidate_mirror):
        target = candidate_mirror
        points = candidate_mirror.points.astype(np.float64) * [-1, 1] + [candidate.width - 1, 0]
    work_idx, cand_idx = _ratio_matches(work.descriptors, target.descriptors, work.kind)
    if not len(work_idx):
        return work_idx
    projected = _project(np.asarray(verdict.transform), work.points[work_idx].astype(np.float64))
    tolerance = _TOLERANCE * max(1.0, max(candidate.width, candidate.height) / DEFAULT_ANALYSE_SIDE)
    close = np.linalg.norm(projected - points[cand_idx], axis=1) <= tolerance
    return np.unique(work_idx[close])


def measure(work_id: int, work: LocalFeatures, keypoints: np.ndarray, index: LocalFeatureIndex | None,
            load_features: Callable[[int], LocalFeatures | None], sharers: int = 5,
            version_share: float = 0.5) -> CommonElements:
    """How many of `work`'s `keypoints` (indices) other registered works contain (see the module docstring).

    `index`: the shortlist index over every work's sampled descriptors; `load_features`: a work's
    full features by id (None when not stored); `sharers`: most other works checked exactly;
    `version_share`: share of this work's area another work must show of it to count as a version.
    """
    keypoints = np.asarray(keypoints, dtype=int)
    found = np.zeros(len(keypoints), dtype=bool)
    shared_with, versions = [], []
    for other_id in _possible_sharers(work_id, work, keypoints, index, sharers):
        other = load_features(other_id)
        if other is None or other.kind != work.kind:
            continue
        contained = _contained(work, keypoints, other)
        if contained.sum() < _MIN_SHARED:
            continue
        if _area_share(work, _contained(work, np.arange(len(work)), other)) >= version_share:
            versions.append(other_id)
            continue
        shared_with.append(other_id)
        found |= contained
    return CommonElements(len(keypoints), int(found.sum()), round(_area_weighted(work, keypoints, found), 4),
                          sorted(shared_with), sorted(versions))


def _area_weighted(work: LocalFeatures, keypoints: np.ndarray, found: np.ndarray) -> float:
    """The share of the matched area that is found elsewhere: each cell of a grid over the work that
    holds matched keypoints counts once, by the share of its keypoints found elsewhere (keypoints
    crowd on texture, so a busy emblem would otherwise outweigh the plainer rest of a picture)."""
    if not len(keypoints):
        return 0.0
    points = work.points[keypoints]
    cells = (np.minimum((points[:, 0] * _GRID / work.width).astype(int), _GRID - 1) * _GRID
             + np.minimum((points[:, 1] * _GRID / work.height).astype(int), _GRID - 1))
    occupied, index = np.unique(cells, return_inverse=True)
    per_cell = np.bincount(index, weights=found.astype(float), minlength=len(occupied)) / np.bincount(index)
    return float(per_cell.mean())


def _possible_sharers(work_id: int, work: LocalFeatures, keypoints: np.ndarray,
                      index: LocalFeatureIndex | None, limit: int) -> list[int]:
    """Other works holding most of the nearest index neighbours of the keypoints' descriptors."""
    if index is None or not len(keypoints) or index.binary != (work.kind == "orb") or len(index) < 2:
        return []
    ids = index.neighbours(work.descriptors[keypoints])
    hits: Counter = Counter()
    for row in ids:
        hits.update({int(i) for i in row if i >= 0 and i != work_id})
    return [other for other, count in hits.most_common(limit) if count >= _MIN_HITS]


def _contained(work: LocalFeatures, keypoints: np.ndarray, other: LocalFeatures) -> np.ndarray:
    """Which of `keypoints` (a boolean per index) one homography carries onto matching keypoints of `other`."""
    inside = np.zeros(len(keypoints), dtype=bool)
    if len(keypoints) < _MIN_SHARED or len(other) < _MIN_SHARED:
        return inside
    query_idx, other_idx = _ratio_matches(work.descriptors[keypoints], other.descriptors, work.kind)
    if len(query_idx) < _MIN_SHARED:
        return inside
    tolerance = _TOLERANCE * max(1.0, max(other.width, other.height) / DEFAULT_ANALYSE_SIDE)
    homography, mask = cv2.findHomography(work.points[keypoints][query_idx].astype(np.float64),
                                          other.points[other_idx].astype(np.float64),
                                          cv2.USAC_MAGSAC, tolerance, maxIters=2000, confidence=0.999)
    if homography is None or mask is None:
        return inside
    inside[query_idx[mask.ravel().astype(bool)]] = True
    return inside


def _area_share(work: LocalFeatures, contained: np.ndarray) -> float:
    """Share of the work's area within the convex hull of the contained keypoints."""
    if contained.sum() < 3:
        return 0.0
    hull = cv2.convexHull(work.points[contained].astype(np.float32))
    return float(cv2.contourArea(hull)) / float(work.width * work.height)


def _ratio_matches(query: np.ndarray, train: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(query, train) indices of nearest neighbours that pass Lowe's ratio test."""
    if len(train) < 2 or not len(query):
        return np.zeros(0, int), np.zeros(0, int)
    neighbours = nearest(query, train, binary=kind != "sift")
    query_idx = neighbours.ratio_pass(_RATIO)
    return query_idx, neighbours.first[query_idx]


def _project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    homogeneous = np.c_[points, np.ones(len(points))] @ homography.T
    return homogeneous[:, :2] / homogeneous[:, 2:]
