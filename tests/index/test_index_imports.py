"""`index/` stays pure computation: no detector, crawlers, sqlite or Scrapy imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "index"
FORBIDDEN = {"detector", "crawlers", "sqlite3", "sqlite_utils", "scrapy"}


def imported_roots(source: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("source", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_index_modules_import_nothing_forbidden(source):
    assert imported_roots(source) & FORBIDDEN == set()


def test_the_rule_sees_forbidden_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import sqlite3\nfrom detector.workspace.store import Store\n")
    assert imported_roots(sample) & FORBIDDEN == {"sqlite3", "detector"}
