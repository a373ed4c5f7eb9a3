"""Fixtures shared by the whole suite: real workspaces, real images, a tiny real CLIP model."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from store_calls import CALLS_MODULES, record_postgres_calls
from support import PostgresServer, make_tiny_clip, postgres_bin

from detector import config
from detector.config.edit import set_value
from detector.demo_site import OTHERS_DIR, WORKS_DIR
from detector.register import WorkInfo, image_paths, register_files
from detector.workspace import create_workspace, open_workspace
from detector.workspace.store import Store, open_store


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    return make_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture
def works_dir() -> Path:
    return WORKS_DIR


@pytest.fixture
def others_dir() -> Path:
    return OTHERS_DIR


@pytest.fixture
def workspace(tmp_path):
    """A fresh workspace with embedder 'none' and its open store."""
    ws, _ = create_workspace(tmp_path / "ws", config.Settings().with_embedder("none"))
    store = Store(ws.db_path)
    yield ws, store
    store.close()


@pytest.fixture(scope="session")
def registered_template(tmp_path_factory) -> Path:
    """A workspace (embedder 'none') with every demo work registered to alice, built once: tests get copies.

    Its scans take no page screenshots: a browser per scan is most of a small scan's time, and the screenshot
    tests (tests/detector/test_screenshots.py, the demo's) turn them on where they are the subject."""
    ws, _ = create_workspace(tmp_path_factory.mktemp("registered") / "ws", config.Settings().with_embedder("none"))
    set_value(ws.config_path, "report.screenshots", "none")
    store = Store(ws.db_path)
    register_files(ws, store, ws.settings(), None, image_paths([WORKS_DIR], False), WorkInfo("alice"))
    store.close()
    return ws.home


@pytest.fixture
def registered(registered_template, tmp_path):
    """A copy of the registered template for this test to change, and its open store."""
    ws = open_workspace(shutil.copytree(registered_template, tmp_path / "ws"))
    store = Store(ws.db_path)
    yield ws, store
    store.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on a free loopback port, without persistence, shared by the whole session (crawl frontier, Celery broker)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: apt-get install redis-server (.ci/run does it)"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield url
    client.close()
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (Debian's binaries; CI installs the postgresql package)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    server = PostgresServer(bin_dir).start()
    record_postgres_calls(Store)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path) -> Path | str:
    """What `Store()` opens, once per backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "copyhound.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def any_workspace(tmp_path, store_target):
    """A fresh workspace with embedder 'none' and its open store, on each backend in turn."""
    settings = config.Settings().with_embedder("none")
    if isinstance(store_target, str):
        settings = replace(settings, store=config.StoreSettings(url=store_target))
    ws, _ = create_workspace(tmp_path / "ws", settings)
    store = open_store(ws)
    yield ws, store
    store.close()


#: Each test module's measured seconds (setup, calls and teardown summed) and test count, those of its slow tests
#: apart, from a whole run of the suite (`make test-durations` rewrites it): the order in which `make test` and
#: `make test-fast` hand modules out.
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_addoption(parser):
    parser.addoption("--record-durations", action="store_true",
                     help=f"write each module's measured seconds to {DURATIONS.name} at the end of the run (run the "
                          "whole suite: a module's entry becomes what this run ran of it)")


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)  # after `-m` and `-k` have deselected: only what runs is costed
def pytest_collection_modifyitems(config, items):
    """Modules go to pytest-xdist's workers longest first (longest processing time first), so the workers
    finish together on short modules instead of one running the demo alone at the end. A module costs the
    measured seconds (DURATIONS) of the share of its slow and other tests that this run selects; a module not
    measured yet, the measured mean per test. The check that every store method ran on PostgreSQL goes last,
    after the tests that run them."""
    measured = json.loads(DURATIONS.read_text(encoding="utf-8")) if DURATIONS.exists() else {}
    per_test = (sum(m["seconds"] for m in measured.values()) / max(1, sum(m["tests"] for m in measured.values())))
    selected = {"slow": Counter(), "other": Counter()}
    for item in items:
        selected["slow" if item.get_closest_marker("slow") else "other"][_module(item.nodeid)] += 1

    def cost(module: str) -> float:
        if module not in measured:
            return (selected["slow"][module] + selected["other"][module]) * per_test
        m = measured[module]
        other_tests = m["tests"] - m["slow_tests"]
        return (m["slow_seconds"] * selected["slow"][module] / max(1, m["slow_tests"])
                + (m["seconds"] - m["slow_seconds"]) * selected["other"][module] / max(1, other_tests))

    costs = {module: cost(module) for module in {_module(item.nodeid) for item in items}}
    items.sort(key=lambda item: -costs[_module(item.nodeid)])
    last = [item for item in items if item.name == "test_every_public_store_method_runs_on_postgresql"]
    items[:] = [item for item in items if item not in last] + last


class _Durations:
    """Sums each module's report durations on the process that sees every report (the xdist controller, or
    the only process) and, when the run ends, writes them into DURATIONS: modules this run did not run keep
    their seconds, and modules whose file is gone are dropped."""

    def __init__(self):
        self.seconds: dict[str, Counter] = {}

    def pytest_runtest_logreport(self, report):
        counts = self.seconds.setdefault(_module(report.nodeid), Counter())
        slow = "slow" in report.keywords
        counts["seconds"] += report.duration
        counts["slow_seconds"] += report.duration if slow else 0.0
        counts["tests"] += report.when == "call"
        counts["slow_tests"] += report.when == "call" and slow

    def pytest_sessionfinish(self):
        root = DURATIONS.parent.parent
        kept = json.loads(DURATIONS.read_text(encoding="utf-8")) if DURATIONS.exists() else {}
        kept.update({module: {key: round(counts[key], 1) if "seconds" in key else counts[key]
                              for key in ("seconds", "tests", "slow_seconds", "slow_tests")}
                     for module, counts in self.seconds.items()})
        lines = [f"  {json.dumps(module)}: {json.dumps(kept[module])}"  # one line each: a rerun's diff reads by module
                 for module in sorted(kept) if (root / module).exists()]
        DURATIONS.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def pytest_configure(config):
    if config.getoption("--record-durations") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Durations(), "record-durations")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under `--dist loadscope` (as `make test` runs), each module's tests run in one worker, so its
    module-scoped fixtures are built once, and CALLS_MODULES run together in one worker, so the check
    that counts their PostgreSQL calls (last there, as above) sees them all."""
    if config.getvalue("dist") != "loadscope":
        return None
    config.option.loadscopereorder = False  # xdist would otherwise reorder by test count, undoing the order above
    from xdist.scheduler import LoadScopeScheduling  # only under xdist: a plain pytest run needs none of it

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return "store-calls" if module in CALLS_MODULES else module

    return ModuleScheduling(config, log)
