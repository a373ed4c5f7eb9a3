"""The store's side of discovery (detector.sources): each source run, the leads it found, and the lead
that brought each candidate."""

from __future__ import annotations

import json

from detector.workspace.store.database import Database
from detector.workspace.store.rows import json_columns as _json_columns
from detector.workspace.store.rows import utc_now

#: The source whose runs and leads are WARC files a user gave (`scan --warc`, read by crawlers.archive); each
#: run's cursor names the files it read.
ARCHIVE_SOURCE = "warc-files"


class Sources:
    """Source runs and leads (mixed into `Store`)."""

    db: Database

    # -- discovery: source runs, their leads, the lead of each candidate (detector.sources) ---------

    def start_source_run(self, source: str, type_: str, scan_id: int | None = None) -> int:
        return self.db["source_runs"].insert({"source": source, "type": type_, "scan_id": scan_id,
                                              "started_at": utc_now(), "status": "running"}).last_pk

    def finish_source_run(self, run_id: int, status: str, *, leads: int, budget_used: int,
                          cursor: dict | None, detail: str | None = None) -> None:
        self.db["source_runs"].update(run_id, {
            "finished_at": utc_now(), "status": status, "leads": leads, "budget_used": budget_used,
            "cursor": None if cursor is None else json.dumps(cursor, sort_keys=True), "detail": detail})

    def attach_source_runs(self, run_ids: list[int], scan_id: int) -> None:
        """Tie runs whose leads were gathered before their scan started to that scan."""
        for run_id in run_ids:
            self.db["source_runs"].update(run_id, {"scan_id": scan_id})

    def source_cursor(self, source: str) -> dict | None:
        """Where `source` resumes: the cursor its newest run saved, or None."""
        row = self.db.execute("SELECT cursor FROM source_runs WHERE source = ? AND cursor IS NOT NULL "
                              "AND status <> 'dry' ORDER BY id DESC LIMIT 1", [source]).fetchone()
        return json.loads(row[0]) if row else None

    def scan_source_runs(self, scan_id: int, source: str) -> list[dict]:
        """The finished or failed runs of `source` for scan `scan_id` (oldest first), cursors decoded."""
        rows = self.db["source_runs"].rows_where("scan_id = ? AND source = ? AND status IN ('finished', 'failed')",
                                                 [scan_id, source], order_by="id")
        return [_json_columns(row, ["cursor"]) for row in rows]

    def last_source_run(self, source: str) -> dict | None:
        rows = list(self.db["source_runs"].rows_where("source = ? AND status <> 'dry'", [source],
                                                      order_by="id DESC", limit=1))
        return _json_columns(rows[0], ["cursor"]) if rows else None

    def source_budget_used(self, source: str, since: str) -> int:
        return self.db.execute("SELECT COALESCE(SUM(budget_used), 0) FROM source_runs WHERE source = ? "
                               "AND started_at >= ?", [source, since]).fetchone()[0]

    def known_lead_urls(self, source: str, urls: list[str], types: tuple[str, ...] = ()) -> set[str]:
        """Those of `urls` that `source`, or any source of one of `types`, has already led to."""
        if not urls:
            return set()
        marks, kinds = ", ".join("?" for _ in urls), ", ".join("?" for _ in types) or "NULL"
        rows = self.db.execute(
            f"SELECT DISTINCT leads.url FROM leads JOIN source_runs ON source_runs.id = leads.run_id "
            f"WHERE (leads.source = ? OR source_runs.type IN ({kinds})) AND leads.url IN ({marks})",
            [source, *types, *urls]).fetchall()
        return {row[0] for row in rows}

    def add_lead(self, run_id: int, source: str, lead: dict) -> int:
        record = dict(lead, run_id=run_id, source=source, found_at=lead.get("found_at") or utc_now(),
                      provenance=json.dumps(lead.get("provenance") or {}, sort_keys=True))
        return self.db["leads"].insert(record).last_pk

    def lead(self, lead_id: int) -> dict | None:
        rows = list(self.db["leads"].rows_where("id = ?", [lead_id]))
        return _json_columns(rows[0], ["provenance"]) if rows else None

    def run_leads(self, run_id: int) -> list[dict]:
        rows = self.db["leads"].rows_where("run_id = ?", [run_id], order_by="id")
        return [_json_columns(r, ["provenance"]) for r in rows]

    def link_leads(self, scan_id: int) -> int:
        """Set the lead of each candidate of `scan_id` the crawl reached from a lead of that scan's runs."""
        cursor = self.db.execute(
            "UPDATE candidates SET lead_id = (SELECT leads.id FROM leads JOIN source_runs ON source_runs.id = "
            "leads.run_id WHERE source_runs.scan_id = candidates.scan_id AND leads.url = candidates.lead_url "
            "ORDER BY leads.id LIMIT 1) WHERE scan_id = ? AND lead_id IS NULL AND lead_url IS NOT NULL",
            [scan_id])
        return cursor.rowcount

    def source_overview(self) -> list[dict]:
        """Per source that ever ran: its runs, newest run, leads, candidates and matches they brought."""
        rows = self.db.execute(
            "SELECT r.source, MAX(r.type), COUNT(*), MAX(r.id), "
            "(SELECT COUNT(*) FROM leads l WHERE l.source = r.source), "
            "(SELECT COUNT(*) FROM candidates c JOIN leads l ON l.id = c.lead_id WHERE l.source = r.source), "
            "(SELECT COUNT(DISTINCT m.id) FROM matches m JOIN candidates c ON c.id = m.candidate_id "
            " JOIN leads l ON l.id = c.lead_id WHERE l.source = r.source) "
            "FROM source_runs r WHERE r.status <> 'dry' GROUP BY r.source ORDER BY r.source").fetchall()
        names = ("source", "type", "runs", "last_run_id", "leads", "candidates", "matches")
        return [dict(zip(names, row, strict=True)) for row in rows]
