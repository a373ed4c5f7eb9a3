"""The store's scans: each crawl, the candidate images it captured, and the fetches it refused or failed."""

from __future__ import annotations

import json

from detector.errors import NotFound
from detector.workspace.store.database import Database
from detector.workspace.store.rows import json_columns as _json_columns
from detector.workspace.store.rows import utc_now


class Scans:
    """Scans, candidates and crawl events (mixed into `Store`)."""

    db: Database

    # -- scans, candidates, crawl events -----------------------------------------------------

    def start_scan(self, options: dict) -> int:
        return self.db["scans"].insert(
            {"started_at": utc_now(), "status": "running", "options": json.dumps(options, sort_keys=True)}
        ).last_pk

    def finish_scan(self, scan_id: int, status: str, summary: dict) -> None:
        self.db["scans"].update(
            scan_id,
            {"finished_at": utc_now(), "status": status, "summary": json.dumps(summary, sort_keys=True)},
        )

    def scan(self, scan_id: int) -> dict:
        rows = list(self.db["scans"].rows_where("id = ?", [scan_id]))
        if not rows:
            raise NotFound(f"No scan with id {scan_id}; list them with `copyhound scans`.")
        return _json_columns(rows[0], ["options", "summary"])

    def scans(self, limit: int = 20) -> list[dict]:
        rows = self.db["scans"].rows_where(order_by="id DESC", limit=limit)
        return [_json_columns(r, ["options", "summary"]) for r in rows]

    def add_candidate(self, record: dict) -> int | None:
        """Record one sighting; returns its id, or None when this scan already holds it (a resumed crawl)."""
        record = dict(record, headers=json.dumps(record.get("headers") or {}, sort_keys=True))
        if record.get("site_rights") is not None:
            record["site_rights"] = json.dumps(record["site_rights"], sort_keys=True)
        row = self.db.execute(
            f"INSERT INTO candidates ({', '.join(record)}) VALUES ({', '.join('?' for _ in record)}) "
            "ON CONFLICT DO NOTHING RETURNING id",
            list(record.values()),
        ).fetchone()
        return row[0] if row else None

    def candidate(self, candidate_id: int) -> dict:
        rows = list(self.db["candidates"].rows_where("id = ?", [candidate_id]))
        if not rows:
            raise NotFound(f"No candidate with id {candidate_id}.")
        return _json_columns(rows[0], ["headers", "credentials", "site_rights", "detection"])

    def candidates(self, where: str = "1", params: list | None = None) -> list[dict]:
        rows = self.db["candidates"].rows_where(where, params or [], order_by="id")
        return [_json_columns(r, ["headers", "credentials", "site_rights", "detection"]) for r in rows]

    def update_candidate(self, candidate_id: int, **fields) -> None:
        self.db["candidates"].update(candidate_id, fields)

    def add_crawl_event(self, scan_id: int | None, target: str | None, url: str, reason: str,
                        detail: str, page_url: str | None = None) -> None:
        self.db["crawl_events"].insert(
            {"scan_id": scan_id, "target": target, "url": url, "page_url": page_url,
             "reason": reason, "detail": detail, "at": utc_now()}
        )

    def crawl_events(self, scan_id: int) -> list[dict]:
        return list(self.db["crawl_events"].rows_where("scan_id = ?", [scan_id], order_by="id"))
