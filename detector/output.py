"""Rows out to a person (a rich table) or to a machine (JSON, CSV).

A table reads at 80 columns by default: the caller's short list of columns, URLs shown as their
host and last path segment, hashes shortened, one line per row (an ellipsis where a cell does not
fit). `wide` shows every column in full, wrapped. Tables show times as "2026-12-06 01:13" (UTC);
JSON and CSV always carry every key of every row, times in ISO 8601.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table
from rich.text import Text

FORMATS = ("table", "json", "csv")

#: Headers of the short table, where the key would waste the width it names.
HEADERS = {"asset_id": "work", "asset_filename": "work", "page_url": "page", "image_url": "image",
           "last_seen": "seen", "first_seen": "first", "created_at": "created", "started_at": "started",
           "collectability": "collect",
           "finished_at": "finished", "matches_new": "new", "sightings": "seen x", "match_id": "match",
           "emails_sent": "sent", "emails_failed": "failed", "emails_bounced": "bounced",
           "median_days_to_removal": "days to removal", "days_to_removal": "days to removal",
           "presence_detail": "presence detail", "bytes_per_work": "B/work", "trained_at": "trained",
           "notices_sent": "notices", "looked_up_at": "looked up", "recipient_source": "source",
           "expires_at": "expires", "sent_at": "sent", "decided_at": "decided", "heartbeat_at": "heartbeat",
           "revoked_at": "revoked", "received_at": "received"}
SHORT_HASH = 12
#: The width below which a shortened cell stops being recognisable.
READABLE = 16


#: An ISO 8601 time as the store writes it (2026-12-06T01:13:05Z, with or without seconds, fraction, offset).
_ISO_TIME = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?")


def human_time(value: str) -> str:
    """'2026-12-06T01:13:05Z' -> '2026-12-06 01:13' (to the minute, as a reader of a table wants it);
    any other text as it is."""
    found = _ISO_TIME.fullmatch(value)
    if not found:
        return value
    zone = found.group(5)
    return f"{found.group(1)} {found.group(2)}" + ("" if zone in (None, "Z", "+00:00") else f" {zone}")


#: (seconds in the unit, its short name) for relative times, largest first.
_UNITS = ((86400, "d"), (3600, "h"), (60, "min"))
#: Beyond this many days a relative time says less than the date does.
_RELATIVE_DAYS = 60


def relative_time(value: str, now: datetime) -> str:
    """'2026-12-05T22:13:05Z' seen at 2026-12-06 01:13 -> '3 h ago' ('in 5 d' for a time ahead, 'just now'
    within a minute); a time further than _RELATIVE_DAYS away as its day, and any other text as it is."""
    if not _ISO_TIME.fullmatch(value):
        return value
    moment = datetime.fromisoformat(value)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    seconds = (now - moment).total_seconds()
    if abs(seconds) >= _RELATIVE_DAYS * 86400:
        return value[:10]
    for size, unit in _UNITS:
        if abs(seconds) >= size:
            count = int(abs(seconds) // size)
            return f"{count} {unit} ago" if seconds > 0 else f"in {count} {unit}"
    return "just now"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table_cell(value: Any) -> str:
    """A cell of the wide table: as in CSV, with times to the minute."""
    return human_time(value) if isinstance(value, str) else _cell(value)


def host(url: str | None) -> str:
    """The host a URL points at (the URL itself when it has none)."""
    return (urlsplit(url).hostname or url) if url else ""


def short_url(url: str) -> str:
    """A URL in a narrow column: its host and the last segment of its path, which tell copies on one
    site apart ('shop.example/…/cats.jpg'); no scheme or query."""
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        return parts.hostname
    return f"{parts.hostname}/{'…/' if len(segments) > 1 else ''}{segments[-1]}"


def _short_cell(column: str, value: Any) -> str:
    """A cell of the 80-column table: hosts for URLs, short hashes, times to the minute (days when a thing
    was seen), 2-decimal scores."""
    if value is None:
        return ""
    if column.endswith("url"):
        return short_url(str(value))
    if column in ("sha256", "hash") or column.endswith("_sha256"):
        return str(value)[:SHORT_HASH]
    if column.endswith(("_seen", "_until")) and isinstance(value, str):
        return value[:10]  # the day is what a reader of a list needs
    if isinstance(value, float):
        return f"{value:.2f}"
    return _table_cell(value)


def render(rows: list[dict], columns: list[str], fmt: str, console: Console, title: str | None = None,
           wide: bool = False, short: list[str] | None = None) -> None:
    """Tables show `short` (default: `columns`) shortened to fit, or with `wide` every one of `columns`
    in full; JSON and CSV carry every key of every row."""
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
    elif wide and _frame(len(columns)) + sum(len(c) for c in columns) > console.width:
        console.print(_records(rows, columns, title))
    elif wide:
        table = Table(title=_text(title))
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(Text(_table_cell(row.get(c))) for c in columns))
        console.print(table)
    else:
        console.print(_short_table(rows, short or columns, console.width, title))


def _frame(columns: int) -> int:
    """The width a table's borders and padding take: two spaces and a border per column, and the last border."""
    return 3 * columns + 1


def _short_table(rows: list[dict], shown: list[str], width: int, title: str | None) -> Table:
    """Cells shortened to fit `width`, one line a row. Headers are never cut: when even the shortest cells do
    not fit, columns are left out from the right (callers list theirs most important first) and named below."""
    headers = [HEADERS.get(c, c.replace("_", " ")) for c in shown]
    cells = [[_short_cell(c, row.get(c)) for c in shown] for row in rows]
    natural = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    flexible = [_flexible(c) for c in shown]
    # A cut cell still says enough to recognise (a host, a file name); past that, columns are left out.
    least = [max(len(h), min(n, READABLE)) for h, n in zip(headers, natural)]
    kept = len(shown)
    widths = fit(natural, flexible, width - _frame(kept), least)
    while kept > 1 and sum(widths) + _frame(kept) > width:
        kept -= 1
        widths = fit(natural[:kept], flexible[:kept], width - _frame(kept), least[:kept])
    left_out = f"Not shown at this width: {', '.join(headers[kept:])} (--format json has every field)."
    table = Table(title=_text(title), caption=_text(left_out) if kept < len(shown) else None)
    for header, column_width in zip(headers, widths):
        table.add_column(header, overflow="ellipsis", no_wrap=True, width=column_width)
    for row in cells:
        table.add_row(*(Text(cell) for cell in row[:kept]))
    return table


def _records(rows: list[dict], columns: list[str], title: str | None) -> Table:
    """Every column of every row in full when they cannot stand side by side: one block of field and value
    lines a row, blocks ruled apart."""
    table = Table(title=_text(title), show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for row in rows:
        for i, column in enumerate(columns):
            table.add_row(Text(column), Text(_table_cell(row.get(column))), end_section=i == len(columns) - 1)
    return table


def _text(value: str | None) -> Text | None:
    """Text from the web (cells, a site's name in a title) is shown as text, never read as rich markup."""
    return None if value is None else Text(value)


def _flexible(column: str) -> bool:
    """Free text, which may give way (with an ellipsis); ids, numbers, statuses and dates keep their width."""
    return column.endswith(("url", "filename", "title", "name", "owner", "creator", "label", "note", "help",
                            "value", "what", "kind", "subject", "target", "count", "detail", "reason", "answer",
                            "outcome", "why", "recipient", "host", "asset", "work", "rule", "source"))


def fit(natural: list[int], flexible: list[bool], room: int, least: list[int]) -> list[int]:
    """Column widths within `room`: fixed columns as they are; the widest flexible columns are cut
    first, down to the width of the others (never below their `least`) until the row fits."""
    widths = list(natural)
    while sum(widths) > room:
        cuttable = [i for i, f in enumerate(widths) if flexible[i] and f > least[i]]
        if not cuttable:
            break
        widest = max(widths[i] for i in cuttable)
        tops = [i for i in cuttable if widths[i] == widest]
        below = max([widths[i] for i in cuttable if widths[i] < widest] + [least[i] for i in tops])
        step = min(widest - below, -(-(sum(widths) - room) // len(tops)))
        for i in tops:
            widths[i] -= step
    return widths
