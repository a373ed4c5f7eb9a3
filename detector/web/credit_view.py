"""The licence check as the portal's match page and lists show it (`detector.web.credits` has its actions)."""

from __future__ import annotations

from detector.enforcement import credits, holds
from detector.workspace.store import Store


def annotate(store: Store, rows: list[dict]) -> list[dict]:
    """Each listed match with `credit` (what its licence check found, in one line) and `held` (why it is held)."""
    ids = [r["id"] for r in rows]
    checks, held = store.credit_checks(ids), holds.active(store, ids)
    for row in rows:
        row["credit"] = credits.summary((checks.get(row["id"]) or {}).get("findings") or [])
        row["held"] = "; ".join(holds.describe(h) for h in held.get(row["id"], []))
    return rows


def licence_check(store: Store, match_id: int) -> dict:
    """What the match page shows of the licence check: findings, every hold (released ones too)."""
    check = store.credit_checks([match_id]).get(match_id)
    return {"checked_at": check["checked_at"] if check else None,
            "findings": check["findings"] if check else [],
            "holds": [dict(h, said=holds.describe(h)) for h in store.holds([match_id])]}
