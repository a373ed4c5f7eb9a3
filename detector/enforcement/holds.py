"""Matches held for the owner before any automated action: credited copies, and floods.

- **credit**: the copy's page, image URL or metadata credits a place where the work is licensed
  (`detector.enforcement.credits`); held with the reason "credited on the page" and the findings.
- **flood**: the work matched on more than `enforcement.flood_sites` distinct sites first seen within
  `enforcement.flood_window_hours` (a logo, a template, a stock element); each of those matches is held
  with the count. A flood is more likely a false match than that many infringements.

A held match is at `review`: enforcement takes no outward action on it (`held_reason`) until the
owner releases it (`release`). A released hold stays released: a later check does not hold the match
again for the same kind. Every hold and release is entered in the ledger (kind `hold`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from detector.config import Settings
from detector.enforcement import credits, recipients
from detector.errors import NotFound
from detector.licensing.demand import bare_host
from detector.provenance import ledger
from detector.workspace import Workspace
from detector.workspace.store import Store, utc_now

CREDIT_REASON = "credited on the page"
#: Hosts kept in a flood hold's detail as examples.
FLOOD_EXAMPLES = 10


@dataclass
class Held:
    """What one pass held (match ids per kind), which matches are credited, and in a dry run the holds it
    would place (match id: the reason), since a dry run writes nothing."""

    credit: list[int] = field(default_factory=list)
    flood: list[int] = field(default_factory=list)
    credited: set[int] = field(default_factory=set)
    planned: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"credit": self.credit, "flood": self.flood}


def hold_matches(ws: Workspace, store: Store, settings: Settings, now: datetime,
                 owner_id: int | None = None, dry_run: bool = False) -> Held:
    """Check every sighting not yet checked for credits, and every work for a flood; hold what needs the owner."""
    held = Held()
    where, params = "matches.status NOT IN ('rejected', 'authorized')", []
    if owner_id is not None:
        where, params = where + " AND matches.owner_id = ?", [owner_id]
    matches = store.matches(where, params)
    checks = store.credit_checks([m["id"] for m in matches])
    kinds = {(h["match_id"], h["kind"]) for h in store.holds([m["id"] for m in matches])}
    at = recipients.stamp(now)
    for match in matches:
        check = checks.get(match["id"])
        if check is not None and check["candidate_id"] == match["candidate_id"]:
            if check["findings"]:
                held.credited.add(match["id"])
            continue
        findings = credits.check_match(ws, store, settings, match)
        if findings:
            held.credited.add(match["id"])
        if dry_run:
            if findings and (match["id"], "credit") not in kinds:
                held.planned[match["id"]] = _reason([{"kind": "credit", "reason": CREDIT_REASON,
                                                      "detail": {"findings": findings}}], match["id"])
            continue
        with store.atomic():
            store.set_credit_check(match["id"], match["candidate_id"], findings, at)
            if findings and _hold(store, match["id"], "credit", CREDIT_REASON, {"findings": findings}, at):
                held.credit.append(match["id"])
    for match_id, reason, detail in _floods(settings, now, matches):
        if dry_run:
            if (match_id, "flood") not in kinds:
                held.planned.setdefault(match_id, _reason([{"kind": "flood", "reason": reason}], match_id))
            continue
        with store.atomic():
            if _hold(store, match_id, "flood", reason, detail, at):
                held.flood.append(match_id)
    return held


def _hold(store: Store, match_id: int, kind: str, reason: str, detail: dict, at: str) -> bool:
    """Hold one match (inside the caller's transaction); False when it had a hold of this kind already."""
    if not store.add_hold(match_id, kind, reason, detail, at):
        return False
    ledger.append(store, "hold", ledger.match_subject(match_id),
                  {"kind": kind, "reason": reason, "detail": detail, "by": "copyhound"}, at=at)
    return True


def _floods(settings: Settings, now: datetime, matches: list[dict]) -> list[tuple[int, str, dict]]:
    """(match id, reason, detail) for each match of a work that floods now."""
    limit, hours = settings.enforcement.flood_sites, settings.enforcement.flood_window_hours
    if limit <= 0:
        return []
    since = recipients.stamp(now - timedelta(hours=hours))
    recent: dict[int, list[dict]] = defaultdict(list)
    for match in matches:
        if match["first_seen"] >= since:
            recent[match["asset_id"]].append(match)
    found = []
    for asset_matches in recent.values():
        sites = sorted({bare_host(m["page_url"]) for m in asset_matches} - {""})
        if len(sites) <= limit:
            continue
        reason = (f"flood: the work matched on {len(sites)} sites within {hours} hours "
                  f"(more than enforcement.flood_sites = {limit})")
        detail = {"sites": len(sites), "window_hours": hours, "limit": limit, "examples": sites[:FLOOD_EXAMPLES]}
        found += [(m["id"], reason, detail) for m in asset_matches]
    return found


def credited(store: Store, match_ids: list[int]) -> set[int]:
    """The matches whose latest credit check found a credit."""
    return {i for i, check in store.credit_checks(match_ids).items() if check["findings"]}


def active(store: Store, match_ids: list[int]) -> dict[int, list[dict]]:
    """The holds in force, by match id."""
    found: dict[int, list[dict]] = defaultdict(list)
    for hold in store.holds(match_ids, active_only=True):
        found[hold["match_id"]].append(hold)
    return dict(found)


def annotate(store: Store, rows: list[dict]) -> list[dict]:
    """Each listed match with `credit` (what its licence check found, in one line, "" for none) and `held`
    (why it is held now, "" when it is not), as the portal, the API and `copyhound matches` list them."""
    ids = [r["id"] for r in rows]
    checks, held = store.credit_checks(ids), active(store, ids)
    for row in rows:
        row["credit"] = credits.summary((checks.get(row["id"]) or {}).get("findings") or [])
        row["held"] = "; ".join(describe(h) for h in held.get(row["id"], []))
    return rows


def held_reason(store: Store, match_id: int) -> str | None:
    """Why a hold keeps enforcement off this match, or None."""
    holds = active(store, [match_id]).get(match_id)
    return _reason(holds, match_id) if holds else None


def _reason(holds: list[dict], match_id: int) -> str:
    return "held for review: " + "; ".join(describe(h) for h in holds) + \
        f" (release it with `copyhound release {match_id}` once checked)"


def describe(hold: dict) -> str:
    """A hold in one line: its reason, and for a credit what was credited where."""
    if hold["kind"] == "credit":
        return f"{hold['reason']}: {credits.summary(hold['detail'].get('findings', []))}"
    return hold["reason"]


def release(store: Store, match_id: int, owner_id: int | None = None, actor: str = "cli",
            at: str | None = None) -> list[dict]:
    """Release a match's holds (the owner checked it); the holds released. NotFound for another owner's match."""
    store.match(match_id, owner_id=owner_id)
    at = at or utc_now()
    with store.atomic():
        released = store.release_holds(match_id, actor, at)
        if not released:
            raise NotFound(f"Match {match_id} is not held; nothing to release.")
        ledger.append(store, "hold", ledger.match_subject(match_id),
                      {"released": [h["kind"] for h in released], "by": actor}, at=at)
    return released
