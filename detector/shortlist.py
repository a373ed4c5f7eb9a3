"""Which registered works are worth verifying against a candidate, and why.

Four cheap sources, each of which can only nominate (verification decides):
- the same bytes (SHA-256);
- perceptual-hash neighbours (pHash and PDQ, of the candidate and of its mirror image);
- embedding neighbours of the candidate whole, of a grid of windows over it and of its
  photographic regions, so that a work filling a quarter of a collage or a small part of a page
  screenshot still finds its way in;
- local-feature votes: the candidate's SIFT descriptors vote for the works whose descriptors
  they match (`index.local.LocalFeatureIndex`: exact while the catalogue is small, an inverted
  file over quantised descriptors beyond), counted for the candidate whole, its mirror image and
  each photographic region, the best of them per work. This works with no embedder at all and is
  what finds heavy crops and small pasted copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.catalogue import HASH_INDEXES, WorkIndexes
from detector.config import MatchSettings
from detector.features import MIRROR_PERMUTATION, LocalFeatures
from detector.fingerprint import CandidatePrint
from index.binary import hex_to_codes
from index.local import LocalFeatureIndex, NearFirst

#: Lowe's ratio of the votes that nominate (`LocalFeatureIndex.votes`).
RATIO = 0.8


@dataclass
class Nomination:
    """Why one work is on a candidate's shortlist; becomes part of the match's signals."""

    asset_id: int
    sources: set[str] = field(default_factory=set)
    phash_distance: int | None = None
    pdq_distance: int | None = None
    hash_mirrored: bool = False
    clip_cosine: float | None = None
    clip_region: list[int] | None = None
    feature_votes: int = 0

    def signals(self) -> dict:
        return {
            "shortlisted_by": sorted(self.sources), "phash_distance": self.phash_distance,
            "pdq_distance": self.pdq_distance, "hash_mirrored": self.hash_mirrored,
            "clip_cosine": self.clip_cosine, "clip_region": self.clip_region,
            "feature_votes": self.feature_votes,
        }


def nominate(candidate: CandidatePrint, same_bytes: list[int], indexes: WorkIndexes, settings: MatchSettings,
             min_votes: int | None = None, votes: dict[int, int] | None = None) -> dict[int, Nomination]:
    """Every work some source nominates for `candidate`, with why (`same_bytes`: works with its SHA-256).

    `min_votes`: local-feature votes that nominate a work (default `settings.min_feature_votes`; the
    cascade's screen asks for fewer, from its low-resolution features). `votes`: the candidate's
    `view_votes`, when the caller already has them.
    """
    found: dict[int, Nomination] = {}

    def get(asset_id: int) -> Nomination:
        return found.setdefault(asset_id, Nomination(asset_id))

    for asset_id in same_bytes:
        get(asset_id).sources.add("sha256")

    for name, attr in (("phash", "phash_distance"), ("pdq", "pdq_distance")):
        for mirrored, fp in ((False, candidate.hashes), (True, candidate.mirror_hashes)):
            if getattr(fp, name) is None:  # not computed (`fingerprint.candidate_hashes`)
                continue
            for asset_id, distance in hash_neighbours(indexes, settings, name, getattr(fp, name)):
                nomination = get(asset_id)
                nomination.sources.add(name)
                current = getattr(nomination, attr)
                if current is None or distance < current:
                    setattr(nomination, attr, int(distance))
                    nomination.hash_mirrored = mirrored

    if candidate.window_vectors is not None and indexes.vectors is not None and len(indexes.vectors):
        scores, ids = indexes.vectors.search(candidate.window_vectors, settings.shortlist_size)
        for row, box in enumerate(candidate.windows):
            for score, asset_id in zip(scores[row], ids[row]):
                if asset_id < 0 or score < settings.clip_min_cosine:
                    continue
                nomination = get(int(asset_id))
                nomination.sources.add("clip")
                if nomination.clip_cosine is None or score > nomination.clip_cosine:
                    nomination.clip_cosine = round(float(score), 4)
                    nomination.clip_region = list(box)

    votes = view_votes(indexes.features, candidate) if votes is None else votes
    min_votes = settings.min_feature_votes if min_votes is None else min_votes
    ranked = sorted(votes.items(), key=lambda item: -item[1])
    for asset_id, count in ranked[: settings.shortlist_size]:
        if count >= min_votes:
            nomination = get(asset_id)
            nomination.sources.add("features")
            nomination.feature_votes = count
    return found


def hash_neighbours(indexes: WorkIndexes, settings: MatchSettings, name: str, digest: str) -> list[tuple[int, int]]:
    """(work id, distance) of each work whose `name` hash ('phash' or 'pdq') is within the shortlist's distance of
    the hex `digest`."""
    limit = settings.phash_max_distance if name == "phash" else settings.pdq_max_distance
    return indexes.hashes[name].range_search(hex_to_codes([digest], HASH_INDEXES[name]), limit)[0]


def view_votes(index: LocalFeatureIndex | None, candidate: CandidatePrint, ratio: float = RATIO,
               nprobe: int | None = None) -> dict[int, int]:
    """Each work's votes from the view of `candidate` that sees it best: the candidate whole, mirrored, or
    one of its photographic regions (where a small copy gets the whole keypoint budget), as it is or mirrored.
    `ratio`: the ratio test's (the cascade's screen is looser in a large index, `cascade.Gates.screen_gate`);
    `nprobe`: lists of a trained index the search visits (default: the index's own; the screen visits fewer,
    `Gates.screen_nprobe`).
    Every view is searched in one call, each SIFT mirror image named as its view's (`mirror_of`: a mirror-paired
    index finds its lists for free)."""
    return screen_votes(index, candidate, ratio, nprobe)[0]


def screen_votes(index: LocalFeatureIndex | None, candidate: CandidatePrint, ratio: float = RATIO,
                 nprobe: int | None = None, near: NearFirst | None = None) -> tuple[dict[int, int], bool]:
    """`view_votes`, searched in two steps where `near` asks for them (`LocalFeatureIndex.votes_near_first`), and
    whether the search stopped at every descriptor's nearest lists (no view gave a work `near.votes` there)."""
    views: list[LocalFeatures] = []
    mirror_of: list[int | None] = []
    for view, mirror in candidate.view_pairs():
        original = None
        if len(view) and _searchable(index, view):
            views.append(view)
            mirror_of.append(None)
            original = len(views) - 1
        if mirror is not None and len(mirror) and _searchable(index, mirror):
            views.append(mirror)
            mirror_of.append(original if original is not None and _permuted(view, mirror) else None)
    if not views:
        return {}, False
    votes: dict[int, int] = {}
    per_view, went_on = index.votes_near_first([view.descriptors for view in views], ratio, nprobe, mirror_of, near)
    for counted in per_view:
        for asset_id, count in counted.items():
            votes[asset_id] = max(votes.get(asset_id, 0), count)
    return votes, near is not None and not went_on


def _permuted(view: LocalFeatures, mirror: LocalFeatures) -> bool:
    """Whether `mirror`'s descriptors are `view`'s as the mirror image has them (`features.mirror_of`), row for row:
    what a mirror-paired index is told. Checked on the first, middle and last rows rather than assumed (a caller may
    hold a mirror image's own extraction, whose keypoints differ from the first), and not on all of them (0.085 ms
    for 500)."""
    if not (view.kind == mirror.kind == "sift" and mirror.descriptors.shape == view.descriptors.shape):
        return False
    rows = np.unique([0, len(view) // 2, len(view) - 1])
    return np.array_equal(mirror.descriptors[rows], view.descriptors[rows][:, MIRROR_PERMUTATION])


def _searchable(index: LocalFeatureIndex | None, features: LocalFeatures) -> bool:
    """Whether `index` can be searched with `features` (the kinds agree)."""
    return index is not None and index.binary == (features.kind == "orb")
