"""The detection cascade: the stages a candidate goes through, the gate that lets it go on, and which
way a (candidate, work) pair is verified.

On the open web almost every candidate copies nothing, so detection spends little on a candidate until a
cheap stage gives some registered work a reason to look closer:

1. **screen** (`fingerprint.screen_candidate`, `shortlist.nominate` with `Gates.screen_gate`): the
   SHA-256, pHash and PDQ of the candidate and of its mirror image (one reduced copy serves both,
   `fingerprint.hashes_with_mirror`), the local features of its photographic regions (where a small
   copy may sit, `detector.regions`), the windows' embeddings when an embedder is set, and local
   features of the whole image at low resolution (`Gates.coarse_side`, at most `Gates.coarse_features`
   keypoints, SIFT detected and described in one pass), and of its mirror image by permuting those
   (`features.mirror_of`: no second extraction), voting in the shortlist index.
   **Gate**: the candidate goes on when any source nominates a work: the same bytes, a hash neighbour,
   an embedding neighbour, or enough votes of the coarse or region features for one work
   (`Gates.screen_gate`: once the catalogue is large, fewer of them, counted with a looser ratio test,
   because a larger index dilutes a true work's votes). Otherwise it stops here, with exit "screen".
2. **full** (`fingerprint.with_full_features`, `shortlist.nominate`): features of the whole image at full
   resolution (1024 px, 1,500 keypoints) and of its mirror image (permuted), the shortlist from every source at the
   product's own thresholds, then `verify_copy` for each shortlisted work and the common-element check
   (`detector.common`) for each geometric match. Exit "full".

The exit, and what the screen saw, is recorded in every finding's signals ("cascade") and in the
analysis (`detect.Analysis.cascade`). docs/detection.md gives each stage's measured cost and exit share.

Verification: the keypoint verifier (`verify.Verifier`) is tried first, on the candidate whole and mirrored, as
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

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from detector.align import Aligner, Hint
from detector.features import LocalFeatures
from detector.fingerprint import CandidatePrint
from detector.shortlist import RATIO
from detector.verify import Verdict, Verifier


@dataclass(frozen=True)
class Gates:
    """The screen's low-resolution pass and the gate after it.

    coarse_side: long side, in pixels, at which the whole image (and its mirror image) is described in
        the screen. SIFT is scale-invariant, so a copy keeps its coarser keypoints there. Measured on the
        crawl mix (benchmarks/RESULTS.md): at 512 px the screen kept every copy the full stage matches
        (issue 23's run: 366 queries, none lost to the screen); at 384 px it stopped 2 of 60 small copies
        in page screenshots. One pass of SIFT at 512 px, its mirror permuted, is about a fifth of the
        non-copy's CPU (25 of 100 ms mean in that run).
    coarse_features: most keypoints kept by the coarse pass.
    min_coarse_votes: votes of the coarse or region features for one work that send the candidate on to the
        full stage while the shortlist index is small (at most `large_index` descriptors), counted with the
        full stage's ratio test (`shortlist.RATIO`, 0.8). Far below the full stage's own
        `match.min_feature_votes`: the gate only has to keep every copy, the full stage decides.
    large_index: descriptors held (about 300 a work) beyond which every work's votes are diluted enough to
        need the large-index gate: 100,000, about 330 works.
    large_ratio, min_coarse_votes_large: the gate beyond `large_index`: this many votes, counted with a
        looser ratio test (the same neighbours: no extra search). With more registered works, more of a
        true work's descriptors find a near tie in another work and fail a strict ratio test. Measured on the
        crawl mix's kept set (benchmarks/RESULTS.md, "The screen's gate at 5,000 works": 270 copies the
        full stage matches, 158 of them with no hash to let them through; 338 mix non-copies): at 300
        works (70,563 descriptors) the small-index gate keeps all 270, its least-voted copy at exactly 8,
        and passes 5.6% of the non-copies; at 5,000 works it lost 2 (a hubble collage's votes fell from 19
        to 4, a small embedded copy's from 8 to 6), where 6 votes at 0.9 keep all 270 (least-voted 8 and
        9) and pass 6.8% of the non-copies (3.3% passed the former gate); 11.8% with the smoke run's
        crowded 30-file distractor pool. At 0.9 a small index gives unrelated images more chance votes
        (11.8% of the non-copies pass 8 of them at 300 works), hence two gates.
    screen: False sends every candidate on to the full stage whatever the screen saw (the detector as it
        was before the cascade; the benchmark measures what the screen costs in recall with it).
    """

    coarse_side: int = 512
    coarse_features: int = 500
    min_coarse_votes: int = 8
    large_index: int = 100_000
    large_ratio: float = 0.9
    min_coarse_votes_large: int = 6
    screen: bool = True

    def __post_init__(self):
        votes = min(self.min_coarse_votes, self.min_coarse_votes_large)
        if self.coarse_side < 64 or self.coarse_features < 1 or votes < 1 or not 0 < self.large_ratio <= 1:
            raise ValueError("Gates need coarse_side >= 64, coarse_features >= 1, min_coarse_votes >= 1, "
                             f"min_coarse_votes_large >= 1 and 0 < large_ratio <= 1; got {self}.")

    def screen_gate(self, descriptors_held: int) -> tuple[float, int]:
        """The ratio test the screen counts votes with, and the votes that send a candidate on, for a
        shortlist index holding `descriptors_held` descriptors."""
        if descriptors_held > self.large_index:
            return self.large_ratio, self.min_coarse_votes_large
        return RATIO, self.min_coarse_votes


@dataclass(frozen=True)
class Passage:
    """How far one candidate went through the cascade, and what the screen saw.

    exit: "screen" (no work got a reason to look closer) or "full" (it went through every stage).
    nominated: works the screen nominated. best_coarse_votes: most votes one work got from the coarse or
    region features (at the ratio of `Gates.screen_gate`). coarse_keypoints: keypoints the coarse pass found on the whole image.
    """

    exit: str
    nominated: int
    best_coarse_votes: int
    coarse_keypoints: int

    def as_dict(self) -> dict:
        return asdict(self)


def verify_copy(verifier: Verifier, aligner: Aligner, candidate: CandidatePrint, work: LocalFeatures,
                candidate_gray: np.ndarray, work_gray: np.ndarray | Callable[[], np.ndarray],
                hints: list[Hint] = ()) -> Verdict:
    """The verdict on `candidate` showing `work`: the first way that verifies it, else the failure
    that says most (the alignment's for a low-texture work, else the whole image's). A region that
    fails is not reported: a small part of a page matched partly is no evidence worth a review.

    `hints`: boxes (shares of the candidate's size) where something already placed the work, e.g.
    the embedding window that nominated it; the alignment starts from them too. `work_gray` may be a
    function returning the work's pixels: it is called only when a check needs them.
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
        pixels = work_gray() if callable(work_gray) else work_gray
        return aligner.verify(pixels, candidate_gray, (work.width, work.height), size, hints)
    return verdict
