"""The scan's side of distributed detection: send each pending content to the workers, then wait until
the store shows every candidate detected.

Nothing here holds state the store does not: a scheduler killed at any point is replaced by
`copyhound scan --resume --distributed`, which sends what is still 'new' again (a content sent twice is
recorded once). The wait watches three things: the store (progress), the workers' heartbeats (none
alive for three heartbeats: stop with one line naming `copyhound worker`), and the queue (empty, nothing
in flight, candidates still 'new': their tasks failed or were lost with Redis; they are sent again, a few
rounds at most).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from detector.config import Settings
from detector.distributed import broker
from detector.distributed.app import TASK, WARC_TASK, make_app
from detector.errors import QueueUnavailable
from detector.suggest import command
from detector.workspace.store import Store

#: Seconds between looks at the store while waiting.
POLL = 0.5
#: Times the contents of a stalled queue are sent again before the scan gives up on them.
RESEND_ROUNDS = 3


class Dispatcher:
    """Sends a workspace's pending candidates to its queue, one task per content with its sightings' ids."""

    def __init__(self, home: Path, store: Store, settings: Settings):
        self.home, self.store, self.settings = home, store, settings.distributed
        if not self.settings.redis_url:
            raise QueueUnavailable("scan --distributed needs a Redis: run `copyhound init --redis redis://HOST:PORT/DB "
                                   f"--home {home}` (or set distributed.redis_url in config.toml).")
        self.redis = broker.connect(self.settings.redis_url)
        self.app = make_app(self.settings)
        self.through = 0  # every pending candidate up to this id has been sent
        self.sent = 0     # candidates sent by this scheduler

    def send_new(self) -> int:
        """Send the candidates that became pending since the last call; returns how many."""
        rows = self.store.pending_candidates(self.through)
        self._send(rows)
        if rows:
            self.through = rows[-1]["id"]
            self.sent += len(rows)
        return len(rows)

    def _send(self, rows: list[dict]) -> None:
        by_content: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_content[row["sha256"]].append(row)
        with self.app.producer_or_acquire() as producer:
            for sha256, sightings in by_content.items():
                self.app.send_task(TASK, args=[sha256, sightings[0]["image_url"], [c["id"] for c in sightings]],
                                   queue=self.settings.queue, producer=producer)

    def read_warcs(self, scan_id: int, files: list[Path], source: str,
                   progress: Callable[[int, int], None] = lambda done, total: None) -> dict:
        """Have the workers read `files` into scan `scan_id`, one task per file, sending what they capture to
        detection as it comes; returns their summaries added up (the shape `crawl` returns). `source` is the
        archive reader's source name, whose runs record each file read."""
        paths = [str(Path(f).resolve()) for f in files]
        with self.app.producer_or_acquire() as producer:
            for path in paths:
                self.app.send_task(WARC_TASK, args=[scan_id, path], queue=self.settings.queue, producer=producer)
        alone_since = None
        while True:
            self.send_new()
            runs = self.store.scan_source_runs(scan_id, source)
            done = {f for run in runs for f in (run["cursor"] or {}).get("files", [])} & set(paths)
            progress(len(done), len(paths))
            if len(done) == len(paths):
                return _added_up(runs, paths)
            if broker.live_workers(self.redis, self.settings):
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > broker.MISSED_BEATS * self.settings.heartbeat:
                raise QueueUnavailable(
                    f"No worker is alive on {self.settings.redis_url} to read the WARC files ({len(paths) - len(done)} "
                    f"left). Start one with `{command('worker', '--home', self.home)}`, then run "
                    f"`{command('scan', '--resume', '--distributed', '--home', self.home)}`.")
            time.sleep(POLL)

    def wait(self, progress: Callable[[int, int], None] = lambda done, total: None) -> None:
        """Return once no candidate sent is still 'new'; `progress(done, total)` as they are recorded."""
        heartbeat = self.settings.heartbeat
        alone_since = stalled_since = None
        resent = 0
        while True:
            pending = self.store.count_pending(self.through)
            progress(self.sent - pending, self.sent)
            if pending == 0:
                return
            now = time.monotonic()
            if broker.live_workers(self.redis, self.settings):
                alone_since = None
            elif alone_since is None:
                alone_since = now
            elif now - alone_since > broker.MISSED_BEATS * heartbeat:
                raise QueueUnavailable(
                    f"No detection worker is alive on {self.settings.redis_url} (queue {self.settings.queue}); "
                    f"{pending} candidates stay queued. Start one with `{command('worker', '--home', self.home)}`, then "
                    f"run `{command('scan', '--resume', '--distributed', '--home', self.home)}`.")
            depth = broker.depth(self.redis, self.settings)
            if depth["waiting"] or depth["in_flight"]:
                stalled_since = None
            elif stalled_since is None:
                stalled_since = now
            elif now - stalled_since > 2 * heartbeat:
                if resent == RESEND_ROUNDS:
                    raise QueueUnavailable(
                        f"{pending} candidates were sent to the workers {RESEND_ROUNDS + 1} times and are still not "
                        "detected; the workers' logs say why. They stay 'new': `copyhound scan --resume` detects "
                        "them in this process.")
                self._send([c for c in self.store.pending_candidates() if c["id"] <= self.through])
                resent, stalled_since = resent + 1, None
            time.sleep(POLL)


def _added_up(runs: list[dict], paths: list[str]) -> dict:
    """One summary of the files' runs (the newest run of each file); a file no worker could open is an error."""
    total = {"pages_fetched": 0, "images_fetched": 0, "from_cache": 0, "candidates_added": 0, "refusals": {},
             "caps_hit": {}, "errors": [], "complete": True, "targets": {}, "files_read_by_workers": len(paths)}
    newest = {f: run for run in runs for f in (run["cursor"] or {}).get("files", [])}
    for path in paths:
        run = newest[path]
        if run["status"] == "failed":
            total["errors"].append(run["detail"])
            total["complete"] = False
            continue
        summary = run["cursor"].get("summary") or {}
        for key in ("pages_fetched", "images_fetched", "candidates_added"):
            total[key] += summary.get(key, 0)
        for reason, n in (summary.get("refusals") or {}).items():
            total["refusals"][reason] = total["refusals"].get(reason, 0) + n
    return total
