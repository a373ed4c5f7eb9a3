"""Commands on matches: list them, review them, declare licensed uses."""

from __future__ import annotations

from typing import Annotated

import typer

from detector.cli.common import (
    Format,
    Home,
    Limit,
    Offset,
    Wide,
    app,
    check_format,
    console,
    open_parts,
    page_title,
    row_limit,
)
from detector.errors import UsageError
from detector.output import render


@app.command()
def matches(
    owner: Annotated[str | None, typer.Option(help="Only this owner's matches.")] = None,
    asset: Annotated[int | None, typer.Option(help="Only matches of this asset id.")] = None,
    status: Annotated[str | None, typer.Option(help="new, confirmed, rejected or authorized.")] = None,
    decision: Annotated[str | None, typer.Option(help="match or review.")] = None,
    since: Annotated[str | None, typer.Option(help="Seen on or after this date (YYYY-MM-DD).")] = None,
    min_score: Annotated[float | None, typer.Option(help="Lowest score, 0 to 1.")] = None,
    domain: Annotated[str | None, typer.Option(help="Only pages on this domain (and its sub-domains).")] = None,
    held: Annotated[bool, typer.Option("--held", help="Only matches held for review now (credited, flood).")] = False,
    credited: Annotated[bool, typer.Option("--credited", help="Only matches whose licence check found a "
                                                              "credit.")] = False,
    sort: Annotated[str, typer.Option(help="id (oldest first) or collectability (most worth acting on first; "
                                           "`copyhound collectability` scores them).")] = "id",
    limit: Limit = None,
    offset: Offset = 0,
    wide: Wide = False,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """List matches, filtered, oldest first (or by --sort); JSON and CSV carry every signal, JSON also the
    collectability factors; --wide, JSON and CSV the licence check's credit and why a match is held."""
    from detector.enforcement import holds
    from detector.workspace.store import MatchFilter

    check_format(fmt)
    _, _, store = open_parts(home)
    rows, total = store.find_matches(MatchFilter(owner=owner, asset=asset, status=status, decision=decision,
                                                 since=since, min_score=min_score, domain=domain, held=held,
                                                 credited=credited),
                                     limit=row_limit(limit, fmt), offset=offset, order=sort)
    holds.annotate(store, rows)
    if fmt == "json":
        for row in rows:
            row["collectability_factors"] = (store.collectability(row["id"]) or {}).get("factors")
    render(rows, ["id", "asset_id", "asset_filename", "owner", "score", "collectability", "decision", "status",
                  "page_url", "image_url", "sightings", "last_seen", "presence", "credit", "held"], fmt, console,
           title=page_title("Matches", rows, total, offset), wide=wide,
           short=["id", "asset_filename", "score", "collectability", "status", "page_url", "decision", "last_seen"])


@app.command()
def collectability(
    match_id: Annotated[int | None, typer.Argument(metavar="[MATCH]", help="Only this match.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's matches.")] = None,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """Score how worth acting on each match is (0 to 1, from stated rules: docs/enforcement.md), store it with
    its factors, and show them; `matches --sort collectability` then lists the best first."""
    from datetime import UTC, datetime

    from detector.collectability.assess import assess_matches
    from detector.workspace.store import MatchFilter

    check_format(fmt)
    ws, settings, store = open_parts(home)
    if match_id is not None:
        chosen = [store.match(match_id)]
    else:
        chosen, _ = store.find_matches(MatchFilter(owner=owner))
    done = assess_matches(ws, store, settings, chosen, datetime.now(UTC))
    if fmt == "json":
        render([a.as_dict() for a in done], [], fmt, console)
    elif match_id is not None and done:
        render([f.as_dict() for f in done[0].factors], ["name", "value", "weight", "reason"], fmt, console,
               title=f"Match {match_id}: collectability {done[0].score}", wide=True)
    else:
        rows = [{"match_id": a.match_id, "collectability": a.score,
                 "factors": ", ".join(f"{f.name} {f.value:g}" for f in a.factors)} for a in done]
        render(rows, ["match_id", "collectability", "factors"], fmt, console,
               title=f"Collectability of {len(rows)} match(es), stored")


@app.command()
def review(
    match_id: Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")],
    confirm: Annotated[bool, typer.Option("--confirm", help="It is an unauthorized copy.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="It is not a copy of the work.")] = False,
    authorized: Annotated[bool, typer.Option("--authorized", help="It is a licensed use.")] = False,
    note: Annotated[str | None, typer.Option(help="Why; kept with the match and in the ledger.")] = None,
    home: Home = None,
) -> None:
    """Record a reviewer's decision on a match."""
    from detector.evidence.review import review_match

    chosen = [name for name, flag in (("confirmed", confirm), ("rejected", reject), ("authorized", authorized)) if flag]
    if len(chosen) != 1:
        raise UsageError("Give exactly one of --confirm, --reject or --authorized.")
    _, _, store = open_parts(home)
    row = review_match(store, match_id, chosen[0], note)
    console.print(f"Match {row['id']} ({row['asset_filename']} on {row['page_url']}) is now {row['status']}.",
                  highlight=False)


@app.command()
def authorize(
    pattern: Annotated[str, typer.Argument(help="A domain (example.com, sub-domains included) or a URL prefix.")],
    owner: Annotated[str, typer.Option(help="The owner who licensed this use.")] = "default",
    note: Annotated[str | None, typer.Option(help="Licence reference.")] = None,
    home: Home = None,
) -> None:
    """Declare a licensed use: matches on it are recorded as 'authorized' and never get notices or offers."""
    from detector.evidence.review import authorize_use

    _, _, store = open_parts(home)
    done = authorize_use(store, store.owner_by_name(owner)["id"], pattern, note)
    console.print(f"Uses on {done.pattern} are authorized for {done.owner}; {len(done.marked)} unreviewed match(es) "
                  "there are now marked authorized, and matches found there later will be too.", highlight=False)
