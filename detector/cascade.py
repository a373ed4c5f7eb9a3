"""Which way a (candidate, work) pair is verified, and the verdict that counts.

The keypoint verifier (`verify.Verifier`) is tried first, on the candidate whole and mirrored, as
always. Two kinds of copy it misses get a second look, each through the same kind of gates:

- a work pasted small into a larger picture: the candidate's photographic regions
  (`fingerprint.Region`, features seen at more resolution but in the candidate's own pixels)
  are verified in turn, so the transform, coverages and photometric check mean what they mean
  for the whole image (method "sift-region", or "orb-region");
- a low-texture work (a dark, soft wallpaper) that has too few keypoints for any copy to verify:
  direct photometric alignment (`align.Aligner`, method "ecc").

Core module: values in, values out.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from detector.align import Aligner, Hint
from detector.features import LocalFeatures
from detector.fingerprint import CandidatePrint
from detector.verify import Verdict, Verifier


def verify_copy(verifier: Verifier, aligner: Aligner, candidate: CandidatePrint, work: LocalFeatures,
                candidate_gray: np.ndarray, work_gray: np.ndarray, hints: list[Hint] = ()) -> Verdict:
    """The verdict on `candidate` showing `work`: the first way that verifies it, else the failure
    that says most (the alignment's for a low-texture work, else the whole image's). A region that
    fails is not reported: a small part of a page matched partly is no evidence worth a review.

    `hints`: boxes (shares of the candidate's size) where something already placed the work, e.g.
    the embedding window that nominated it; the alignment starts from them too.
    """
    verdict = verifier.verify(candidate.features, work, candidate_gray, work_gray,
                              candidate_mirror=candidate.mirror_features)
    if verdict.verified:
        return verdict
    for region in candidate.regions:
        attempt = verifier.verify(region.features, work, candidate_gray, work_gray)
        if attempt.verified:
            return replace(attempt, method=f"{work.kind}-region")
    if aligner.applies(len(work)):
        size = (candidate.features.width, candidate.features.height)
        return aligner.verify(work_gray, candidate_gray, (work.width, work.height), size, hints)
    return verdict
