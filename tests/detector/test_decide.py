"""`decide`'s tiers, one row per rule: the evidence a pair has, and the tier, score and decision it earns."""

from __future__ import annotations

from dataclasses import replace

import pytest

from detector.config import MatchSettings
from detector.decide import MIN_PDQ_QUALITY, Decision, decide
from detector.shortlist import Nomination
from detector.verify import Verdict

DEFAULTS = MatchSettings()


def verdict(verified: bool, inliers: int, ratio: float, ncc: float) -> Verdict:
    return Verdict(verified=verified, method="sift", good_matches=max(inliers, 1) * 2, inliers=inliers,
                   inlier_ratio=ratio, asset_coverage=0.9, candidate_coverage=0.5, ncc=ncc, mirrored=False,
                   transform=None, reason="ok" if verified else "ncc")


def nomination(*sources: str, phash=None, pdq=None, clip=None) -> Nomination:
    return Nomination(asset_id=1, sources=set(sources), phash_distance=phash, pdq_distance=pdq, clip_cosine=clip)


CASES = [
    # (why, nomination, verdict, pdq quality, tier, score, decision)
    ("identical bytes win over everything", nomination("sha256", "phash", phash=0, pdq=0, clip=1.0),
     verdict(True, 5, 0.1, 0.1), 100, "identical", 1.0, "match"),
    ("verified with the strongest evidence", nomination("sift"), verdict(True, 100, 1.0, 1.0), 0, "verified", 1.0,
     "match"),
    ("verified with middling evidence: 0.8 + 0.2 x mean(0.5, 0.5, 0.5)", nomination("sift"),
     verdict(True, 50, 0.5, 0.5), 0, "verified", 0.9, "match"),
    ("inliers above 100 count as 100", nomination("sift"), verdict(True, 400, 0.5, 0.5), 0, "verified",
     round(0.8 + 0.2 * (1 + 0.5 + 0.5) / 3, 4), "match"),
    ("verified outranks a hash match", nomination("phash", phash=2, pdq=10), verdict(True, 0, 0.0, 0.0), 90,
     "verified", 0.8, "match"),
    ("pHash and PDQ of a textured image", nomination("phash", "pdq", phash=4, pdq=20), None, MIN_PDQ_QUALITY,
     "hash", 0.85, "match"),
    ("PDQ of a flat image says little", nomination("phash", "pdq", phash=4, pdq=20), None, MIN_PDQ_QUALITY - 1,
     "weak", 0.0, None),
    ("pHash alone is not the hash tier", nomination("phash", phash=4), None, 90, "weak", 0.0, None),
    ("geometry that failed a gate: 0.5 + 0.25 x ratio", nomination("sift"), verdict(False, 20, 0.4, 0.2), 0,
     "partial", 0.6, "review"),
    ("fewer than 8 inliers is no partial evidence", nomination("sift"), verdict(False, 7, 0.9, 0.9), 0, "weak",
     0.0, None),
    ("embedding at the review cosine", nomination("clip", clip=0.9), None, 0, "partial", 0.5, "review"),
    ("embedding halfway from the review cosine to 1", nomination("clip", clip=0.95), None, 0, "partial", 0.625,
     "review"),
    ("the stronger partial evidence counts", nomination("clip", clip=0.95), verdict(False, 30, 0.8, 0.2), 0,
     "partial", 0.7, "review"),
    ("embedding below the review cosine: a quarter of the cosine", nomination("clip", clip=0.8), None, 0, "weak",
     0.2, None),
]


COMMON_CASES = [
    # (why, nomination, verdict, pdq quality, common share, tier, score, decision)
    ("verified, half of it on a common element: still verified", nomination("sift"), verdict(True, 100, 1.0, 1.0),
     0, 0.5, "verified", 1.0, "match"),
    ("verified mostly on a common element: 0.5 + 0.25 x the rest", nomination("sift"), verdict(True, 100, 1.0, 1.0),
     0, 0.8, "common", 0.55, "review"),
    ("verified wholly on a common element is still put up for review", nomination("sift"),
     verdict(True, 100, 1.0, 1.0), 0, 1.0, "common", 0.5, "review"),
    ("hashes of the whole image outrank a verified common element", nomination("phash", "pdq", phash=4, pdq=20),
     verdict(True, 100, 1.0, 1.0), MIN_PDQ_QUALITY, 0.9, "hash", 0.85, "match"),
    (("a failed verification resting on a common element keeps hashes from a match (two posters of one "
     "template, one logo)"), nomination("phash", "pdq", phash=4, pdq=20), verdict(False, 44, 0.6, 0.2),
     MIN_PDQ_QUALITY, 1.0, "common", 0.5, "review"),
    ("a failed verification clear of common elements leaves the hash tier alone",
     nomination("phash", "pdq", phash=4, pdq=20), verdict(False, 44, 0.6, 0.2), MIN_PDQ_QUALITY, 0.2, "hash", 0.85,
     "match"),
    ("geometry that failed a gate, wholly on a common element: the common tier", nomination("sift"),
     verdict(False, 20, 0.4, 0.2), 0, 0.75, "common", round(0.5 + 0.25 * 0.25, 4), "review"),
    ("identical bytes are never a common element", nomination("sha256"), verdict(True, 100, 1.0, 1.0), 0, 1.0,
     "identical", 1.0, "match"),
]


@pytest.mark.parametrize("why, nominated, verified, quality, share, tier, score, decision", COMMON_CASES,
                         ids=[c[0] for c in COMMON_CASES])
def test_common_elements(why, nominated, verified, quality, share, tier, score, decision):
    assert decide(nominated, verified, quality, DEFAULTS, share, 0.5) == Decision(score, decision, tier), why


@pytest.mark.parametrize("why, nominated, verified, quality, tier, score, decision", CASES, ids=[c[0] for c in CASES])
def test_tiers(why, nominated, verified, quality, tier, score, decision):
    assert decide(nominated, verified, quality, DEFAULTS) == Decision(score, decision, tier), why


@pytest.mark.parametrize("match_threshold, review_threshold, decision", [
    (0.6, 0.5, "match"),    # 0.625 reaches a lowered match threshold
    (0.8, 0.625, "review"),  # a score equal to the review threshold is reviewed
    (0.8, 0.63, None),       # just above it, dropped
])
def test_thresholds_come_from_the_settings(match_threshold, review_threshold, decision):
    settings = replace(DEFAULTS, match_threshold=match_threshold, review_threshold=review_threshold)
    assert decide(nomination("clip", clip=0.95), None, 0, settings).decision == decision


def test_the_review_cosine_comes_from_the_settings():
    settings = replace(DEFAULTS, clip_review_cosine=0.8)
    result = decide(nomination("clip", clip=0.9), None, 0, settings)
    assert (result.tier, result.score, result.decision) == ("partial", 0.625, "review")
