"""Who may import whom (docs/architecture.md), read from the source with ast."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str):
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("crawlers"), ids=str)
def test_crawlers_use_only_the_store_side_of_detector(path):
    allowed = {"detector.store", "detector.config", "detector.workspace", "detector.blobs", "detector.sniff",
               "detector.errors"}
    used = {name for name in _imports(path) if name.startswith("detector")}
    assert used <= allowed, f"{path.name} imports {sorted(used - allowed)}"


@pytest.mark.parametrize("path", _modules("detector"), ids=str)
def test_nothing_imports_the_cli_or_web_edges(path):
    if path.name == "cli.py" or "web" in path.parts:
        return
    used = _imports(path)
    assert not any(name == "detector.cli" or name.startswith("detector.web") for name in used), path.name


@pytest.mark.parametrize("path", _modules("detector") + _modules("index") + _modules("crawlers"), ids=str)
def test_only_the_store_talks_sqlite(path):
    if path.name == "store.py":
        return
    assert not {"sqlite3", "sqlite_utils"} & _imports(path), path.name


@pytest.mark.parametrize("path", _modules("detector") + _modules("index") + _modules("crawlers"), ids=str)
def test_product_never_imports_benchmarks(path):
    assert not any(name.startswith("benchmarks") for name in _imports(path)), path.name
