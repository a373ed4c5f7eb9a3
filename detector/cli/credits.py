"""Commands of the licence check before any claim: where works are licensed, held matches, "not mine"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from detector.cli.common import Format, Home, app, check_format, console, open_parts
from detector.errors import UsageError
from detector.output import render

OwnerName = Annotated[str, typer.Option("--owner", help="The owner whose list it is.")]

licensed_app = typer.Typer(help="Where an owner's works are licensed (stock agencies, photographer's names, URL "
                                "prefixes): credited copies are held for review, never claimed.", no_args_is_help=True)
app.add_typer(licensed_app, name="licensed")


@licensed_app.command("add")
def licensed_add(
    agency: Annotated[str | None, typer.Option(help="A stock agency that sells the work, e.g. 'Getty Images'.")] = None,
    photographer: Annotated[str | None, typer.Option(help="A name pages credit the photographer by.")] = None,
    url: Annotated[str | None, typer.Option(help="A URL prefix: an agency contributor page or preview server.")] = None,
    work: Annotated[int | None, typer.Option(help="Only for this work (asset id); default: all the owner's works.")]
    = None,
    note: Annotated[str | None, typer.Option(help="A reference, kept with the entry.")] = None,
    owner: OwnerName = "default",
    home: Home = None,
) -> None:
    """List one place where the owner's works are licensed (domains of licensees: `copyhound authorize`)."""
    from detector.enforcement import licensed

    given = [(kind, value) for kind, value in (("agency", agency), ("photographer", photographer), ("url", url))
             if value is not None]
    if len(given) != 1:
        raise UsageError("Give exactly one of --agency, --photographer or --url.")
    _, _, store = open_parts(home)
    row = licensed.add(store, store.owner_by_name(owner), *given[0], asset_id=work, note=note)
    scope = f"work {row['asset_id']}" if row["asset_id"] else "all their works"
    console.print(f"Listed {row['kind']} {row['value']!r} (#{row['id']}) for {owner}'s {scope}; copies that credit "
                  "it are held for review.", highlight=False)


@licensed_app.command("list")
def licensed_list(owner: OwnerName = "default", fmt: Format = "table", home: Home = None) -> None:
    """The owner's list, and the agencies copyhound knows by their credit lines and preview hosts."""
    check_format(fmt)
    _, _, store = open_parts(home)
    rows = store.licensed_sources(store.owner_by_name(owner)["id"])
    render(rows, ["id", "kind", "value", "asset_id", "note", "created_at"], fmt, console,
           title=f"Where {owner}'s works are licensed")


@licensed_app.command("agencies")
def licensed_agencies(fmt: Format = "table") -> None:
    """The stock agencies copyhound knows: their usual credit lines and preview or embed hosts."""
    from detector.enforcement.licensed import known_agencies

    check_format(fmt)
    rows = [{"name": a.name, "credits": ", ".join(a.credits), "hosts": ", ".join(a.hosts)} for a in known_agencies()]
    render(rows, ["name", "credits", "hosts"], fmt, console, title="Known agencies")


@licensed_app.command("remove")
def licensed_remove(
    source_id: Annotated[int, typer.Argument(metavar="ID", help="The entry's number (`copyhound licensed list`).")],
    owner: OwnerName = "default",
    home: Home = None,
) -> None:
    """Remove one entry of the owner's list."""
    from detector.enforcement import licensed

    _, _, store = open_parts(home)
    row = licensed.remove(store, store.owner_by_name(owner), source_id)
    console.print(f"Removed {row['kind']} {row['value']!r} from {owner}'s list.", highlight=False)


@app.command()
def holds(
    check: Annotated[bool, typer.Option("--check", help="Run the credit and flood checks first.")] = False,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's matches.")] = None,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """Matches held for review (credited on the page, or a flood) that enforcement leaves alone until released."""
    from detector.enforcement import holds as held

    check_format(fmt)
    ws, settings, store = open_parts(home)
    owner_id = store.owner_by_name(owner)["id"] if owner else None
    if check:
        held.hold_matches(ws, store, settings, datetime.now(UTC), owner_id=owner_id)
    where, params = ("matches.owner_id = ?", [owner_id]) if owner_id else ("1", [])
    ids = [m["id"] for m in store.matches(where, params)]
    rows = [{"match_id": h["match_id"], "kind": h["kind"], "why": held.describe(h), "held_at": h["held_at"],
             "findings": h["detail"].get("findings", [])} for h in store.holds(ids, active_only=True)]
    render(rows, ["match_id", "kind", "why", "held_at"], fmt, console, title="Held for review")


@app.command()
def release(
    match_id: Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")],
    home: Home = None,
) -> None:
    """Release a held match (you checked the credit or the flood): enforcement's rules apply to it again."""
    from detector.enforcement.holds import release as release_holds

    _, _, store = open_parts(home)
    released = release_holds(store, match_id)
    console.print(f"Match {match_id} released from: {', '.join(h['kind'] for h in released)}.", highlight=False)


@app.command("not-mine")
def not_mine(
    match_id: Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")],
    note: Annotated[str | None, typer.Option(help="Why; kept with the match and in the ledger.")] = None,
    home: Home = None,
) -> None:
    """Not mine / not a copy: reject the match and never flag this image (or a near-identical one) for the work
    again."""
    from detector.enforcement.not_mine import mark_not_mine

    ws, settings, store = open_parts(home)
    row = mark_not_mine(ws, store, settings, match_id, note)
    console.print(f"Match {row['id']} ({row['asset_filename']} on {row['page_url']}) is rejected; this image is on "
                  f"the work's negative list.", highlight=False)
