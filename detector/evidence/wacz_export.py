"""WACZ export: the captures of some matches as a Web Archive Collection Zipped (the `wacz`
package), which ReplayWeb.page and pywb open to replay the page as it was crawled.

It holds the same WARC records as the signed bundle (`bundle.capture_records`, and
`bundle.screenshot_records` for the page's screenshot, a `urn:view:PAGE` resource as
browsertrix-crawler writes them), and a pages list naming each match's page. Its datapackage lists the
SHA-256 of every file, and its datapackage-digest.json is signed with the workspace key and, with
provenance.tsa_url, time-stamped (`wacz_signing`); `copyhound verify-bundle FILE.wacz` checks it all.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from wacz.main import main as wacz_main

from detector.config import Settings
from detector.errors import UsageError
from detector.evidence.bundle import capture_records, screenshot_records
from detector.evidence.case import load_case
from detector.evidence.wacz_signing import sign_wacz
from detector.workspace import Workspace
from detector.workspace.store import Store


def write_wacz(ws: Workspace, store: Store, settings: Settings, match_ids: list[int], out_path: Path,
               *, owner_id: int | None = None) -> dict:
    """Write the signed WACZ of `match_ids` to `out_path`; returns its `signedData`. UsageError when
    none of them has a capture, TimestampUnavailable when the configured TSA does not stamp it (then
    no WACZ is left behind)."""
    pages = [{"format": "json-pages-1.0", "id": "pages", "title": "copyhound captures"}]
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="copyhound-wacz-") as tmp:
        warcs = []
        for match_id in sorted(set(match_ids)):
            case = load_case(ws, store, match_id, owner_id)
            data, records = capture_records(ws, case.candidate or {})
            if not data:
                continue
            warc = Path(tmp) / f"match-{match_id}.warc.gz"
            warc.write_bytes(data)
            warcs.append(str(warc))
            shot_data = screenshot_records(ws, case.screenshot)[0] if case.screenshot is not None else b""
            if shot_data:
                shot = Path(tmp) / f"match-{match_id}-screenshot.warc.gz"
                shot.write_bytes(shot_data)
                warcs.append(str(shot))
            found = [r for r in records if "missing" not in r]
            page = next((r for r in found if r["role"] == "page"), found[0])
            pages.append({"url": page["target_uri"], "ts": page.get("date"),
                          "title": f"Match {match_id}: {(case.candidate or {}).get('page_title') or page['target_uri']}"})
        if not warcs:
            raise UsageError("None of these matches has a WARC capture in the workspace, so there is nothing to "
                             "replay; export the signed bundle alone.")
        pages_file = Path(tmp) / "pages.jsonl"
        pages_file.write_text("".join(json.dumps(p) + "\n" for p in pages), encoding="utf-8")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        chatter = io.StringIO()
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            code = wacz_main(["create", "-o", str(out_path), *warcs, "-p", str(pages_file), "-c",
                              "--title", "copyhound evidence captures",
                              "--desc", f"Captures of match(es) {', '.join(map(str, sorted(set(match_ids))))}"])
        if code:
            raise UsageError(f"The wacz package could not write {out_path}: {chatter.getvalue().strip()[-300:]}")
    try:
        return sign_wacz(ws, settings, out_path)
    except BaseException:
        out_path.unlink(missing_ok=True)  # an unsigned WACZ must not pass for the signed one
        raise
