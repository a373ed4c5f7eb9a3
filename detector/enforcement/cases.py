"""The case of an infringing site, and how each recipient of notices complied.

A case gathers one site's (host's) matches of one owner with their notices, offers, deliveries,
automated actions and outcomes. Days to removal run from the first notice sent about a match (its
first successful delivery; a notice never e-mailed counts from when it was made) to the scan
that saw the copy removed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from statistics import median

from detector.enforcement.policy import host_of
from detector.errors import NotFound
from detector.licensing.amounts import with_amounts
from detector.workspace.store import Store


def _days(start: str, end: str) -> float:
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 86400, 1)


def _noticed_at(match_id: int, notices: list[dict], deliveries: list[dict]) -> str | None:
    sent = [d["at"] for d in deliveries if d["match_id"] == match_id and d["notice_id"] and d["status"] == "sent"]
    made = [n["created_at"] for n in notices if n["match_id"] == match_id]
    return min(sent) if sent else (min(made) if made else None)


def days_to_removal(match: dict, notices: list[dict], deliveries: list[dict]) -> float | None:
    noticed = _noticed_at(match["id"], notices, deliveries)
    if noticed is None or match["presence"] != "removed" or not match["removed_at"] or match["removed_at"] < noticed:
        return None
    return _days(noticed, match["removed_at"])


def _owned_matches(store: Store, owner_id: int | None) -> list[dict]:
    return store.matches("matches.owner_id = ?", [owner_id]) if owner_id is not None else store.matches()


def summary(host: str, matches: list[dict], store: Store) -> dict:
    """One site's counts: copies up and removed, notices, offers, e-mails, median days to removal."""
    ids = [m["id"] for m in matches]
    notices, deliveries = store.notices(ids), store.deliveries(ids)
    removal = [d for m in matches if (d := days_to_removal(m, notices, deliveries)) is not None]
    return {
        "host": host, "matches": len(matches),
        "up": sum(m["presence"] != "removed" for m in matches),
        "removed": sum(m["presence"] == "removed" for m in matches),
        "notices": len(notices), "offers": len(store.offers(ids)),
        "emails_sent": sum(d["status"] == "sent" for d in deliveries),
        "emails_failed": sum(d["status"] == "failed" for d in deliveries),
        "emails_bounced": sum(d["status"] == "bounced" for d in deliveries),
        "median_days_to_removal": median(removal) if removal else None,
    }


def cases(store: Store, owner_id: int | None = None) -> list[dict]:
    """One row per (owner, site) with matches: counts of copies up and removed, notices, offers, e-mails."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for match in _owned_matches(store, owner_id):
        groups[(match["owner"], host_of(match["page_url"]))].append(match)
    return [{"owner": owner} | summary(host, matches, store) for (owner, host), matches in sorted(groups.items())]


def site_matches(store: Store, host: str, owner_id: int | None = None) -> list[dict]:
    """Every match on exactly this host (NotFound when there is none, or none of `owner_id`'s)."""
    host = host.strip().lower()
    matches = store.site_matches(owner_id, host)
    if not matches:
        raise NotFound(f"No matches on {host!r}; `copyhound cases` lists the sites with matches.")
    return matches


def case(store: Store, host: str, owner_id: int | None = None) -> dict:
    """Everything about one site: its matches (with outcome), notices, offers, deliveries and actions."""
    return case_of(store, host.strip().lower(), site_matches(store, host, owner_id))


def case_of(store: Store, host: str, matches: list[dict]) -> dict:
    """The case of `host` made of its `matches` (as `site_matches` gives them)."""
    ids = [m["id"] for m in matches]
    notices, deliveries = store.notices(ids), store.deliveries(ids)
    return {
        "host": host,
        "matches": [{
            "id": m["id"], "owner": m["owner"], "asset": m["asset_title"] or m["asset_filename"],
            "page_url": m["page_url"], "image_url": m["image_url"], "status": m["status"],
            "presence": m["presence"], "presence_detail": m["presence_detail"], "first_seen": m["first_seen"],
            "last_seen": m["last_seen"], "removed_at": m["removed_at"],
            "days_to_removal": days_to_removal(m, notices, deliveries),
        } for m in matches],
        "notices": [{k: n[k] for k in ("id", "match_id", "kind", "created_at", "sha256")} for n in notices],
        "offers": [{k: o[k] for k in ("id", "match_id", "status", "currency", "amount", "asked", "agreed", "paid",
                                      "draft_reason", "created_at", "sent_at", "decided_at")}
                   for o in (with_amounts(store, o) for o in store.offers(ids))],
        "deliveries": deliveries,
        "actions": [{k: a[k] for k in ("id", "match_id", "rule", "action", "recipient", "at")} | {
            "outcome": a["detail"].get("outcome")} for a in store.enforcement_actions(ids)],
    }


def compliance(store: Store, owner_id: int | None = None) -> list[dict]:
    """Per recipient of notices: notices sent, copies removed after them, median days to removal."""
    matches = {m["id"]: m for m in _owned_matches(store, owner_id)}
    if not matches:
        return []
    first_sent: dict[tuple[str, int], str] = {}
    for d in store.deliveries(list(matches)):
        if d["notice_id"] and d["status"] == "sent":
            key = (d["recipient"].lower(), d["match_id"])
            first_sent[key] = min(first_sent.get(key, d["at"]), d["at"])
    per_recipient: dict[str, list[float | None]] = defaultdict(list)
    for (recipient, match_id), at in first_sent.items():
        m = matches[match_id]
        gone = m["presence"] == "removed" and m["removed_at"] and m["removed_at"] >= at
        per_recipient[recipient].append(_days(at, m["removed_at"]) if gone else None)
    return [{"recipient": recipient, "notices_sent": len(days), "removed": sum(d is not None for d in days),
             "median_days_to_removal": median([d for d in days if d is not None]) if any(
                 d is not None for d in days) else None}
            for recipient, days in sorted(per_recipient.items())]
