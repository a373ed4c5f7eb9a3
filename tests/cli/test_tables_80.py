"""Every table command reads at 80 columns: no line wider, every header whole, and the values a reader
looks for (ids, hosts, names, states) shown; what does not fit is named under the table."""

from __future__ import annotations

import pytest
from support import invoke_cli

NARROW = {"COLUMNS": "80"}

#: (command, values that must be readable in its table)
TABLES = [
    (["assets"], ["chelsea.jpg", "coffee.jpg"]),
    (["scans"], ["finished"]),
    (["matches"], ["chelsea.jpg", "confirmed", "shop.example"]),
    (["matches", "--wide"], ["https://shop.example.net/catalogue/posters/animals/cats/sum", "chelsea.jpg"]),
    (["notices"], ["dmca", "dsa"]),
    (["offers"], ["EUR 250.00", "sent", "draft"]),
    (["cases"], ["shop.example.net", "news.example.org"]),
    (["cases", "--site", "shop.example.net"], ["confirmed", "dsa", "EUR", "250.00"]),
    (["compliance"], []),
    (["index", "stats"], ["features", "phash", "pdq", "sift"]),
    (["status"], ["alice", "confirmed", "offers sent", "phash"]),
    (["config", "get"], ["embedder.spec", "licensing.page_requests_per_minute", "clip_min_cosine"]),
    (["tokens", "list"], ["alice"]),
    (["refused"], []),
    (["candidates"], ["pending", "www.some-very-long-blog"]),
    (["owner", "show", "alice"], ["Alice Example Photography Ltd", "legal_name"]),
    (["recipients", "shop.example.net"], ["rights@shop.example.net", "override"]),
    (["enforce", "--dry-run"], ["[[enforcement.rules]]"]),
]


@pytest.fixture(scope="module")
def workspace(listed):
    overrides = '{ "shop.example.net" = "rights@shop.example.net" }'
    assert invoke_cli("config", "set", "recipients.overrides", overrides, home=listed.home).returncode == 0
    assert invoke_cli("tokens", "create", "--owner", "alice", "--label", "laptop", home=listed.home).returncode == 0
    return listed


def header_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("┃").split("┃")]


@pytest.mark.parametrize("args, values", TABLES, ids=[" ".join(a) for a, _ in TABLES])
def test_every_table_reads_at_80_columns(workspace, args, values):
    result = invoke_cli(*args, home=workspace.home, env=NARROW)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    headers = [cell for line in lines if line.startswith("┃") for cell in header_cells(line)]
    assert all(len(cell) >= 2 and not cell.endswith("…") for cell in headers), result.stdout
    assert "┃┃" not in result.stdout and "││" not in result.stdout  # no column squeezed to nothing
    for value in values:
        assert value in result.stdout, f"{value!r} not readable in `copyhound {' '.join(args)}`:\n{result.stdout}"
