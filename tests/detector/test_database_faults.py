"""A lost, foreign or damaged workspace database: refused with one line naming the file and the
remedy, never re-created by a read command; `copyhound backup` is that remedy."""

from __future__ import annotations

import sqlite3

import pytest
from support import invoke_cli

from detector import config
from detector.register import WorkInfo, register_files
from detector.workspace import create_workspace
from detector.workspace.store import Store


@pytest.fixture
def home(tmp_path, works_dir):
    ws, _ = create_workspace(tmp_path / "ws", config.Settings().with_embedder("none"))
    store = Store(ws.db_path)
    register_files(ws, store, ws.settings(), None, [works_dir / "coffee.jpg"], WorkInfo("alice"))
    store.close()
    return ws.home


def _one_error_line(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_an_empty_database_is_refused_and_left_as_it_is(home):
    db = home / "copyhound.db"
    db.write_bytes(b"")
    for command in (["ledger", "verify"], ["matches"], ["assets"]):
        result = invoke_cli(*command, home=home)
        assert result.returncode == 2
        line = _one_error_line(result)
        assert f"{db} is empty (0 bytes)" in line and "copyhound backup" in line
    assert db.stat().st_size == 0  # not re-initialised


def test_a_file_that_is_not_a_database_is_refused(home):
    db = home / "copyhound.db"
    db.write_bytes(b"<html>not a database</html>" * 10)
    result = invoke_cli("ledger", "verify", home=home)
    assert result.returncode == 2
    assert f"{db} is not a SQLite database (file is not a database)" in _one_error_line(result)


def test_a_vanished_database_is_not_recreated_by_a_read_command(home):
    (home / "copyhound.db").unlink()
    result = invoke_cli("ledger", "verify", home=home)
    assert result.returncode == 2
    assert f"{home / 'copyhound.db'} is missing" in _one_error_line(result)
    assert not (home / "copyhound.db").exists()


def _corrupt_tables(db, tables: list[str]) -> None:
    """Overwrite the root pages of these tables and their indexes with garbage, as a failing disk would."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    marks = ", ".join("?" for _ in tables)
    roots = [r[0] for r in conn.execute(f"SELECT rootpage FROM sqlite_master WHERE tbl_name IN ({marks}) "
                                        "AND rootpage > 0", tables)]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(db, "r+b") as handle:
        for root in roots:
            handle.seek((root - 1) * page_size)
            handle.write(b"\xa5" * page_size)


@pytest.mark.parametrize("command", [["matches"], ["scan", "--no-crawl"], ["ledger", "verify"]])
def test_a_corrupt_page_gives_one_line_naming_the_file_and_the_remedy(home, command):
    _corrupt_tables(home / "copyhound.db", ["matches", "candidates", "ledger"])
    result = invoke_cli(*command, home=home)
    assert result.returncode == 2
    line = _one_error_line(result)
    assert f"{home / 'copyhound.db'} is damaged (database disk image is malformed)" in line
    assert "Restore it from a backup (made with `copyhound backup DEST`)" in line


def test_backup_copies_a_consistent_checked_database_into_a_folder(home, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    result = invoke_cli("backup", str(folder), home=home)
    assert result.returncode == 0, result.stderr
    [copy] = list(folder.iterdir())
    assert copy.name.startswith("copyhound-") and copy.suffix == ".db"
    backup = Store(copy)
    try:
        assert [a["filename"] for a in backup.assets()] == ["coffee.jpg"]
    finally:
        backup.close()
    again = invoke_cli("backup", str(copy), home=home)
    assert again.returncode == 2
    assert f"{copy} already exists" in again.stderr


def test_backup_of_a_damaged_database_writes_nothing(home, tmp_path):
    _corrupt_tables(home / "copyhound.db", ["assets"])
    result = invoke_cli("backup", str(tmp_path / "copy.db"), home=home)
    assert result.returncode == 2
    assert "is damaged" in _one_error_line(result)
    assert list(tmp_path.glob("copy.db*")) == []
