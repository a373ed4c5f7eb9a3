"""Licensing commands: offer (with its public page), offer-status, offer-link, contributors, statements."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector.cli.common import AllowPartial, Home, OutDir, app, console, err, open_parts
from detector.errors import UsageError

MatchArg = Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")]
OfferArg = Annotated[int, typer.Argument(metavar="OFFER", help="Offer id.")]


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True, markup=False)


@app.command()
def offer(
    match_id: MatchArg,
    licence: Annotated[str | None, typer.Option(help="Licence type priced in pricing.base_fees (default: pricing.default_licence).")] = None,
    commercial: Annotated[bool | None, typer.Option("--commercial/--non-commercial", help="Price it as commercial or non-commercial use (default: detected from the captured page).")] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Only write the letter (status draft, no page link yet).")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Print the price calculation; record nothing.")] = False,
    out: OutDir = None,
    home: Home = None,
) -> None:
    """Price a licensing offer for a match, write the letter, and print its public offer page (status sent).

    An offer whose page recipients cannot open (licensing.public_url unset or on loopback) or that could not
    be paid (no payment link or bank details) is kept as a draft, with the reason."""
    from detector.licensing import money, offers, readiness, settlement

    ws, settings, store = open_parts(home)
    if explain:
        _explain(offers.quote_match(ws, store, settings, match_id, licence=licence, commercial=commercial))
        return
    held = [] if draft else readiness.problems(settings.licensing.for_owner(store.match(match_id)["owner"]))
    if draft or held:
        reason = "; and ".join(held) if held else "asked for with --draft"
        made = offers.make_offer(ws, store, settings, match_id, licence=licence, commercial=commercial, out_dir=out,
                                 draft_reason=reason)
        row, page = made.record, None
        letter = made.path
    else:
        sent = settlement.send_offer(ws, store, settings, match_id, licence=licence, commercial=commercial)
        row, page, letter = sent.offer, sent.url, sent.letter
    _say(f"Offer {row['id']} for match {match_id}: {money.show(row['amount_minor'], row['currency'])} "
         f"({money.show(row['early_amount_minor'], row['currency'])} until {row['discount_until'][:10]}), "
         f"expires {row['expires_at'][:10]}, {row['status']}. Letter: {letter}")
    if page:
        _say(f"Offer page (send it to the user of the copy; `copyhound serve` must be reachable there): {page}")
    if held:
        err.print(f"Offer {row['id']} kept as a draft, not sent: {reason}. To send it, "
                  f"{readiness.REMEDY}, then `copyhound offer-link {row['id']}` prints its page and "
                  f"`copyhound offer-status {row['id']} sent` records that you sent it.", highlight=False,
                  soft_wrap=True)


def _explain(quote) -> None:
    from detector.licensing import money

    _say(f"Price of a {quote.licence} licence ({'commercial' if quote.commercial else 'non-commercial'} use):")
    running = quote.base_fee
    _say(f"  base fee                {quote.currency} {quote.base_fee:>10}  ({quote.licence} licence)")
    for factor in quote.factors:
        running *= factor.value
        _say(f"  x {factor.name:<20} {factor.value.normalize()!s:>14}  ({factor.why}) = {running.normalize():f}")
    _say(f"  = {money.show(money.from_decimal(quote.amount), quote.currency)} (rounded half-up to the cent); "
         f"{money.show(money.from_decimal(quote.early_amount), quote.currency)} with the early discount.")


@app.command("offer-status")
def offer_status(
    offer_id: OfferArg,
    status: Annotated[str, typer.Argument(help="sent, viewed, countered, accepted, paid, declined or expired.")],
    amount: Annotated[str | None, typer.Option(help="With paid: the amount received, e.g. 100.01.")] = None,
    reference: Annotated[str | None, typer.Option(help="With paid: the payment's reference, e.g. INV-7.")] = None,
    received: Annotated[str | None, typer.Option(help="With paid: when it was received (ISO 8601; default now).")] = None,
    home: Home = None,
) -> None:
    """Record what happened to an offer; `paid --amount 100.01 --reference INV-7` records a payment and splits it."""
    from detector.licensing import money, settlement
    from detector.licensing.offers import amount_due, set_offer_status

    _, settings, store = open_parts(home)
    if status != "paid":
        if amount is not None or reference is not None or received is not None:
            raise UsageError("--amount, --reference and --received go with the status paid only.")
        row = set_offer_status(store, offer_id, status)
        due = amount_due(row)
        _say(f"Offer {offer_id} is now {row['status']}" + (f"; due: {row['currency']} {due}" if due else "") + ".")
        return
    if amount is None:
        raise UsageError("Give the amount received: `copyhound offer-status OFFER paid --amount 100.01 "
                         "--reference INV-7`.")
    paid = settlement.record_payment(store, settings, offer_id, money.parse(amount, "--amount"), reference=reference,
                                     received_at=_moment(received))
    cur = paid.offer["currency"]
    _say(f"Payment {paid.id} of {money.show(paid.amount_minor, cur)} recorded against offer {offer_id} "
         f"({money.show(paid.paid_minor, cur)} of {money.show(paid.due_minor, cur)} paid); offer {paid.offer['status']}.")
    for part in paid.parts:
        _say(f"  {part['contributor'] or 'agency commission'} ({part['share']}): {money.show(part['amount_minor'], cur)}")
    if paid.licence:
        _say(f"Licensed: {paid.licence['domain']} may use the work until {paid.licence['ends_at'][:10]}.")


def _moment(text: str | None) -> str | None:
    from datetime import UTC, datetime

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--received must be a date or time like 2026-11-20 or 2026-11-20T10:00:00Z, got {text!r}.") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@app.command("offer-link")
def offer_link(
    offer_id: OfferArg,
    revoke: Annotated[bool, typer.Option("--revoke", help="Kill every live link of the offer.")] = False,
    new: Annotated[bool, typer.Option("--new", help="Issue a new link (with --revoke: in place of the old ones).")] = False,
    home: Home = None,
) -> None:
    """Print an offer's public page link; --revoke kills it, --new issues another."""
    from detector.licensing import links, settlement

    ws, settings, store = open_parts(home)
    row = store.offer(offer_id)
    if revoke and not new:
        _say(f"Revoked {settlement.revoke_links(store, offer_id)} live link(s) of offer {offer_id}.")
        return
    token = links.token_of(store, ws.keys_dir, offer_id) if not (new or revoke) else None
    token = token or settlement.new_link(ws, store, offer_id, revoke_old=revoke)
    _say(settlement.page_url(settings, store, row, token))


contributors_app = typer.Typer(help="Contributors of a work and their shares of its licence fees.",
                               no_args_is_help=True)
app.add_typer(contributors_app, name="contributors")


@contributors_app.command("set")
def contributors_set(
    asset_id: Annotated[int, typer.Argument(metavar="ASSET_ID", help="Work (asset) id.")],
    shares: Annotated[list[str], typer.Argument(metavar="NAME=SHARE...", help='e.g. "Ann Lee=60" "Bo Chan=40".')],
    effective_from: Annotated[str | None, typer.Option("--from", help="In force from this date (YYYY-MM-DD; default today).")] = None,
    allow_partial: AllowPartial = False,
    home: Home = None,
) -> None:
    """Set a work's contributors and shares (recorded in the ledger with the date they take effect)."""
    from detector.licensing.contributors import check_total, parse_shares, set_contributors

    check_total(parse_shares(shares), allow_partial)
    _, _, store = open_parts(home)
    done = set_contributors(store, asset_id, shares, effective_from=effective_from)
    listed = ", ".join(f"{name} {weight}" for name, weight in done["shares"])
    _say(f"Work {asset_id}: {listed}, in force from {done['effective_from']}.")


@contributors_app.command("show")
def contributors_show(
    asset_id: Annotated[int, typer.Argument(metavar="ASSET_ID", help="Work (asset) id.")],
    home: Home = None,
) -> None:
    """List every share set of a work, with the date each took effect."""
    from detector.licensing.contributors import history

    _, _, store = open_parts(home)
    rows = history(store, asset_id)
    if not rows:
        _say(f"Work {asset_id} has no contributors set: payments for it go to its owner.")
    for row in rows:
        _say(f"from {row['effective_from']}: " + ", ".join(f"{n} {w}" for n, w in row["shares"]))


negotiation_app = typer.Typer(help="A work's own negotiation floor and accept level (overriding its owner's).",
                              no_args_is_help=True)
app.add_typer(negotiation_app, name="negotiation")
AssetArg = Annotated[int, typer.Argument(metavar="ASSET_ID", help="Work (asset) id.")]


@negotiation_app.command("set")
def negotiation_set(
    asset_id: AssetArg,
    floor: Annotated[float | None, typer.Option("--floor", help="Floor in percent of the offer's price (default: the owner's licensing.floor_percent).")] = None,
    accept: Annotated[float | None, typer.Option("--accept", help="Accept level in percent of the price (default: the owner's licensing.accept_percent).")] = None,
    home: Home = None,
) -> None:
    """Give a work its own floor and/or accept level for counter-offers (recorded in the ledger)."""
    from detector.licensing import work_rules

    if floor is None and accept is None:
        raise UsageError("Give --floor PERCENT and/or --accept PERCENT; `copyhound negotiation clear ASSET_ID` "
                         "returns the work to its owner's rules.")
    _, settings, store = open_parts(home)
    work_rules.set_rules(store, asset_id, floor_percent=floor, accept_percent=accept)
    _negotiation_say(store, settings, asset_id)


@negotiation_app.command("clear")
def negotiation_clear(asset_id: AssetArg, home: Home = None) -> None:
    """Return a work to its owner's negotiation rules (recorded in the ledger)."""
    from detector.licensing import work_rules

    _, settings, store = open_parts(home)
    work_rules.set_rules(store, asset_id)
    _negotiation_say(store, settings, asset_id)


@negotiation_app.command("show")
def negotiation_show(asset_id: AssetArg, home: Home = None) -> None:
    """The floor and accept level that answer counter-offers for a work, and where each comes from."""
    _, settings, store = open_parts(home)
    _negotiation_say(store, settings, asset_id)


def _negotiation_say(store, settings, asset_id: int) -> None:
    from detector.licensing import work_rules

    rules = settings.licensing.for_owner(store.asset(asset_id)["owner"])
    _say(f"Work {asset_id}: {work_rules.describe(rules, work_rules.current(store, asset_id))}.")


@app.command()
def statements(
    period: Annotated[str, typer.Option("--period", help="The month, e.g. 2026-11.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, html or pdf (a file: --out, default output/statements/).")] = "csv",
    owner: Annotated[str | None, typer.Option(help="Only this owner's works.")] = None,
    contributor: Annotated[str | None, typer.Option(help="Only this contributor.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: standard output; for pdf, output/statements/statement-PERIOD.pdf).")] = None,
    home: Home = None,
) -> None:
    """Royalty statements of a month: one row per contributor and payment, with running totals."""
    from detector.licensing import statements as st

    if fmt not in ("csv", "html", "pdf"):
        raise UsageError(f"--format {fmt!r} is not known; use csv, html or pdf.")
    ws, _, store = open_parts(home)
    owner_id = store.owner_by_name(owner)["id"] if owner else None
    rows = st.statement(store, period, owner_id, contributor)
    if fmt == "pdf":
        if out is None:
            (ws.output_dir / "statements").mkdir(parents=True, exist_ok=True)
            out = ws.output_dir / "statements" / f"statement-{period.strip()}.pdf"
        out.write_bytes(st.as_pdf(rows, period.strip()))
    else:
        text = st.as_csv(rows) if fmt == "csv" else st.as_html(rows, period.strip())
        if out is None:
            typer.echo(text, nl=False)
            return
        out.write_text(text, encoding="utf-8")
    err.print(f"Wrote {len(rows)} row(s) to {out}", highlight=False)


@app.command("webhook-secret")
def webhook_secret(home: Home = None) -> None:
    """Print the shared secret a payment provider signs its webhook requests with (see docs/licensing.md)."""
    from detector.licensing.webhook import secret

    ws, _, _ = open_parts(home)
    typer.echo(secret(ws.keys_dir))
