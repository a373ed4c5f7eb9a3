"""The store's memory of contents analysed as copying nothing, under a detection key (detector.reuse)."""

from __future__ import annotations

from detector.workspace.store.database import Database


class Analyses:
    """Non-copy analyses kept for later scans (mixed into `Store`)."""

    db: Database

    def remember_non_copy(self, sha256: str, detection_key: str, analysed_at: str, cascade_exit: str) -> None:
        """Keep that content `sha256` copied nothing under `detection_key`; the first analysis kept stands."""
        self.db.execute("INSERT INTO non_copies (sha256, detection_key, analysed_at, cascade_exit) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", [sha256, detection_key, analysed_at, cascade_exit])

    def known_non_copies(self, sha256s: list[str], detection_key: str) -> dict[str, dict]:
        """Of `sha256s`, those analysed as non-copies under `detection_key`: sha256 -> {analysed_at, cascade_exit}."""
        known: dict[str, dict] = {}
        for start in range(0, len(sha256s), 500):  # bounded IN lists: SQLite limits a statement's parameters
            chunk = sha256s[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self.db.execute(
                f"SELECT sha256, analysed_at, cascade_exit FROM non_copies WHERE detection_key = ? AND sha256 IN "
                f"({marks})", [detection_key, *chunk]).fetchall()
            known.update({sha256: {"analysed_at": at, "cascade_exit": exit_} for sha256, at, exit_ in rows})
        return known

    def forget_non_copies(self, keep_key: str | None = None) -> int:
        """Forget the non-copy analyses of every detection key but `keep_key` (all of them when None), so the
        contents are analysed afresh; returns how many were forgotten."""
        if keep_key is None:
            return self.db.execute("DELETE FROM non_copies").rowcount
        return self.db.execute("DELETE FROM non_copies WHERE detection_key <> ?", [keep_key]).rowcount
