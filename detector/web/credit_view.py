"""The licence check as the portal's match page shows it (`detector.web.credits` has its actions; the lists' one-line
`credit` and `held` come from `detector.enforcement.holds.annotate`)."""

from __future__ import annotations

from detector.enforcement import holds
from detector.workspace.store import Store


def licence_check(store: Store, match_id: int) -> dict:
    """What the match page shows of the licence check: findings, every hold (released ones too)."""
    check = store.credit_checks([match_id]).get(match_id)
    return {"checked_at": check["checked_at"] if check else None,
            "findings": check["findings"] if check else [],
            "holds": [dict(h, said=holds.describe(h)) for h in store.holds([match_id])]}
