"""The detection cascade: the stages a candidate goes through, the gate that lets it go on, and which
way a (candidate, work) pair is verified.

On the open web almost every candidate copies nothing, so detection spends little on a candidate until a
cheap stage gives some registered work a reason to look closer:

1. **screen** (`fingerprint.screen_candidate`, `shortlist.nominate` with `Gates.screen_gate`): the
   SHA-256, pHash and PDQ of the candidate and of its mirror image (one reduced copy serves both pHashes;
   the mirror image's PDQ only when its pHash finds a work, `fingerprint.candidate_hashes`), the local
   features of its photographic regions (where a small copy may sit, `detector.regions`) and of their mirror
   images (permuted, `fingerprint.Region.mirror_features`: a flipped page holds its small copy flipped), the
   windows' embeddings when an embedder is set, and local
   features of the whole image at low resolution (`Gates.coarse_side`, at most `Gates.coarse_features`
   keypoints, SIFT detected and described in one pass), and of its mirror image by permuting those
   (`features.mirror_of`: no second extraction), voting in the shortlist index. In a trained index the search
   goes in two steps (`Gates.screen_near_lists`): each descriptor's nearest lists first, the rest only for a
   view that gave some work a couple of votes there, as a copy's view does and an unrelated one's rarely does.
   **Gate**: the candidate goes on when any source nominates a work: the same bytes, a hash neighbour,
   an embedding neighbour, or enough votes of the coarse or region features for one work
   (`Gates.screen_gate`: once the catalogue is large, fewer of them, counted with a looser ratio test,
   because a larger index dilutes a true work's votes). Otherwise it stops here, with exit "screen".
2. **confirm** (`confirm_nominations`): a work nominated only by votes or by pHash alone can lead to a
   decision only through geometry, so it goes on only when the candidate's features agree with the work's on
   one affine transform (`verify.affine_agreement`, `Gates.agrees`): a region's (or its mirror's), or the whole
   image's (or its mirror's) both as the screen saw them and again at twice its resolution
   (`Gates.confirm_side`, a pass made once per candidate, only when the screen's agree). A page of text shares
   glyphs, and often a pHash, with every registered page of text, but no transform. The same bytes, pHash and PDQ
   together (the hash tier of `detector.decide`), an embedding, or a low-texture work (`align.Aligner`)
   go on unchecked. When no work is left, the candidate stops with exit "confirm".
3. **full** (`fingerprint.with_full_features`, `shortlist.nominate`): features of the whole image at full
   resolution (1024 px, 1,500 keypoints) and of its mirror image (permuted), the shortlist from every source at the
   product's own thresholds together with the works the confirm stage kept (the regions' features are the
   screen's and are not searched again), then `verify_copy` for each
   shortlisted work and the common-element check (`detector.common`) for each geometric match. Exit "full".

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
from detector.fingerprint import CandidatePrint, coarse_pass_side
from detector.shortlist import RATIO, Nomination
from detector.verify import Agreement, Verdict, Verifier, affine_agreement
from index.local import NearFirst

#: RANSAC's tolerance of the confirm stage, in pixels of the low-resolution image its features were found in.
_CONFIRM_PIXELS = 4.0


@dataclass(frozen=True)
class Gates:
    """The screen's low-resolution pass and the gate after it.

    coarse_side: long side, in pixels, at which the whole image (and its mirror image) is described in
        the screen. SIFT is scale-invariant, so a copy keeps its coarser keypoints there, and SIFT doubles
        its input first, so a pass at 256 px has the finest scale of the 512 px image, without that image's
        own first octave (three quarters of a pass's pixels: the 512 px pass cost 3.5 times as much).
        Measured on the quality set at 100,000 works (benchmarks/RESULTS.md): at 256 px the recall of every
        family is that of the 512 px pass, with one small embedded copy kept by its photographic region
        (a soft photo found once `regions._BUSY_STD` counted one gray level as detail); before that region, a
        pass at 256 or 384 px stopped it. ORB, which does not double its input, is given twice this side.
    coarse_features: most keypoints kept by the coarse pass (and by the confirm stage's).
    confirm_side: long side at which the confirm stage sees the whole image (and its mirror image) again, in a
        pass of its own made only when they agree with a nominated work at the screen's resolution (at most 1.5%
        of the crawl mix's non-copies). The screen's 256 px pass nominates, but its few matches cannot tell a copy
        from a page of text: a rocket in a collage fitted 5 of 10 matches, as pages of text sharing a pHash with
        registered text did (5-8 inliers, half their matches); at 512 px those pages' glyph matches outnumber
        their inliers two to one and stop, as before the screen went to 256 px (they would be pairs kept for
        review). Every copy the full stage matches agrees at both resolutions (benchmarks/RESULTS.md).
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
        them at 300 works), hence the strict test there. Beyond 1,000,000 descriptors the step is 4 votes,
        not 5, since the confirm stage behind it checks what passes for about 20 ms: in issue 23's run (1,000
        works in a 100k index) a hubble-forest collage had 4 votes at 0.9 and stopped at 5; at 4 it goes on
        and matches, and 51 more of 4,388 non-copies (1.2%) reach the confirm stage.
    large_ratio: Lowe's ratio of the votes in a `diluted` index.
    confirm_inliers, confirm_inlier_ratio: least inliers, and least share of the mutual ratio-test matches,
        of the affine transform the confirm stage fits between the screen's features (the whole image, its
        mirror image or a region) and a work's. Measured on issue 23's run (benchmarks/RESULTS.md, 1,000
        works in a 100k index): of the 427 true pairs that needed the check, the fewest inliers were 7
        (a small work's crop, all 7 matches agreeing) and the lowest share 0.62 (a perspective copy, 179
        inliers); of the 358 non-copies the screen passed, 28 still went on at 5 and 0.5 (text screenshots
        find 5-25 inliers among 20-100 glyph matches, a share mostly under 0.5).
    screen_nprobe: inverted lists of a trained shortlist index the screen's search visits per descriptor (the full
        stage visits `shortlist.nprobe`, 16). The screen's search was the largest cost of an unrelated image at
        100,000 works (13.5 of about 35 ms, 250 query descriptors an image); at 8 lists it cost 10.6 ms on 600
        mix images, and every copy of the quality set the screen nominated at 16 it still nominated (a copy's
        descriptors lie near its work's, in the lists nearest them; benchmarks/RESULTS.md, "Crawl mix"). The
        same rule gives 9 for lists trained in mirror pairs (`index.local`), which find the mirror views' lists
        for free: their partition gives the quality set's copies as many votes in all (43,093 against 42,861 at
        8 lists), but at 8 the rocket collage, whose whole view holds the gate's 4 votes in any partition, had 3.
    screen_near_lists, screen_near_votes: the screen's search of a trained index in two steps
        (`index.local.NearFirst`): each descriptor's `screen_near_lists` nearest lists first, the rest of its
        `screen_nprobe` lists only for a view (whole, mirrored, a region) that gave one work
        `screen_near_votes` votes there. Measured at 100,000 works (benchmarks/RESULTS.md, "Crawl mix"): of
        the quality set's 747 copies whose views give their work the gate's 4 votes, every one has at least 3
        votes in the 3 nearest lists on such a view; 67% of the mix's query descriptors stop at the first step
        (at 2 lists, one copy had only 2 there; at 3 votes, three copies have only 3). At most the lowest
        gate's votes, or the first step would stop copies the gate lets through.
    screen: False sends every candidate on to the full stage whatever the screen saw (the detector as it
        was before the cascade; the benchmark measures what the screen costs in recall with it).
    """

    coarse_side: int = 256
    coarse_features: int = 500
    confirm_side: int = 512
    min_coarse_votes: int = 8
    diluted: tuple[tuple[int, int], ...] = ((100_000, 7), (1_000_000, 4))
    large_ratio: float = 0.9
    confirm_inliers: int = 5
    confirm_inlier_ratio: float = 0.5
    screen_nprobe: int = 9
    screen_near_lists: int = 3
    screen_near_votes: int = 2
    screen: bool = True

    def __post_init__(self):
        votes = min([self.min_coarse_votes, *(step for _, step in self.diluted)])
        if (min(self.coarse_side, self.confirm_side) < 64 or self.coarse_features < 1 or votes < 1
                or not 0 < self.large_ratio <= 1 or self.confirm_inliers < 3
                or not 0 <= self.confirm_inlier_ratio <= 1 or self.screen_nprobe < 1
                or self.screen_near_lists < 1 or not 1 <= self.screen_near_votes <= votes):
            raise ValueError("Gates need coarse_side and confirm_side >= 64, coarse_features >= 1, "
                             "min_coarse_votes >= 1 (and in every diluted step), 0 < large_ratio <= 1, "
                             "confirm_inliers >= 3, 0 <= confirm_inlier_ratio <= 1, screen_nprobe >= 1, "
                             "screen_near_lists >= 1 and screen_near_votes from 1 to the fewest votes of a gate; "
                             f"got {self}.")

    @property
    def screen_near(self) -> NearFirst:
        """The screen's search in two steps, as the shortlist index takes it."""
        return NearFirst(self.screen_near_lists, self.screen_near_votes)

    def screen_gate(self, descriptors_held: int) -> tuple[float, int]:
        """The ratio test the screen counts votes with, and the votes that send a candidate on, for a
        shortlist index holding `descriptors_held` descriptors."""
        beyond = [votes for held, votes in sorted(self.diluted) if descriptors_held > held]
        return (self.large_ratio, beyond[-1]) if beyond else (RATIO, self.min_coarse_votes)

    def agrees(self, agreement: Agreement) -> bool:
        """Whether the confirm stage's fit makes a pair worth the full stage."""
        return agreement.inliers >= self.confirm_inliers and agreement.ratio >= self.confirm_inlier_ratio


@dataclass(frozen=True)
class Passage:
    """How far one candidate went through the cascade, and what the screen saw.

    exit: "screen" (no work got a reason to look closer), "confirm" (no nominated work's features agreed on
    a transform) or "full" (it went through every stage).
    nominated: works the screen nominated. best_coarse_votes: most votes one work got from the coarse or
    region features (at the ratio of `Gates.screen_gate`). coarse_keypoints: keypoints the coarse pass found on the whole image.
    best_inliers: most inliers the confirm stage fitted for one work (0 when it checked none).
    near_lists_only: the screen's search stopped at each descriptor's nearest lists (`Gates.screen_near_lists`):
    no view gave a work `Gates.screen_near_votes` votes there, and `best_coarse_votes` counts those lists' votes.
    """

    exit: str
    nominated: int
    best_coarse_votes: int
    coarse_keypoints: int
    best_inliers: int = 0
    near_lists_only: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def confirm_nominations(nominations: dict[int, Nomination], screen: CandidatePrint,
                        sharper: Callable[[], CandidatePrint], work_features: Callable[[int], LocalFeatures | None],
                        gates: Gates, aligner: Aligner, ratio: float) -> tuple[dict[int, Nomination], int]:
    """The nominations worth the full stage, and the most inliers a geometric check found for one work.

    A nomination goes on unchecked when something other than geometry could decide it (`detector.decide`):
    the same bytes, pHash and PDQ together, an embedding, or a low-texture work the aligner verifies.
    Otherwise one of the screen's views (whole, mirrored, each region and its mirror) must agree with the work's full
    features (`Gates.agrees`); when only the whole image or its mirror does, they must agree again as `sharper()`
    sees them (the whole image at `Gates.confirm_side`, made once, for the first such work). A work without stored
    features cannot be verified, so it stops.
    """
    seen_again: list[LocalFeatures] = []
    kept, best = {}, 0
    for asset_id, nomination in nominations.items():
        work = work_features(asset_id)
        if _decided_without_geometry(nomination, work, aligner):
            kept[asset_id] = nomination
            continue
        if work is None:
            continue
        whole = _agreements([screen.features, screen.mirror_features], work, ratio,
                            coarse_pass_side(screen.features.kind, gates.coarse_side))
        regions = _agreements([view for region in screen.regions for view in region.views()], work, ratio,
                              gates.coarse_side)
        best = max([best, *(a.inliers for a in whole + regions)])
        if any(gates.agrees(a) for a in regions):
            kept[asset_id] = nomination
        elif any(gates.agrees(a) for a in whole):
            if not seen_again:
                sharp = sharper()
                seen_again = [sharp.features, sharp.mirror_features]
            again = _agreements(seen_again, work, ratio, coarse_pass_side(screen.features.kind, gates.confirm_side))
            best = max([best, *(a.inliers for a in again)])
            if any(gates.agrees(a) for a in again):
                kept[asset_id] = nomination
    return kept, best


def _agreements(views: list[LocalFeatures], work: LocalFeatures, ratio: float, side: int) -> list[Agreement]:
    """Each view's agreement with `work`, RANSAC's tolerance being `_CONFIRM_PIXELS` at a long side of `side`."""
    return [affine_agreement(view, work, ratio, _CONFIRM_PIXELS * max(1.0, max(view.width, view.height) / side))
            for view in views]


def _decided_without_geometry(nomination: Nomination, work: LocalFeatures | None, aligner: Aligner) -> bool:
    """Whether something other than a keypoint fit can decide the pair: the same bytes, an embedding, pHash
    and PDQ together (the hash tier), or a low-texture work the aligner verifies."""
    sources = nomination.sources
    return bool(sources & {"sha256", "clip"} or {"phash", "pdq"} <= sources
                or (work is not None and aligner.applies(len(work))))


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
        attempt = verifier.verify(region.features, work, candidate_gray, work_gray,
                                  candidate_mirror=region.mirror_features)
        if attempt.verified:
            return replace(attempt, method=f"{work.kind}-region")
    if aligner.applies(len(work)):
        size = (candidate.features.width, candidate.features.height)
        pixels = work_gray() if callable(work_gray) else work_gray
        return aligner.verify(pixels, candidate_gray, (work.width, work.height), size, hints)
    return verdict
