"""One scan: crawl the targets, then detect on what is new, under the workspace lock.

Safe under cron: a second scan while one runs is refused at once (WorkspaceLocked); running the
same scan again adds sightings, never duplicate matches; a scan that was killed is continued
with `resume=True` (the crawl from its Scrapy job state, detection from candidates still 'new').
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from detector import config
from detector.collectability.assess import assess_matches
from detector.config import Settings, Target
from detector.crawl import check_archives, crawl_shared, queued, read_archives
from detector.crawl import crawl as crawl_targets
from detector.detect import Detector, shortlist_sources
from detector.distributed.scheduler import Dispatcher
from detector.embedders import Embedder
from detector.enforcement.holds import hold_matches
from detector.errors import DiskFull, UsageError
from detector.followup import follow_up
from detector.licensing.offers import expire_due
from detector.parallel import default_workers
from detector.screenshots import after_scan
from detector.sources import Source
from detector.sources.run import Gathered, adopt_lead_pages, gather
from detector.sources.site import TargetSource
from detector.workspace import Workspace
from detector.workspace.store import Store, is_disk_full, utc_now
from detector.workspace.store.sources import ARCHIVE_SOURCE


@dataclass(frozen=True)
class Crawled:
    """A scan's crawl that already ran: its summary (the shape `detector.crawl.crawl` returns) and seconds."""

    summary: dict
    seconds: float


def resumable_scan(store: Store) -> dict | None:
    for scan in store.scans(limit=5):
        if scan["status"] in ("running", "interrupted", "failed"):
            return scan
        if scan["status"] == "finished":
            return None
    return None


def run_scan(ws: Workspace, store: Store, settings: Settings, embedder: Embedder | None,
             targets: list[Target], resume: bool = False, crawl: bool = True,
             progress: Callable[..., None] = lambda stage, n, total, detail="": None,
             workers: int | None = None, distributed: bool = False, crawlers: int = 1,
             sources: Sequence[Source] = (), warcs: Sequence[Path] = (), scan_id: int | None = None,
             crawled: Crawled | None = None, detector: Detector | None = None, reanalyse: bool = False) -> dict:
    """Crawl and detect; returns the stored summary (pages, images, matches, errors, seconds per stage).

    `progress(stage, done, total, detail)` is called as the scan goes: during the crawl with the images
    captured so far (total None) and a detail line of pages, images, the crawl's queue, refusals and rate; during detection
    with the images analysed of those pending. `workers`: detection processes (default:
    `detect.workers`, where 0 means one per core). `distributed`: detect in `copyhound worker` processes
    instead, sending candidates to them as the crawl captures them (detector.distributed), and crawl in
    `crawlers` processes sharing the scan's frontier in Redis, which `copyhound crawler` processes on
    other machines may join. `sources` (detector.sources) run first; their new leads are crawled with the
    targets, and each candidate keeps the lead that brought it. `warcs`: read these WARC files instead of
    crawling (offline: nothing is fetched, no screenshots are taken). `scan_id` (with `resume`): continue this
    scan, not the newest unfinished one; `crawled`: its crawl already ran (the watcher crawls a batch while the
    one before is detected). `detector`: a loaded detector to use (a long-lived process keeps one). `reanalyse`:
    forget the non-copy analyses kept from earlier scans (detector.reuse) and analyse every content afresh.
    """
    with ws.lock("scan"):
        dispatcher = None
        if distributed:  # refused before a scan is started when Redis does not answer
            dispatcher = Dispatcher(ws.home, store, settings)
        previous = (store.scan(scan_id) if scan_id is not None else resumable_scan(store)) if resume else None
        gathered = Gathered()
        if previous is not None:
            scan_id, crawl = previous["id"], previous["options"]["crawl"]
            targets = list(config.from_dict({"targets": previous["options"]["targets"]}).targets)
        elif warcs:
            crawl = False
            scan_id = store.start_scan({"targets": [], "crawl": False, "warcs": [str(p) for p in warcs]})
        elif crawl and not targets and not sources:
            raise UsageError(
                "Nothing to crawl: add [[targets]] or [[sources]] to config.toml, or pass --site URL, --urls FILE "
                "or --source NAME (or --no-crawl to only detect on candidates already collected)."
            )
        else:
            # Sites and URL lists are sources too: every crawled start URL is a stored lead.
            if crawl:
                gathered = gather(store, [TargetSource(t) for t in targets] + list(sources))
            targets = gathered.targets
            crawl = crawl and bool(targets)
            scan_id = store.start_scan({"targets": [_target_dict(t) for t in targets], "crawl": crawl})
            store.attach_source_runs(gathered.run_ids, scan_id)
        seconds: dict[str, float] = {}
        summary: dict = {"scan_id": scan_id, "resumed": previous is not None}
        if gathered.summary:
            summary["sources"] = gathered.summary
        status = "finished"
        try:
            since = utc_now()
            if reanalyse:  # before the crawl: distributed workers detect what it captures as it goes
                store.forget_non_copies()
            if warcs and previous is None:
                clock = time.perf_counter()
                progress("crawl", 0, None, "reading WARC files")
                if dispatcher is None:
                    summary["crawl"] = read_archives(ws.home, scan_id, list(warcs))
                else:  # one task per file on the workers, whose captures go to detection as they come
                    check_archives(warcs)
                    summary["crawl"] = dispatcher.read_warcs(scan_id, list(warcs), ARCHIVE_SOURCE, lambda done, total:
                                                             progress("crawl", done, total, "WARC files read"))
                seconds["read_warcs"] = time.perf_counter() - clock
            if crawl and crawled is not None:
                summary["crawl"], seconds["crawl"] = crawled.summary, crawled.seconds
            elif crawl:
                clock = time.perf_counter()
                progress("crawl", 0, None)

                def tick() -> None:
                    _crawl_progress(ws, store, scan_id, targets, clock, progress)
                    if dispatcher is not None:
                        dispatcher.send_new()

                if dispatcher is None:
                    summary["crawl"] = crawl_targets(ws.home, scan_id, targets, resume=previous is not None, tick=tick)
                else:
                    summary["crawl"] = crawl_shared(ws.home, scan_id, targets, settings.distributed.redis_url,
                                                    processes=crawlers, tick=tick)
                seconds["crawl"] = time.perf_counter() - clock
            if crawl:
                store.link_leads(scan_id)
                adopt_lead_pages(store, scan_id)
                _stop_if_disk_full(ws, scan_id, summary["crawl"])
            clock = time.perf_counter()
            if dispatcher is None:
                summary["detect"] = _detect_here(ws, store, settings, embedder, progress, workers, detector,
                                                 reanalyse)
            else:
                summary["detect"] = _detect_distributed(dispatcher, store, embedder, since, progress)
            seconds["detect"] = time.perf_counter() - clock
            summary["followup"] = follow_up(store, scan_id, settings.enforcement.unreachable_limit).as_dict()
            # the licence check before any claim, and the flood check: what they hold, enforcement leaves alone
            summary["held"] = hold_matches(ws, store, settings, datetime.now(UTC)).as_dict()
            summary["embedder"] = embedder.id if embedder else "none"
            if settings.report.screenshots != "none" and not warcs:
                clock = time.perf_counter()
                summary["screenshots"] = after_scan(ws.home, store, settings, scan_id, targets)
                seconds["screenshots"] = time.perf_counter() - clock
            summary["errors"] = _errors(summary)
            summary["offers_expired"] = len(expire_due(store))
            # after the follow-up and the screenshots, whose presence and placement it scores
            clock = time.perf_counter()
            summary["collectability_assessed"] = len(assess_matches(
                ws, store, settings, store.matches_touched_by_scan(scan_id), datetime.now(UTC)))
            seconds["collectability"] = time.perf_counter() - clock
        except BaseException:
            status = "interrupted"
            raise
        finally:
            summary["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
            try:
                store.finish_scan(scan_id, status, summary)
            except Exception as e:
                if not is_disk_full(e):
                    raise
                # The scan stays 'running', which --resume continues.
                raise _disk_full(ws, scan_id, str(e)) from None
    return summary


def _detect_here(ws: Workspace, store: Store, settings: Settings, embedder: Embedder | None,
                 progress: Callable[..., None], workers: int | None, detector: Detector | None,
                 reanalyse: bool = False) -> dict:
    """Detect in this process (and processes forked from it)."""
    detector = detector or Detector(ws, store, settings, embedder, progress=progress)
    pending = store.count_pending()
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        progress("detect", done, pending)

    workers = settings.detect.workers if workers is None else workers
    return detector.run(progress=advance, workers=workers or default_workers(), reanalyse=reanalyse).as_dict()


def _detect_distributed(dispatcher: Dispatcher, store: Store, embedder: Embedder | None, since: str,
                        progress: Callable[..., None]) -> dict:
    """Detect in the workers: send what is pending, wait for the store to show it done, and sum up what they
    recorded from the store (seconds per stage are the workers'; they are not collected)."""
    dispatcher.send_new()
    dispatcher.wait(lambda done, total: progress("detect", done, total))
    return {**store.detection_outcome(since, dispatcher.through), "shortlist_sources": shortlist_sources(embedder),
            "seconds": {}, "distributed": {"candidates_sent": dispatcher.sent}}


def _crawl_progress(ws: Workspace, store: Store, scan_id: int, targets: list[Target], started: float,
                    progress: Callable[..., None]) -> None:
    """Report the crawl from what it has written so far (it runs in another process): captures and
    refusals from the workspace, the queue from the crawl's own progress files."""
    seen = store.crawl_progress(scan_id)
    elapsed = max(time.perf_counter() - started, 1e-6)
    progress("crawl", seen["images"], None, f"{seen['pages']} pages, {seen['images']} images, "
                                            f"{queued(ws, targets)} queued, {seen['refusals']} refused, "
                                            f"{seen['images'] / elapsed:.1f} images/s")


def _disk_full(ws: Workspace, scan_id: int, what: str) -> DiskFull:
    return DiskFull(f"The disk holding {ws.home} is full ({what}); scan {scan_id} stopped and keeps what it "
                    "captured. Free space, then run `copyhound scan --resume`.")


def _stop_if_disk_full(ws: Workspace, scan_id: int, crawl: dict) -> None:
    """A crawl that stopped because the disk filled up ends the scan as interrupted, to be resumed."""
    full = sorted(name for name, t in crawl.get("targets", {}).items() if t.get("finish_reason") == "disk_full")
    if full:
        raise _disk_full(ws, scan_id, f"the crawl of {', '.join(full)} could not write")


#: Refusals that are the crawl being polite or staying in bounds, not something going wrong.
POLICY_REASONS = frozenset({"robots_disallowed", "robots_ignored", "offsite", "cap_reached"})


def _errors(summary: dict) -> dict[str, int]:
    """Errors by kind: the crawl's failed fetches and refusals (policy excepted, and the 404s that
    show a known copy was taken down), and images detection could not decode. A non-empty result
    makes `copyhound scan` exit with 1."""
    crawl = summary.get("crawl", {})
    errors: dict[str, int] = {}
    for source in (crawl.get("refusals", {}), summary["detect"]["refused"]):
        for reason, count in source.items():
            if reason not in POLICY_REASONS:
                errors[reason] = errors.get(reason, 0) + count
    for reason, count in summary.get("followup", {}).get("explained", {}).items():
        errors[reason] = errors.get(reason, 0) - count
    errors = {reason: count for reason, count in errors.items() if count > 0}
    if crawl.get("errors"):
        errors["crawl_error"] = len(crawl["errors"])
    return errors


def _target_dict(target: Target) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(target).items()}
