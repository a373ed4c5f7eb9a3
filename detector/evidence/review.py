"""Reviewing a match: the one place a review status is set, used by the CLI and the portal.

Each review is also appended to the provenance ledger, so an evidence bundle shows who decided
what and when, and a later change of mind leaves the earlier decision on record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from detector.errors import UsageError
from detector.provenance import ledger
from detector.rights import authorized
from detector.workspace.store import MatchFilter, Store

REVIEW_STATUSES = ("confirmed", "rejected", "authorized")


def review_match(store: Store, match_id: int, status: str, note: str | None = None,
                 owner_id: int | None = None, actor: str = "cli", at: str | None = None) -> dict:
    """Set match `match_id`'s status and record the review in the ledger; returns the updated match.

    `status` must be one of REVIEW_STATUSES (UsageError otherwise). With `owner_id`, a match of
    another owner raises NotFound, exactly like a missing one. `actor` says who reviewed
    ("cli", "token:3", "policy:RULE"), for the ledger; `at` is the time (default now).
    """
    if status not in REVIEW_STATUSES:
        raise UsageError(f"Review status {status!r} is not accepted; use one of: "
                         f"{', '.join(REVIEW_STATUSES)}.")
    note = (note or "").strip() or None
    with store.atomic():
        before = store.match(match_id, owner_id=owner_id)
        updated = store.set_match_status(match_id, status, note, at=at)
        ledger.append(store, "review", ledger.match_subject(match_id), {
            "status": status, "previous": before["status"], "note": note, "by": actor,
        }, at=at)
    return updated


_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
MAX_PATTERN = 300


def authorization_pattern(pattern: str) -> str:
    """`pattern` checked and normalised: a domain (sub-domains included) or an http(s) URL prefix."""
    pattern = (pattern or "").strip()
    if "://" in pattern:
        parts = urlsplit(pattern)
        if parts.scheme.lower() in ("http", "https") and parts.hostname and len(pattern) <= MAX_PATTERN \
                and not any(c.isspace() for c in pattern):
            return pattern
    elif _DOMAIN.match(pattern.lower()) and len(pattern) <= MAX_PATTERN:
        return pattern.lower()
    raise UsageError(f"A licensed use is a domain like example.com or a URL prefix like "
                     f"https://example.com/blog/, got {pattern[:80]!r}.")


@dataclass(frozen=True)
class Authorization:
    pattern: str
    owner: str
    marked: list[int]  # ids of the unreviewed matches there, now 'authorized'


def authorize_use(store: Store, owner_id: int, pattern: str, note: str | None = None,
                  actor: str = "cli") -> Authorization:
    """Declare a licensed use of owner `owner_id`'s works on `pattern` (a domain or URL prefix).

    Matches found there later are recorded as 'authorized' by detection; matches already found
    there and not yet reviewed are licensed uses too, so they are marked now (each review in the
    ledger). A reviewer's earlier decision stands.
    """
    pattern = authorization_pattern(pattern)
    note = (note or "").strip() or None
    owner = store.owner(owner_id)
    store.add_authorized_use(owner_id, pattern, note)
    pending, _ = store.find_matches(MatchFilter(owner_id=owner_id, status="new"))
    covered = [m["id"] for m in pending if authorized(m["page_url"], m["image_url"], [pattern])]
    why = f"declared licensed use: {pattern}" + (f" ({note})" if note else "")
    for match_id in covered:
        review_match(store, match_id, "authorized", why, owner_id=owner_id, actor=actor)
    return Authorization(pattern, owner["name"], covered)
