"""`copyhound screenshot MATCH`: the page where a match's copy appeared, as a visitor sees it now."""

from __future__ import annotations

from typing import Annotated

import typer

from detector.cli.common import Home, app, console, err, open_parts


@app.command()
def screenshot(
    match_ids: Annotated[list[int], typer.Argument(metavar="MATCH...", help="Match ids.")],
    allow_private: Annotated[bool, typer.Option(
        "--allow-private", help="Allow pages on private addresses (only for sites that are yours).")] = False,
    home: Home = None,
) -> None:
    """Screenshot the page of each match in headless Chromium; stored as a blob and a WARC record."""
    from detector.screenshots import shoot

    ws, settings, store = open_parts(home)
    for match_id in match_ids:
        store.screenshot_subject(match_id)  # an unknown id stops here, before a browser starts
    rows = shoot(ws.home, store, match_ids, set(match_ids) if allow_private else set(), settings.report.screenshot_timeout)
    for row in rows:
        if row["status"] == "taken":
            console.print(f"Match {row['match_id']}: screenshot {row['id']} taken.", highlight=False, soft_wrap=True)
        else:
            err.print(f"Match {row['match_id']}: no screenshot ({row['detail']}).", highlight=False, soft_wrap=True)
    if any(row["status"] != "taken" for row in rows):
        raise typer.Exit(1)
