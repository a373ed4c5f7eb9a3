"""API tokens of the rights-holder portal: made here, shown once, stored only as a SHA-256.

A token is bound to one owner (who then sees only their own works, matches, notices, offers and
bundles) or, with no owner, is an admin token that sees everyone. Keeping only the hash means a
copied database does not hand out working tokens; revoking sets `revoked_at` and the token stops
working at once, web sessions made with it included.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from detector.errors import NotFound
from detector.workspace.store import Store

PREFIX = "chp_"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for. `owner_id` None means admin (every owner)."""

    token_id: int
    owner_id: int | None
    owner: str | None
    label: str | None

    @property
    def is_admin(self) -> bool:
        return self.owner_id is None

    @property
    def name(self) -> str:
        return "admin" if self.is_admin else self.owner

    @property
    def actor(self) -> str:
        """Who the ledger records for what this principal does in the portal."""
        return f"portal token {self.token_id} ({self.name})"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(store: Store, owner: str | None, label: str | None = None) -> tuple[dict, str]:
    """Make a token for `owner` (None: admin); returns (its stored row, the token itself).

    The token is returned only here; afterwards only its hash exists. The owner must exist
    (register a work for it first), so a typo cannot mint a token for nobody.
    """
    owner_id = store.owner_by_name(owner)["id"] if owner is not None else None
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = store.add_api_token(token_hash(token), owner_id, label)
    return store.api_token(token_id), token


def authenticate(store: Store, token: str) -> Principal:
    """The principal a token stands for; NotFound when it is unknown or revoked (same answer for both)."""
    row = store.api_token_by_hash(token_hash(token.strip()))
    if row is None or row["revoked_at"] is not None:
        raise NotFound("The API token is unknown or revoked; ask an admin for a new one "
                       "(`copyhound tokens create --owner NAME`).")
    return principal(row)


def principal(row: dict) -> Principal:
    return Principal(token_id=row["id"], owner_id=row["owner_id"], owner=row["owner"], label=row["label"])


def active_principal(store: Store, token_id: int) -> Principal | None:
    """The principal of token `token_id` if it still works (web sessions re-check on every request)."""
    try:
        row = store.api_token(token_id)
    except NotFound:
        return None
    return None if row["revoked_at"] is not None else principal(row)
