"""What the store's domain modules share: the time a write stamps, JSON columns read back, simple WHERE clauses.

The domain modules import `json_columns` and `where_equal` under the private names they had in the
one-module store (`_json_columns`, `_and`), so that the methods moved from it read as they did.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def json_columns(row: dict, names: Iterable[str]) -> dict:
    """`row` with each of the `names` columns that holds JSON text decoded, in place."""
    for name in names:
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    return row


def where_equal(pairs: list[tuple[str, object]]) -> tuple[str, list]:
    """A WHERE clause ANDing `column = ?` for each pair whose value is not None."""
    clauses, params = ["1"], []
    for column, value in pairs:
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params
