"""The shortlist's parts on their own: query windows, and `nominate` over real (small) FAISS indexes.

Each `nominate` case builds one candidate print by hand and states which works it must nominate,
by which sources and with which recorded values.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from detector.catalogue import WorkIndexes
from detector.config import MatchSettings
from detector.features import LocalFeatures, mirror_of
from detector.fingerprint import CandidatePrint, Fingerprint, Region, query_windows
from detector.shortlist import nominate, view_votes
from index.binary import BinaryIndex, codes_to_hex, hex_to_codes
from index.local import LocalFeatureIndex
from index.vectors import VectorIndex


@pytest.mark.parametrize("size, grid, scale, expected", [
    ((100, 80), 1, 0.5, [(0, 0, 100, 80), (0, 0, 50, 40)]),
    ((100, 80), 2, 0.5, [(0, 0, 100, 80), (0, 0, 50, 40), (50, 0, 100, 40), (0, 40, 50, 80), (50, 40, 100, 80)]),
    ((101, 61), 3, 0.5, [(0, 0, 101, 61), (0, 0, 50, 30), (26, 0, 76, 30), (51, 0, 101, 30),
                         (0, 16, 50, 46), (26, 16, 76, 46), (51, 16, 101, 46),
                         (0, 31, 50, 61), (26, 31, 76, 61), (51, 31, 101, 61)]),
    ((1, 1), 3, 0.5, [(0, 0, 1, 1)] + [(0, 0, 1, 1)] * 9),
])
def test_query_windows(size, grid, scale, expected):
    assert query_windows(Image.new("RGB", size), grid, scale) == expected


def _hashes(phash: str = "0" * 16, pdq: str = "f" * 64) -> Fingerprint:
    return Fingerprint(phash=phash, dhash="0" * 16, pdq=pdq, pdq_quality=100)


def _flip(hex_hash: str, bits: int, count: int) -> str:
    raw = np.unpackbits(hex_to_codes([hex_hash], bits), axis=1)
    raw[0, :count] ^= 1
    return codes_to_hex(np.packbits(raw, axis=1))[0]


def _unit(vector) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32)
    return v / np.linalg.norm(v)


RNG = np.random.default_rng(0)
WORK_PHASH = {3: "a5a5a5a5a5a5a5a5", 4: "0f0f0f0f0f0f0f0f"}
WORK_VECTOR = {5: _unit([1, 0, 0, 0]), 6: _unit([0, 1, 0, 0])}
WORK_DESCRIPTORS = {8: np.abs(RNG.standard_normal((60, 128))).astype(np.float32),
                    9: np.abs(RNG.standard_normal((60, 128))).astype(np.float32)}
for d in WORK_DESCRIPTORS.values():
    d /= np.linalg.norm(d, axis=1, keepdims=True)
NO_FEATURES = LocalFeatures("sift", np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), 10, 10)


def _features(descriptors: np.ndarray) -> LocalFeatures:
    return LocalFeatures("sift", np.zeros((len(descriptors), 2), np.float32), descriptors, 10, 10)


@pytest.fixture(scope="module")
def indexes() -> WorkIndexes:
    phash, pdq = BinaryIndex(64), BinaryIndex(256)
    for asset_id, value in WORK_PHASH.items():
        phash.add([asset_id], hex_to_codes([value], 64))
    pdq.add([3], hex_to_codes(["1" * 64], 256))
    vectors = VectorIndex(4)
    vectors.add(np.array(list(WORK_VECTOR)), np.stack(list(WORK_VECTOR.values())))
    local = LocalFeatureIndex(128)
    for asset_id, descriptors in WORK_DESCRIPTORS.items():
        local.add(asset_id, descriptors)
    return WorkIndexes(vectors=vectors, hashes={"phash": phash, "pdq": pdq}, features=local)


def _candidate(hashes=None, mirror=None, features=NO_FEATURES, mirror_features=NO_FEATURES, vectors=None,
               regions=()):
    windows = [(0, 0, 10, 10), (0, 0, 5, 5), (5, 5, 10, 10)]
    return CandidatePrint("c" * 64, hashes or _hashes(), mirror or _hashes(), features, mirror_features,
                          windows[:len(vectors)] if vectors is not None else windows, vectors,
                          tuple(Region((0, 0, 5, 5), r) for r in regions))


CASES = {
    "identical bytes": ({}, [7], {7: {"shortlisted_by": ["sha256"]}}),
    "pHash within range": ({"hashes": _hashes(phash=_flip(WORK_PHASH[3], 64, 4))}, [],
                           {3: {"shortlisted_by": ["phash"], "phash_distance": 4, "hash_mirrored": False}}),
    "pHash out of range": ({"hashes": _hashes(phash=_flip(WORK_PHASH[3], 64, 11))}, [], {}),
    "the mirror's pHash": ({"mirror": _hashes(phash=WORK_PHASH[4])}, [],
                           {4: {"shortlisted_by": ["phash"], "phash_distance": 0, "hash_mirrored": True}}),
    "PDQ within range": ({"hashes": _hashes(pdq=_flip("1" * 64, 256, 31))}, [],
                         {3: {"shortlisted_by": ["pdq"], "pdq_distance": 31}}),
    "a window's embedding": ({"vectors": np.stack([_unit([0, 0, 1, 0]), _unit([0.2, 1, 0, 0]), _unit([0, 0, 0, 1])])},
                             [], {6: {"shortlisted_by": ["clip"], "clip_cosine": 0.9806, "clip_region": [0, 0, 5, 5]}}),
    "embeddings under the floor": ({"vectors": np.stack([_unit([0.8, 0, 1, 1])])}, [], {}),
    "local features": ({"features": _features(WORK_DESCRIPTORS[8][:20])}, [],
                       {8: {"shortlisted_by": ["features"], "feature_votes": 20}}),
    "too few local features": ({"features": _features(WORK_DESCRIPTORS[8][:5])}, [], {}),
    "the mirror's features count when they vote more": (
        {"features": _features(WORK_DESCRIPTORS[9][:7]), "mirror_features": _features(WORK_DESCRIPTORS[9][:12])},
        [], {9: {"shortlisted_by": ["features"], "feature_votes": 12}}),
    "a region's features count when they vote more": (
        {"features": _features(WORK_DESCRIPTORS[9][:3]),
         "regions": [_features(WORK_DESCRIPTORS[8][:4]), _features(WORK_DESCRIPTORS[9][:14])]},
        [], {9: {"shortlisted_by": ["features"], "feature_votes": 14}}),
    "several sources at once": ({"hashes": _hashes(phash=WORK_PHASH[3]), "features": _features(WORK_DESCRIPTORS[8])},
                                [3], {3: {"shortlisted_by": ["phash", "sha256"], "phash_distance": 0},
                                      8: {"shortlisted_by": ["features"], "feature_votes": 60}}),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_nominate(indexes, case):
    candidate_args, same_bytes, expected = CASES[case]
    found = nominate(_candidate(**candidate_args), same_bytes, indexes, MatchSettings())
    assert sorted(found) == sorted(expected)
    for asset_id, signals in expected.items():
        actual = found[asset_id].signals()
        assert {key: actual[key] for key in signals} == signals


def test_each_sift_mirror_view_is_named_to_the_index_as_its_views_mirror_image_and_no_other():
    """A mirror-paired index reads a mirror image's lists off its original's, so `view_votes` names the whole
    image's mirror view and each region's as such when they are their view permuted, and a mirror view that is
    not (one extracted on its own) as a view of its own."""
    named = []

    class Recording(LocalFeatureIndex):
        def votes_near_first(self, views, ratio=0.8, nprobe=None, mirror_of=None, near=None):
            named.append(mirror_of)
            return super().votes_near_first(views, ratio, nprobe, mirror_of, near)

    index = Recording(128)
    for asset_id, descriptors in WORK_DESCRIPTORS.items():
        index.add(asset_id, descriptors)
    whole, region = _features(WORK_DESCRIPTORS[8][:20]), _features(WORK_DESCRIPTORS[9][:14])
    permuted = view_votes(index, _candidate(features=whole, mirror_features=mirror_of(whole), regions=[region]))
    view_votes(index, _candidate(features=whole, mirror_features=_features(WORK_DESCRIPTORS[9][:20])))
    assert named == [[None, 0, None, 2], [None, None]]
    assert permuted == {8: 20, 9: 14}
