"""Reviewing a match: the one place a review status is set, used by the CLI and the portal.

Each review is also appended to the provenance ledger, so an evidence bundle shows who decided
what and when, and a later change of mind leaves the earlier decision on record.
"""

from __future__ import annotations

from detector.errors import UsageError
from detector.evidence import ledger
from detector.workspace.store import Store

REVIEW_STATUSES = ("confirmed", "rejected", "authorized")


def review_match(store: Store, match_id: int, status: str, note: str | None = None,
                 owner_id: int | None = None, actor: str = "cli") -> dict:
    """Set match `match_id`'s status and record the review in the ledger; returns the updated match.

    `status` must be one of REVIEW_STATUSES (UsageError otherwise). With `owner_id`, a match of
    another owner raises NotFound, exactly like a missing one. `actor` says who reviewed
    ("cli", "token:3"), for the ledger.
    """
    if status not in REVIEW_STATUSES:
        raise UsageError(f"Review status {status!r} is not accepted; use one of: "
                         f"{', '.join(REVIEW_STATUSES)}.")
    note = (note or "").strip() or None
    with store.atomic():
        before = store.match(match_id, owner_id=owner_id)
        updated = store.set_match_status(match_id, status, note)
        ledger.append(store, "review", ledger.match_subject(match_id), {
            "status": status, "previous": before["status"], "note": note, "by": actor,
        })
    return updated
