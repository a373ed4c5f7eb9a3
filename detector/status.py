"""The workspace at a glance (`copyhound status`): a list of sections, each a titled table.

A section is a function of (workspace, store, owner id or None for all) returning a Section;
`SECTIONS` lists them in the order shown. Features that add state worth a glance (distributed
queues, schedules) add a function to it rather than growing the command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from detector import catalogue
from detector.evidence.offers import amount_due
from detector.workspace import Workspace
from detector.workspace.store import Store


@dataclass(frozen=True)
class Section:
    name: str            # key in --format json
    title: str
    columns: list[str]
    rows: list[dict]


def works(ws: Workspace, store: Store, owner_id: int | None) -> Section:
    rows = [{"owner": o["name"], "works": store.count_assets("assets.owner_id = ?", [o["id"]])}
            for o in store.owners() if owner_id is None or o["id"] == owner_id]
    return Section("works", "Registered works", ["owner", "works"], [r for r in rows if r["works"]])


def matches(ws: Workspace, store: Store, owner_id: int | None) -> Section:
    return Section("matches", "Matches by decision and review status", ["decision", "status", "matches"],
                   store.match_counts(owner_id))


def last_scan(ws: Workspace, store: Store, owner_id: int | None) -> Section:
    rows = []
    for scan in store.scans(limit=1):
        summary = scan["summary"] or {}
        rows.append({"id": scan["id"], "status": scan["status"], "started_at": scan["started_at"],
                     "finished_at": scan["finished_at"], "matches_new": summary.get("detect", {}).get("matches_new"),
                     "errors": sum((summary.get("errors") or {}).values())})
    return Section("last_scan", "Last scan", ["id", "status", "started_at", "finished_at", "matches_new", "errors"],
                   rows)


def evidence(ws: Workspace, store: Store, owner_id: int | None) -> Section:
    """Notices by kind; offers by status with what they add up to (accepted: the amount due)."""
    rows = [{"what": f"{kind} notices", "count": n, "amount": ""} for kind, n in sorted(store.notice_counts(owner_id).items())]
    totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for offer in store.offer_totals(owner_id):
        key = (offer["status"], offer["currency"])
        value = Decimal(amount_due(offer) or offer["amount"])
        count, total = totals.get(key, (0, Decimal(0)))
        totals[key] = (count + 1, total + value)
    rows += [{"what": f"offers {status}", "count": n, "amount": f"{currency} {total}"}
             for (status, currency), (n, total) in sorted(totals.items())]
    return Section("evidence", "Notices and offers", ["what", "count", "amount"], rows)


def indexes(ws: Workspace, store: Store, owner_id: int | None) -> Section:
    return Section("indexes", "Search indexes", ["index", "entries", "state"], catalogue.health(ws, store))


SECTIONS: list[Callable[[Workspace, Store, int | None], Section]] = [works, matches, last_scan, evidence, indexes]


def workspace_status(ws: Workspace, store: Store, owner_id: int | None = None) -> list[Section]:
    return [section(ws, store, owner_id) for section in SECTIONS]
