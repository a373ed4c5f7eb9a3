"""The loop of `copyhound watch bluesky`: the next batch is read, stored and crawled while this one is detected.

Reading the relay and crawling a batch's images are mostly waiting (on the network, on the crawl process
starting); detection is the cores' work. So a fetching thread reads a batch from the saved cursor, stores its
leads and the cursor with a new scan (`bluesky.commit_batch`, one transaction) and crawls it, while the main
thread detects the batch before it and finishes that scan. One batch is crawled ahead, never more: when
detection falls behind, the fetching thread waits with the websocket closed, so the relay keeps the backlog,
the cursor lags and memory stays bounded, as before.

The fetching thread's SQLite work and detection's forks never overlap (`storing`): a worker forked while another
thread is inside SQLite inherits SQLite's locks held by a thread it does not have, and can hang on its first query
(the likely cause of a 30-minute replay whose detection stalled after 75 batches, once detection had become fast
enough to fork while the next batch was being stored; two 30-minute replays with this guard, 465 and 472 batches,
did not stall).

Killed anywhere, at most two of the watcher's scans are unfinished (one being detected, one being crawled); a
restart finishes them, oldest first, as `copyhound scan --resume` would, then reads on from the saved cursor:
no post is lost, none is analysed twice. The workspace's scan lock is held while a batch is detected and
finished, not while the next one is crawled.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from detector import config
from detector.config import Settings
from detector.crawl import crawl
from detector.detect import KeptDetector
from detector.embedders import Embedder
from detector.scan import Crawled, run_scan
from detector.sources.bluesky import SOURCE, Batch, commit_batch, saved_cursor
from detector.workspace import Workspace
from detector.workspace.store import Store, open_store

#: Scans looked at, newest first, for the unfinished ones a killed watcher left.
_RECENT_SCANS = 50
_UNFINISHED = ("running", "interrupted", "failed")

#: Held while the fetching thread uses SQLite; every fork of this process waits for it (taken before a fork,
#: released after, on both sides).
_IN_SQLITE = threading.Lock()
os.register_at_fork(before=_IN_SQLITE.acquire, after_in_parent=_IN_SQLITE.release,
                    after_in_child=_IN_SQLITE.release)


@contextmanager
def storing() -> Iterator[None]:
    """The fetching thread's SQLite work: no fork of this process happens while it runs."""
    with _IN_SQLITE:
        yield


@dataclass
class Fetched:
    """One batch read from the relay: its scan (None when nothing in it was new) and that scan's crawl."""

    batch: Batch
    scan_id: int | None
    crawled: Crawled | None


def unfinished_scans(store: Store) -> list[dict]:
    """The watcher's scans a killed watcher left unfinished, oldest first."""
    scans = [scan for scan in store.scans(limit=_RECENT_SCANS)
             if scan["status"] in _UNFINISHED and (scan["options"] or {}).get("watch") == SOURCE]
    return scans[::-1]


def watch(ws: Workspace, store: Store, settings: Settings, embedder: Embedder | None,
          read: Callable[[int | None], Batch], allow_private: bool, cdn_delay: float, stop_when_idle: bool,
          report: Callable[[dict], None], note: Callable[[str], None]) -> None:
    """Follow the relay: `read(cursor)` gives the next batch; each scan's summary goes to `report`, what a batch
    skipped to `note`. Returns when the relay went quiet and `stop_when_idle`; raises what reading, crawling or
    detecting raised (a SourceError when the relay cannot be read)."""
    kept = KeptDetector(ws, store, settings, embedder)
    for scan in unfinished_scans(store):
        report(run_scan(ws, store, settings, embedder, [], resume=True, scan_id=scan["id"], detector=kept.now()))
    handover: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    fetcher = threading.Thread(target=_fetch, name="watch-fetch", daemon=True,
                               args=(ws, read, allow_private, cdn_delay, stop_when_idle, handover, stop))
    fetcher.start()
    try:
        while True:
            fetched = handover.get()
            if isinstance(fetched, BaseException):
                raise fetched
            if fetched.batch.detail():
                note(fetched.batch.detail())
            if fetched.scan_id is not None:
                report(run_scan(ws, store, settings, embedder, [], resume=True, scan_id=fetched.scan_id,
                                crawled=fetched.crawled, detector=kept.now()))
            if fetched.batch.idle and stop_when_idle:
                return
    finally:
        stop.set()


def _fetch(ws: Workspace, read: Callable[[int | None], Batch], allow_private: bool, cdn_delay: float,
           stop_when_idle: bool, handover: queue.Queue, stop: threading.Event) -> None:
    """The fetching thread: read, store and crawl batches, and hand each over (or what went wrong, once)."""
    with storing():
        store = open_store(ws)  # its own connection: the main thread's is busy recording detections
    try:
        while not stop.is_set():
            with storing():
                cursor = saved_cursor(store)
            batch = read(cursor)
            with storing():
                scan_id = commit_batch(store, batch, allow_private, cdn_delay)
            crawled = _crawl(ws, store, scan_id) if scan_id is not None else None
            if not _hand_over(handover, Fetched(batch, scan_id, crawled), stop) or (batch.idle and stop_when_idle):
                return
    except BaseException as e:  # noqa: BLE001 (the main thread raises it)
        _hand_over(handover, e, stop)
    finally:
        with storing():
            store.close()


def _crawl(ws: Workspace, store: Store, scan_id: int) -> Crawled:
    with storing():
        targets = list(config.from_dict({"targets": store.scan(scan_id)["options"]["targets"]}).targets)
    clock = time.perf_counter()
    summary = crawl(ws.home, scan_id, targets)
    return Crawled(summary, time.perf_counter() - clock)


def _hand_over(handover: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Give `item` to the main thread and wait until it takes it (False when it stopped first): the next batch is
    read only then, so one batch is crawled ahead of the one detected, never more."""
    handover.put(item)  # never blocks: the one before was taken
    while not stop.wait(0.05):
        if handover.empty():
            return True
    return False
