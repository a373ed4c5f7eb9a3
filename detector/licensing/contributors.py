"""Who made a work and their shares of its licence fees, each set in force from a date.

Shares are positive weights in the order given ("Ann Lee=60" "Bo Chan=40", or participation scores
like 2.5 and 0.5, which the command line takes only with --allow-partial, so that a typo in a
percentage cannot pass unseen); a payment is split by the set in force on the day it was received (the newest
set whose effective date is on or before that day). A work without contributors pays its owner.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from detector.errors import UsageError
from detector.provenance import ledger
from detector.workspace.store import Store, utc_now


def parse_shares(items: list[str]) -> list[tuple[str, Decimal]]:
    """["Ann Lee=60", "Bo Chan=40"] -> [("Ann Lee", 60), ("Bo Chan", 40)]; each mistake named."""
    if not items:
        raise UsageError('Give at least one contributor as NAME=SHARE, e.g. "Ann Lee=60" "Bo Chan=40".')
    shares: list[tuple[str, Decimal]] = []
    for item in items:
        name, sep, weight = str(item).rpartition("=")
        name = " ".join(name.split())
        try:
            value = Decimal(weight.strip()) if sep else None
        except InvalidOperation:
            value = None
        if not name or value is None or not value.is_finite() or value <= 0:
            raise UsageError(f"Contributor {item!r} must be NAME=SHARE with a share above 0, e.g. \"Ann Lee=60\".")
        if len(name) > 200:
            raise UsageError(f"Contributor name {name[:40]!r}... is longer than 200 characters.")
        if any(name == known for known, _ in shares):
            raise UsageError(f"Contributor {name!r} is listed twice; give each contributor once.")
        shares.append((name, value))
    return shares


def check_total(shares: list[tuple[str, Decimal]], allow_partial: bool) -> None:
    """Refuse shares that do not add up to 100 unless the caller allows weights (`--allow-partial`)."""
    total = sum(weight for _, weight in shares)
    if total != 100 and not allow_partial:
        raise UsageError(f"The shares add up to {total.normalize():f}, not 100. Give percentages that total 100 "
                         "(\"Ann Lee=60\" \"Bo Chan=40\"), or add --allow-partial to use them as relative weights "
                         "(each contributor gets their share of the total).")


def parse_day(text: str | None) -> str:
    """A YYYY-MM-DD date (today when None), checked."""
    if text is None:
        return utc_now()[:10]
    try:
        return date.fromisoformat(str(text).strip()).isoformat()
    except ValueError:
        raise UsageError(f"--from must be a date like 2026-11-01, got {text!r}.") from None


def set_contributors(store: Store, asset_id: int, items: list[str], *, effective_from: str | None = None,
                     owner_id: int | None = None) -> dict:
    """Record a work's contributors and shares in force from `effective_from` (default today), in the ledger."""
    asset = store.asset(asset_id, owner_id)
    shares = parse_shares(items)
    day = parse_day(effective_from)
    stored = [[name, str(weight)] for name, weight in shares]
    with store.atomic():
        store.add_contributor_shares(asset["id"], day, stored)
        ledger.append(store, "contributors", ledger.asset_subject(asset["id"]),
                      {"asset_id": asset["id"], "effective_from": day, "shares": stored})
    return {"asset_id": asset["id"], "effective_from": day, "shares": stored}


def history(store: Store, asset_id: int, owner_id: int | None = None) -> list[dict]:
    """Every share set of a work, oldest effective date first."""
    store.asset(asset_id, owner_id)
    return [{"effective_from": r["effective_from"], "shares": r["shares"], "recorded_at": r["recorded_at"]}
            for r in store.contributor_shares(asset_id)]


def shares_on(store: Store, asset: dict, day: str) -> list[tuple[str, Decimal]]:
    """The shares in force on `day` (YYYY-MM-DD...); the owner alone when none were set by then."""
    current = None
    for row in store.contributor_shares(asset["id"]):
        if row["effective_from"] <= day[:10]:
            current = row
    if current is None:
        return [(asset["owner"], Decimal(1))]
    return [(name, Decimal(weight)) for name, weight in current["shares"]]
