"""The store's licensing: offers, their links and counter-offers, acceptances and invoices, contributors' shares,
payments and their splits, licences, payment webhooks, and each owner's and work's pricing and negotiation rules."""

from __future__ import annotations

import json

from detector.errors import NotFound
from detector.workspace.store.database import Database
from detector.workspace.store.rows import json_columns as _json_columns
from detector.workspace.store.rows import utc_now

#: Every state an offer can be in, in the order of its life.
OFFER_STATUSES = ("draft", "sent", "viewed", "countered", "accepted", "paid", "declined", "expired")


class Licensing:
    """Offers, acceptances, payments, licences and pricing (mixed into `Store`)."""

    db: Database

    # -- licensing: offers -------------------------------------------------------------------
    def add_offer(self, record: dict) -> int:
        return self.db["offers"].insert(dict(record, breakdown=json.dumps(record["breakdown"]))).last_pk

    def offer(self, offer_id: int, owner_id: int | None = None) -> dict:
        """One offer; NotFound when missing or (with owner_id) when it belongs to someone else."""
        where, params = "id = ?", [offer_id]
        if owner_id is not None:
            where, params = where + " AND owner_id = ?", params + [owner_id]
        rows = list(self.db["offers"].rows_where(where, params))
        if not rows:
            raise NotFound(f"No offer with id {offer_id}; offers are listed in each match's bundle and report.")
        return _json_columns(rows[0], ["breakdown"])

    def offers(self, match_ids: list[int]) -> list[dict]:
        marks = ", ".join("?" for _ in match_ids)
        rows = self.db.query(f"SELECT * FROM offers WHERE match_id IN ({marks}) ORDER BY id", match_ids)
        return [_json_columns(r, ["breakdown"]) for r in rows]

    def open_offers(self) -> list[dict]:
        """Every offer still draft, sent, viewed or countered (the ones that can expire)."""
        rows = self.db.query("SELECT * FROM offers WHERE status IN ('draft', 'sent', 'viewed', 'countered') "
                             "ORDER BY id")
        return [_json_columns(r, ["breakdown"]) for r in rows]

    def update_offer(self, offer_id: int, **fields) -> dict:
        self.db["offers"].update(offer_id, fields)
        return self.offer(offer_id)

    # -- licensing: owners' pricing overrides ------------------------------------------------

    def owner_pricing(self, owner_id: int) -> dict:
        row = self.db.execute("SELECT pricing FROM owner_pricing WHERE owner_id = ?", [owner_id]).fetchone()
        return json.loads(row[0]) if row else {}

    def set_owner_pricing(self, owner_id: int, values: dict) -> None:
        self.db["owner_pricing"].upsert({"owner_id": owner_id, "pricing": json.dumps(values, sort_keys=True)},
                                        pk="owner_id")

    # -- licensing: offer links, counters, acceptances, contributors, payments, licences ---------

    def add_offer_link(self, offer_id: int, nonce: str) -> int:
        return self.db["offer_links"].insert({"offer_id": offer_id, "nonce": nonce, "created_at": utc_now()}).last_pk

    def offer_link(self, nonce: str) -> dict | None:
        rows = list(self.db["offer_links"].rows_where("nonce = ?", [nonce]))
        return rows[0] if rows else None

    def live_offer_link(self, offer_id: int) -> dict | None:
        """The newest link of an offer that was not revoked, or None."""
        rows = list(self.db["offer_links"].rows_where("offer_id = ? AND revoked_at IS NULL", [offer_id],
                                                      order_by="id DESC", limit=1))
        return rows[0] if rows else None

    def revoke_offer_links(self, offer_id: int, at: str) -> int:
        """Revoke every live link of an offer; returns how many were live."""
        cursor = self.db.execute("UPDATE offer_links SET revoked_at = ? WHERE offer_id = ? AND revoked_at IS NULL",
                                 [at, offer_id])
        return cursor.rowcount

    def add_counter_offer(self, record: dict) -> int:
        return self.db["counter_offers"].insert(record).last_pk

    def counter_offers(self, offer_id: int) -> list[dict]:
        return list(self.db["counter_offers"].rows_where("offer_id = ?", [offer_id], order_by="id"))

    def next_invoice_seq(self, owner_id: int) -> int:
        row = self.db.execute("SELECT coalesce(max(invoice_seq), 0) FROM acceptances WHERE owner_id = ?",
                              [owner_id]).fetchone()
        return row[0] + 1

    def add_acceptance(self, record: dict) -> None:
        self.db["acceptances"].insert(dict(record, terms=json.dumps(record["terms"], sort_keys=True)))

    def acceptance(self, offer_id: int) -> dict | None:
        rows = list(self.db["acceptances"].rows_where("offer_id = ?", [offer_id]))
        return _json_columns(rows[0], ["terms"]) if rows else None

    def acceptance_by_invoice(self, invoice_number: str) -> dict | None:
        rows = list(self.db["acceptances"].rows_where("invoice_number = ?", [invoice_number]))
        return _json_columns(rows[0], ["terms"]) if rows else None

    def add_contributor_shares(self, asset_id: int, effective_from: str, shares: list) -> int:
        return self.db["contributor_shares"].insert({
            "asset_id": asset_id, "effective_from": effective_from, "shares": json.dumps(shares),
            "recorded_at": utc_now()}).last_pk

    def contributor_shares(self, asset_id: int) -> list[dict]:
        """Every share set of a work, oldest effective date first (a later record wins a tie)."""
        rows = self.db["contributor_shares"].rows_where("asset_id = ?", [asset_id], order_by="effective_from, id")
        return [_json_columns(r, ["shares"]) for r in rows]

    def add_payment(self, record: dict, parts: list[dict]) -> int:
        payment_id = self.db["payments"].insert(dict(record, recorded_at=utc_now())).last_pk
        for part in parts:
            self.db["payment_splits"].insert(dict(part, payment_id=payment_id))
        return payment_id

    def payments(self, offer_id: int) -> list[dict]:
        return list(self.db["payments"].rows_where("offer_id = ?", [offer_id], order_by="id"))

    def payment_splits(self, payment_id: int) -> list[dict]:
        return list(self.db["payment_splits"].rows_where("payment_id = ?", [payment_id], order_by="id"))

    def statement_rows(self, owner_id: int | None, start: str, end: str) -> list[dict]:
        """Each contributor's part of each payment received in [start, end), with the payment and the work."""
        where, params = "payments.received_at >= ? AND payments.received_at < ?", [start, end]
        if owner_id is not None:
            where, params = where + " AND payments.owner_id = ?", params + [owner_id]
        return list(self.db.query(
            "SELECT payment_splits.contributor, payment_splits.share, payment_splits.amount_minor AS part_minor, "
            "payments.id AS payment_id, payments.offer_id, payments.currency, payments.amount_minor, "
            "payments.reference, payments.received_at, owners.name AS owner, assets.id AS asset_id, "
            "coalesce(assets.title, assets.filename) AS work FROM payment_splits "
            "JOIN payments ON payments.id = payment_splits.payment_id "
            "JOIN offers ON offers.id = payments.offer_id JOIN matches ON matches.id = offers.match_id "
            "JOIN assets ON assets.id = matches.asset_id JOIN owners ON owners.id = payments.owner_id "
            f"WHERE {where} ORDER BY payments.received_at, payments.id, payment_splits.id", params))

    def add_licence(self, record: dict) -> int:
        """Record the licence a paid offer grants (replacing the offer's earlier one, if any)."""
        others = [c for c in record if c != "offer_id"]
        return self.db.execute(
            f"INSERT INTO licences ({', '.join(record)}) VALUES ({', '.join('?' for _ in record)}) "
            f"ON CONFLICT (offer_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in others)} RETURNING id",
            list(record.values())).fetchone()[0]

    def licence(self, offer_id: int) -> dict | None:
        rows = list(self.db["licences"].rows_where("offer_id = ?", [offer_id]))
        return rows[0] if rows else None

    def licensed_domains(self, at: str) -> dict[int, list[str]]:
        """Per work, the domains of licences in force at `at`."""
        found: dict[int, list[str]] = {}
        for asset_id, domain in self.db.execute(
                "SELECT asset_id, domain FROM licences WHERE starts_at <= ? AND ends_at > ? ORDER BY id", [at, at]):
            found.setdefault(asset_id, []).append(domain)
        return found

    def take_webhook_event(self, event_id: str, at: str) -> bool:
        """Remember a webhook event id; False when it was taken before (a replay)."""
        cursor = self.db.execute("INSERT INTO webhook_events(event_id, received_at) VALUES (?, ?) "
                                 "ON CONFLICT DO NOTHING", [event_id, at])
        return cursor.rowcount == 1

    # -- licensing: a work's own negotiation rules ------------------------------------------------

    def add_work_negotiation(self, record: dict) -> int:
        return self.db["work_negotiation"].insert(record).last_pk

    def work_negotiation(self, asset_id: int) -> dict | None:
        """The newest negotiation record of a work, or None."""
        rows = list(self.db["work_negotiation"].rows_where("asset_id = ?", [asset_id], order_by="id DESC", limit=1))
        return rows[0] if rows else None
