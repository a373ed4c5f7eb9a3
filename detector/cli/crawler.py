"""`copyhound crawler`: a crawler process on this machine joins a scan's shared crawl frontier in Redis."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from detector.cli.common import Format, Home, app, check_format, console, open_parts
from detector.errors import UsageError
from detector.output import render


@app.command()
def crawler(
    scan: Annotated[int | None, typer.Option("--scan", help="Join this scan (default: the newest scan running).")] = None,
    processes: Annotated[int, typer.Option("--processes", min=1, help="Crawler processes to run here.")] = 1,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """Crawl for a scan in progress, sharing its frontier with the other crawlers ([distributed] redis_url).

    Every machine runs this against the same workspace (a shared folder, or a shared store) and the
    same Redis; each URL is fetched once per scan whichever crawler finds it, and the command ends
    once no crawler has anything left to fetch. What this machine captured goes into the store as
    it arrives; the counts printed are this machine's share.
    """
    from detector.crawl import crawl_shared, joinable_scan

    check_format(fmt)
    if fmt == "csv":
        raise UsageError("--format csv does not fit a crawl summary (nested counts); use table or json.")
    ws, settings, store = open_parts(home)
    redis_url = settings.distributed.redis_url
    if not redis_url:
        raise UsageError("No Redis to share a crawl through: set [distributed] redis_url in config.toml "
                         "(copyhound config set distributed.redis_url redis://HOST:6379/0).")
    scan_id, targets = joinable_scan(store, scan)
    summary = crawl_shared(ws.home, scan_id, targets, redis_url, processes=processes)
    if fmt == "json":
        console.out(json.dumps(dict(summary, scan_id=scan_id), indent=2, sort_keys=True), highlight=False)
    else:
        rows = [{"what": what.replace("_", " "), "count": summary[what]}
                for what in ("pages_fetched", "images_fetched", "candidates_added")]
        rows += [{"what": f"refused: {reason}", "count": n} for reason, n in summary["refusals"].items()]
        rows += [{"what": f"error: {error}", "count": 1} for error in summary["errors"]]
        render(rows, ["what", "count"], "table", console, title=f"Crawl of scan {scan_id} from this machine")
    if summary["errors"]:
        raise typer.Exit(1)
