"""The SQLite connection behind `Store` (the embedded default), and what SQLite's errors mean.

`SQLiteDatabase` is sqlite-utils' `Database` (which satisfies the store's `Database` protocol as
it is) with two changes: outermost transactions take the write lock when they begin, and a write
that returns rows is committed at once, as PostgreSQL's autocommit does. `database_fault` turns
SQLite's corruption errors into one line with the remedy; `url_host` is the SQL function
`url_host()` that the store's queries group by (PostgreSQL gets `dialect.URL_HOST_FUNCTION`).
"""

from __future__ import annotations

import errno
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import sqlite_utils

from detector.errors import DatabaseUnusable

#: Raised by SQLite for a damaged or foreign database file (and its subclasses for other faults).
DatabaseError = sqlite3.DatabaseError

_DAMAGE_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def restore_hint(path: Path) -> str:
    return (f"Restore it from a backup (made with `copyhound backup DEST`): copy the backup to {path} while "
            "nothing runs. Without one, move it away and run `copyhound init` for a new, empty workspace.")


def database_fault(error: BaseException, path: Path) -> DatabaseUnusable | None:
    """The one-line explanation of a SQLite error that means the file is damaged, else None."""
    code = str(getattr(error, "sqlite_errorname", ""))
    if not isinstance(error, DatabaseError) or not code.startswith(_DAMAGE_CODES):
        return None
    what = "is not a SQLite database" if code.startswith("SQLITE_NOTADB") else "is damaged"
    return DatabaseUnusable(f"{path} {what} ({error}). {restore_hint(path)}")


def is_disk_full(error: BaseException) -> bool:
    """True for a write refused because the disk is full (by SQLite or by the file system)."""
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return str(getattr(error, "sqlite_errorname", "")).startswith("SQLITE_FULL")


class SQLiteDatabase(sqlite_utils.Database):
    """sqlite-utils' Database whose outermost transactions take the write lock when they begin.

    Waiting for the lock at BEGIN lets the busy timeout do its job; nested blocks stay savepoints.
    """

    def execute(self, sql: str, parameters=None):
        """sqlite-utils' execute, which commits a write it began, now also when it returns rows.

        sqlite-utils leaves the implicit transaction of `INSERT ... RETURNING` open (the statement
        has rows, so it looks like a read), holding the write lock; here its rows are read at
        once and it is committed, as PostgreSQL's autocommit does.
        """
        was_in_transaction = self.conn.in_transaction
        cursor = super().execute(sql, parameters)
        if was_in_transaction or not self.conn.in_transaction or cursor.description is None:
            return cursor
        rows = _Rows(cursor.fetchall())
        self.conn.execute("COMMIT")
        return rows

    @contextmanager
    def atomic(self):
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


class _Rows(list):
    """The rows of a finished statement, read like the cursor that returned them."""

    @property
    def rowcount(self) -> int:
        return len(self)

    def fetchone(self):
        return self[0] if self else None

    def fetchall(self) -> list:
        return list(self)


def url_host(url: str | None) -> str:
    """The lower-cased host of `url` ('' when it has none)."""
    return (urlsplit(url or "").hostname or "").lower()
