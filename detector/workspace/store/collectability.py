"""The store's collectability triage: each match's latest score with its factors, and hosting countries
looked up over RDAP (cached per host)."""

from __future__ import annotations

import json

from detector.workspace.store.database import Database
from detector.workspace.store.rows import json_columns as _json_columns


class Collectability:
    """Collectability scores and the hosting-country cache (mixed into `Store`)."""

    db: Database

    def set_collectability(self, match_id: int, score: float, factors: list[dict], at: str) -> None:
        """Replace the match's assessment (only the latest is kept: it is recomputed from stored facts)."""
        self.db.execute(
            "INSERT INTO collectability (match_id, score, factors, assessed_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (match_id) DO UPDATE SET score = excluded.score, factors = excluded.factors, "
            "assessed_at = excluded.assessed_at",
            [match_id, score, json.dumps(factors, sort_keys=True), at])

    def collectability(self, match_id: int) -> dict | None:
        """The match's latest assessment (score, factors, assessed_at), or None when never assessed."""
        rows = list(self.db.query("SELECT * FROM collectability WHERE match_id = ?", [match_id]))
        return _json_columns(rows[0], ["factors"]) if rows else None

    def hosting_country(self, host: str, since: str) -> dict | None:
        """The cached RDAP country lookup of `host` made at or after `since`, or None."""
        rows = list(self.db.query("SELECT * FROM hosting_countries WHERE host = ? AND looked_up_at >= ?",
                                  [host, since]))
        return rows[0] if rows else None

    def set_hosting_country(self, host: str, country: str | None, detail: str, at: str) -> None:
        self.db.execute(
            "INSERT INTO hosting_countries (host, country, detail, looked_up_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (host) DO UPDATE SET country = excluded.country, detail = excluded.detail, "
            "looked_up_at = excluded.looked_up_at",
            [host, country, detail, at])
