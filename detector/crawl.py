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

from detector.config import Target, from_dict
from detector.errors import CopyhoundError, UsageError
from detector.workspace import Workspace
from detector.workspace.store import Store

_LOG_TAIL_LINES = 25
_COUNTS = ("pages_fetched", "images_fetched", "from_cache", "candidates_added")
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
                _stop(child)
                raise
        if returncode == 0 and summary_out.exists():
            return json.loads(summary_out.read_text(encoding="utf-8"))
    error = CrawlFailed(
        f"The crawl of scan {scan_id} {_ended(returncode)} and no summary. "
        f"What it captured so far is kept; run the scan again with resume to continue. "
        f"Last lines of its log ({log}):\n{_tail(log)}"
    )
    error.exit_code = returncode if returncode in (2, 3) else 1
    raise error


def crawl_shared(home: Path, scan_id: int, targets: list[Target], redis_url: str, processes: int = 2,
                 tick: Callable[[], None] = lambda: None, tick_seconds: float = 1.0) -> dict:
    """Crawl `targets` for scan `scan_id` in `processes` child processes sharing one frontier in Redis.

    Crawler processes on other machines (`copyhound crawler`) may join the same frontier; each
    process stops once the frontier is empty and no live process holds work in flight (see
    docs/crawling.md, "Crawlers on several machines"). The first process to start seeds the
    frontier with the start URLs; a frontier left by an interrupted run is continued. Returns the
    summary of `crawl`, added up over these processes (work done by other machines is in the
    store, not in these counts); a process that died is named in `errors`, its unfinished requests
    having gone back to the frontier. Raises CrawlFailed when no process wrote a summary.
    """
    home = Path(home)
    with tempfile.TemporaryDirectory(prefix="copyhound-crawl-") as workdir:
        children = []
        for number in range(1, processes + 1):
            summary_out = Path(workdir) / f"summary-{number}.json"
            command = crawl_command(home, scan_id, targets, resume=False, summary_out=summary_out, workdir=Path(workdir))
            log = log_path(home, scan_id).with_suffix(f".crawler-{number}.log")
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as log_handle:
                child = subprocess.Popen(command + ["--redis-url", redis_url], stdout=log_handle,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            children.append((child, summary_out, log))
        try:
            returncodes = [_wait(child, tick, tick_seconds) for child, _, _ in children]
        except KeyboardInterrupt:
            for child, _, _ in children:
                _stop(child)
            raise
        summaries, errors = [], []
        for (_, summary_out, log), returncode in zip(children, returncodes, strict=True):
            if returncode == 0 and summary_out.exists():
                summaries.append(json.loads(summary_out.read_text(encoding="utf-8")))
            else:
                errors.append(f"crawler process {_ended(returncode)}; its unfinished requests went back to the "
                              f"frontier (its log: {log})")
    if not summaries:
        child, _, log = children[0]
        error = CrawlFailed(f"Every crawler process of scan {scan_id} ended without a summary; the first "
                            f"{_ended(returncodes[0])}. Last lines of its log ({log}):\n{_tail(log)}")
        error.exit_code = returncodes[0] if returncodes[0] in (2, 3) else 1
        raise error
    total = add_up(summaries)
    total["errors"] += errors
    return total


def check_archives(files) -> None:
    """Refuse, before a scan starts, WARC files that are not there."""
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise UsageError(f"--warc {', '.join(missing)}: no such file; give WARC or WAT files (.warc, .warc.gz, "
                         ".warc.wat.gz).")


def read_archives(home: Path, scan_id: int, files: list[Path]) -> dict:
    """Read WARC files the user already has into scan `scan_id`'s candidates, offline, in a child process
    (`python -m crawlers.archive`); returns a summary of the shape `crawl` returns."""
    check_archives(files)
    log = log_path(home, scan_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="copyhound-warc-") as workdir:
        summary_out = Path(workdir) / "summary.json"
        command = [sys.executable, "-m", "crawlers.archive", "--home", str(home), "--scan-id", str(scan_id),
                   "--summary-out", str(summary_out), *[str(Path(f).resolve()) for f in files]]
        with open(log, "ab") as log_handle:
            returncode = subprocess.run(command, stdout=log_handle, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, check=False).returncode
        if returncode == 0 and summary_out.exists():
            return json.loads(summary_out.read_text(encoding="utf-8"))
    raise CrawlFailed(f"Reading the WARC files of scan {scan_id} {_ended(returncode)}. Last lines of its log "
                      f"({log}):\n{_tail(log)}")


#: Files read by one `crawlers.archive --images-of` process (keeps its command line short).
_RECORDS_PER_PROCESS = 500


def archived_page_images(records: list[bytes]) -> dict[str, list[tuple[str, str | None]]]:
    """The images each HTML page in `records` (WARC records, each read whole before) uses, by the spider's rules,
    read in child processes (`python -m crawlers.archive --images-of`): {page URI: [(url, alt), ...]}."""
    found: dict[str, list[tuple[str, str | None]]] = {}
    with tempfile.TemporaryDirectory(prefix="copyhound-records-") as workdir:
        paths = []
        for i, record in enumerate(records):
            gzipped = record[:2] == b"\x1f\x8b"
            paths.append(Path(workdir) / (f"{i}.warc.gz" if gzipped else f"{i}.warc"))
            paths[-1].write_bytes(record)
        for start in range(0, len(paths), _RECORDS_PER_PROCESS):
            chunk = [str(p) for p in paths[start:start + _RECORDS_PER_PROCESS]]
            done = subprocess.run([sys.executable, "-m", "crawlers.archive", "--images-of", *chunk],
                                  capture_output=True, stdin=subprocess.DEVNULL, check=False, timeout=600)
            if done.returncode != 0:
                raise CrawlFailed(f"Reading the images of archived pages {_ended(done.returncode)}: "
                                  f"{done.stderr.decode(errors='replace')[-2000:]}")
            for uri, images in json.loads(done.stdout).items():
                found.setdefault(uri, [(url, alt) for url, alt in images])
    return found


def joinable_scan(store: Store, scan_id: int | None) -> tuple[int, list[Target]]:
    """The scan a crawler joins (`scan_id`, else the newest scan still running) and its targets."""
    if scan_id is None:
        running = [scan for scan in store.scans(limit=20) if scan["status"] == "running"]
        if not running:
            raise UsageError("No scan is running to join; start one (copyhound scan --distributed), "
                             "or name one with --scan ID.")
        scan = running[0]
    else:
        scan = store.scan(scan_id)
    targets = (scan["options"] or {}).get("targets") or []
    if not targets:
        raise UsageError(f"Scan {scan['id']} crawls nothing (it was started with --no-crawl); there is no crawl to join.")
    return scan["id"], list(from_dict({"targets": targets}).targets)


def add_up(summaries: list[dict]) -> dict:
    """One crawl summary (the shape `crawl` returns) from the summaries of processes that shared a crawl."""
    targets: dict[str, dict] = {}
    for summary in summaries:
        for name, part in summary["targets"].items():
            into = targets.setdefault(name, {key: 0 for key in _COUNTS} | {
                "refusals": {}, "caps_hit": [], "errors": [], "finish_reason": "finished"})
            for key in _COUNTS:
                into[key] += part[key]
            for reason, count in part["refusals"].items():
                into["refusals"][reason] = into["refusals"].get(reason, 0) + count
            into["caps_hit"] = sorted(set(into["caps_hit"]) | set(part["caps_hit"]))
            into["errors"] += part["errors"]
            if part["finish_reason"] != "finished":
                into["finish_reason"] = part["finish_reason"]
    return {
        **{key: sum(s[key] for s in summaries) for key in _COUNTS},
        "refusals": {reason: sum(t["refusals"].get(reason, 0) for t in targets.values())
                     for reason in sorted({r for t in targets.values() for r in t["refusals"]})},
        "caps_hit": {name: t["caps_hit"] for name, t in targets.items() if t["caps_hit"]},
        "errors": [error for s in summaries for error in s["errors"]],
        "complete": all(s["complete"] for s in summaries),
        "targets": targets,
    }


def _stop(child: subprocess.Popen) -> None:
    """Let a child that got the Ctrl-C stop cleanly (putting its work back), else kill it."""
    try:
        child.wait(timeout=_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _ended(returncode: int) -> str:
    return f"was killed by signal {-returncode}" if returncode < 0 else f"ended with exit code {returncode}"


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-_LOG_TAIL_LINES:])


def _wait(child: subprocess.Popen, tick: Callable[[], None], seconds: float) -> int:
    while True:
        try:
            return child.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            tick()
