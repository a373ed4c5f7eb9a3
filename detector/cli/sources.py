"""Discovery sources: `copyhound sources list` and `copyhound sources test NAME`."""

from __future__ import annotations

from typing import Annotated

import typer

from detector.cli.common import Format, Home, app, check_format, console, open_parts
from detector.output import render

sources_app = typer.Typer(help="Discovery sources ([[sources]] in config.toml): what they found, a dry check.",
                          no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("list")
def list_sources(fmt: Format = "table", home: Home = None) -> None:
    """Each source (configured, or a site or URL list a scan crawled): last run, leads, candidates, matches,
    budget used this month."""
    from datetime import UTC, datetime

    from detector.sources import configured
    from detector.sources.run import due, month_start

    check_format(fmt)
    _, settings, store = open_parts(home)
    now = datetime.now(UTC)
    rows = {r["source"]: r for r in store.source_overview()}
    for source in configured(settings.sources):
        rows.setdefault(source.name, {"source": source.name, "type": source.config.type, "runs": 0, "leads": 0,
                                      "candidates": 0, "matches": 0})
        rows[source.name]["due"] = due(store, source, now)
        cap = source.config.monthly_budget
        rows[source.name]["budget"] = f"{store.source_budget_used(source.name, month_start(now))}/{cap or 'no cap'}"
    for row in rows.values():
        last = store.last_source_run(row["source"])
        row["last_run"] = f"{last['started_at']} {last['status']}" if last else "never"
        row["problems"] = (last or {}).get("detail") or ""
        row.setdefault("budget", str(store.source_budget_used(row["source"], month_start(now))))
        row.setdefault("due", "every scan")
    render(sorted(rows.values(), key=lambda r: r["source"]),
           ["source", "type", "last_run", "runs", "leads", "candidates", "matches", "budget", "due", "problems"],
           fmt, console, title="Sources")


@sources_app.command("test")
def test_source(name: Annotated[str, typer.Argument(help="The source's name in config.toml.")],
                dry_run: Annotated[bool, typer.Option("--dry-run", help="Only estimate what the next run would "
                                                                        "spend of the monthly budget; no request "
                                                                        "is made.")] = False,
                home: Home = None) -> None:
    """Dry check of one source: reach its endpoint, use its credentials, make one query. No leads are kept."""
    from detector.sources import SourceError, configured
    from detector.sources.run import dry_check, estimate

    ws, settings, store = open_parts(home)
    (source,) = configured(settings.sources, [name], ws)
    if dry_run:
        console.print(f"{name}: {estimate(store, source)}", highlight=False, markup=False)
        return
    try:
        lines = dry_check(store, source)
    except SourceError as e:
        console.print(f"{name}: FAILED: {e}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    for line in lines:
        console.print(f"{name}: {line}", highlight=False, markup=False)
    console.print(f"{name}: ok", highlight=False)
