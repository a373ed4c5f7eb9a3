"""The workspace at a glance (`copyhound status`): a list of sections, each a titled table.

A section is a function of (workspace, store, owner id or None for all) returning a Section;
`SECTIONS` lists them in the order shown. Features that add state worth a glance (distributed
queues, schedules) add a function to it rather than growing the command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from detector import catalogue
from detector.distributed import broker
from detector.errors import QueueUnavailable
from detector.licensing.offers import amount_due
from detector.workspace import Workspace
from detector.workspace.store import Store


@dataclass(frozen=True)
class Section:
    name: str            # key in --format json
    title: str
    columns: list[str]
    rows: list[dict]
    optional: bool = False  # left out of a table while it has no rows (JSON keeps it)


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


#: The window `queue` measures throughput over, in minutes.
THROUGHPUT_MINUTES = 5


def queue(ws: Workspace, store: Store, owner_id: int | None) -> Section:
    """Distributed detection at a glance: the scan in progress, work done per stage in the last minutes
    (from the store, so it holds for in-process scans too), and the queue's depth in Redis when one is set."""
    rows = []
    for scan in store.scans(limit=1):
        if scan["status"] == "running":
            rows.append({"what": "scan in progress", "count": scan["id"],
                         "detail": f"since {scan['started_at']}, {store.count_pending()} candidates waiting"})
    failed = store.count_failed()
    if failed:
        rows.append({"what": "candidates parked as failed", "count": failed,
                     "detail": "their task killed its worker every time; `copyhound refused SCAN` names them"})
    since = (datetime.now(UTC) - timedelta(minutes=THROUGHPUT_MINUTES)).replace(microsecond=0)
    done = store.throughput(since.isoformat().replace("+00:00", "Z"), owner_id)
    for stage, count in done.items():
        rows.append({"what": f"{stage}, last {THROUGHPUT_MINUTES} min", "count": count,
                     "detail": f"{count / THROUGHPUT_MINUTES:.1f}/min"})
    settings = ws.settings().distributed
    if settings.redis_url:
        try:
            client = broker.connect(settings.redis_url)
            depth = broker.depth(client, settings)
            alive = len(broker.live_workers(client, settings))
        except QueueUnavailable as e:
            rows.append({"what": "redis", "count": None, "detail": str(e)})
        else:
            rows += [{"what": "tasks waiting", "count": depth["waiting"], "detail": f"queue {settings.queue}"},
                     {"what": "tasks in flight", "count": depth["in_flight"], "detail": "taken by a worker, not yet recorded"},
                     {"what": "workers alive", "count": alive, "detail": settings.redis_url}]
    return Section("queue", "Detection: scan in progress, throughput, queue", ["what", "count", "detail"], rows)


def workers(ws: Workspace, store: Store, owner_id: int | None) -> Section:
    """The detection workers that sent a heartbeat recently (none without a Redis, or when it does not answer)."""
    settings = ws.settings().distributed
    rows = []
    if settings.redis_url:
        try:
            rows = broker.live_workers(broker.connect(settings.redis_url), settings)
        except QueueUnavailable:
            rows = []  # the queue section says why
    return Section("workers", "Detection workers", ["hostname", "pool", "concurrency", "started_at", "heartbeat_at"],
                   rows, optional=True)


SECTIONS: list[Callable[[Workspace, Store, int | None], Section]] = [works, matches, last_scan, evidence, indexes,
                                                                     queue, workers]


def workspace_status(ws: Workspace, store: Store, owner_id: int | None = None) -> list[Section]:
    return [section(ws, store, owner_id) for section in SECTIONS]
