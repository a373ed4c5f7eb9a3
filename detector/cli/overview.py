"""Commands that show what the workspace holds: status, owner show, and the notices and offers lists."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from detector.cli.admin import owner_app
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
from detector.licensing.amounts import draft_notes, with_amounts
from detector.output import render
from detector.suggest import command
from detector.workspace.store import OFFER_STATUSES

Owner = Annotated[str | None, typer.Option("--owner", help="Only this owner's (as given to register --owner).")]
Match = Annotated[int | None, typer.Option("--match", help="Only those of this match id.")]
NOTICE_KINDS = ("dmca", "dsa")


@app.command()
def status(owner: Owner = None, fmt: Format = "table", home: Home = None) -> None:
    """The workspace at a glance: works, matches by decision and status, last scan, notices, offers, indexes."""
    from detector.status import workspace_status

    check_format(fmt)
    ws, _, store = open_parts(home)
    owner_id = store.owner_by_name(owner)["id"] if owner else None
    sections = workspace_status(ws, store, owner_id)
    if fmt == "json":
        console.out(json.dumps({s.name: s.rows for s in sections}, indent=2, sort_keys=True), highlight=False)
        return
    console.print(f"Workspace {ws.home}", highlight=False, markup=False, soft_wrap=True)
    for section in (s for s in sections if s.rows or not s.optional):
        console.out(f"# {section.title}" if fmt == "csv" else f"\n{section.title}", highlight=False)
        render(section.rows, section.columns, fmt, console)


@owner_app.command("show")
def owner_show(name: Annotated[str, typer.Argument(metavar="NAME", help="Owner name.")], fmt: Format = "table",
               home: Home = None) -> None:
    """Show an owner's profile (what notices and offers carry) and what is missing for each document."""
    from detector.evidence.profile import DOCUMENT_NAMES, NEEDED, PROFILE_FIELDS

    check_format(fmt)
    _, _, store = open_parts(home)
    row = store.owner_by_name(name)
    missing = {doc: [f for f in fields if not (row.get(f) or "").strip()] for doc, fields in NEEDED.items()}
    if fmt != "table":
        render([dict({f: row.get(f) for f in ("name", *PROFILE_FIELDS)}, missing=missing)], [], fmt, console)
        return
    render([{"field": f, "value": row.get(f) or ""} for f in PROFILE_FIELDS], ["field", "value"], "table",
           console, title=f"Owner {name}", wide=True)
    for doc, fields in missing.items():
        if fields:
            flags = [word for f in fields for word in (f"--{f.replace('_', '-')}", "...")]
            console.print(f"{DOCUMENT_NAMES[doc][0].upper()}{DOCUMENT_NAMES[doc][1:]} needs {', '.join(fields)}: "
                          f"`{command('owner', 'set', name, *flags)}`.", highlight=False, soft_wrap=True)


@app.command()
def notices(owner: Owner = None, match: Match = None,
            kind: Annotated[str | None, typer.Option(help="dmca or dsa.")] = None,
            limit: Limit = None, offset: Offset = 0, wide: Wide = False, fmt: Format = "table",
            home: Home = None) -> None:
    """List takedown notices, newest first (`copyhound notice MATCH` drafts one)."""
    check_format(fmt)
    if kind is not None and kind not in NOTICE_KINDS:
        raise UsageError(f"--kind {kind!r} is not known; use one of: {', '.join(NOTICE_KINDS)}.")
    _, _, store = open_parts(home)
    rows, total = store.find_notices(owner=owner, match_id=match, kind=kind, limit=row_limit(limit, fmt),
                                      offset=offset)
    render(rows, ["id", "match_id", "kind", "owner", "created_at", "match_status", "page_url", "sha256"], fmt,
           console, title=page_title("Notices", rows, total, offset), wide=wide,
           short=["id", "match_id", "kind", "owner", "created_at", "page_url"])


@app.command()
def offers(owner: Owner = None, match: Match = None,
           status: Annotated[str | None, typer.Option(help=", ".join(OFFER_STATUSES) + ".")] = None,
           limit: Limit = None, offset: Offset = 0, wide: Wide = False, fmt: Format = "table",
           home: Home = None) -> None:
    """List licensing offers, newest first (`copyhound offer-status OFFER STATUS` records what happened)."""
    check_format(fmt)
    if status is not None and status not in OFFER_STATUSES:
        raise UsageError(f"--status {status!r} is not known; use one of: {', '.join(OFFER_STATUSES)}.")
    _, _, store = open_parts(home)
    rows, total = store.find_offers(owner=owner, match_id=match, status=status, limit=row_limit(limit, fmt),
                                     offset=offset)
    rows = [with_amounts(store, row) for row in rows]
    render(rows, ["id", "match_id", "owner", "licence", "asked", "early_amount", "agreed", "paid", "status",
                  "created_at", "expires_at", "page_url", "draft_reason"], fmt, console,
           title=page_title("Offers", rows, total, offset),
           wide=wide, short=["id", "match_id", "asked", "agreed", "paid", "status", "expires_at", "owner", "page_url"])
    if fmt == "table":
        for note in draft_notes(rows):
            console.print(note, highlight=False, markup=False)
