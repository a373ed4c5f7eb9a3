"""`copyhound backup DEST`: a consistent copy of the workspace database, safe while a scan runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from detector.cli.common import Home, app, console, open_parts
from detector.errors import UsageError


def backup_path(dest: Path, suffix: str = ".db") -> Path:
    """DEST itself, or inside a folder DEST a file named after the time (so nightly backups never collide)."""
    if dest.is_dir():
        return dest / f"copyhound-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}{suffix}"
    return dest


@app.command()
def backup(
    dest: Annotated[Path, typer.Argument(help="File to write, or a folder to write a time-stamped file into.")],
    home: Home = None,
) -> None:
    """Copy the workspace database with SQLite's online backup API (the remedy for a damaged database).

    On a PostgreSQL store ([store] url), runs pg_dump (custom format) when it is on PATH."""
    _ws, _settings, store = open_parts(home)
    target = backup_path(dest, ".dump" if store.postgres else ".db")  # a pg_dump archive on PostgreSQL
    if target.exists():
        store.close()
        raise UsageError(f"{target} already exists; name a new file, or a folder to write a time-stamped one into.")
    if not target.parent.is_dir():
        store.close()
        raise UsageError(f"{target.parent} is not a folder; create it first, or name a file in an existing one.")
    try:
        store.backup_to(target)
    finally:
        store.close()
    check = ("a pg_dump custom-format archive: restore it with pg_restore" if store.postgres
             else "checked with PRAGMA quick_check")
    console.print(f"Backed up {store.path} to {target} ({check}). Blobs, WARC files "
                  "and keys are plain files: copy the rest of the workspace folder alongside it.", highlight=False)
