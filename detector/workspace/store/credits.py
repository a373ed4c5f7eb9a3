"""The store's licence checks: where owners' works are licensed, each match's credit check, holds on matches
(credited on the page, flood), and works' negative lists ("not mine")."""

from __future__ import annotations

import json

from detector.workspace.store.database import Database
from detector.workspace.store.rows import json_columns as _json_columns
from detector.workspace.store.rows import utc_now


def _marks(ids: list[int]) -> str:
    return ", ".join("?" for _ in ids)


class Credits:
    """Licensed sources, credit checks, match holds and negatives (mixed into `Store`)."""

    db: Database

    # -- where an owner's works are licensed -------------------------------------------------

    def add_licensed_source(self, owner_id: int, asset_id: int | None, kind: str, value: str,
                            note: str | None) -> tuple[int, bool]:
        """Add one entry unless the same (work, kind, value) is listed; (id, created)."""
        for row in self.licensed_sources(owner_id):
            if row["asset_id"] == asset_id and row["kind"] == kind and row["value"].lower() == value.lower():
                return row["id"], False
        return self.db["licensed_sources"].insert({
            "owner_id": owner_id, "asset_id": asset_id, "kind": kind, "value": value, "note": note,
            "created_at": utc_now()}).last_pk, True

    def licensed_sources(self, owner_id: int) -> list[dict]:
        return list(self.db["licensed_sources"].rows_where("owner_id = ?", [owner_id], order_by="id"))

    def remove_licensed_source(self, owner_id: int, source_id: int) -> dict | None:
        """Delete one of `owner_id`'s entries; the deleted row, or None when they have no such entry."""
        rows = list(self.db["licensed_sources"].rows_where("id = ? AND owner_id = ?", [source_id, owner_id]))
        if not rows:
            return None
        self.db.execute("DELETE FROM licensed_sources WHERE id = ?", [source_id])
        return rows[0]

    # -- credit checks -----------------------------------------------------------------------

    def set_credit_check(self, match_id: int, candidate_id: int | None, findings: list[dict], at: str) -> None:
        self.db.execute(
            "INSERT INTO credit_checks(match_id, candidate_id, findings, checked_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (match_id) DO UPDATE SET candidate_id = excluded.candidate_id, "
            "findings = excluded.findings, checked_at = excluded.checked_at",
            [match_id, candidate_id, json.dumps(findings, sort_keys=True), at])

    def credit_checks(self, match_ids: list[int]) -> dict[int, dict]:
        """Each checked match's check, by match id."""
        if not match_ids:
            return {}
        rows = self.db.query(f"SELECT * FROM credit_checks WHERE match_id IN ({_marks(match_ids)})", match_ids)
        return {r["match_id"]: _json_columns(r, ["findings"]) for r in rows}

    # -- holds -------------------------------------------------------------------------------

    def add_hold(self, match_id: int, kind: str, reason: str, detail: dict, at: str) -> bool:
        """Hold a match for the owner; False when it already had a hold of this kind (released or not)."""
        row = self.db.execute(
            "INSERT INTO match_holds(match_id, kind, reason, detail, held_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            [match_id, kind, reason, json.dumps(detail, sort_keys=True), at]).fetchone()
        return row is not None

    def holds(self, match_ids: list[int], active_only: bool = False) -> list[dict]:
        if not match_ids:
            return []
        where = f"match_id IN ({_marks(match_ids)})" + (" AND released_at IS NULL" if active_only else "")
        rows = self.db.query(f"SELECT * FROM match_holds WHERE {where} ORDER BY id", match_ids)
        return [_json_columns(r, ["detail"]) for r in rows]

    def release_holds(self, match_id: int, by: str, at: str) -> list[dict]:
        """Release a match's active holds; the holds released."""
        released = self.holds([match_id], active_only=True)
        self.db.execute("UPDATE match_holds SET released_at = ?, released_by = ? "
                        "WHERE match_id = ? AND released_at IS NULL", [at, by, match_id])
        return released

    def recent_matches_of(self, asset_id: int, since: str) -> list[dict]:
        """The work's matches first seen since `since` that may be copies (not rejected or authorised)."""
        return self.matches("matches.asset_id = ? AND matches.first_seen >= ? "
                            "AND matches.status NOT IN ('rejected', 'authorized')", [asset_id, since])

    # -- negatives: "not mine / not a copy" --------------------------------------------------

    def add_negative(self, record: dict) -> bool:
        row = self.db.execute(
            "INSERT INTO negatives(asset_id, sha256, phash, match_id, note, actor, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            [record["asset_id"], record["sha256"], record.get("phash"), record.get("match_id"), record.get("note"),
             record["actor"], record.get("created_at") or utc_now()]).fetchone()
        return row is not None

    def negatives(self, asset_ids: list[int]) -> list[dict]:
        if not asset_ids:
            return []
        return list(self.db.query(f"SELECT * FROM negatives WHERE asset_id IN ({_marks(asset_ids)}) ORDER BY id",
                                  asset_ids))
