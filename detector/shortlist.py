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

from collections.abc import Iterable
from dataclasses import dataclass, field

import faiss
import numpy as np

from detector.catalogue import HASH_INDEXES, WorkIndexes
from detector.config import MatchSettings
from detector.embedders import Embedder
from detector.features import LocalFeatures
from detector.fingerprint import Fingerprint, query_windows
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

    Each work contributes at most `per_work` descriptors, spread over a 4x4 grid of its area so
    that a crop of any part of it still finds voters. That bounds memory at per_work * 512 bytes
    per work for SIFT (float L2 index) and per_work * 32 bytes for ORB (binary Hamming index).
    """

    def __init__(self, kind: str, works: Iterable[tuple[int, LocalFeatures]], per_work: int = 300,
                 ratio: float = 0.8):
        self.kind, self.ratio = kind, ratio
        owners, blocks = [], []
        for asset_id, feats in works:
            if len(feats) and feats.kind == kind:
                take = feats.descriptors[_spread_sample(feats, per_work)]
                blocks.append(take)
                owners.append(np.full(len(take), asset_id, dtype=np.int64))
        self.owner_of = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
        if kind == "sift":
            self.index = faiss.IndexFlatL2(128)
        else:
            self.index = faiss.IndexBinaryFlat(256)
            self.index.use_heap = False  # for k=2 the heap path is about 20x slower (measured)
        if blocks:
            self.index.add(self._prepared(np.concatenate(blocks)))

    def _prepared(self, descriptors: np.ndarray) -> np.ndarray:
        dtype = np.float32 if self.kind == "sift" else np.uint8
        return np.ascontiguousarray(descriptors, dtype=dtype)

    def votes(self, features: LocalFeatures) -> dict[int, int]:
        if self.index.ntotal < 2 or not len(features) or features.kind != self.kind:
            return {}
        distances, neighbours = self.index.search(self._prepared(features.descriptors), 2)
        distances = distances.astype(np.float64)
        # Lowe's ratio test: FAISS returns squared distances for L2, plain Hamming for binary.
        factor = self.ratio ** 2 if self.kind == "sift" else self.ratio
        keep = distances[:, 0] < factor * distances[:, 1]
        counts: dict[int, int] = {}
        for owner in self.owner_of[neighbours[keep, 0]]:
            counts[int(owner)] = counts.get(int(owner), 0) + 1
        return counts


def _spread_sample(feats: LocalFeatures, limit: int, grid: int = 4) -> np.ndarray:
    """Indices of up to `limit` keypoints, an equal share per grid cell, strongest (first) first."""
    if len(feats) <= limit:
        return np.arange(len(feats))
    cells = (np.minimum((feats.points[:, 0] * grid / feats.width).astype(int), grid - 1) * grid
             + np.minimum((feats.points[:, 1] * grid / feats.height).astype(int), grid - 1))
    rank_in_cell = np.zeros(len(feats), dtype=int)
    seen: dict[int, int] = {}
    for i, cell in enumerate(cells):
        rank_in_cell[i] = seen.get(int(cell), 0)
        seen[int(cell)] = rank_in_cell[i] + 1
    # Round-robin over cells: every cell's best, then every cell's second best, and so on.
    order = np.lexsort((np.arange(len(feats)), rank_in_cell))
    return np.sort(order[:limit])


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
