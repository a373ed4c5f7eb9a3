"""Default tables read at 80 columns; --wide shows everything; JSON and CSV keep every field."""

from __future__ import annotations

import csv
import io
import json

from cli_workspace import PAGES
from support import invoke_cli

NARROW = {"COLUMNS": "80"}


def test_the_default_matches_table_fits_80_columns_one_line_a_match(listed):
    result = invoke_cli("matches", home=listed.home, env=NARROW)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.startswith("│") and line.split("│")[1].strip().isdigit()]
    assert len(rows) == len(listed.matches)  # one line per match, nothing wrapped
    # Hosts, not URLs (a long host may itself end in an ellipsis).
    assert "shop.example" in result.stdout and "catalogue" not in result.stdout and "utm_source" not in result.stdout


def test_wide_shows_the_full_urls(listed):
    result = invoke_cli("matches", "--wide", home=listed.home, env={"COLUMNS": "400"})
    assert all(page in result.stdout for page in PAGES)


def test_json_and_csv_carry_every_field_whatever_the_width(listed):
    rows = json.loads(invoke_cli("matches", "--format", "json", home=listed.home, env=NARROW).stdout)
    assert [r["page_url"] for r in rows] == PAGES and "signals" in rows[0]
    table = list(csv.DictReader(io.StringIO(invoke_cli("matches", "--format", "csv", home=listed.home, env=NARROW).stdout)))
    assert [r["page_url"] for r in table] == PAGES


def test_limit_and_offset_page_through_a_list(listed):
    first = json.loads(invoke_cli("matches", "--limit", "2", "--format", "json", home=listed.home).stdout)
    rest = json.loads(invoke_cli("matches", "--limit", "2", "--offset", "2", "--format", "json", home=listed.home).stdout)
    assert [r["id"] for r in first + rest] == listed.matches
    table = invoke_cli("matches", "--limit", "2", home=listed.home, env=NARROW).stdout
    assert "Matches 1-2 of 3 (--offset/--limit for more)" in table


def test_assets_table_shortens_hashes_to_fit(listed):
    result = invoke_cli("assets", home=listed.home, env=NARROW)
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    full = json.loads(invoke_cli("assets", "--format", "json", home=listed.home).stdout)[0]["sha256"]
    assert full[:12] in result.stdout and full not in result.stdout
