"""One score in [0, 1] and a decision for a (candidate, work) pair, from tiers of evidence.

A weighted sum lets many weak signals add up to a false match; tiers do not. Each tier has its
own score band, and a pair takes the highest tier its evidence reaches:

  1.00        identical bytes
  0.80-1.00   verified: local features, geometry and photometry all agree (verify.Verifier gates)
  0.85        near-duplicate by hashes: pHash AND PDQ (of a textured image) both within range
  0.50-0.625  common: verified, or fitted by a geometry that failed a gate, mostly on an element
              other registered works contain too (detector.common): the share of the match found
              elsewhere lowers the score
  0.50-0.75   partial: geometric agreement that failed a gate, or a high embedding similarity
  below 0.50  whatever else was shortlisted (kept out of the matches table)

With the default thresholds (match 0.8, review 0.5) the first three tiers are `match`, common
and partial evidence is `review`, and the rest is dropped. A common element alone never makes a
`match`: its geometry and pixels agree perfectly, but so would those of every other picture
carrying it.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.config import MatchSettings
from detector.shortlist import Nomination
from detector.verify import Verdict

#: PDQ's own quality score under which the hash of a flat image says little (Meta's guidance).
MIN_PDQ_QUALITY = 50
#: Inliers of an unverified geometric fit that still make partial evidence.
PARTIAL_INLIERS = 8


@dataclass(frozen=True)
class Decision:
    score: float
    decision: str | None  # "match", "review", or None (drop)
    tier: str


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def decide(nomination: Nomination, verdict: Verdict | None, pdq_quality: int, settings: MatchSettings,
           common_share: float = 0.0, max_common_share: float = 1.0) -> Decision:
    """`common_share`: the share of a geometric match (verified or partial) that other registered works
    contain too; above `max_common_share` the verification counts as the common tier (review at most),
    and a failed one keeps hashes from calling the pair a near-duplicate."""
    verified = verdict is not None and verdict.verified
    on_common = common_share > max_common_share
    if "sha256" in nomination.sources:
        tier, score = "identical", 1.0
    elif verified and not on_common:
        strength = (_clamp(verdict.inliers / 100) + _clamp(verdict.inlier_ratio) + _clamp(verdict.ncc)) / 3
        tier, score = "verified", 0.8 + 0.2 * strength
    elif (nomination.pdq_distance is not None and nomination.phash_distance is not None
          and pdq_quality >= MIN_PDQ_QUALITY and (verified or not on_common)):
        # Hashes see layout, not content: when verification failed and the only geometry the two
        # share is an element other works carry too (a logo on two posters of one template), the
        # hashes' likeness is the template's, not a copy's.
        tier, score = "hash", 0.85
    elif verified or on_common:
        tier, score = "common", 0.5 + 0.25 * (1 - _clamp(common_share))
    else:
        partial = 0.0
        if verdict is not None and verdict.inliers >= PARTIAL_INLIERS:
            partial = 0.5 + 0.25 * _clamp(verdict.inlier_ratio)
        if nomination.clip_cosine is not None and nomination.clip_cosine >= settings.clip_review_cosine:
            partial = max(partial, 0.5 + 0.25 * _clamp((nomination.clip_cosine - settings.clip_review_cosine)
                                                      / max(1e-6, 1 - settings.clip_review_cosine)))
        tier, score = ("partial", partial) if partial else ("weak", 0.25 * _clamp(nomination.clip_cosine or 0))
    score = round(score, 4)
    if score >= settings.match_threshold:
        return Decision(score, "match", tier)
    if score >= settings.review_threshold:
        return Decision(score, "review", tier)
    return Decision(score, None, tier)
