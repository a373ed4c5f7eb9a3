"""The page as it was seen: screenshots of the pages where matches appeared, after detection.

Screenshots are taken after detection rather than during the crawl: a browser costs seconds and
hundreds of megabytes per page, while a crawl visits hundreds of pages to find a handful of
copies, and only detection knows which pages hold one. So a scan shoots the pages of its new
matches (`report.screenshots`: decision 'match', or 'review' as well) right after detecting them,
minutes after the crawl fetched the copy; each screenshot records its own time, so the report
never passes it off as the fetch. `copyhound screenshot MATCH` takes one on demand (again, later).

The browser is web capture, so it runs as `python -m crawlers.screenshot` in a child process
(the crawlers own fetching from the web and its SSRF rule; detection never imports them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from detector.config import Settings, Target
from detector.errors import CopyhoundError
from detector.provenance import ledger
from detector.workspace.store import Store

DECISIONS = {"matches": ["match"], "all": ["match", "review"], "none": []}
_SECONDS_PER_PAGE = 120


class ScreenshotFailed(CopyhoundError):
    """The screenshot process ended without saying what it did."""


def shoot(home: Path, store: Store, match_ids: list[int], allow_private: set[int], timeout: float) -> list[dict]:
    """Screenshot the pages of `match_ids` in a child process; returns one row per match (id,
    match_id, status 'taken' / 'refused' / 'failed', detail). Matches in `allow_private` may be on
    private addresses (their target allows it). Each screenshot taken is entered in the ledger
    with the digests that identify it."""
    command = [sys.executable, "-m", "crawlers.screenshot", "--home", str(home)]
    for match_id in match_ids:
        command += ["--match", str(match_id)] + (["--allow-private", str(match_id)] if match_id in allow_private else [])
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=len(match_ids) * (timeout + _SECONDS_PER_PAGE))
    except subprocess.TimeoutExpired as e:
        raise ScreenshotFailed(f"Screenshots of matches {match_ids} took longer than {e.timeout:.0f} s and were "
                               "stopped; what was taken is kept. Try `copyhound screenshot MATCH` again.") from e
    if done.returncode != 0:
        error = ScreenshotFailed(done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                                 else f"The screenshot process ended with exit code {done.returncode}.")
        error.exit_code = done.returncode if done.returncode in (2, 3) else 1
        raise error
    rows = json.loads(done.stdout)
    for row in rows:
        shot = store.latest_screenshot(row["match_id"]) if row["status"] == "taken" else None
        if shot is not None:
            ledger.append(store, "screenshot", ledger.match_subject(row["match_id"]), {
                "screenshot_id": shot["id"], "sha256": shot["sha256"], "taken_at": shot["taken_at"],
                "warc_record_id": shot["warc_record_id"], "warc_digest": shot["warc_digest"]})
    return rows


def after_scan(ws_home: Path, store: Store, settings: Settings, scan_id: int, targets: list[Target]) -> dict:
    """Screenshot the pages of this scan's new matches that `report.screenshots` asks for.

    Never fails the scan: a screenshot that cannot be taken is recorded with its reason and
    counted in the summary ({'taken', 'refused', 'failed'}, or {'error'} when no browser ran)."""
    subjects = store.matches_to_screenshot(scan_id, DECISIONS[settings.report.screenshots])
    if not subjects:
        return {}
    private_ok = {t.name for t in targets if t.allow_private} | {t.name for t in settings.targets if t.allow_private}
    allow = {s["match_id"] for s in subjects if s["target"] in private_ok}
    try:
        rows = shoot(ws_home, store, [s["match_id"] for s in subjects], allow, settings.report.screenshot_timeout)
    except ScreenshotFailed as e:
        return {"error": str(e)}
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts
