"""Run a scan's crawl in a process of its own and collect its summary.

The crawl is `python -m crawlers` in a child process: Twisted's reactor runs once per process,
and a child can be killed (or die) without taking the caller down. The child commits every
capture as it goes, so whatever it captured is in the workspace whatever happens to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from detector.config import Target
from detector.errors import CopyhoundError
from detector.workspace import Workspace

_LOG_TAIL_LINES = 25
_GRACE_SECONDS = 60


class CrawlFailed(CopyhoundError):
    """The crawl process ended without writing its summary."""


def crawl_command(
    home: Path, scan_id: int, targets: list[Target], *, resume: bool, summary_out: Path, workdir: Path
) -> list[str]:
    """The command line of the crawl process; writes the targets to `workdir/targets.json`.

    The targets go through a file because a long --urls list would overflow a command line.
    """
    targets_file = Path(workdir) / "targets.json"
    targets_file.write_text(json.dumps([asdict(t) for t in targets]), encoding="utf-8")
    command = [
        sys.executable, "-m", "crawlers",
        "--home", str(home),
        "--scan-id", str(scan_id),
        "--targets-file", str(targets_file),
        "--summary-out", str(summary_out),
        "--parent-pid", str(os.getpid()),  # the crawl stops when this process dies
    ]
    return command + (["--resume"] if resume else [])


def queued(ws: Workspace, targets: list[Target]) -> int:
    """Requests the running crawl still has queued, over every target, as its processes last reported
    (targets not started yet, or that wrote nothing, count 0)."""
    total = 0
    for target in targets:
        try:
            state = json.loads(ws.crawl_progress_path(target.name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and isinstance(state.get("queued"), int) and not state.get("finished"):
            total += state["queued"]
    return total


def log_path(home: Path, scan_id: int) -> Path:
    """Where the crawl process of a scan writes its log (appended to by a resumed crawl)."""
    return Workspace(Path(home)).crawl_dir / f"scan-{scan_id}.log"


def crawl(home: Path, scan_id: int, targets: list[Target], resume: bool = False,
          tick: Callable[[], None] = lambda: None, tick_seconds: float = 1.0) -> dict:
    """Crawl `targets` for scan `scan_id` in a child process; return the crawl summary.

    Captures land in the workspace as they happen (candidates, crawl_events, blobs, WARC files).
    The summary (see `crawlers.summary.combine`) holds pages_fetched, images_fetched,
    from_cache, candidates_added, refusals by reason, caps_hit per target, errors, complete
    and per-target details. `resume=True` continues this scan's interrupted crawl. `tick` is
    called every `tick_seconds` while the crawl runs (to show progress from what it has captured).
    Raises CrawlFailed, with the end of the crawl's log, when the process dies without a summary.
    """
    home = Path(home)
    log = log_path(home, scan_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="copyhound-crawl-") as workdir:
        summary_out = Path(workdir) / "summary.json"
        command = crawl_command(home, scan_id, targets, resume=resume, summary_out=summary_out, workdir=Path(workdir))
        with open(log, "ab") as log_handle:
            child = subprocess.Popen(command, stdout=log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                returncode = _wait(child, tick, tick_seconds)
            except KeyboardInterrupt:
                # A Ctrl-C reaches the child too (same process group) and it stops cleanly,
                # saving its job for --resume; give it that time before giving up on it.
                try:
                    child.wait(timeout=_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                raise
        if returncode == 0 and summary_out.exists():
            return json.loads(summary_out.read_text(encoding="utf-8"))
    tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-_LOG_TAIL_LINES:])
    ended = f"was killed by signal {-returncode}" if returncode < 0 else f"ended with exit code {returncode}"
    error = CrawlFailed(
        f"The crawl of scan {scan_id} {ended} and no summary. "
        f"What it captured so far is kept; run the scan again with resume to continue. "
        f"Last lines of its log ({log}):\n{tail}"
    )
    error.exit_code = returncode if returncode in (2, 3) else 1
    raise error


def _wait(child: subprocess.Popen, tick: Callable[[], None], seconds: float) -> int:
    while True:
        try:
            return child.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            tick()
