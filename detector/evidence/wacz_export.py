"""WACZ export: the captures of some matches as a Web Archive Collection Zipped (the `wacz`
package), which ReplayWeb.page and pywb open to replay the page as it was crawled.

It holds the same WARC records as the signed bundle (`bundle.capture_records`), one WARC per
match, and a pages list naming each match's page. The WACZ is for viewing; the signed zip stays
the evidence (the WACZ's own datapackage carries SHA-256 digests of its files, but no signature).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from wacz.main import main as wacz_main

from detector.errors import UsageError
from detector.evidence.bundle import capture_records
from detector.evidence.case import load_case
from detector.workspace import Workspace
from detector.workspace.store import Store


def write_wacz(ws: Workspace, store: Store, match_ids: list[int], out_path: Path,
               *, owner_id: int | None = None) -> Path:
    """Write the WACZ of `match_ids` to `out_path`; UsageError when none of them has a capture."""
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
    return out_path
