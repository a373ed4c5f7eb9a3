"""`copyhound candidates [SCAN]`: every image a scan captured, with where detection stopped for it."""

from __future__ import annotations

from typing import Annotated

import typer

from detector.cli.common import (
    Format,
    Home,
    Limit,
    Offset,
    app,
    check_format,
    chosen_scan,
    console,
    open_parts,
    page_title,
    row_limit,
)
from detector.output import render


def stopped(candidate: dict) -> str:
    """Where detection stopped for `candidate`: its cascade exit (detector.cascade; the screen's search may have
    stopped after its descriptors' nearest lists), 'reused' with when and where the earlier analysis stopped
    (detector.reuse), the refusal's reason, or 'pending'."""
    if candidate["state"] in ("refused", "failed"):
        return f"{candidate['state']}: {candidate['refusal_reason']}"
    detection = candidate.get("detection")
    if candidate["state"] == "new" or detection is None:
        return "pending" if candidate["state"] == "new" else "detected"  # detected before exits were kept
    if detection["exit"] == "reused":
        return f"reused: copied nothing when analysed at {detection['analysed_at']} ({detection['analysed_exit']})"
    if detection.get("near_lists_only"):
        return f"{detection['exit']}, after the nearest lists"
    return detection["exit"]


@app.command()
def candidates(
    scan_id: Annotated[int | None, typer.Argument(help="The scan (default: the newest).")] = None,
    limit: Limit = None,
    offset: Offset = 0,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """List every image a scan captured and where detection stopped for it: the cascade's exit (screen, confirm, full),
    reused (an earlier scan's analysis found it copying nothing, with when), or why it was refused."""
    check_format(fmt)
    _, _, store = open_parts(home)
    scan_id = chosen_scan(store, scan_id)
    found = store.candidates("scan_id = ?", [scan_id])
    limit = row_limit(limit, fmt)
    shown = found[offset:] if limit < 0 else found[offset:offset + limit]
    rows = [{"id": c["id"], "state": c["state"], "stopped": stopped(c), "image_url": c["image_url"],
             "page_url": c["page_url"], "detection": c.get("detection")} for c in shown]
    render(rows, ["id", "state", "stopped", "image_url", "page_url"], fmt, console,
           title=page_title(f"Candidates of scan {scan_id}", shown, len(found), offset))
