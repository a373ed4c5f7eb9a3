"""Run a scan's sources: each within its budget and cap, its leads stored, its cursor saved.

A source that fails is recorded with its reason and the others run on; a lead that cannot be fetched
(not http(s)) is counted in the run's detail, never crawled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from detector.config import Target
from detector.sources.base import Budget, Lead, Source, SourceError
from detector.workspace.store import Store


@dataclass
class Gathered:
    """What a scan's sources found: the runs (to tie to the scan), the targets to crawl, a summary per source."""

    run_ids: list[int] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    summary: dict[str, dict] = field(default_factory=dict)


def month_start(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-01T00:00:00")


def budget_for(store: Store, source: Source, now: datetime) -> Budget:
    cap = source.config.monthly_budget
    if cap <= 0:
        return Budget(None)
    return Budget(max(0, cap - store.source_budget_used(source.name, month_start(now))))


def due(store: Store, source: Source, now: datetime) -> bool:
    """True when `source`'s last run is at least its cadence old (or it never ran)."""
    last = store.last_source_run(source.name)
    if last is None or source.config.cadence_days <= 0 or getattr(source, "per_work", False):
        return True
    started = datetime.fromisoformat(last["started_at"])
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return now - started >= timedelta(days=source.config.cadence_days)


def gather(store: Store, sources: list[Source], now: datetime | None = None) -> Gathered:
    """Run `sources` once each and store their leads; returns what the crawler is to visit."""
    now = now or datetime.now(UTC)
    gathered = Gathered()
    for source in sources:
        run_id = store.start_source_run(source.name, source.config.type)
        gathered.run_ids.append(run_id)
        leads, outcome = _run(store, source, run_id, budget_for(store, source, now))
        gathered.summary[source.name] = outcome
        if leads:
            gathered.targets += source.targets(leads)
    return gathered


def _run(store: Store, source: Source, run_id: int, budget: Budget) -> tuple[list[Lead], dict]:
    saved = store.source_cursor(source.name)
    cursor = dict(saved or {})
    leads: list[Lead] = []
    refused: list[str] = []
    status, notes = "finished", []
    try:
        for lead in source.leads(cursor, budget):
            problem = lead.problem()
            if problem:
                refused.append(f"{lead.url!r}: {problem}")
                continue
            if any(lead.url == kept.url for kept in leads) or (not source.repeat and store.known_lead_urls(
                    source.name, [lead.url], getattr(source, "group", ()))):
                continue
            if len(leads) >= source.config.max_leads:
                if getattr(source, "per_work", False):
                    # Paid queries are not made again: the works asked keep their date, and the rest of the
                    # last answer's results are dropped.
                    notes.append(f"max_leads {source.config.max_leads} reached; the rest of the last answer is "
                                 "dropped, the works not yet asked wait for the next run")
                else:
                    # The cursor stays where it was, so the leads left over are found again next run.
                    notes.append(f"max_leads {source.config.max_leads} reached; the rest wait for the next run")
                    cursor = dict(saved or {})
                break
            leads.append(lead)
    except SourceError as e:
        status, cursor = "failed", dict(saved or {})
        notes.append(str(e))
    notes += getattr(source, "problems", [])
    if refused:
        notes.append(f"{len(refused)} lead(s) refused: " + "; ".join(refused[:5]))
    with store.atomic():
        for lead in leads:
            store.add_lead(run_id, source.name, asdict(lead))
        store.finish_source_run(run_id, status, leads=len(leads), budget_used=budget.used, cursor=cursor,
                                detail="\n".join(notes) or None)
    return leads, {"type": source.config.type, "status": status, "leads": len(leads), "budget_used": budget.used,
                   "problems": notes}


def adopt_lead_pages(store: Store, scan_id: int) -> int:
    """Give a candidate fetched from an image lead the page its source says shows it (a Bluesky post's web
    page), instead of the image URL itself; returns how many changed."""
    changed = 0
    for candidate in store.candidates("scan_id = ? AND lead_id IS NOT NULL AND page_url = image_url", [scan_id]):
        lead = store.lead(candidate["lead_id"]) or {}
        page = (lead.get("provenance") or {}).get("page_url")
        if lead.get("kind") == "image" and isinstance(page, str) and page.startswith(("http://", "https://")):
            store.update_candidate(candidate["id"], page_url=page)
            changed += 1
    return changed


def dry_check(store: Store, source: Source, now: datetime | None = None) -> list[str]:
    """`copyhound sources test`: reach the source, one query; recorded as a 'dry' run (no leads, no cursor)."""
    budget = budget_for(store, source, now or datetime.now(UTC))
    run_id = store.start_source_run(source.name, source.config.type)
    try:
        lines = source.check(budget)
    except SourceError as e:
        store.finish_source_run(run_id, "dry", leads=0, budget_used=budget.used, cursor=None, detail=f"failed: {e}")
        raise
    if hasattr(source, "estimate"):  # what the next run would spend, before it spends it
        left = None if budget.left is None else budget.left - budget.used
        lines.append(source.estimate(store.source_cursor(source.name) or {}, left))
    store.finish_source_run(run_id, "dry", leads=0, budget_used=budget.used, cursor=None, detail="; ".join(lines))
    return lines


def estimate(store: Store, source: Source, now: datetime | None = None) -> str:
    """`copyhound sources test --dry-run`: what the next run would spend, with no request made."""
    left = budget_for(store, source, now or datetime.now(UTC)).left
    if hasattr(source, "estimate"):
        return source.estimate(store.source_cursor(source.name) or {}, left)
    cap = "no cap" if left is None else f"{left} left this month"
    return f"no estimate for a {source.config.type} source: it spends one request per page it reads ({cap})"
