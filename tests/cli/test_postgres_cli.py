"""The command line on a PostgreSQL store: `init --database`, register, a scan of a served site, matches,
the ledger, status and backup, against a real server; and one line, no traceback, when it is gone."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from support import invoke_cli

from detector import demo_site


def _one_error_line(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow  # a real crawl and detection
def test_a_scan_on_postgresql_finds_what_it_finds_on_sqlite(tmp_path, postgres_url, works_dir):
    home = tmp_path / "ws"
    shown = _ok(invoke_cli("init", "--embedder", "none", "--database", postgres_url, home=home))
    assert f"Database: {postgres_url}" in shown and not (home / "copyhound.db").exists()
    assert f'url = "{postgres_url}"' in (home / "config.toml").read_text()
    _ok(invoke_cli("config", "set", "crawl.download_delay", "0", home=home))
    _ok(invoke_cli("config", "set", "crawl.autothrottle", "false", home=home))
    _ok(invoke_cli("register", str(works_dir), "--owner", "alice", home=home))

    site = demo_site.build_site(tmp_path / "site")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(demo_site.QuietHandler, directory=str(site)))
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        scanned = invoke_cli("scan", "--site", f"http://127.0.0.1:{server.server_address[1]}/", "--allow-private",
                          "--format", "json", home=home)
    finally:
        server.shutdown()
    assert json.loads(_ok(scanned))["detect"]["matches_new"] == len(demo_site.EXPECTED)
    rows = json.loads(_ok(invoke_cli("matches", "--format", "json", home=home)))
    # tests/test_scan_e2e.py asserts the same pairs for a SQLite workspace
    assert {Path(r["image_url"]).name: r["asset_filename"] for r in rows} == demo_site.EXPECTED
    assert len(rows) == len(demo_site.EXPECTED)
    assert "intact" in _ok(invoke_cli("ledger", "verify", home=home)).lower()
    status = json.loads(_ok(invoke_cli("status", "--format", "json", home=home)))
    assert status and _ok(invoke_cli("index", "stats", home=home))

    if shutil.which("pg_dump") is None:
        assert "pg_dump" in _one_error_line(invoke_cli("backup", str(tmp_path / "db.dump"), home=home))
        return
    backups = tmp_path / "backups"
    backups.mkdir()
    _ok(invoke_cli("backup", str(backups), home=home))
    [dump] = backups.iterdir()
    assert dump.suffix == ".dump"
    listed = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public matches" in listed and "FUNCTION public url_host" in listed


def test_an_unreachable_database_is_one_line_naming_it_and_the_remedy(tmp_path, postgres_server):
    gone = postgres_server.url("copyhound").replace(f":{postgres_server.port}/", ":1/")
    refused = invoke_cli("init", "--embedder", "none", "--database", gone, home=tmp_path / "ws")
    assert refused.returncode == 2 and gone in _one_error_line(refused)
    assert not (tmp_path / "ws" / "config.toml").exists()  # nothing written for a server that is not there

    home = tmp_path / "moved"
    _ok(invoke_cli("init", "--embedder", "none", "--database", postgres_server.database(), home=home))
    _ok(invoke_cli("config", "set", "store.url", gone, home=home))
    for command in (["matches"], ["ledger", "verify"], ["status"]):
        result = invoke_cli(*command, home=home)
        line = _one_error_line(result)
        assert result.returncode == 2 and gone in line and "[store] url" in line


@pytest.mark.parametrize("url", ["sqlite:///tmp/x.db", "db.example:5432"])
def test_init_refuses_a_database_that_is_not_a_postgresql_url(tmp_path, url):
    result = invoke_cli("init", "--database", url, home=tmp_path / "ws")
    assert result.returncode == 2 and "is not a PostgreSQL URL" in _one_error_line(result)
