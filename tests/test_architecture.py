"""Who may import whom (docs/architecture.md), read from the source with ast."""

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


@cache
def _imports(path: Path) -> set[str]:
    """Every module `path` imports, with `from package import name` counted as `package.name` too."""
    names = set()
    for node in ast.walk(_tree(path)):
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


STORE_CONNECTIONS = ("detector/workspace/store/connection.py", "detector/workspace/store/sqlite.py",
                     "detector/workspace/postgres.py")


@pytest.mark.parametrize("path", _modules("detector") + _modules("index") + _modules("crawlers"), ids=str)
def test_only_the_store_talks_sqlite(path):
    # The store's two connections (SQLite through sqlite-utils; PostgreSQL for a `[store] url`, answering the
    # same calls) and the module that opens, migrates and backs up either. The domain modules of the store use
    # only the `Database` protocol.
    if path.relative_to(ROOT).as_posix() in STORE_CONNECTIONS:
        return
    assert not {"sqlite3", "sqlite_utils", "psycopg"} & {name.split(".")[0] for name in _imports(path)}, path.name


def test_the_store_connections_exist():
    """A renamed connection module would leave the rule above whitelisting nothing."""
    assert all((ROOT / path).is_file() for path in STORE_CONNECTIONS)


_STORE_DOMAINS = [p for p in _modules("detector/workspace/store")
                  if p.name not in ("__init__.py", "connection.py", "sqlite.py", "database.py", "rows.py")]


@pytest.mark.parametrize("path", _STORE_DOMAINS, ids=lambda p: p.name)
def test_the_store_domains_see_a_database_only_through_its_protocol(path):
    """So a new backend needs a connection and a dialect, never an edit of the domains' methods."""
    workspace = {name for name in _imports(path) if _within(name, "detector.workspace")}
    allowed = ("detector.workspace.store.database", "detector.workspace.store.rows")
    assert all(any(_within(name, a) for a in allowed) for name in workspace), sorted(workspace)


@pytest.mark.parametrize("path", _modules("detector") + _modules("index") + _modules("crawlers"), ids=str)
def test_product_never_imports_benchmarks(path):
    assert not any(_within(name, "benchmarks") for name in _imports(path)), path.name


@pytest.mark.parametrize("path", _modules("index"), ids=str)
def test_index_imports_neither_detector_nor_crawlers(path):
    assert not any(_within(name, "detector") or _within(name, "crawlers") for name in _imports(path)), path.name


# -- layers ------------------------------------------------------------------------------------
# Each room of detector/ (its first name under `detector.`; "" is the package itself) sits in one layer,
# and a module imports only from its own layer or lower ones (docs/architecture.md shows the rooms).
LAYERS = (
    ("foundation", {"", "errors", "config", "workspace", "sniff", "text", "output", "suggest", "hosts", "bounded_get"}),
    ("images", {"intake", "rights", "hashing", "features", "regions", "embedders", "fingerprint", "credentials",
                "cmi", "site_rights"}),
    ("provenance", {"provenance"}),
    ("detection", {"parallel", "catalogue", "shortlist", "geometry", "correlation", "nearest", "verify", "align", "cascade",
                   "common", "decide", "detect", "register", "reindex", "followup", "screenshots", "crawl", "sources",
                   "negatives", "distributed", "reuse"}),
    ("evidence", {"evidence"}),
    ("licensing", {"licensing"}),
    ("enforcement", {"enforcement", "collectability"}),
    ("operations", {"scan", "watch", "status", "tokens", "demo", "demo_site"}),
    ("edges", {"cli", "web"}),
)
LAYER_OF = {room: rank for rank, (_, rooms) in enumerate(LAYERS) for room in rooms}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(name: str) -> str:
    return name.split(".")[1] if "." in name else ""


def _layer(name: str) -> int:
    # A name that is no room is a name of the package itself (`from detector import __version__`).
    return LAYER_OF.get(_room(name), 0)


def _upward(module: str, imported: set[str]) -> list[str]:
    """The detector modules in `imported` that sit in a higher layer than `module`."""
    return sorted(name for name in imported if _within(name, "detector") and _layer(name) > _layer(module))


@pytest.mark.parametrize("path", _modules("detector"), ids=str)
def test_no_module_imports_from_a_higher_layer(path):
    module = _module_name(path)
    assert _room(module) in LAYER_OF, f"detector.{_room(module)} is in no layer: add it to LAYERS in {__file__}"
    upward = _upward(module, _imports(path))
    assert not upward, f"{path.name} ({LAYERS[_layer(module)][0]}) imports {upward} from a higher layer"


def test_an_upward_import_is_caught():
    """Evidence may use provenance, never the other way round; the package itself is the lowest room."""
    imported = {"detector", "detector.workspace.store", "detector.evidence.case", "detector.cli.common"}
    assert _upward("detector.provenance.ledger", imported) == ["detector.cli.common", "detector.evidence.case"]
    assert _upward("detector.web.ui", imported) == []


# -- private names -----------------------------------------------------------------------------
# A module's _names are its own: what another module needs is made public (and documented) instead.
# Known exceptions go in PRIVATE_IMPORTS_ALLOWED as (path, module), each with a comment saying why.
PRIVATE_IMPORTS_ALLOWED: set[tuple[str, str]] = set()
OUR_PACKAGES = ("detector", "crawlers", "index", "benchmarks")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(path: Path) -> set[tuple[str, str]]:
    """(module, name) for each `from module import _name` and each `module._name` of an imported module."""
    tree = _tree(path)
    uses, bound = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OUR_PACKAGES:
            uses |= {(node.module, a.name) for a in node.names if _private(a.name)}
            bound |= {a.asname or a.name: f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            bound |= {a.asname: a.name for a in node.names if a.asname and a.name.split(".")[0] in OUR_PACKAGES}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr) \
                and node.value.id in bound:
            uses.add((bound[node.value.id], node.attr))
    return uses


@pytest.mark.parametrize("path", [p for package in OUR_PACKAGES for p in _modules(package)], ids=str)
def test_no_module_imports_another_modules_private_names(path):
    own = _module_name(path)
    rel = path.relative_to(ROOT).as_posix()
    borrowed = sorted(f"{module}.{name}" for module, name in _private_uses(path)
                      if module != own and (rel, module) not in PRIVATE_IMPORTS_ALLOWED)
    assert not borrowed, f"{rel} uses private names of other modules: {borrowed}"


def test_private_names_are_seen(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from detector.detect import Detector, _hidden\nfrom detector import verify\nverify._box(1)\n")
    assert _private_uses(probe) == {("detector.detect", "_hidden"), ("detector.verify", "_box")}


# -- no circles --------------------------------------------------------------------------------
MODULES = {_module_name(path): path for path in _modules("detector")}


def _loaded_imports(statements: list[ast.stmt]) -> set[str]:
    """The modules a module's body imports as it loads: not inside functions, not under TYPE_CHECKING.
    `from package import name` counts as importing package.name when that is a module, else the package."""
    found = set()
    for node in statements:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                      for a in node.names}
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found |= _loaded_imports(node.orelse)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.ClassDef)):
            for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", []),
                          *[handler.body for handler in getattr(node, "handlers", [])]):
                found |= _loaded_imports(block)
    return found & MODULES.keys()


def _graph() -> dict[str, set[str]]:
    return {name: _loaded_imports(_tree(path).body) - {name}
            for name, path in MODULES.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan): each is an import circle."""
    order, low, stack, circles = {}, {}, [], []

    def visit(node):
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in order:
            visit(node)
    return circles


def test_no_import_circle_at_module_level():
    assert _circles(_graph()) == []


def test_circles_are_found():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_module_level_imports_only():
    graph = _graph()
    assert "detector.provenance.ledger" in graph["detector.evidence.notices"]
    assert "detector.cli.works" in graph["detector.cli"]  # `from detector.cli import works`: the module
    assert "detector.evidence.report" not in graph["detector.cli.evidence"]  # imported inside the command
