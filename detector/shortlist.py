"""Which registered works are worth verifying against a candidate, and why.

Four cheap sources, each of which can only nominate (verification decides):
- the same bytes (SHA-256);
- perceptual-hash neighbours (pHash and PDQ, of the candidate and of its mirror image);
- embedding neighbours of the candidate whole and of a grid of windows over it, so that a work
  filling a quarter of a collage still finds its way in;
- local-feature votes: the candidate's SIFT descriptors vote for the works whose descriptors
  they match. This works with no embedder at all and is what finds heavy crops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faiss
import numpy as np

from detector.config import MatchSettings
from detector.embedding import Embedder
from detector.features import LocalFeatures
from detector.fingerprint import Fingerprint, query_windows
from detector.indexes import HASH_INDEXES, WorkIndexes
from index.binary import hex_to_codes


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


class FeatureVoter:
    """A FAISS index over a sample of every work's local descriptors; candidates' descriptors vote.

    Each work contributes at most `per_work` descriptors (its strongest, already spread over the
    image by extraction), which bounds memory at per_work * 512 bytes per work for SIFT.
    """

    def __init__(self, works: dict[int, LocalFeatures], per_work: int = 300, ratio: float = 0.8):
        self.ratio = ratio
        owners, blocks = [], []
        for asset_id, feats in works.items():
            if len(feats) and feats.kind == "sift":
                take = feats.descriptors[:per_work].astype(np.float32)
                blocks.append(take)
                owners.append(np.full(len(take), asset_id, dtype=np.int64))
        self.owner_of = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
        self.index = faiss.IndexFlatL2(128)
        if blocks:
            self.index.add(np.ascontiguousarray(np.concatenate(blocks)))

    def votes(self, features: LocalFeatures) -> dict[int, int]:
        if self.index.ntotal < 2 or not len(features) or features.kind != "sift":
            return {}
        distances, neighbours = self.index.search(np.ascontiguousarray(features.descriptors, dtype=np.float32), 2)
        # Lowe's ratio test on squared L2 distances: d1 < ratio^2 * d2.
        keep = distances[:, 0] < (self.ratio ** 2) * distances[:, 1]
        counts: dict[int, int] = {}
        for owner in self.owner_of[neighbours[keep, 0]]:
            counts[int(owner)] = counts.get(int(owner), 0) + 1
        return counts


def nominate(
    *,
    candidate_sha: str,
    fingerprint: Fingerprint,
    mirror_fingerprint: Fingerprint,
    features: LocalFeatures,
    mirror_features: LocalFeatures,
    window_vectors: np.ndarray | None,
    windows: list[tuple[int, int, int, int]],
    same_bytes: list[int],
    indexes: WorkIndexes,
    voter: FeatureVoter,
    settings: MatchSettings,
) -> dict[int, Nomination]:
    found: dict[int, Nomination] = {}

    def get(asset_id: int) -> Nomination:
        return found.setdefault(asset_id, Nomination(asset_id))

    for asset_id in same_bytes:
        get(asset_id).sources.add("sha256")

    for name, limit, attr in (("phash", settings.phash_max_distance, "phash_distance"),
                              ("pdq", settings.pdq_max_distance, "pdq_distance")):
        for mirrored, fp in ((False, fingerprint), (True, mirror_fingerprint)):
            codes = hex_to_codes([getattr(fp, name)], HASH_INDEXES[name])
            for asset_id, distance in indexes.hashes[name].range_search(codes, limit)[0]:
                nomination = get(asset_id)
                nomination.sources.add(name)
                current = getattr(nomination, attr)
                if current is None or distance < current:
                    setattr(nomination, attr, int(distance))
                    nomination.hash_mirrored = mirrored

    if window_vectors is not None and indexes.vectors is not None and len(indexes.vectors):
        scores, ids = indexes.vectors.search(window_vectors, settings.shortlist_size)
        for row, box in enumerate(windows):
            for score, asset_id in zip(scores[row], ids[row]):
                if asset_id < 0 or score < settings.clip_min_cosine:
                    continue
                nomination = get(int(asset_id))
                nomination.sources.add("clip")
                if nomination.clip_cosine is None or score > nomination.clip_cosine:
                    nomination.clip_cosine = round(float(score), 4)
                    nomination.clip_region = list(box)

    votes = voter.votes(features)
    for asset_id, count in voter.votes(mirror_features).items():
        votes[asset_id] = max(votes.get(asset_id, 0), count)
    ranked = sorted(votes.items(), key=lambda item: -item[1])
    for asset_id, count in ranked[: settings.shortlist_size]:
        if count >= settings.min_feature_votes:
            nomination = get(asset_id)
            nomination.sources.add("features")
            nomination.feature_votes = count
    return found


def embed_windows(embedder: Embedder | None, image) -> tuple[np.ndarray | None, list[tuple[int, int, int, int]]]:
    """Embeddings of the candidate whole and of its overlapping windows (see fingerprint.query_windows)."""
    windows = query_windows(image)
    if embedder is None:
        return None, windows
    return embedder.embed([image.crop(box) for box in windows]), windows
