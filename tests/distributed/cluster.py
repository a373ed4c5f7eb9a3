"""Helpers for the distributed-detection tests: quick settings, candidates as a crawl leaves them, and
`copyhound worker` subprocesses watched through their logs and heartbeats."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from detector.config.edit import set_value
from detector.distributed import broker
from detector.workspace import open_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

#: Settings that keep the tests quick: a heartbeat a second, a task that vanished with its worker handed out
#: again after a few seconds, and a killed crawler's requests back on the shared queue after 5 s (not 15).
FAST = {"distributed.heartbeat": "1", "distributed.task_time_limit": "3", "distributed.visibility_timeout": "4",
        "distributed.crawler_lease_s": "5"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_site_candidates(ws, store: Store, site: Path, names: list[str] | None = None) -> int:
    """The demo site's images as candidates of a new scan, as a crawl would leave them; returns the scan id."""
    blobs = BlobStore(ws.blobs_dir)
    scan_id = store.start_scan({"crawl": False, "targets": []})
    store.finish_scan(scan_id, "finished", {})
    for path in sorted((site / "img").iterdir()):
        if names is not None and path.name not in names:
            continue
        data = path.read_bytes()
        store.add_candidate({"scan_id": scan_id, "target": "test", "page_url": f"https://blog.example/{path.stem}.html",
                             "image_url": f"https://blog.example/img/{path.name}", "discovered_at": utc_now(),
                             "sha256": blobs.put(data), "byte_size": len(data)})
    return scan_id


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from detector.cli import main; main()", *args]


@dataclass
class Workers:
    home: Path
    logs: Path
    processes: list[subprocess.Popen]

    def start(self, n: int = 1) -> None:
        for _ in range(n):
            log = (self.logs / f"worker-{len(self.processes)}.log").open("w")
            self.processes.append(subprocess.Popen(cli("worker", "--home", str(self.home)), stdout=log,
                                                   stderr=subprocess.STDOUT))
        self.wait_alive(sum(p.poll() is None for p in self.processes))

    def wait_alive(self, n: int, timeout: float = 120) -> None:
        settings = open_workspace(self.home).settings().distributed
        client = broker.connect(settings.redis_url)
        deadline = time.monotonic() + timeout
        while len(broker.live_workers(client, settings)) < n:
            dead = [p.pid for p in self.processes if p.poll() is not None]
            assert time.monotonic() < deadline, f"workers did not start (dead: {dead}); logs: {self.log_text()}"
            time.sleep(0.1)

    def unfinished(self, i: int) -> set[str]:
        """Ids of the tasks worker `i`'s log shows received and not (yet) finished."""
        text = (self.logs / f"worker-{i}.log").read_text()
        received = set(re.findall(r"\[([0-9a-f-]{36})\] received", text))
        return received - set(re.findall(r"\[([0-9a-f-]{36})\] (?:succeeded|failed|retry)", text))

    def busy(self) -> int | None:
        """The index of a live worker in the middle of a task, if any."""
        return next((i for i, p in enumerate(self.processes) if p.poll() is None and self.unfinished(i)), None)

    def succeeded_elsewhere(self, i: int) -> set[str]:
        """Ids of tasks that a worker other than `i` finished."""
        return {task for j in range(len(self.processes)) if j != i
                for task in re.findall(r"\[([0-9a-f-]{36})\] succeeded", (self.logs / f"worker-{j}.log").read_text())}

    def log_text(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.logs.glob("worker-*.log")))

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    """A copyhound command on `home`, in a child process, to its end."""
    return subprocess.run(cli(*args, "--home", str(home)), check=False, capture_output=True, text=True, timeout=600)


def configure(home: Path, redis_url: str) -> None:
    """Point the workspace at the session's Redis, with the quick settings."""
    path = open_workspace(home).config_path
    for key, value in {"distributed.redis_url": redis_url, **FAST}.items():
        set_value(path, key, value)


class FirstDelivery:
    """A bound Celery task as `detect_content` sees it on its first delivery (retries so far, the limit)."""

    class request:
        retries = 0

    max_retries = 2
