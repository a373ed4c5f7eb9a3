"""The store's side of distributed detection: claiming candidates once, and the queue's progress."""

from __future__ import annotations

import json

from detector.workspace.store.database import Database


class Distributed:
    """Claiming candidates and counting the queue (mixed into `Store`; reads through `Scans.candidates`)."""

    db: Database

    # -- distributed detection: claiming candidates, the queue's progress ------------------------------------
    # Portable SQL (SQLite and PostgreSQL): tasks may be delivered twice, so every write is keyed by candidate.

    _PENDING = "state = 'new' AND sha256 IS NOT NULL"

    def new_candidates(self, candidate_ids: list[int]) -> list[dict]:
        """Those of `candidate_ids` still waiting for detection (state 'new'), by id."""
        if not candidate_ids:
            return []
        marks = ", ".join("?" for _ in candidate_ids)
        return self.candidates(f"state = 'new' AND id IN ({marks})", list(candidate_ids))

    def claim_candidate(self, candidate_id: int, state: str, **fields) -> bool:
        """Move a candidate out of state 'new' (to 'detected' or 'refused'); False when another writer did first.

        The state test is in the UPDATE itself, so two deliveries of one task racing on PostgreSQL
        (READ COMMITTED re-checks the row after the lock) cannot both claim it.
        """
        values = {"state": state, **fields}
        if isinstance(values.get("detection"), dict):  # how detection went for it (detector.reuse), as JSON
            values["detection"] = json.dumps(values["detection"], sort_keys=True)
        assignments = ", ".join(f"{name} = ?" for name in values)
        cursor = self.db.execute(f"UPDATE candidates SET {assignments} WHERE id = ? AND state = 'new'",
                                 [*values.values(), candidate_id])
        return cursor.rowcount == 1

    def count_delivery(self, candidate_ids: list[int]) -> int:
        """Count one more delivery of the task of `candidate_ids` (those still 'new'); the most any has had."""
        marks = ", ".join("?" for _ in candidate_ids)
        with self.db.atomic():
            self.db.execute(f"UPDATE candidates SET deliveries = deliveries + 1 WHERE state = 'new' AND id IN ({marks})",
                            list(candidate_ids))
            return self.db.execute(f"SELECT COALESCE(MAX(deliveries), 0) FROM candidates WHERE id IN ({marks})",
                                   list(candidate_ids)).fetchone()[0]

    def count_failed(self) -> int:
        """Candidates parked as 'failed' (their detection task was delivered too often)."""
        return self.db.execute("SELECT COUNT(*) FROM candidates WHERE state = 'failed'").fetchone()[0]

    def pending_candidates(self, after_id: int = 0) -> list[dict]:
        """Candidates with bytes still waiting for detection, past `after_id`, by id."""
        return self.candidates(f"{self._PENDING} AND id > ?", [after_id])

    def count_pending(self, through_id: int | None = None) -> int:
        """Candidates with bytes still waiting for detection (those up to `through_id` when given)."""
        sql = f"SELECT COUNT(*) FROM candidates WHERE {self._PENDING}"
        params = [] if through_id is None else [through_id]
        if through_id is not None:
            sql += " AND id <= ?"
        return self.db.execute(sql, params).fetchone()[0]

    def detection_outcome(self, since: str, through_id: int) -> dict:
        """What detection recorded from `since` for candidates up to `through_id`: candidates, distinct
        images, refused images by reason, matches by decision, matches first seen then and matches seen again, and images
        whose earlier non-copy analysis was reused (detector.reuse)."""
        done = "state <> 'new' AND detected_at >= ? AND id <= ?"
        candidates, images = self.db.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT CASE WHEN state = 'detected' THEN sha256 END) FROM candidates "
            f"WHERE {done}", [since, through_id]).fetchone()
        refused = dict(self.db.execute(
            f"SELECT refusal_reason, COUNT(DISTINCT sha256) FROM candidates WHERE {done} AND state IN ('refused', 'failed') "
            "GROUP BY refusal_reason ORDER BY refusal_reason", [since, through_id]).fetchall())
        reused = self.db.execute(
            f"SELECT COUNT(DISTINCT sha256) FROM candidates WHERE {done} AND detection LIKE ?",
            [since, through_id, '%"exit": "reused"%']).fetchone()[0]
        rows = self.db.execute(
            f"SELECT decision, first_seen >= ? FROM matches WHERE candidate_id IN (SELECT id FROM candidates "
            f"WHERE {done})", [since, since, through_id]).fetchall()
        decisions: dict[str, int] = {}
        for decision, _ in rows:
            decisions[decision] = decisions.get(decision, 0) + 1
        new = sum(1 for _, is_new in rows if is_new)
        return {"candidates": candidates, "images": images, "refused": refused, "decisions": decisions,
                "matches_new": new, "matches_updated": len(rows) - new, "reused": reused}

    def throughput(self, since: str, owner_id: int | None = None) -> dict[str, int]:
        """Work done per stage from `since`: images captured, candidates detected and refused, matches found
        (of `owner_id`'s works when given: candidates belong to no owner, matches do)."""
        captured = self.db.execute("SELECT COUNT(*) FROM candidates WHERE discovered_at >= ? AND sha256 IS NOT NULL",
                                   [since]).fetchone()[0]
        states = dict(self.db.execute("SELECT state, COUNT(*) FROM candidates WHERE detected_at >= ? GROUP BY state",
                                      [since]).fetchall())
        owned, params = ("", [since]) if owner_id is None else (" AND owner_id = ?", [since, owner_id])
        matches = self.db.execute(f"SELECT COUNT(*) FROM matches WHERE first_seen >= ?{owned}", params).fetchone()[0]
        return {"captured": captured, "detected": states.get("detected", 0), "refused": states.get("refused", 0),
                "matches": matches}
