"""`copyhound refused [SCAN]`: every URL a scan refused or could not fetch, each with its reason."""

from __future__ import annotations

from typing import Annotated

import typer

from detector.cli.common import Format, Home, app, check_format, console, open_parts
from detector.errors import UsageError
from detector.output import render


@app.command()
def refused(
    scan_id: Annotated[int | None, typer.Argument(help="The scan (default: the newest).")] = None,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """List every URL a scan refused or could not fetch, with the reason (robots and caps included)."""
    check_format(fmt)
    _, _, store = open_parts(home)
    if scan_id is None:
        newest = store.scans(limit=1)
        if not newest:
            raise UsageError("No scans yet; run `copyhound scan` first.")
        scan_id = newest[0]["id"]
    store.scan(scan_id)  # NotFound names the command that lists scans
    rows = [{"reason": e["reason"], "url": e["url"], "page_url": e["page_url"], "detail": e["detail"]}
            for e in store.crawl_events(scan_id)]
    rows += [{"reason": c["refusal_reason"], "url": c["image_url"], "page_url": c["page_url"],
              "detail": c["refusal_detail"]}
             for c in store.candidates("scan_id = ? AND state IN ('refused', 'failed')", [scan_id])]
    render(rows, ["reason", "url", "page_url", "detail"], fmt, console, title=f"Refused in scan {scan_id}")
