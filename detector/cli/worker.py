"""`copyhound worker`: a detection worker for `copyhound scan --distributed` (detector.distributed)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from detector.cli.common import Home, app, err
from detector.errors import QueueUnavailable


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", min=1,
                                             help="Processes detecting at once (prefork pool; each loads the "
                                                  "indexes once).")] = 1,
    pool: Annotated[Literal["solo", "prefork"], typer.Option(
        "--pool", help="solo: detect in this process (--concurrency 1); prefork: in --concurrency child "
                       "processes, each restarted if it dies.")] = "solo",
    loglevel: Annotated[str, typer.Option("--loglevel", help="Celery's log level: DEBUG, INFO, WARNING.")] = "INFO",
    home: Home = None,
) -> None:
    """Detect copies for `scan --distributed`: take tasks from the workspace's Redis queue until stopped."""
    from detector.distributed import broker
    from detector.distributed.worker import run_worker
    from detector.workspace import open_workspace

    ws = open_workspace(home)
    settings = ws.settings().distributed
    if not settings.redis_url:
        raise QueueUnavailable(f"This workspace has no Redis to take tasks from: run `copyhound init --redis "
                               f"redis://HOST:PORT/DB --home {ws.home}` (or set distributed.redis_url).")
    if pool == "solo" and concurrency != 1:
        raise typer.BadParameter("the solo pool detects one content at a time; use --pool prefork.",
                                 param_hint="--concurrency")
    broker.connect(settings.redis_url)
    err.print(f"copyhound worker: workspace {ws.home}, queue {settings.queue} on {settings.redis_url}, "
              f"{pool} pool x{concurrency}", highlight=False, markup=False)
    run_worker(ws.home, settings, pool, concurrency, loglevel.upper())
