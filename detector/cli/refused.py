"""`copyhound refused [SCAN]`: every URL a scan refused or could not fetch, each with its reason."""

from __future__ import annotations

from typing import Annotated

import typer

from detector.cli.common import Format, Home, app, check_format, chosen_scan, console, open_parts
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
    scan_id = chosen_scan(store, scan_id)
    rows = [{"reason": e["reason"], "url": e["url"], "page_url": e["page_url"], "detail": e["detail"]}
            for e in store.crawl_events(scan_id)]
    rows += [{"reason": c["refusal_reason"], "url": c["image_url"], "page_url": c["page_url"],
              "detail": c["refusal_detail"]}
             for c in store.candidates("scan_id = ? AND state IN ('refused', 'failed')", [scan_id])]
    render(rows, ["reason", "url", "page_url", "detail"], fmt, console, title=f"Refused in scan {scan_id}")
