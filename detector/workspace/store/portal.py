"""What the portal and the CLI show: pages of works, scans, notices and offers, and counts per status and site.

These read across the domains (matches, notices, offers, scans) for lists and dashboards; the
single-record reads and every write stay in the domain's own module.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detector.errors import NotFound
from detector.workspace.store.database import Database
from detector.workspace.store.rows import json_columns as _json_columns
from detector.workspace.store.rows import where_equal as _and


class Portal:
    """Pages, lists and counts (mixed into `Store`; `site_matches` reads through `Matches.matches`)."""

    db: Database

    # -- portal: pages of works, scans, notices and offers, review counts --------------------
    def count_assets(self, where: str = "1", params: list | None = None) -> int:
        sql = f"SELECT count(*) FROM assets JOIN owners ON owners.id = assets.owner_id WHERE {where}"
        return self.db.execute(sql, params or []).fetchone()[0]

    def assets_page(self, where: str, params: list, limit: int, offset: int) -> list[dict]:
        sql = (
            "SELECT assets.*, owners.name AS owner FROM assets JOIN owners ON owners.id = assets.owner_id "
            f"WHERE {where} ORDER BY assets.id LIMIT ? OFFSET ?"
        )
        return [_json_columns(r, ["rights", "credentials"]) for r in self.db.query(sql, list(params) + [limit, offset])]

    def match_status_counts(self, owner_id: int | None) -> dict[str, int]:
        """Matches per review status, for one owner or (None) all of them."""
        where, params = ("owner_id = ?", [owner_id]) if owner_id is not None else ("1", [])
        rows = self.db.execute(f"SELECT status, count(*) FROM matches WHERE {where} GROUP BY status", params)
        return dict(rows.fetchall())

    def count_scans(self) -> int:
        return self.db.execute("SELECT count(*) FROM scans").fetchone()[0]

    def scans_page(self, limit: int, offset: int) -> list[dict]:
        rows = self.db["scans"].rows_where(order_by="id DESC", limit=limit, offset=offset)
        return [_json_columns(r, ["options", "summary"]) for r in rows]

    def _owned(self, table: str, owner_id: int | None, match_id: int | None) -> tuple[str, list]:
        clauses, params = ["1"], []
        if owner_id is not None:
            clauses.append(f"{table}.owner_id = ?")
            params.append(owner_id)
        if match_id is not None:
            clauses.append(f"{table}.match_id = ?")
            params.append(match_id)
        return " AND ".join(clauses), params

    def notices_page(self, owner_id: int | None, match_id: int | None, limit: int,
                     offset: int) -> tuple[list[dict], int]:
        """Notices (newest first) of one owner (None: all), optionally of one match; and their total."""
        where, params = self._owned("notices", owner_id, match_id)
        total = self.db.execute(f"SELECT count(*) FROM notices WHERE {where}", params).fetchone()[0]
        rows = self.db.query(f"SELECT * FROM notices WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                             params + [limit, offset])
        return list(rows), total

    def notice(self, notice_id: int, owner_id: int | None = None) -> dict:
        """One notice; NotFound when missing or (with owner_id) when it belongs to someone else."""
        where, params = self._owned("notices", owner_id, None)
        rows = list(self.db.query(f"SELECT * FROM notices WHERE id = ? AND {where}", [notice_id] + params))
        if not rows:
            raise NotFound(f"No notice with id {notice_id}; notices are listed under each match.")
        return rows[0]

    def offers_page(self, owner_id: int | None, match_id: int | None, limit: int,
                    offset: int) -> tuple[list[dict], int]:
        """Offers (newest first) of one owner (None: all), optionally of one match; and their total."""
        where, params = self._owned("offers", owner_id, match_id)
        total = self.db.execute(f"SELECT count(*) FROM offers WHERE {where}", params).fetchone()[0]
        rows = self.db.query(f"SELECT * FROM offers WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                             params + [limit, offset])
        return [_json_columns(r, ["breakdown"]) for r in rows], total

    # -- cli-portal: lists of notices and offers, matches per site, the workspace at a glance --

    _NOTICE_LIST = ("SELECT notices.id, notices.match_id, notices.kind, notices.created_at, notices.sha256, "
                    "owners.name AS owner, matches.page_url, matches.status AS match_status FROM notices "
                    "JOIN matches ON matches.id = notices.match_id JOIN owners ON owners.id = notices.owner_id ")

    def find_notices(self, owner_id: int | None = None, owner: str | None = None, match_id: int | None = None,
                     kind: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        """Notices (newest first, without their text) passing the filters, and how many pass in all."""
        where, params = _and([("notices.owner_id", owner_id), ("owners.name", owner),
                              ("notices.match_id", match_id), ("notices.kind", kind)])
        total = self.db.execute("SELECT count(*) FROM notices JOIN owners ON owners.id = notices.owner_id "
                                f"WHERE {where}", params).fetchone()[0]
        rows = self.db.query(self._NOTICE_LIST + f"WHERE {where} ORDER BY notices.id DESC LIMIT ? OFFSET ?",
                             params + [limit, offset])
        return list(rows), total

    _OFFER_LIST = ("SELECT offers.id, offers.match_id, offers.licence, offers.commercial, offers.currency, "
                   "offers.amount, offers.early_amount, offers.status, offers.created_at, offers.discount_until, "
                   "offers.expires_at, offers.sent_at, offers.decided_at, offers.draft_reason, owners.name AS owner, "
                   "matches.page_url "
                   "FROM offers JOIN matches ON matches.id = offers.match_id "
                   "JOIN owners ON owners.id = offers.owner_id ")

    def find_offers(self, owner_id: int | None = None, owner: str | None = None, match_id: int | None = None,
                    status: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        """Offers (newest first, without their letters) passing the filters, and how many pass in all."""
        where, params = _and([("offers.owner_id", owner_id), ("owners.name", owner),
                              ("offers.match_id", match_id), ("offers.status", status)])
        total = self.db.execute("SELECT count(*) FROM offers JOIN owners ON owners.id = offers.owner_id "
                                f"WHERE {where}", params).fetchone()[0]
        rows = self.db.query(self._OFFER_LIST + f"WHERE {where} ORDER BY offers.id DESC LIMIT ? OFFSET ?",
                             params + [limit, offset])
        return list(rows), total

    def match_counts(self, owner_id: int | None) -> list[dict]:
        """Matches per (decision, status), for one owner or (None) all of them."""
        where, params = _and([("owner_id", owner_id)])
        return list(self.db.query(f"SELECT decision, status, count(*) AS matches FROM matches WHERE {where} "
                                  "GROUP BY decision, status ORDER BY decision, status", params))

    def matches_per_week(self, owner_id: int | None, weeks: int) -> list[dict]:
        """Matches first seen per ISO-like week (YYYY-WW, Monday first) and decision, the last `weeks` weeks."""
        where, params = _and([("owner_id", owner_id)])
        since = (datetime.now(UTC).date() - timedelta(days=int(weeks) * 7)).isoformat()
        # Counted per day in SQL and folded into weeks here: week numbers are not portable SQL.
        per_week: dict[tuple[str, str], int] = {}
        for row in self.db.query(
                "SELECT substr(first_seen, 1, 10) AS day, decision, count(*) AS matches FROM matches "
                f"WHERE {where} AND first_seen >= ? GROUP BY day, decision", params + [since]):
            key = (datetime.fromisoformat(row["day"]).strftime("%Y-%W"), row["decision"])
            per_week[key] = per_week.get(key, 0) + row["matches"]
        return [{"week": week, "decision": decision, "matches": count}
                for (week, decision), count in sorted(per_week.items())]

    def sites(self, owner_id: int | None, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        """Hosts with matches (most matches first): how many, how many unreviewed, when last seen; and how many hosts."""
        where, params = _and([("owner_id", owner_id)])
        total = self.db.execute(f"SELECT count(DISTINCT url_host(page_url)) FROM matches WHERE {where}",
                                params).fetchone()[0]
        rows = self.db.query(
            "SELECT url_host(page_url) AS host, count(*) AS matches, "
            "sum(CASE WHEN status = 'new' THEN 1 ELSE 0 END) AS unreviewed, "
            "sum(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END) AS confirmed, max(last_seen) AS last_seen "
            "FROM matches "
            f"WHERE {where} GROUP BY host ORDER BY matches DESC, host LIMIT ? OFFSET ?", params + [limit, offset])
        return list(rows), total

    def site_matches(self, owner_id: int | None, host: str) -> list[dict]:
        """The matches on exactly this host, whole (as `matches` gives them)."""
        where, params = "url_host(matches.page_url) = ?", [host.lower()]
        if owner_id is not None:
            where, params = where + " AND matches.owner_id = ?", params + [owner_id]
        return self.matches(where, params)

    def site_match_ids(self, owner_id: int | None, host: str, status: str | None = None) -> list[int]:
        """Ids of the matches on exactly this host (optionally only those with `status`)."""
        where, params = _and([("owner_id", owner_id), ("status", status)])
        rows = self.db.execute(f"SELECT id FROM matches WHERE {where} AND url_host(page_url) = ? ORDER BY id",
                               params + [host.lower()])
        return [r[0] for r in rows.fetchall()]

    def offer_totals(self, owner_id: int | None) -> list[dict]:
        """Offers per status and currency, with their amounts as stored (exact decimal strings)."""
        where, params = _and([("owner_id", owner_id)])
        rows = self.db.query(f"SELECT status, currency, amount, early_amount, amount_minor, early_amount_minor, "
                             f"standing_minor, decided_at, discount_until FROM offers WHERE {where} ORDER BY id",
                             params)
        return list(rows)

    def unreviewed_match_ids(self, owner_id: int | None) -> list[int]:
        where, params = _and([("owner_id", owner_id)])
        rows = self.db.execute(f"SELECT id FROM matches WHERE {where} AND status = 'new' ORDER BY id", params)
        return [r[0] for r in rows.fetchall()]

    def crawl_progress(self, scan_id: int) -> dict[str, int]:
        """What a running crawl has captured so far: pages with images, images, refused fetches."""
        pages, images = self.db.execute("SELECT count(DISTINCT page_url), count(*) FROM candidates WHERE scan_id = ?",
                                        [scan_id]).fetchone()
        refusals = self.db.execute("SELECT count(*) FROM crawl_events WHERE scan_id = ?", [scan_id]).fetchone()[0]
        return {"pages": pages, "images": images, "refusals": refusals}

    def notice_counts(self, owner_id: int | None) -> dict[str, int]:
        where, params = _and([("owner_id", owner_id)])
        rows = self.db.execute(f"SELECT kind, count(*) FROM notices WHERE {where} GROUP BY kind", params)
        return dict(rows.fetchall())

    # -- dashboard: copies per site and presence ---------------------------------------------

    def presence_by_site(self, owner_id: int | None) -> list[dict]:
        """How many copies per host are in each presence (up, changed, removed, unreachable)."""
        where, params = _and([("owner_id", owner_id)])
        return list(self.db.query(f"SELECT url_host(page_url) AS host, presence, count(*) AS copies FROM matches "
                                  f"WHERE {where} GROUP BY host, presence", params))
