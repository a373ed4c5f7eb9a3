"""The store's screenshots: the page of a match as it was seen, and which matches still need one."""

from __future__ import annotations

from detector.errors import NotFound
from detector.workspace.store.database import Database


class Screenshots:
    """Screenshots of matched pages (mixed into `Store`)."""

    db: Database

    # -- screenshots: the page as it was seen ---------------------------------------------------

    def add_screenshot(self, record: dict) -> int:
        return self.db["screenshots"].insert(record).last_pk

    def latest_screenshot(self, match_id: int) -> dict | None:
        """The match's newest screenshot that was taken (not refused or failed), or None."""
        rows = list(self.db.query(
            "SELECT * FROM screenshots WHERE match_id = ? AND status = 'taken' ORDER BY id DESC LIMIT 1", [match_id]))
        return rows[0] if rows else None

    def matches_to_screenshot(self, scan_id: int, decisions: list[str]) -> list[dict]:
        """Matches seen in scan `scan_id` with one of `decisions` and no screenshot attempted yet:
        (match id, page URL, the target that found it)."""
        marks = ", ".join("?" for _ in decisions)
        return list(self.db.query(
            f"SELECT m.id AS match_id, m.page_url, c.target FROM matches m JOIN candidates c ON c.id = m.candidate_id "
            f"WHERE c.scan_id = ? AND m.decision IN ({marks}) "
            "AND NOT EXISTS (SELECT 1 FROM screenshots s WHERE s.match_id = m.id) ORDER BY m.id",
            [scan_id, *decisions]))

    def screenshot_subject(self, match_id: int) -> dict:
        """What a screenshot of match `match_id` needs: its page URL and the target that found it."""
        rows = list(self.db.query(
            "SELECT m.id AS match_id, m.page_url, c.target FROM matches m LEFT JOIN candidates c "
            "ON c.id = m.candidate_id WHERE m.id = ?", [match_id]))
        if not rows:
            raise NotFound(f"No match with id {match_id}; list matches with `copyhound matches`.")
        return rows[0]
