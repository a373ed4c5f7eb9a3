"""The store's matches: recording a sighting of a work, finding matches, their review, and authorized uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from detector.errors import NotFound, UsageError
from detector.workspace.store.database import Database
from detector.workspace.store.rows import json_columns as _json_columns
from detector.workspace.store.rows import utc_now

MATCH_STATUSES = ("new", "confirmed", "rejected", "authorized")
DECISIONS = ("match", "review")


@dataclass(frozen=True)
class MatchFilter:
    """The filters of `copyhound matches` and the portal's match list, validated on construction."""

    owner: str | None = None
    owner_id: int | None = None
    asset: int | None = None
    status: str | None = None
    decision: str | None = None
    since: str | None = None
    min_score: float | None = None
    domain: str | None = None
    #: Only matches held for review now (detector.enforcement.holds), or whose licence check found a credit.
    held: bool = False
    credited: bool = False

    def __post_init__(self):
        if self.status is not None and self.status not in MATCH_STATUSES:
            raise UsageError(f"status {self.status!r} is not known; use one of: {', '.join(MATCH_STATUSES)}.")
        if self.decision is not None and self.decision not in DECISIONS:
            raise UsageError(f"decision {self.decision!r} is not known; use one of: {', '.join(DECISIONS)}.")
        if self.min_score is not None and not 0 <= self.min_score <= 1:
            raise UsageError(f"min_score must be between 0 and 1; got {self.min_score}.")
        if self.since is not None:
            try:
                datetime.fromisoformat(self.since)
            except ValueError:
                raise UsageError(
                    f"since {self.since!r} is not a date; use YYYY-MM-DD or an ISO 8601 time."
                ) from None

    def sql(self) -> tuple[str, list]:
        clauses, params = ["1"], []
        for column, value in (("owners.name", self.owner), ("matches.owner_id", self.owner_id),
                              ("matches.asset_id", self.asset), ("matches.status", self.status),
                              ("matches.decision", self.decision)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("matches.last_seen >= ?")
            params.append(self.since)
        if self.min_score is not None:
            clauses.append("matches.score >= ?")
            params.append(self.min_score)
        if self.domain is not None:
            domain = self.domain.strip().lower()
            clauses.append("(url_host(matches.page_url) = ? OR url_host(matches.page_url) LIKE ?)")
            params += [domain, "%." + domain]
        if self.held:
            clauses.append("EXISTS (SELECT 1 FROM match_holds WHERE match_holds.match_id = matches.id "
                           "AND match_holds.released_at IS NULL)")
        if self.credited:  # findings are stored as JSON, '[]' when the check found none
            clauses.append("EXISTS (SELECT 1 FROM credit_checks WHERE credit_checks.match_id = matches.id "
                           "AND credit_checks.findings != '[]')")
        return " AND ".join(clauses), params


#: How lists of matches may be ordered: oldest first, or most worth acting on first (unassessed last).
ORDERS = {
    "id": "matches.id",
    "collectability": "CASE WHEN collectability.score IS NULL THEN 1 ELSE 0 END, collectability.score DESC, "
                      "matches.score DESC, matches.id",
}


class Matches:
    """Matches and their review (mixed into `Store`)."""

    db: Database

    # -- matches -----------------------------------------------------------------------------

    def record_match(self, *, asset: dict, candidate: dict, score: float, decision: str,
                     signals: dict, status: str = "new") -> tuple[int, bool]:
        """Insert a match, or count one more sighting of a known (asset, page, content) use.

        Returns (match id, created). A repeat sighting refreshes score, signals and last_seen but
        keeps the reviewer's status: a rejected match stays rejected.
        """
        now = utc_now()
        key = [asset["id"], candidate["page_url"], candidate["sha256"]]
        existing = self.db.execute(
            "SELECT id, candidate_id FROM matches WHERE asset_id = ? AND page_url = ? AND sha256 = ?", key
        ).fetchone()
        if existing is not None:
            match_id, last_candidate = existing
            if last_candidate == candidate["id"]:  # the same sighting detected again (a resumed scan)
                return match_id, False
            self.db.execute(
                "UPDATE matches SET candidate_id = ?, score = ?, decision = ?, signals = ?, "
                "last_seen = ?, sightings = sightings + 1, image_url = ? WHERE id = ?",
                [candidate["id"], score, decision, json.dumps(signals, sort_keys=True), now,
                 candidate["image_url"], match_id],
            )
            return match_id, False
        match_id = self.db["matches"].insert({
            "asset_id": asset["id"], "owner_id": asset["owner_id"], "sha256": candidate["sha256"],
            "page_url": candidate["page_url"], "image_url": candidate["image_url"],
            "candidate_id": candidate["id"], "score": score, "decision": decision,
            "signals": json.dumps(signals, sort_keys=True), "status": status,
            "first_seen": now, "last_seen": now, "sightings": 1,
        }).last_pk
        return match_id, True

    _MATCH_SELECT = (
        "SELECT matches.*, assets.filename AS asset_filename, assets.title AS asset_title, "
        "owners.name AS owner, collectability.score AS collectability FROM matches "
        "JOIN assets ON assets.id = matches.asset_id JOIN owners ON owners.id = matches.owner_id "
        "LEFT JOIN collectability ON collectability.match_id = matches.id "
    )

    def matches(self, where: str = "1", params: list | None = None, limit: int | None = None,
                offset: int = 0, order: str = "id") -> list[dict]:
        if order not in ORDERS:
            raise UsageError(f"sort {order!r} is not known; use one of: {', '.join(ORDERS)}.")
        sql = self._MATCH_SELECT + f"WHERE {where} ORDER BY {ORDERS[order]}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [_json_columns(r, ["signals"]) for r in self.db.query(sql, params or [])]

    def find_matches(self, filters: MatchFilter, limit: int | None = None, offset: int = 0,
                     order: str = "id") -> tuple[list[dict], int]:
        """Matches passing `filters` (one page of them, in `order`: see ORDERS) and how many pass in all."""
        where, params = filters.sql()
        total = self.db.execute(
            f"SELECT count(*) FROM matches JOIN owners ON owners.id = matches.owner_id WHERE {where}", params
        ).fetchone()[0]
        return self.matches(where, params, limit=limit, offset=offset, order=order), total

    def match(self, match_id: int, owner_id: int | None = None) -> dict:
        """One match; NotFound when missing or (with owner_id) when it belongs to someone else."""
        where, params = "matches.id = ?", [match_id]
        if owner_id is not None:
            where, params = where + " AND matches.owner_id = ?", params + [owner_id]
        rows = self.matches(where, params)
        if not rows:
            raise NotFound(f"No match with id {match_id}; list them with `copyhound matches`.")
        return rows[0]

    def set_match_status(self, match_id: int, status: str, note: str | None, at: str | None = None) -> dict:
        self.db["matches"].update(match_id, {"status": status, "note": note, "reviewed_at": at or utc_now()})
        return self.match(match_id)

    def add_authorized_use(self, owner_id: int, pattern: str, note: str | None) -> None:
        self.db.execute(
            "INSERT INTO authorized_uses(owner_id, pattern, note, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [owner_id, pattern, note, utc_now()],
        )

    def authorized_uses(self, owner_id: int) -> list[dict]:
        return list(self.db["authorized_uses"].rows_where("owner_id = ?", [owner_id], order_by="id"))
