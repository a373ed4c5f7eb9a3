"""Who may import whom (docs/architecture.md), read from the source with ast."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, with `from package import name` counted as `package.name` too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _modules(package: str):
    return sorted((ROOT / package).rglob("*.py"))


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# The seam: what crawlers may use of detector (the workspace they write to, the settings and
# targets they crawl by, the errors they raise, the format sniffer they share with intake).
CRAWLER_SEAM = ("detector.workspace", "detector.config", "detector.errors", "detector.sniff")


def test_imports_are_read_with_their_names():
    """`from detector import cli` must count as importing detector.cli, or the rules below miss it."""
    probe = ROOT / "tests" / "test_architecture.py"
    assert "pytest" in _imports(probe) and "pathlib.Path" in _imports(probe)


@pytest.mark.parametrize("path", _modules("crawlers"), ids=str)
def test_crawlers_use_only_the_workspace_seam_of_detector(path):
    used = {name for name in _imports(path) if _within(name, "detector")}
    outside = {name for name in used
               if not any(_within(name, allowed) or allowed.startswith(name + ".") for allowed in CRAWLER_SEAM)}
    assert not outside, f"{path.name} imports {sorted(outside)}"


@pytest.mark.parametrize("path", _modules("detector"), ids=str)
def test_detection_never_imports_crawlers(path):
    assert not any(_within(name, "crawlers") for name in _imports(path)), path.name


@pytest.mark.parametrize("path", _modules("detector"), ids=str)
def test_nothing_imports_the_cli_or_web_edges(path):
    if "cli" in path.parts or "web" in path.parts:
        return
    used = _imports(path)
    assert not any(_within(name, "detector.cli") or _within(name, "detector.web") for name in used), path.name


@pytest.mark.parametrize("path", _modules("detector") + _modules("index") + _modules("crawlers"), ids=str)
def test_only_the_store_talks_sqlite(path):
    # The store, and the PostgreSQL connection it opens for a `[store] url` (which answers sqlite-utils' calls).
    if path.relative_to(ROOT).as_posix() in ("detector/workspace/store.py", "detector/workspace/postgres.py"):
        return
    assert not {"sqlite3", "sqlite_utils", "psycopg"} & {name.split(".")[0] for name in _imports(path)}, path.name


@pytest.mark.parametrize("path", _modules("detector") + _modules("index") + _modules("crawlers"), ids=str)
def test_product_never_imports_benchmarks(path):
    assert not any(_within(name, "benchmarks") for name in _imports(path)), path.name



def _private_imports(source: str) -> set[str]:
    """`module.name` for each `from module import _name` in `source`: a name another module keeps to itself."""
    return {f"{node.module}.{alias.name}" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")}


def test_private_imports_are_seen():
    assert _private_imports("from detector.verify import Verdict, _check_gray\nfrom x import __all__") == {
        "detector.verify._check_gray"}


@pytest.mark.parametrize("path", _modules("detector") + _modules("index") + _modules("crawlers"), ids=str)
def test_no_module_imports_another_modules_private_names(path):
    # What two modules share is public and documented (e.g. detector/geometry.py for verify and align).
    assert not _private_imports(path.read_text(encoding="utf-8")), path.name
