"""Royalty statements: per contributor and month, one row per payment, with running totals.

Rows come from the splits recorded when each payment was received (so a later change of shares
never rewrites a past statement). The agency commission appears as its own contributor,
"agency commission". Written as CSV, as an HTML page, or as a PDF printed from that page.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from detector.errors import UsageError
from detector.evidence.case import environment
from detector.evidence.pdf import print_html
from detector.licensing import money
from detector.workspace.store import Store

COLUMNS = ("period", "contributor", "owner", "work", "asset_id", "offer_id", "payment_id", "received_at",
           "reference", "currency", "payment", "share", "amount", "running_total")
COMMISSION = "agency commission"


def period_bounds(period: str) -> tuple[str, str]:
    """'2026-11' -> ('2026-11-01', '2026-12-01')."""
    try:
        start = date.fromisoformat(f"{period.strip()}-01")
    except ValueError:
        raise UsageError(f"--period must be a month like 2026-11, got {period!r}.") from None
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start.isoformat(), end.isoformat()


def statement(store: Store, period: str, owner_id: int | None = None, contributor: str | None = None) -> list[dict]:
    """The statement rows of a month, grouped by contributor (then by time), amounts as decimal strings."""
    start, end = period_bounds(period)
    rows = [dict(r, contributor=r["contributor"] or COMMISSION, commission=r["contributor"] is None)
            for r in store.statement_rows(owner_id, start, end)]
    if contributor is not None:
        rows = [r for r in rows if r["contributor"] == contributor]
    rows.sort(key=lambda r: (r["contributor"], r["received_at"], r["payment_id"]))
    totals: dict[tuple[str, str], int] = {}
    weights: dict[int, Decimal] = {}  # per payment, the contributors' shares together
    for r in rows:
        if not r["commission"]:
            weights[r["payment_id"]] = weights.get(r["payment_id"], Decimal(0)) + Decimal(r["share"])
    out = []
    for r in rows:
        key = (r["contributor"], r["currency"])
        totals[key] = totals.get(key, 0) + r["part_minor"]
        out.append({"period": period.strip(), "contributor": r["contributor"], "owner": r["owner"], "work": r["work"],
                    "asset_id": r["asset_id"], "offer_id": r["offer_id"], "payment_id": r["payment_id"],
                    "received_at": r["received_at"], "reference": r["reference"] or "", "currency": r["currency"],
                    "payment": money.text(r["amount_minor"]), "share": _percent(r, weights),
                    "amount": money.text(r["part_minor"]), "running_total": money.text(totals[key])})
    return out


def _percent(row: dict, weights: dict[int, Decimal]) -> str:
    """A contributor's share as a percentage of what the payment left after the commission ('60%', '33.33%');
    the commission's row already says its percentage."""
    if row["commission"]:
        return row["share"]
    percent = Decimal(row["share"]) * 100 / weights[row["payment_id"]]
    return f"{percent.quantize(Decimal('0.01')).normalize():f}%"


def as_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def as_html(rows: list[dict], period: str) -> str:
    return environment().get_template("statement.html.j2").render(rows=rows, period=period, columns=COLUMNS)


def as_pdf(rows: list[dict], period: str) -> bytes:
    return print_html(as_html(rows, period))
