"""What runs in a worker: one Detector per process, loaded on its first task and again whenever the index
files change (works registered or removed), and a heartbeat in Redis while the worker runs.

`copyhound worker` calls `run_worker`; Celery then forks the pool's processes (prefork) or runs tasks in
its own (solo). Each process opens its own store connection and detector, after the fork.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from pathlib import Path

import redis
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from detector.config import DistributedSettings
from detector.detect import Analysis, Detector, DetectSummary, KeptDetector, LicensedUses
from detector.distributed import broker
from detector.distributed.app import make_app
from detector.embedders import load_embedder
from detector.workspace import Workspace, open_workspace
from detector.workspace.store import Store, open_store, utc_now

log = logging.getLogger(__name__)


class _Process:
    """This process's workspace, store and detector (tasks of one process run one at a time)."""

    home: Path | None = None
    ws: Workspace | None = None
    store: Store | None = None
    kept: KeptDetector | None = None

    @classmethod
    def detector_now(cls) -> Detector:
        """The detector, loaded again first when the index files changed since it was loaded."""
        if cls.kept is None:
            cls.ws = open_workspace(cls.home)
            cls.store = open_store(cls.ws)
            settings = cls.ws.settings()
            spec = settings.embedder
            cls.kept = KeptDetector(cls.ws, cls.store, settings, load_embedder(spec.spec, spec.batch_size, spec.threads))
        return cls.kept.now()


def detect_content(task, sha256: str, name: str, candidate_ids: list[int]) -> int:
    """Detect one content and record it for those of its sightings still 'new'; returns how many were recorded.

    Each delivery is counted in the store first, so a content that kills its worker every time (a decoder
    crash, the kernel's out-of-memory killer) is parked as 'failed' after distributed.max_deliveries
    instead of going round the queue forever."""
    detector = _Process.detector_now()
    if not detector.store.new_candidates(candidate_ids):
        return 0  # delivered again after it was recorded: nothing to compute
    deliveries = detector.store.count_delivery(candidate_ids)
    limit = detector.settings.distributed.max_deliveries
    if deliveries > limit:
        return park(detector.store, candidate_ids, deliveries - 1, limit)
    try:
        # a content analysed as a non-copy before, under this detector's key, is not decoded again (detector.reuse)
        analysis = detector.reusable([sha256]).get(sha256) or detector.analyse_content(sha256, name)
    except SoftTimeLimitExceeded:
        limit = detector.settings.distributed.task_time_limit
        detail = f"detection took longer than {limit} s (distributed.task_time_limit)"
        analysis = Analysis([], ("detect_timeout", detail), Counter(), None)
    except Exception as e:
        if task.request.retries < task.max_retries:
            raise task.retry(exc=e, countdown=1) from None
        log.exception("detecting %s failed", sha256)
        analysis = Analysis([], ("detect_error", f"{type(e).__name__}: {e}"), Counter(), None)
    try:
        return detector.record(candidate_ids, analysis, LicensedUses(detector.store), DetectSummary())
    except Exception as e:  # a write that met a busy database or lost a race: nothing was kept, try again
        if task.request.retries < task.max_retries:
            raise task.retry(exc=e, countdown=1) from None
        raise


def read_warc(task, scan_id: int, path: str) -> int:
    """Read one WARC or WAT file into scan `scan_id`'s candidates (crawlers.archive, as `scan --warc` does in
    one process); returns the candidates added. The file must be at `path` on this machine too. A file read
    already for the scan (the task delivered again) is not read twice; one this worker cannot open is a
    failed run naming the file and the worker, and the scan goes on with the others."""
    from detector.crawl import CrawlFailed, read_archives
    from detector.workspace.store.sources import ARCHIVE_SOURCE

    detector = _Process.detector_now()
    store = detector.store
    if any(path in (run["cursor"] or {}).get("files", []) for run in store.scan_source_runs(scan_id, ARCHIVE_SOURCE)):
        return 0
    problem = None if Path(path).is_file() else ("no such file; every worker needs the WARC files at the same path "
                                                 "(a shared mount)")
    if problem is None:
        try:
            return read_archives(_Process.home, scan_id, [Path(path)])["candidates_added"]
        except CrawlFailed as e:  # the reader's process died: say so once, the scan goes on with the other files
            problem = str(e)[:2000]
    run_id = store.start_source_run(ARCHIVE_SOURCE, "warc", scan_id)
    store.finish_source_run(run_id, "failed", leads=0, budget_used=0, cursor={"files": [path]},
                            detail=f"{path} on worker {socket.gethostname()}: {problem}")
    return 0


def park(store: Store, candidate_ids: list[int], tries: int, limit: int) -> int:
    """Mark the candidates still 'new' as 'failed', saying why; returns how many."""
    detail = (f"detection was started {tries} times (distributed.max_deliveries = {limit}) and never finished: "
              "its worker died each time (killed for memory, or a crash in a decoder); the worker logs say more")
    return sum(store.claim_candidate(c, "failed", refusal_reason="detect_failed", refusal_detail=detail,
                                     detected_at=utc_now()) for c in candidate_ids)


class _Heartbeat(threading.Thread):
    """Rewrites this worker's heartbeat key until the worker shuts down."""

    def __init__(self, settings: DistributedSettings, info: dict):
        super().__init__(name="copyhound-heartbeat", daemon=True)
        self.settings, self.info, self.stopped = settings, info, threading.Event()

    def run(self) -> None:
        client = broker.connect(self.settings.redis_url)
        while not self.stopped.is_set():
            try:
                broker.beat(client, self.settings, self.info)
            except redis.RedisError as e:  # Redis away for a moment: the next beat tries again
                log.warning("heartbeat not sent: %s", e)
            self.stopped.wait(self.settings.heartbeat)
        broker.forget(client, self.settings, self.info["hostname"])


def run_worker(home: Path, settings: DistributedSettings, pool: str, concurrency: int, loglevel: str = "INFO") -> None:
    """Run a Celery worker on the workspace's queue until it is stopped (SIGTERM: finish the task, then stop)."""
    _Process.home = home
    hostname = f"copyhound-{os.getpid()}@{socket.gethostname()}"
    info = {"hostname": hostname, "pid": os.getpid(), "pool": pool, "concurrency": concurrency,
            "started_at": utc_now()}
    heartbeat = _Heartbeat(settings, info)

    def started(**_):
        heartbeat.start()

    def stopping(**_):
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)

    # Load the indexes before taking the first task, so a worker that says it is alive is ready to detect: here
    # for the solo pool; in each child of the prefork pool (after the fork: a store connection never crosses one).
    if pool == "solo":
        _Process.detector_now()
    else:
        worker_process_init.connect(lambda **_: _Process.detector_now(), weak=False)
    worker_ready.connect(started, weak=False)
    worker_shutdown.connect(stopping, weak=False)
    app = make_app(settings, detect_content, read_warc)
    app.worker_main(["worker", f"--pool={pool}", f"--concurrency={concurrency}", f"--queues={settings.queue}",
                     f"--hostname={hostname}", f"--loglevel={loglevel}", "--without-mingle", "--without-gossip"])
