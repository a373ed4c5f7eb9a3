"""The store's API tokens: the portal's and the API's credentials, kept as hashes only."""

from __future__ import annotations

from detector.errors import NotFound
from detector.workspace.store.database import Database
from detector.workspace.store.rows import utc_now


class Tokens:
    """API tokens (mixed into `Store`)."""

    db: Database

    # -- API tokens of the portal ------------------------------------------------------------

    def add_api_token(self, token_hash: str, owner_id: int | None, label: str | None) -> int:
        return self.db["api_tokens"].insert(
            {"token_hash": token_hash, "owner_id": owner_id, "label": label, "created_at": utc_now()}
        ).last_pk

    _TOKEN_SELECT = ("SELECT api_tokens.*, owners.name AS owner FROM api_tokens "
                     "LEFT JOIN owners ON owners.id = api_tokens.owner_id ")

    def api_token_by_hash(self, token_hash: str) -> dict | None:
        """The token row with this hash (revoked or not), or None."""
        rows = list(self.db.query(self._TOKEN_SELECT + "WHERE token_hash = ?", [token_hash]))
        return rows[0] if rows else None

    def api_token(self, token_id: int) -> dict:
        rows = list(self.db.query(self._TOKEN_SELECT + "WHERE api_tokens.id = ?", [token_id]))
        if not rows:
            raise NotFound(f"No API token with id {token_id}; list them with `copyhound tokens list`.")
        return rows[0]

    def api_tokens(self) -> list[dict]:
        return list(self.db.query(self._TOKEN_SELECT + "ORDER BY api_tokens.id"))

    def revoke_api_token(self, token_id: int) -> dict:
        """Mark a token revoked (once; revoking again keeps the first time)."""
        self.api_token(token_id)
        self.db.execute("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                        [utc_now(), token_id])
        return self.api_token(token_id)
