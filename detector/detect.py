"""Detection: turn the workspace's new candidates into matches.

Reads candidates the crawler stored (state 'new'), analyses each distinct image once (the same
bytes on many pages are one analysis, many sightings), and records a match per (work, page,
content). A candidate whose bytes cannot be decoded is marked 'refused' with the reason; the
batch goes on. Candidates are marked 'detected' as they are done, so an interrupted run picks up
where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial

import numpy as np
from PIL import Image

from detector import __version__, catalogue, common, reuse
from detector.align import Aligner
from detector.cascade import Gates, Passage, confirm_nominations, verify_copy
from detector.cmi import rights_signal
from detector.config import Settings
from detector.credentials import (
    Credentials,
    credentials_signal,
    from_record,
    read_credentials,
    to_record,
    trust_anchors,
)
from detector.decide import PARTIAL_INLIERS, Decision, decide
from detector.embedders import Embedder
from detector.errors import ConfigError, ImageRefused
from detector.features import LocalFeatures
from detector.fingerprint import (
    FEATURE_KINDS,
    CandidatePrint,
    screen_candidate,
    with_coarse_features,
    with_full_features,
)
from detector.intake import DecodedImage, decode_image
from detector.negatives import NegativeLists
from detector.parallel import analyse_all
from detector.provenance import ledger
from detector.rights import authorized
from detector.shortlist import Nomination, hash_neighbours, nominate, screen_votes, view_votes
from detector.site_rights import site_signal
from detector.verify import Verdict, Verifier
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

log = logging.getLogger(__name__)

#: Long side of the grayscale copies used for the photometric check (it works on a 256 px grid).
_GRAY_SIDE = 512
#: Works whose full features and grayscale copy stay in memory between candidates.
_WORK_CACHE = 512


@dataclass
class Finding:
    asset_id: int
    decision: Decision
    signals: dict


@dataclass
class Analysis:
    """One content's findings, or its refusal (reason, detail), the seconds per stage it took, its
    Content Credentials, and how far it went through the cascade (`cascade.Passage.as_dict`; None when
    refused)."""

    findings: list[Finding]
    refusal: tuple[str, str] | None
    seconds: Counter
    credentials: dict | None  # the copy's Content Credentials in stored form; None when refused
    cascade: dict | None = None
    rights: dict | None = None  # the copy's embedded rights metadata (RightsMetadata.as_dict); None when refused


@dataclass
class DetectSummary:
    candidates: int = 0
    images: int = 0
    refused: Counter = field(default_factory=Counter)
    matches_new: int = 0
    matches_updated: int = 0
    decisions: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    shortlist_sources: list[str] = field(default_factory=list)
    exits: Counter = field(default_factory=Counter)  # images per cascade exit ("screen", "confirm", "full")
    reused: int = 0  # images recorded as non-copies from an earlier analysis (detector.reuse), not decoded

    def as_dict(self) -> dict:
        return {
            "candidates": self.candidates, "images": self.images, "refused": dict(self.refused),
            "matches_new": self.matches_new, "matches_updated": self.matches_updated,
            "decisions": dict(self.decisions), "shortlist_sources": self.shortlist_sources,
            "cascade_exits": dict(self.exits), "reused": self.reused,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def gray(image: Image.Image) -> np.ndarray:
    """`image` in grayscale, its long side at most 512 px: what verification and alignment compare."""
    small = image.convert("L")
    small.thumbnail((_GRAY_SIDE, _GRAY_SIDE))
    return np.asarray(small)


def shortlist_sources(embedder: Embedder | None) -> list[str]:
    """The signals that can put a work on a candidate's shortlist."""
    return ["sha256", "phash", "pdq", "features"] + (["clip"] if embedder else [])


class LicensedUses:
    """The uses each work may have without a match being a problem: its owner's declared authorized uses
    and the domains of its paid licences in force now (looked up once per detection run, or task)."""

    def __init__(self, store: Store):
        self.store = store
        self.licensed = store.licensed_domains(utc_now())
        self.patterns: dict[int, list[str]] = {}
        self.negatives = NegativeLists(store)  # images the owner said are not a copy of a work

    def of(self, asset: dict) -> list[str]:
        owner_id = asset["owner_id"]
        if owner_id not in self.patterns:
            self.patterns[owner_id] = [u["pattern"] for u in self.store.authorized_uses(owner_id)]
        return self.patterns[owner_id] + self.licensed.get(asset["id"], [])


class KeptDetector:
    """One detector kept by a long-lived process (a watcher, a distributed worker) across its detection runs, loaded
    again when the index files change (works registered or removed): the indexes are not read for every run."""

    def __init__(self, ws: Workspace, store: Store, settings: Settings, embedder: Embedder | None):
        self.ws, self.store, self.settings, self.embedder = ws, store, settings, embedder
        self.detector: Detector | None = None
        self.stamp: tuple | None = None

    def now(self) -> Detector:
        stamp = catalogue.version_stamp(self.ws)  # taken first: a change while loading shows on the next call
        if self.detector is None or stamp != self.stamp:
            if self.detector is not None:
                log.info("the index files changed: loading them again")
            self.detector = None  # the old indexes go before the new ones load
            self.detector = Detector(self.ws, self.store, self.settings, self.embedder)
            self.stamp = stamp
        return self.detector


class Detector:
    """Holds the registered works' indexes and cached features for one detection run (in a distributed worker:
    until the index files change)."""

    def __init__(self, ws: Workspace, store: Store, settings: Settings, embedder: Embedder | None,
                 progress: catalogue.Progress = lambda stage, done, total: None):
        self.store, self.settings, self.embedder = store, settings, embedder
        self.blobs = BlobStore(ws.blobs_dir)
        self.kind = settings.match.local_features
        if self.kind not in FEATURE_KINDS:
            raise ConfigError(f"match.local_features {self.kind!r} is not known; use one of: {', '.join(FEATURE_KINDS)}.")
        catalogue.set_threads(settings.index.threads)
        self.gates = Gates()
        # Taken before the indexes load: a save meanwhile makes the key older than the works analysed against.
        self.works_stamp = catalogue.content_stamp(ws)
        self._key: tuple[Gates, str] | None = None
        # Only a sample of each work's descriptors stays in memory (in the shortlist index); full
        # features and grayscale copies are loaded when a work is shortlisted, and the most recent kept.
        self.indexes = catalogue.load(ws, store, embedder, settings.index, kind=self.kind,
                                      shortlist=settings.shortlist, progress=progress)
        self.assets = {a["id"]: a for a in store.assets()}
        self.assets_by_sha: dict[str, list[int]] = defaultdict(list)
        for asset in self.assets.values():
            self.assets_by_sha[asset["sha256"]].append(asset["id"])
        self.work_features = lru_cache(maxsize=_WORK_CACHE)(self._work_features)
        self.work_gray = lru_cache(maxsize=_WORK_CACHE)(self._work_gray)
        self.verifier = Verifier()
        self.aligner = Aligner()
        self.sources = shortlist_sources(embedder)

    def _work_features(self, asset_id: int) -> LocalFeatures | None:
        """None for works registered before this kind was cached: hashes alone can match them."""
        cached = self.store.asset_features(asset_id, self.kind)
        return LocalFeatures.from_bytes(cached) if cached is not None else None

    def _work_gray(self, asset_id: int) -> np.ndarray:
        asset = self.assets[asset_id]
        decoded = decode_image(self.blobs.get(asset["sha256"]), asset["filename"], self.settings.intake)
        return gray(decoded.image)

    def analyse(self, sha256: str, decoded: DecodedImage, seconds: Counter) -> list[Finding]:
        """Every registered work this image shows, with the decision and all signals."""
        return self.examine(sha256, decoded, seconds)[0]

    def examine(self, sha256: str, decoded: DecodedImage, seconds: Counter) -> tuple[list[Finding], Passage]:
        """The findings, and how far the image went through the cascade (`detector.cascade`): the screen
        first; the full stage only when the screen nominated a work."""
        gates = self.gates
        screen = screen_candidate(sha256, decoded, self.kind, self.embedder, seconds,
                                  coarse=(gates.coarse_side, gates.coarse_features),
                                  mirror_pdq=lambda phash: bool(hash_neighbours(self.indexes, self.settings.match,
                                                                                "phash", phash)))
        clock = time.perf_counter()
        same_bytes = self.assets_by_sha.get(sha256, [])
        index = self.indexes.features
        ratio, min_votes = gates.screen_gate(len(index) if index is not None else 0)
        votes, near_lists_only = screen_votes(index, screen, ratio, gates.screen_nprobe,
                                              gates.screen_near if gates.screen else None)
        screened = nominate(screen, same_bytes, self.indexes, self.settings.match, min_votes, votes)
        seconds["screen_search"] += time.perf_counter() - clock
        clock = time.perf_counter()
        sharper = partial(with_coarse_features, screen, decoded, (gates.confirm_side, gates.coarse_features))
        confirmed, best_inliers = confirm_nominations(screened, screen, sharper, self.work_features, gates,
                                                      self.aligner, self.verifier.ratio)
        seconds["confirm"] += time.perf_counter() - clock
        stage = "screen" if not screened else "confirm" if not confirmed else "full"
        passage = Passage(stage if gates.screen else "full", len(screened), max(votes.values(), default=0),
                          len(screen.features), best_inliers, near_lists_only)
        if passage.exit != "full":
            return [], passage

        candidate = with_full_features(screen, decoded, seconds)
        clock = time.perf_counter()
        # The regions' features are the screen's, searched there with a looser gate: what they found and the confirm
        # stage kept is in `confirmed`, so only the whole image's new features are searched again (a page's four
        # regions, as they are and mirrored, were most of a copy's search). Without the screen, they are searched here.
        searched = replace(candidate, regions=()) if gates.screen else candidate
        nominations = nominate(candidate, same_bytes, self.indexes, self.settings.match,
                               votes=view_votes(index, searched))
        # What the screen nominated and its features confirmed is verified too: in a large index the full
        # stage's strict ratio test can leave a true work (a heavy crop) short of its own vote threshold.
        for asset_id, nomination in confirmed.items():
            nominations.setdefault(asset_id, nomination)
        seconds["search"] += time.perf_counter() - clock

        clock = time.perf_counter()
        candidate_gray = gray(decoded.image)
        findings = []
        common_seconds = 0.0
        for asset_id, nomination in nominations.items():
            verdict = self._verify(nomination, candidate, candidate_gray)
            started = time.perf_counter()
            shared = self._common(asset_id, verdict, candidate)
            common_seconds += time.perf_counter() - started
            decision = decide(nomination, verdict, candidate.hashes.pdq_quality, self.settings.match,
                              shared.share if shared else 0.0, self.settings.common.max_share)
            if decision.decision is None:
                continue
            signals = self._signals(nomination, verdict, decision, candidate.hashes)
            signals["common_elements"] = shared.as_dict() if shared else None
            signals["cascade"] = passage.as_dict()
            findings.append(Finding(asset_id, decision, signals))
        seconds["verify"] += time.perf_counter() - clock - common_seconds
        seconds["common"] += common_seconds
        return findings, passage

    def _verify(self, nomination: Nomination, candidate: CandidatePrint, candidate_gray) -> Verdict | None:
        work = self.work_features(nomination.asset_id)
        if work is None:
            return None
        hints = []
        if nomination.clip_region is not None:  # windows[0] is the whole image, in the same pixels
            width, height = candidate.windows[0][2], candidate.windows[0][3]
            left, top, right, bottom = nomination.clip_region
            hints.append((left / width, top / height, right / width, bottom / height))
        # The work's pixels are decoded only for a pair that reaches a photometric check.
        return verify_copy(self.verifier, self.aligner, candidate, work, candidate_gray,
                           lambda: self.work_gray(nomination.asset_id), hints)

    def _common(self, asset_id: int, verdict: Verdict | None, candidate: CandidatePrint) -> common.CommonElements | None:
        """What a geometric match (verified, or partial evidence that fitted a transform) shares with
        other registered works; None without one."""
        if verdict is None or verdict.transform is None or verdict.inliers < PARTIAL_INLIERS:
            return None
        work = self.work_features(asset_id)
        keypoints = common.matched_keypoints(work, candidate.features, verdict, candidate.mirror_features)
        settings = self.settings.common
        return common.measure(asset_id, work, keypoints, self.indexes.features, self.work_features,
                              settings.sharers, settings.version_share)

    def _signals(self, nomination: Nomination, verdict: Verdict | None, decision: Decision, fingerprint) -> dict:
        m = self.settings.match
        return {
            **nomination.signals(),
            "sha256_equal": "sha256" in nomination.sources,
            "candidate_pdq_quality": fingerprint.pdq_quality,
            "candidate_phash": fingerprint.phash,
            "verification": verdict.as_dict() if verdict else None,
            "tier": decision.tier,
            "embedder": self.embedder.id if self.embedder else "none",
            "thresholds": {"match": m.match_threshold, "review": m.review_threshold,
                           "phash_max_distance": m.phash_max_distance, "pdq_max_distance": m.pdq_max_distance,
                           "clip_min_cosine": m.clip_min_cosine},
            "software": f"copyhound {__version__}",
        }

    @property
    def detection_key(self) -> str:
        """The key this detector's non-copy analyses hold under (detector.reuse); it follows `gates`."""
        if self._key is None or self._key[0] != self.gates:
            self._key = (self.gates, reuse.detection_key(self.works_stamp, self.settings, self.embedder, self.gates))
        return self._key[1]

    def reusable(self, sha256s: list[str]) -> dict[str, Analysis]:
        """Of `sha256s`, the contents analysed as non-copies under this detector's key: the analysis each
        sighting records instead of decoding it again."""
        known = self.store.known_non_copies(sha256s, self.detection_key)
        return {sha256: Analysis([], None, Counter(), {}, reuse.reused_exit(earlier))
                for sha256, earlier in known.items()}

    def run(self, progress: Callable[[int], None] = lambda n: None, limit: int | None = None,
            workers: int = 1, reanalyse: bool = False) -> DetectSummary:
        """Detect on every candidate still in state 'new' (from any scan).

        Contents analysed as non-copies before under the same detection key are recorded from that analysis
        without being decoded (detector.reuse), unless `reanalyse`; what was kept under other keys is forgotten.

        With `workers` > 1 and no embedder, images are analysed in that many processes forked from this one (they
        share its loaded indexes, copy-on-write); only this process writes to the store, one
        content at a time, so results are those of one process. A worker that dies (even by
        SIGKILL) costs only the analyses in flight: they are run again in a fresh pool, and a
        content is recorded once, when its analysis comes back.
        """
        summary = DetectSummary(shortlist_sources=self.sources)
        pending = self.store.candidates("state = 'new' AND sha256 IS NOT NULL")[:limit]
        by_content: dict[str, list[dict]] = defaultdict(list)
        for candidate in pending:
            by_content[candidate["sha256"]].append(candidate)
        uses = LicensedUses(self.store)
        clock = time.perf_counter()
        self.store.forget_non_copies(keep_key=None if reanalyse else self.detection_key)
        known = {} if reanalyse else self.reusable(list(by_content))
        summary.seconds["reuse_lookup"] += time.perf_counter() - clock
        for sha256, analysis in known.items():
            sightings = by_content[sha256]
            self.record([c["id"] for c in sightings], analysis, uses, summary)
            progress(len(sightings))
        contents = [(sha256, sightings[0]["image_url"]) for sha256, sightings in by_content.items()
                    if sha256 not in known]
        if self.embedder is not None and workers > 1:
            # torch's and onnxruntime's thread pools do not survive a fork (a forked worker hangs
            # in its first embedding), so with an embedder the images are analysed here.
            log.info("an embedder is configured: detecting in one process")
            workers = 1
        for sha256, analysis in analyse_all(self, contents, workers):
            sightings = by_content[sha256]
            self.record([c["id"] for c in sightings], analysis, uses, summary)
            progress(len(sightings))
        return summary

    def record(self, candidate_ids: list[int], analysis: Analysis, uses: LicensedUses,
               summary: DetectSummary) -> int:
        """Record one content's analysis for its sightings `candidate_ids`; returns how many it recorded.

        The one way results reach the store, in process or from a distributed worker. Idempotent per
        candidate: inside the write transaction only the sightings still 'new' are recorded, each
        claimed by a conditional update, so a task delivered twice records (and writes to the ledger)
        once, and the second delivery records nothing. A fresh analysis that found nothing is kept for later
        scans under this detector's key (detector.reuse).
        """
        copy_credentials = from_record(analysis.credentials)
        recorded = 0
        with self.store.atomic():
            for candidate in self.store.new_candidates(candidate_ids):
                if analysis.refusal is not None:
                    reason, detail = analysis.refusal
                    recorded += self.store.claim_candidate(candidate["id"], "refused", refusal_reason=reason,
                                                           refusal_detail=detail, detected_at=utc_now())
                    continue
                now = utc_now()
                if not self.store.claim_candidate(candidate["id"], "detected", detected_at=now,
                                                  detection=analysis.cascade):
                    continue
                recorded += 1
                self.store.set_candidate_credentials(candidate["id"], analysis.credentials)
                for finding in analysis.findings:
                    self._record(candidate, finding, uses, summary, copy_credentials, analysis.rights)
                if reuse.keepable(analysis):
                    self.store.remember_non_copy(candidate["sha256"], self.detection_key, now,
                                                 analysis.cascade["exit"])
        if recorded:
            summary.seconds.update(analysis.seconds)
            summary.candidates += recorded
            if analysis.refusal is None:
                summary.images += 1
                if analysis.cascade is not None and analysis.cascade["exit"] == reuse.REUSED:
                    summary.reused += 1
                elif analysis.cascade is not None:
                    summary.exits[analysis.cascade["exit"]] += 1
            else:
                summary.refused[analysis.refusal[0]] += 1
        return recorded

    def analyse_content(self, sha256: str, name: str) -> Analysis:
        """Decode and analyse one stored content; what `run` records for it (picklable)."""
        seconds: Counter = Counter()
        clock = time.perf_counter()
        data = self.blobs.get(sha256)
        try:
            decoded = decode_image(data, name, self.settings.intake)
        except ImageRefused as refusal:
            return Analysis([], (refusal.reason, refusal.detail), seconds, None)
        finally:
            seconds["decode"] += time.perf_counter() - clock
        clock = time.perf_counter()
        credentials = to_record(read_credentials(data, trust_anchors(self.settings)))
        seconds["credentials"] += time.perf_counter() - clock
        findings, passage = self.examine(sha256, decoded, seconds)
        return Analysis(findings, None, seconds, credentials, passage.as_dict(), decoded.rights.as_dict())

    def _work_credentials(self, asset: dict) -> Credentials | None:
        """The work's Content Credentials as read at registration; a work registered before they
        were stored is read now, once, and stored."""
        if asset.get("credentials") is None:
            asset["credentials"] = to_record(read_credentials(self.blobs.get(asset["sha256"]), trust_anchors(self.settings)))
            self.store.set_asset_credentials(asset["id"], asset["credentials"])
        return from_record(asset["credentials"])

    def _record(self, candidate: dict, finding: Finding, uses: LicensedUses,
                summary: DetectSummary, copy_credentials: Credentials | None, copy_rights: dict | None) -> None:
        asset = self.assets[finding.asset_id]
        if uses.negatives.covers(asset["id"], candidate["sha256"], finding.signals.get("candidate_phash")):
            summary.decisions["not mine"] += 1  # marked "not mine / not a copy" of this work: never flagged again
            return
        is_authorized = authorized(candidate["page_url"], candidate["image_url"], uses.of(asset))
        signals = finding.signals
        work_credentials = self._work_credentials(asset)
        credentials = credentials_signal(work_credentials, copy_credentials)
        if credentials is not None:
            signals = dict(signals, content_credentials=credentials)
        rights = rights_signal(asset.get("rights") or {}, copy_rights, work_credentials)
        if rights is not None:
            signals = dict(signals, rights_metadata=rights)
        site = site_signal(candidate.get("site_rights"), candidate.get("headers"))
        if site is not None:
            signals = dict(signals, site_rights=site)
        match_id, created = self.store.record_match(
            asset=asset, candidate=candidate, score=finding.decision.score, decision=finding.decision.decision,
            signals=signals, status="authorized" if is_authorized else "new",
        )
        summary.decisions[finding.decision.decision] += 1
        if created:
            summary.matches_new += 1
            ledger.append(self.store, "match", f"match:{match_id}", {
                "asset_id": asset["id"], "asset_sha256": asset["sha256"], "copy_sha256": candidate["sha256"],
                "page_url": candidate["page_url"], "image_url": candidate["image_url"],
                "score": finding.decision.score, "decision": finding.decision.decision,
                "status": "authorized" if is_authorized else "new",
            })
        else:
            summary.matches_updated += 1
