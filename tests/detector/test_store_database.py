"""Both connections behind `Store` satisfy its `Database` protocol: by their signatures, and live on each backend."""

from __future__ import annotations

import inspect
import sqlite3

import pytest
from sqlite_utils.db import Table as SQLiteTable

from detector.workspace.postgres import PostgresDatabase
from detector.workspace.postgres import _Table as PostgresTable
from detector.workspace.store import Store
from detector.workspace.store.database import Cursor, Database, Table
from detector.workspace.store.sqlite import SQLiteDatabase

SPECIAL = ("__getitem__", "__iter__")


def _methods(protocol: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(value) for name, value in vars(protocol).items()
            if inspect.isfunction(value) and (not name.startswith("_") or name in SPECIAL)}


def _calls(signature: inspect.Signature) -> list[tuple[list, dict]]:
    """The calls a caller of `signature` may make: with its required arguments only, and with all of them."""
    params = list(signature.parameters.values())[1:]  # without self
    calls = []
    for every in (False, True):
        chosen = [p for p in params if every or p.default is inspect.Parameter.empty]
        args = [object() for p in chosen if p.kind is inspect.Parameter.POSITIONAL_ONLY]
        kwargs = {p.name: object() for p in chosen if p.kind is inspect.Parameter.KEYWORD_ONLY}
        calls.append((args, kwargs))
    return calls


@pytest.mark.parametrize(("protocol", "implementation"), [
    (Database, SQLiteDatabase), (Database, PostgresDatabase), (Table, SQLiteTable), (Table, PostgresTable)],
    ids=lambda c: c.__qualname__)
def test_each_connection_accepts_every_call_the_protocol_allows(protocol, implementation):
    assert _methods(protocol), protocol
    for name, signature in _methods(protocol).items():
        method = inspect.signature(getattr(implementation, name))
        for args, kwargs in _calls(signature):
            try:
                method.bind(implementation, *args, **kwargs)
            except TypeError as e:
                pytest.fail(f"{implementation.__qualname__}.{name}{method} refuses a call that "
                            f"{protocol.__name__}.{name}{signature} allows: {e}")
    for name in ("rows",) if protocol is Table else ():
        assert isinstance(inspect.getattr_static(implementation, name), property), name


def test_the_protocol_is_not_met_by_a_bare_sqlite_connection():
    """sqlite3's own connection has `execute` and `close` but none of the rest: the check has teeth."""
    conn = sqlite3.connect(":memory:")
    try:
        assert isinstance(conn.execute("SELECT 1"), Cursor) and not isinstance(conn, Database)
    finally:
        conn.close()


def test_each_backend_connection_is_a_database_with_tables_and_cursors(store_target):
    store = Store(store_target)
    try:
        assert isinstance(store.db, Database)
        owners = store.db["owners"]
        assert isinstance(owners, Table) and owners.last_pk is None
        with store.db.atomic():
            owners.insert({"name": "alice", "created_at": "2026-01-01T00:00:00Z"})
        assert isinstance(store.db.execute("SELECT name FROM owners"), Cursor)
        # A write that returns rows comes back as rows on SQLite (committed at once): a cursor all the same.
        written = store.db.execute("INSERT INTO owners(name, created_at) VALUES (?, ?) RETURNING id",
                                   ["bob", "2026-01-01T00:00:00Z"])
        assert isinstance(written, Cursor) and written.rowcount == 1
        assert [r["name"] for r in store.db.query("SELECT name FROM owners ORDER BY id")] == ["alice", "bob"]
        assert "owners" in store.db.table_names()
    finally:
        store.close()
