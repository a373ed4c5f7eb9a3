"""What the store asks of a database connection: the `Database` protocol, and the `Table` and `Cursor` it hands out.

Every method of `Store` talks to its backend through these calls only, writing SQLite's SQL with `?`
placeholders (`detector.workspace.dialect` translates it for PostgreSQL). Two classes satisfy them:
`detector.workspace.store.sqlite.SQLiteDatabase` (sqlite-utils' `Database`) and
`detector.workspace.postgres.PostgresDatabase` (psycopg). A new backend implements them, a dialect
for the SQL, and the migrations in its column types (docs/architecture.md, "The store").

Parameters the store passes by position are positional-only here, since the two backends name them
differently (`parameters` and `params`); the store passes `order_by`, `limit`, `offset` and `pk` by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Cursor(Protocol):
    """The result of `Database.execute`: rows as tuples, and how many rows a write changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list: ...

    def __iter__(self) -> Iterator: ...


@runtime_checkable
class Table(Protocol):
    """`db[name]`: one table's rows by primary key (values that are lists or dicts are stored as JSON)."""

    #: The primary key of the row the last insert, upsert or update wrote.
    last_pk: Any

    def insert(self, record: dict, /) -> Table: ...

    def upsert(self, record: dict, /, *, pk: str) -> Table: ...

    def get(self, pk: Any, /) -> dict:
        """The row with key `pk`; sqlite-utils' NotFoundError when there is none."""

    def update(self, pk: Any, updates: dict, /) -> Table: ...

    def delete(self, pk: Any, /) -> Table: ...

    def rows_where(self, where: str | None = None, where_args: Sequence | None = None, /, *,
                   order_by: str | None = None, limit: int | None = None,
                   offset: int | None = None) -> Iterable[dict]: ...

    @property
    def rows(self) -> Iterable[dict]: ...


@runtime_checkable
class Database(Protocol):
    """A connection to the workspace database, as every `Store` method uses it."""

    def execute(self, sql: str, params: Sequence | None = None, /) -> Cursor:
        """Run one statement; a statement outside `atomic()` is committed when it returns."""

    def query(self, sql: str, params: Sequence | None = None, /) -> Iterable[dict]:
        """The rows of a SELECT (or a write with RETURNING) as dicts."""

    def __getitem__(self, table: str, /) -> Table: ...

    def atomic(self) -> AbstractContextManager:
        """A transaction (a savepoint when nested) whose outermost level holds the one write lock from its start."""

    def table_names(self) -> list[str]: ...

    def close(self) -> None: ...
