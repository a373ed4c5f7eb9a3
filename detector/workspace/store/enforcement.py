"""The store's enforcement: notices, follow-up on rescans, policy actions, recipients, deliveries and bounces,
and each owner's policy rules."""

from __future__ import annotations

import json

from detector.workspace.store.database import Database
from detector.workspace.store.rows import json_columns as _json_columns


class Enforcement:
    """Notices, actions, recipients, deliveries, bounces, policy rules (mixed into `Store`;
    `matches_touched_by_scan` reads through `Matches.matches`)."""

    db: Database

    # -- notices: what was sent about a match ------------------------------------------------
    def add_notice(self, record: dict) -> int:
        return self.db["notices"].insert(record).last_pk

    def notices(self, match_ids: list[int]) -> list[dict]:
        marks = ", ".join("?" for _ in match_ids)
        return list(self.db.query(f"SELECT * FROM notices WHERE match_id IN ({marks}) ORDER BY id", match_ids))

    # -- enforcement: follow-up on rescans ---------------------------------------------------

    def matches_touched_by_scan(self, scan_id: int) -> list[dict]:
        """Matches whose page this scan fetched or failed to fetch, or whose image it tried."""
        return self.matches(
            "matches.page_url IN (SELECT page_url FROM candidates WHERE scan_id = ?) "
            "OR matches.page_url IN (SELECT coalesce(page_url, url) FROM crawl_events WHERE scan_id = ?) "
            "OR matches.image_url IN (SELECT url FROM crawl_events WHERE scan_id = ?)",
            [scan_id, scan_id, scan_id],
        )

    def set_match_presence(self, match_id: int, **fields) -> None:
        """Record what a rescan saw of a match: presence, presence_at, presence_detail, counts."""
        self.db["matches"].update(match_id, fields)

    # -- enforcement: policy actions, recipients, deliveries ---------------------------------

    def add_enforcement_action(self, record: dict) -> int:
        return self.db["enforcement_actions"].insert(dict(record, detail=json.dumps(record["detail"],
                                                                                     sort_keys=True))).last_pk

    def enforcement_actions(self, match_ids: list[int]) -> list[dict]:
        marks = ", ".join("?" for _ in match_ids)
        rows = self.db.query(f"SELECT * FROM enforcement_actions WHERE match_id IN ({marks}) ORDER BY id", match_ids)
        return [_json_columns(r, ["detail"]) for r in rows]

    def count_enforcement_actions(self, owner_id: int, since: str) -> int:
        return self.db.execute("SELECT count(*) FROM enforcement_actions WHERE owner_id = ? AND at >= ?",
                               [owner_id, since]).fetchone()[0]

    def finish_enforcement_action(self, action_id: int, detail: dict) -> None:
        """Mark a claimed action 'done' with what came of it."""
        self.db["enforcement_actions"].update(action_id, {"state": "done", "detail": json.dumps(detail, sort_keys=True)})

    def drop_enforcement_action(self, action_id: int) -> None:
        """Forget a claimed action that was refused before anything was sent."""
        self.db.execute("DELETE FROM enforcement_actions WHERE id = ? AND state = 'claimed'", [action_id])

    def count_claimed_to(self, recipient: str, since: str) -> int:
        """Actions claimed for `recipient` since `since` whose e-mail is not yet recorded as a delivery."""
        return self.db.execute("SELECT count(*) FROM enforcement_actions WHERE state = 'claimed' AND "
                               "lower(recipient) = lower(?) AND at >= ?", [recipient, since]).fetchone()[0]

    def recipient_lookups(self, host: str, since: str) -> list[dict]:
        """Cached lookups of `host` made at or after `since` (address '' records that a source had none)."""
        return list(self.db["recipient_lookups"].rows_where("host = ? AND looked_up_at >= ?", [host, since],
                                                            order_by="position, source, address"))

    def replace_recipient_lookups(self, host: str, rows: list[dict]) -> None:
        with self.db.atomic():
            self.db.execute("DELETE FROM recipient_lookups WHERE host = ?", [host])
            for position, row in enumerate(rows):
                self.db["recipient_lookups"].insert(dict(row, host=host, position=position))

    def add_delivery(self, record: dict) -> int:
        return self.db["deliveries"].insert(record).last_pk

    def deliveries(self, match_ids: list[int]) -> list[dict]:
        marks = ", ".join("?" for _ in match_ids)
        return list(self.db.query(f"SELECT * FROM deliveries WHERE match_id IN ({marks}) ORDER BY id", match_ids))

    def count_deliveries(self, recipient: str, since: str) -> int:
        return self.db.execute("SELECT count(*) FROM deliveries WHERE lower(recipient) = lower(?) AND at >= ?",
                               [recipient, since]).fetchone()[0]

    # -- enforcement: bounces ----------------------------------------------------------------

    def delivery(self, delivery_id: int) -> dict:
        return self.db["deliveries"].get(delivery_id)

    def delivery_by_message_id(self, message_id: str) -> dict | None:
        rows = list(self.db["deliveries"].rows_where("message_id = ?", [message_id], order_by="id", limit=1))
        return rows[0] if rows else None

    def latest_delivery_to(self, recipient: str, before: str | None) -> dict | None:
        """The latest e-mail sent to `recipient` (at or before `before` when given)."""
        where, params = "lower(recipient) = lower(?) AND status = 'sent'", [recipient]
        if before is not None:
            where, params = where + " AND at <= ?", params + [before]
        rows = list(self.db["deliveries"].rows_where(where, params, order_by="id DESC", limit=1))
        return rows[0] if rows else None

    def mark_delivery_bounced(self, delivery_id: int, at: str, bounce: str) -> None:
        self.db["deliveries"].update(delivery_id, {"status": "bounced", "bounced_at": at, "bounce": bounce})

    # -- enforcement: owners' policy rules ---------------------------------------------------

    def owner_rules(self, owner_id: int) -> list[dict]:
        rows = self.db.execute("SELECT rule FROM owner_rules WHERE owner_id = ? ORDER BY position", [owner_id])
        return [json.loads(r[0]) for r in rows.fetchall()]

    def replace_owner_rules(self, owner_id: int, rules: list[dict]) -> None:
        with self.db.atomic():
            self.db.execute("DELETE FROM owner_rules WHERE owner_id = ?", [owner_id])
            for position, rule in enumerate(rules):
                self.db["owner_rules"].insert({"owner_id": owner_id, "position": position,
                                               "rule": json.dumps(rule, sort_keys=True)})
