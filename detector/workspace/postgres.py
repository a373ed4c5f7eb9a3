"""The PostgreSQL connection behind `Store`, through psycopg 3 (the `distributed` extra).

`PostgresDatabase` offers the few calls the store makes of sqlite-utils' `Database` (`execute`,
`query`, `atomic`, `table_names`, and `db[table]` with insert/get/update/upsert/delete/rows_where:
the `Database` protocol of `detector.workspace.store.database`), so one `Store` class with one copy of each method's SQL serves both backends; statements pass
through `detector.workspace.dialect.to_postgres` on the way.

Transactions: the connection autocommits single statements, and `atomic()` opens a transaction
(savepoints when nested) whose first act is `pg_advisory_xact_lock`, one lock shared by every
writer of the database. That is the guarantee SQLite's `BEGIN IMMEDIATE` gives and callers rely
on: a block that reads and then writes (the ledger's head check, the newest checkpoint, the next
invoice number) runs alone among such blocks, and under READ COMMITTED each statement after the
lock sees every earlier block's commit. SERIALIZABLE would instead abort one of two racing blocks
and leave every caller to retry; plain readers are never blocked either way.

A server that cannot be reached, or goes away mid-command, raises DatabaseUnusable naming the
URL (without its password) and the remedy, as a damaged SQLite file does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlite_utils.db import NotFoundError, jsonify_if_needed

from detector.errors import DatabaseUnusable, ExtraMissing, UsageError
from detector.workspace.dialect import to_postgres

URL_SCHEMES = ("postgresql", "postgres")
#: The key of the advisory lock every `atomic()` block holds ("copyhound" in ASCII, as a bigint).
WRITE_LOCK = int.from_bytes(b"copyhound", "big") & 0x7FFF_FFFF_FFFF_FFFF


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and urlsplit(target).scheme in URL_SCHEMES


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def unreachable(url: str, error: BaseException) -> DatabaseUnusable:
    detail = " ".join(str(error).split()) or type(error).__name__
    return DatabaseUnusable(
        f"The PostgreSQL database at {redacted(url)} cannot be used ({detail}). Check that the server runs and "
        "accepts this user, and that [store] url in config.toml (or --database) names it.")


def _psycopg():
    if importlib.util.find_spec("psycopg") is None:
        raise ExtraMissing("A PostgreSQL store needs the 'distributed' extra (psycopg not installed): "
                           "pip install 'copyhound[distributed]'.")
    import psycopg

    return psycopg


def _params(params) -> list:
    # SQLite stores Python booleans as 0/1 in INTEGER columns; PostgreSQL's BIGINT wants the same.
    return [int(p) if isinstance(p, bool) else p for p in (params or [])]


class PostgresDatabase:
    """A psycopg connection with the slice of sqlite-utils' Database API the store uses."""

    def __init__(self, url: str):
        self.url = url
        self.psycopg = _psycopg()
        self._conn = self._connect()
        self._pid = os.getpid()
        self._inherited: list = []
        self._keys: dict[str, list[str]] = {}

    def _connect(self):
        try:
            return self.psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except self.psycopg.Error as e:
            raise unreachable(self.url, e) from None

    @property
    def conn(self):
        """This process's connection. A child forked with the store (detection's worker pool) opens its
        own: two processes on one socket garble the protocol. The parent's is kept, never closed here,
        since closing it would end the parent's session too."""
        if self._pid != os.getpid():
            self._inherited.append(self._conn)
            self._conn, self._pid = self._connect(), os.getpid()
        return self._conn

    def close(self) -> None:
        self.conn.close()

    def run(self, sql: str, params=None, rows: str = "tuple"):
        """Run PostgreSQL's own SQL (`%s` placeholders); a lost server becomes DatabaseUnusable."""
        from psycopg.rows import dict_row, tuple_row

        cursor = self.conn.cursor(row_factory=dict_row if rows == "dict" else tuple_row)
        try:
            cursor.execute(sql, None if params is None else _params(params))
        except self.psycopg.OperationalError as e:
            raise unreachable(self.url, e) from None
        return cursor

    def execute(self, sql: str, params=None):
        return self.run(to_postgres(sql), params or [])

    def query(self, sql: str, params=None) -> Iterator[dict]:
        return iter(self.run(to_postgres(sql), params or [], rows="dict").fetchall())

    @contextmanager
    def atomic(self):
        outermost = self.conn.info.transaction_status == self.psycopg.pq.TransactionStatus.IDLE
        try:
            with self.conn.transaction():
                if outermost:
                    self.run("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
                yield self
        except self.psycopg.OperationalError as e:
            raise unreachable(self.url, e) from None

    def table_names(self) -> list[str]:
        return [r[0] for r in self.run(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename").fetchall()]

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, data type) of each column of `table`, in order."""
        return [tuple(r) for r in self.run(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s ORDER BY ordinal_position", [table]).fetchall()]

    def primary_key(self, table: str) -> list[str]:
        if table not in self._keys:
            self._keys[table] = [r[0] for r in self.run(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                "ORDER BY array_position(i.indkey::int2[], a.attnum)", [table]).fetchall()]
        return self._keys[table]

    def __getitem__(self, table: str) -> _Table:
        return _Table(self, table)

    def dump(self, dest: Path) -> None:
        """Write a pg_dump archive (custom format) of the database to `dest`, via a partial file."""
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise UsageError(f"The store is the PostgreSQL database {redacted(self.url)}: back it up with "
                             f"`pg_dump --format=custom --file DEST '{redacted(self.url)}'` (pg_dump is not on PATH).")
        partial = dest.with_name(dest.name + ".partial")
        done = subprocess.run([pg_dump, "--format=custom", "--file", str(partial), "--dbname", self.url],
                              check=False, capture_output=True, text=True)
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            detail = " ".join(done.stderr.split())
            raise DatabaseUnusable(f"pg_dump of {redacted(self.url)} failed ({detail}); no backup was written "
                                   f"to {dest}. Check that the server runs and pg_dump's version is at least "
                                   "the server's.")
        partial.replace(dest)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Table:
    """`db[table]`: the sqlite-utils Table calls the store makes, values JSON-encoded as sqlite-utils does."""

    def __init__(self, db: PostgresDatabase, name: str):
        self.db, self.name = db, name
        self.last_pk = None

    def _key(self, pk) -> tuple[str, list]:
        columns = self.db.primary_key(self.name)
        values = list(pk) if isinstance(pk, list | tuple) else [pk]
        return " AND ".join(f"{_quoted(c)} = %s" for c in columns), values

    def insert(self, record: dict) -> _Table:
        record = {k: jsonify_if_needed(v) for k, v in record.items()}
        columns = self.db.primary_key(self.name)
        sql = (f"INSERT INTO {_quoted(self.name)} ({', '.join(map(_quoted, record))}) "
               f"VALUES ({', '.join('%s' for _ in record)})")
        if len(columns) == 1:
            self.last_pk = self.db.run(sql + f" RETURNING {_quoted(columns[0])}", list(record.values())).fetchone()[0]
        else:
            self.db.run(sql, list(record.values()))
            self.last_pk = tuple(record.get(c) for c in columns)
        return self

    def upsert(self, record: dict, pk: str) -> _Table:
        record = {k: jsonify_if_needed(v) for k, v in record.items()}
        others = [c for c in record if c != pk]
        sql = (f"INSERT INTO {_quoted(self.name)} ({', '.join(map(_quoted, record))}) "
               f"VALUES ({', '.join('%s' for _ in record)}) ON CONFLICT ({_quoted(pk)}) ")
        sql += (f"DO UPDATE SET {', '.join(f'{_quoted(c)} = EXCLUDED.{_quoted(c)}' for c in others)}"
                if others else "DO NOTHING")
        self.db.run(sql, list(record.values()))
        self.last_pk = record[pk]
        return self

    def get(self, pk) -> dict:
        where, values = self._key(pk)
        row = self.db.run(f"SELECT * FROM {_quoted(self.name)} WHERE {where}", values, rows="dict").fetchone()
        if row is None:
            raise NotFoundError(f"{self.name}: no row with key {pk!r}")
        return row

    def update(self, pk, updates: dict) -> _Table:
        if not updates:
            return self
        where, values = self._key(pk)
        sets = ", ".join(f"{_quoted(c)} = %s" for c in updates)
        cursor = self.db.run(f"UPDATE {_quoted(self.name)} SET {sets} WHERE {where}",
                             [jsonify_if_needed(v) for v in updates.values()] + values)
        if cursor.rowcount == 0:
            raise NotFoundError(f"{self.name}: no row with key {pk!r}")
        self.last_pk = pk
        return self

    def delete(self, pk) -> _Table:
        where, values = self._key(pk)
        self.db.run(f"DELETE FROM {_quoted(self.name)} WHERE {where}", values)
        return self

    def rows_where(self, where: str | None = None, where_args=None, order_by: str | None = None,
                   limit: int | None = None, offset: int | None = None) -> Iterator[dict]:
        sql = f"SELECT * FROM {_quoted(self.name)}"
        if where is not None:
            sql += f" WHERE {where}"
        if order_by is not None:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if offset is not None:
            sql += f" OFFSET {int(offset)}"
        return self.db.query(sql, where_args or [])

    @property
    def rows(self) -> Iterator[dict]:
        return self.rows_where()
