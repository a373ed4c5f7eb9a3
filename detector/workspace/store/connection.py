"""Opening the workspace database, migrating it, and backing it up: the base of `Store`.

`Connection.__init__` opens a SQLite file through `detector.workspace.store.sqlite.SQLiteDatabase`
or a `postgresql://` URL through `detector.workspace.postgres.PostgresDatabase`; both satisfy the
`Database` protocol (`detector.workspace.store.database`), which is all the domain modules use.
Opening applies the schema migrations the database lacks (`detector.workspace.schema`), each in one
transaction that first re-reads the version under the write lock. This and the two connection
modules are the only ones that name a backend.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from detector.errors import DatabaseUnusable, UsageError
from detector.workspace.dialect import URL_HOST_FUNCTION, postgres_migration
from detector.workspace.postgres import PostgresDatabase, is_postgres_url, redacted
from detector.workspace.schema import MIGRATIONS, SCHEMA_VERSION
from detector.workspace.store.database import Database
from detector.workspace.store.sqlite import DatabaseError, database_fault, restore_hint
from detector.workspace.store.sqlite import SQLiteDatabase as _Database
from detector.workspace.store.sqlite import url_host as _url_host


class Connection:
    """The open database (`db`), its name in messages (`path`), and whether it is PostgreSQL.

    Only here does the store call a connection beyond the `Database` protocol, on the backend each call
    belongs to: SQLite's PRAGMAs, `enable_wal`, `register_function` and `conn.backup`, PostgreSQL's `run`
    (its own SQL, for migrations) and `dump`.
    """

    db: Database
    path: Path | str
    postgres: bool

    def __init__(self, target: Path | str):
        if is_postgres_url(target):
            self.path = redacted(target)
            self.db = PostgresDatabase(target)
            self.postgres = True
            self._migrate()
            return
        self.postgres = False
        self.path = Path(target)
        existed = self.path.exists()
        self.db = _Database(self.path)
        try:
            # Asked of SQLite, not read with open(): closing any other descriptor of the file would
            # drop this process's POSIX locks on it, held by its other connections.
            if existed and self.db.execute("PRAGMA page_count").fetchone()[0] == 0:
                self.db.close()
                raise DatabaseUnusable(f"{self.path} is empty (0 bytes): the workspace database was lost. "
                                       f"{restore_hint(self.path)}")
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.enable_wal()
            self.db.register_function(_url_host, name="url_host", deterministic=True)
            self._migrate()
        except DatabaseError as e:
            self.db.close()
            fault = database_fault(e, self.path)
            if fault is None:
                raise
            raise fault from None

    def close(self) -> None:
        self.db.close()

    # -- schema ------------------------------------------------------------------------------

    def schema_version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path} has schema version {current}, newer than this copyhound "
                f"understands ({SCHEMA_VERSION}). Upgrade copyhound to open it."
            )
        while current < SCHEMA_VERSION:
            with self.db.atomic():
                # Read again under the write lock: another process opening the store may have migrated.
                current = self.schema_version()
                if current < SCHEMA_VERSION:
                    self._apply(current)
                    current += 1

    def _apply(self, version: int) -> None:
        """Run MIGRATIONS[version] (in PostgreSQL's column types there) and record the new version."""
        if self.postgres:
            for statement in _statements(postgres_migration(MIGRATIONS[version])):
                self.db.run(statement)
            if version == 0:
                self.db.run(URL_HOST_FUNCTION)
        else:
            for statement in _statements(MIGRATIONS[version]):
                self.db.execute(statement)
        self.set_meta("schema_version", str(version + 1))

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    #: PostgreSQL advisory lock key of `index_lock` ("ch-index" in ASCII), apart from the write lock's.
    INDEX_LOCK = int.from_bytes(b"ch-index", "big") & 0x7FFF_FFFF_FFFF_FFFF

    @contextmanager
    def index_lock(self) -> Iterator[None]:
        """Hold the lock that serialises writers of the index files (register, reindex), waiting for another
        holder: a session advisory lock on PostgreSQL, so machines sharing the database and the index folder
        take turns; an flock beside the SQLite file (one machine). Both end with the process that holds them."""
        if self.postgres:
            self.db.run("SELECT pg_advisory_lock(%s)", [self.INDEX_LOCK])
            try:
                yield
            finally:
                self.db.run("SELECT pg_advisory_unlock(%s)", [self.INDEX_LOCK])
            return
        with open(self.path.with_name(self.path.name + ".index-lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    # -- backup (reliability) -----------------------------------------------------------------

    def backup_to(self, dest: Path) -> None:
        """Copy the database to `dest` with SQLite's online backup API, then check the copy.

        The backup API copies a consistent snapshot while scans and the portal keep writing. The
        copy is written beside `dest` and renamed into place only once it passed `quick_check`, so
        a failed backup never leaves a half-written file under the name asked for. On PostgreSQL,
        pg_dump writes a custom-format archive the same way (or the error names the command).
        """
        dest = Path(dest)
        if self.postgres:
            self.db.dump(dest)
            return
        partial = dest.with_name(dest.name + ".partial")
        partial.unlink(missing_ok=True)
        target = sqlite3.connect(partial)
        try:
            self.db.conn.backup(target)
            verdict = target.execute("PRAGMA quick_check").fetchone()[0]
        except DatabaseError as e:
            target.close()
            partial.unlink(missing_ok=True)
            raise database_fault(e, self.path) or e from None
        target.close()
        if verdict != "ok":
            partial.unlink(missing_ok=True)
            raise DatabaseUnusable(f"{self.path} is damaged ({verdict}); no backup was written to {dest}. "
                                   f"{restore_hint(self.path)}")
        os.replace(partial, dest)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (no semicolons occur inside our string literals)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
