"""The store's side of the evidence ledger: its rows, its head, and its signed, time-stamped checkpoints.

The chain itself (hashing, verifying) is `detector.provenance.ledger`; checkpoints are made by
`detector.provenance.checkpoints`. Both writes here check, under the write lock, that nobody wrote first.
"""

from __future__ import annotations

import json

from detector.errors import UsageError
from detector.workspace.store.database import Database


class Ledger:
    """Ledger rows, head and checkpoints (mixed into `Store`; the head lives in `meta`)."""

    db: Database

    # -- ledger: the hash chain's rows and its head ------------------------------------------

    def ledger_head(self) -> dict | None:
        """The newest ledger entry as recorded in meta ({'seq', 'hash'}), or None before the first."""
        value = self.get_meta("ledger_head")
        return json.loads(value) if value else None

    def append_ledger_row(self, row: dict, head: dict | None) -> None:
        """Insert one ledger row and move the head, in one transaction, if the head is still `head`."""
        with self.db.atomic():
            if self.ledger_head() != head:
                raise UsageError("The ledger moved while an entry was being written; run the command again.")
            self.db["ledger"].insert(row)
            self.set_meta("ledger_head", json.dumps({"seq": row["seq"], "hash": row["hash"]}))

    def ledger_rows(self, subjects: list[str] | None = None) -> list[dict]:
        """Ledger rows in seq order; only those about `subjects` when given."""
        if subjects is None:
            return list(self.db.query("SELECT * FROM ledger ORDER BY seq"))
        marks = ", ".join("?" for _ in subjects)
        return list(self.db.query(f"SELECT * FROM ledger WHERE subject IN ({marks}) ORDER BY seq", subjects))

    # -- ledger checkpoints (signed, time-stamped heads: detector.provenance.checkpoints) -----------

    def add_ledger_checkpoint(self, row: dict, after_size: int) -> int:
        """Store a checkpoint if the newest one still covers `after_size` entries (none: 0)."""
        with self.db.atomic():
            newest = self.db.execute("SELECT MAX(tree_size) FROM ledger_checkpoints").fetchone()[0] or 0
            if newest != after_size:
                raise UsageError("Another checkpoint was made meanwhile; run the command again.")
            return self.db["ledger_checkpoints"].insert(row).last_pk

    def ledger_checkpoints(self) -> list[dict]:
        """Every checkpoint, oldest first."""
        return list(self.db.query("SELECT * FROM ledger_checkpoints ORDER BY id"))
