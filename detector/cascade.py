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
        full stage while the shortlist index is small (at most `diluted[0][0]` descriptors), counted with the
        full stage's ratio test (`shortlist.RATIO`, 0.8). Far below the full stage's own
        `match.min_feature_votes`: the gate only has to keep every copy, the full stage decides.
    diluted: (descriptors held, votes) steps: beyond that many descriptors in the shortlist index (about 300
        a work), this many votes, counted with the looser `large_ratio` (the same neighbours: no extra
        search). With more registered works, more of a true work's descriptors find a near tie in another
        work and fail a strict ratio test, so a fixed gate at 0.8 loses copies. Measured on the crawl mix's
        kept set (benchmarks/RESULTS.md, "The screen's gate as the catalogue grows": 270 copies the full
        stage matches, 158 of them with no hash to let them through; 338 mix non-copies), least-voted copy
        and share of the non-copies passed:
        - 300 works (70,563 descriptors), 8 at 0.8: 8 (a small embedded copy), 5.6%;
        - 1,200 works, 7 at 0.9: 9, 7.7% (8 at 0.8 lost 2 copies here, a hubble collage's votes falling from
          19 to 5 and the small embedded copy's from 8 to 5; it passed 4.1%);
        - 5,000 works, 5 at 0.9: 8, 7.4% (8 at 0.8: 2 lost, 3.3%);
        - 20,000 works, 5 at 0.9: 7, 6.2% (8 at 0.8: 2 lost, 3.0%).
        At 0.9 a small index gives unrelated images more chance votes (11.8% of the non-copies pass 8 of
        them at 300 works), hence the strict test there.
    large_ratio: Lowe's ratio of the votes in a `diluted` index.
    screen: False sends every candidate on to the full stage whatever the screen saw (the detector as it
        was before the cascade; the benchmark measures what the screen costs in recall with it).
    """

    coarse_side: int = 512
    coarse_features: int = 500
    min_coarse_votes: int = 8
    diluted: tuple[tuple[int, int], ...] = ((100_000, 7), (1_000_000, 5))
    large_ratio: float = 0.9
    screen: bool = True

    def __post_init__(self):
        votes = min([self.min_coarse_votes, *(step for _, step in self.diluted)])
        if self.coarse_side < 64 or self.coarse_features < 1 or votes < 1 or not 0 < self.large_ratio <= 1:
            raise ValueError("Gates need coarse_side >= 64, coarse_features >= 1, min_coarse_votes >= 1 (and in "
                             f"every diluted step) and 0 < large_ratio <= 1; got {self}.")

    def screen_gate(self, descriptors_held: int) -> tuple[float, int]:
        """The ratio test the screen counts votes with, and the votes that send a candidate on, for a
        shortlist index holding `descriptors_held` descriptors."""
        beyond = [votes for held, votes in sorted(self.diluted) if descriptors_held > held]
        return (self.large_ratio, beyond[-1]) if beyond else (RATIO, self.min_coarse_votes)


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
