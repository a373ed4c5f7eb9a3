"""Rows out to a person (a rich table) or to a machine (JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

FORMATS = ("table", "json", "csv")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render(rows: list[dict], columns: list[str], fmt: str, console: Console, title: str | None = None) -> None:
    """Tables show `columns`; JSON and CSV carry every key of every row."""
    if fmt == "json":
        console.out(json.dumps(rows, indent=2, sort_keys=True, default=str), highlight=False)
    elif fmt == "csv":
        keys = list(dict.fromkeys(k for row in rows for k in row)) or columns
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in keys})
        console.out(buffer.getvalue(), end="", highlight=False)
    else:
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            # Text from the web is shown as text, never as rich markup.
            table.add_row(*(escape(_cell(row.get(c))) for c in columns))
        console.print(table)
