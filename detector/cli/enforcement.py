"""Commands that follow a case through: enforce, recipients, cases, compliance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from detector.cli.common import Format, Home, app, check_format, console, open_parts
from detector.output import render

Owner = Annotated[str | None, typer.Option("--owner", help="Only this owner's matches.")]


def print_steps(steps: list, fmt: str, dry_run: bool) -> None:
    rows = [dict(s.as_dict(), why="; ".join(s.why)) for s in steps]
    title = "Enforcement plan (dry run: nothing done)" if dry_run else "Enforcement"
    render(rows, ["match_id", "host", "rule", "action", "why", "recipient", "recipient_source", "outcome"], fmt,
           console, title=title)


@app.command()
def enforce(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be done, by which rule and why.")]
    = False,
    owner: Owner = None,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """Apply the owners' policy rules (their portal rules, then [[enforcement.rules]]) within the hard limits.

    Sends offers and notices; --dry-run lists what would be done, by which rule and why."""
    from detector.enforcement.run import enforce as run_enforce

    check_format(fmt)
    ws, settings, store = open_parts(home)
    steps = run_enforce(ws, store, settings, datetime.now(UTC), dry_run=dry_run, owner=owner)
    print_steps(steps, fmt, dry_run)
    if not steps and fmt == "table":
        console.print("No rule fits a match: add [[enforcement.rules]] to config.toml or rules in the portal "
                      "(/rules); see docs/enforcement.md.")


@app.command()
def recipients(
    site: Annotated[str, typer.Argument(metavar="URL_OR_HOST", help="A page URL or a host name.")],
    refresh: Annotated[bool, typer.Option("--refresh", help="Look up again instead of using the cache.")] = False,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """Who would receive a notice or an offer about a copy on this site, and where each address came from."""
    from detector.enforcement import recipients as lookup

    check_format(fmt)
    _, settings, store = open_parts(home)
    url = site if "://" in site else f"https://{site}/"
    found = lookup.lookup(store, settings.recipients, url, datetime.now(UTC), refresh=refresh)
    rows = [{"address": c.address or "(none)", "source": c.source, "detail": c.detail, "looked_up_at": c.looked_up_at}
            for c in found.rows]
    render(rows, ["address", "source", "detail", "looked_up_at"], fmt, console, title=f"Recipients for {found.host}")
    if fmt == "table":
        for purpose in ("notice", "offer"):
            best = found.best(purpose)
            console.print(f"{purpose.title()}s go to: {best.address} ({best.source})" if best else
                          f"{purpose.title()}s have no recipient; add one under [recipients.overrides].",
                          highlight=False)


@app.command()
def cases(
    site: Annotated[str | None, typer.Option("--site", help="Show this site's (host's) whole case.")] = None,
    owner: Owner = None,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """Infringing sites with their matches, notices, offers, e-mails and outcomes."""
    from detector.enforcement import cases as found
    from detector.licensing.amounts import draft_notes

    check_format(fmt)
    _, _, store = open_parts(home)
    owner_id = store.owner_by_name(owner)["id"] if owner else None
    if site is None:
        render(found.cases(store, owner_id), ["host", "matches", "up", "removed", "notices", "offers",
                                              "median_days_to_removal", "emails_sent", "emails_failed",
                                              "emails_bounced", "owner"],
               fmt, console, title="Cases")
        return
    one = found.case(store, site, owner_id)
    if fmt != "table":
        render([one], list(one), fmt, console)
        return
    render(one["matches"], ["id", "asset", "status", "presence", "presence_detail", "first_seen", "last_seen",
                            "days_to_removal"], fmt, console, title=f"Case {one['host']}: matches")
    render(one["notices"], ["id", "match_id", "kind", "created_at"], fmt, console, title="Notices")
    render(one["offers"], ["id", "match_id", "status", "asked", "agreed", "paid", "sent_at", "decided_at"], fmt,
           console, title="Offers")
    for note in draft_notes(one["offers"]):
        console.print(note, highlight=False, markup=False)
    answers = [dict(d, answer=d.get("bounce") or d["response"]) for d in one["deliveries"]]  # a bounce says more
    render(answers, ["id", "match_id", "recipient", "status", "at", "answer"], fmt, console,
           title="E-mails")
    render(one["actions"], ["id", "match_id", "rule", "action", "recipient", "at", "outcome"], fmt, console,
           title="Automated actions")


@app.command()
def compliance(owner: Owner = None, fmt: Format = "table", home: Home = None) -> None:
    """Per recipient of notices: notices sent, copies removed, median days from notice to removal."""
    from detector.enforcement.cases import compliance as per_recipient

    check_format(fmt)
    _, _, store = open_parts(home)
    owner_id = store.owner_by_name(owner)["id"] if owner else None
    render(per_recipient(store, owner_id), ["recipient", "notices_sent", "removed", "median_days_to_removal"], fmt,
           console, title="Compliance per recipient")
