"""From the workspace config and one target to the Scrapy settings of that target's crawl.

Also owns the target's resumable job folder. Scrapy's JOBDIR (pending requests, seen
fingerprints, spider state) is only consistent after a clean stop, so a marker is written once
the crawl has closed; a job without it (the process was killed) is discarded and the crawl
walks again from the start URLs, cheaply, because the HTTP cache answers for everything
already fetched and the store ignores sightings it already holds.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from crawlers.frontier import FrontierKeys
from crawlers.limits import limits
from detector.config import CrawlSettings, Target
from detector.workspace import Workspace
from detector.workspace.home import hold_lock

_CLEAN_MARKER = "closed.json"


def target_dir(ws: Workspace, target: Target) -> Path:
    return ws.crawl_dir / target.name


def job_dir(ws: Workspace, target: Target) -> Path:
    return target_dir(ws, target) / "job"


def hold_target(ws: Workspace, target: Target):
    """Lock the target's job folder and WARC files for this crawl process (the handle holds it).

    The scan's workspace lock dies with the scan; a crawl process that outlived it must still keep
    a second crawl of the same target from writing the same job folder and WARC file.
    """
    return hold_lock(target_dir(ws, target) / "crawl.lock", f"crawl of target {target.name}",
                     f"Target {target.name!r} is still being crawled by " "{holder}" " (its job folder and WARC "
                     "file are in use). Wait for that crawl to end, or stop it, then run this again.")


def warc_path(ws: Workspace, scan_id: int, target: Target) -> Path:
    return ws.warc_dir / f"scan-{scan_id}-{target.name}.warc.gz"


def user_agent(crawl: CrawlSettings) -> str:
    """The configured User-Agent, with the contact URL added when it does not already hold it."""
    agent = crawl.user_agent.strip()
    if crawl.contact_url and crawl.contact_url not in agent:
        agent = f"{agent} (+{crawl.contact_url})"
    return agent


def robots_obeyed(target: Target, crawl: CrawlSettings) -> bool:
    return crawl.obey_robots and not target.ignore_robots


def scrapy_settings(ws: Workspace, scan_id: int, target: Target, crawl: CrawlSettings) -> dict:
    """Settings for one target's crawler, meant to be applied at "spider" priority."""
    limit = limits(target, crawl)
    return {
        "USER_AGENT": user_agent(crawl),
        "ROBOTSTXT_OBEY": robots_obeyed(target, crawl),
        "DOWNLOAD_DELAY": limit.download_delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": limit.throttle_start,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.concurrency_per_domain),
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "RETRY_TIMES": crawl.retries,
        "REDIRECT_MAX_TIMES": crawl.max_redirects,
        # Nothing worth reading as a page is bigger than the largest image we keep.
        "DOWNLOAD_MAXSIZE": crawl.max_image_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "HTTPCACHE_ENABLED": crawl.http_cache,
        "HTTPCACHE_DIR": str(target_dir(ws, target) / "httpcache"),
        "JOBDIR": str(job_dir(ws, target)),
        "COPYHOUND_HOME": str(ws.home),
        "COPYHOUND_SCAN_ID": scan_id,
        "COPYHOUND_TARGET": target.name,
        "COPYHOUND_ALLOW_PRIVATE": target.allow_private,
        "COPYHOUND_RETRY_BACKOFF": crawl.retry_backoff,
        "COPYHOUND_WARC_FILE": str(warc_path(ws, scan_id, target)),
        "COPYHOUND_PROGRESS_FILE": str(ws.crawl_progress_path(target.name)),
    }


def shared_settings(ws: Workspace, scan: dict, target: Target, crawl: CrawlSettings, redis_url: str, worker: str,
                    lease_seconds: float) -> dict:
    """What changes when this process joins the scan's shared frontier in Redis (crawlers.frontier).

    The queue, the seen-set and the spider's memory live in Redis, not in a job folder; each process
    writes a WARC file of its own; no HTTP cache (the seen-set already fetches a URL once per scan,
    and a cache folder is not for several processes at once). A process takes from the queue only
    as many requests as it may have in flight to a domain: Scrapy would otherwise take a dozen at
    once and leave them waiting for its own delay, while the other processes find the queue empty.
    """
    scan_id = scan["id"]
    keys = FrontierKeys(f"{scan_id}@{scan['started_at']}", target.name)
    handler = "crawlers.politeness.SharedTurnDownloadHandler"
    return {
        "SCHEDULER": "crawlers.frontier.FrontierScheduler",
        "SCHEDULER_QUEUE_CLASS": "crawlers.frontier.FrontierQueue",
        "SCHEDULER_QUEUE_KEY": keys.requests,
        "SCHEDULER_DUPEFILTER_KEY": keys.seen,
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,  # the frontier outlives each process; `forget` ends it
        "REDIS_URL": redis_url,
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        "CONCURRENT_REQUESTS": crawl.concurrency_per_domain,
        "JOBDIR": None,
        "HTTPCACHE_ENABLED": False,
        "COPYHOUND_WORKER": worker,
        "COPYHOUND_FRONTIER_SCAN": keys.scan,
        "COPYHOUND_LEASE_SECONDS": lease_seconds,
        "COPYHOUND_WARC_FILE": str(ws.warc_dir / f"scan-{scan_id}-{target.name}-{worker}.warc.gz"),
        "COPYHOUND_PROGRESS_FILE": None,
    }


def prepare_job(ws: Workspace, scan_id: int, target: Target, resume: bool) -> bool:
    """Make the target's job folder ready; True when a cleanly stopped job of this scan is kept.

    Anything else (no resume asked, another scan's job, a killed crawl's job) starts afresh.
    """
    folder = job_dir(ws, target)
    marker = folder / _CLEAN_MARKER
    keep = False
    if resume and marker.exists():
        keep = _marked_scan(marker) == scan_id
    if not keep and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    ws.crawl_progress_path(target.name).unlink(missing_ok=True)  # an earlier crawl's queue is not this one's
    return keep


def mark_job_closed(ws: Workspace, scan_id: int, target: Target, reason: str) -> None:
    """Record that the job folder was left consistent by a clean close."""
    marker = job_dir(ws, target) / _CLEAN_MARKER
    # Written beside and renamed into place: a marker is whole or absent, never empty.
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(json.dumps({"scan_id": scan_id, "reason": reason}), encoding="utf-8")
    os.replace(partial, marker)


def _marked_scan(marker: Path) -> int | None:
    """The scan a clean-close marker names; None for a marker that cannot be read (not clean)."""
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("scan_id")
    except (OSError, ValueError, AttributeError):
        return None
