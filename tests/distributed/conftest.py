"""Real servers and processes for distributed detection: one redis-server per session (loopback, no
persistence), `copyhound worker` subprocesses (cluster.Workers), and a workspace with the demo works
registered and the demo site's images waiting as candidates (built once per session, copied per test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
from cluster import Workers, add_site_candidates, configure

from detector import demo_site
from detector.workspace import open_workspace
from detector.workspace.store import Store


@pytest.fixture
def redis_client(redis_url):
    """The session's Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    return client


@pytest.fixture(scope="session")
def demo_images(tmp_path_factory) -> Path:
    return demo_site.build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="session")
def template(tmp_path_factory, registered_template, demo_images) -> Path:
    """A workspace (embedder none) with every demo work registered and the site's images as new candidates."""
    ws = open_workspace(shutil.copytree(registered_template, tmp_path_factory.mktemp("template") / "ws"))
    store = Store(ws.db_path)
    add_site_candidates(ws, store, demo_images)
    store.close()
    return ws.home


@pytest.fixture
def home(template, tmp_path, redis_client, redis_url) -> Path:
    """A copy of the template workspace whose [distributed] settings point at the session's Redis."""
    target = tmp_path / "ws"
    shutil.copytree(template, target)
    configure(target, redis_url)
    return target


@pytest.fixture
def home_with(registered_template, demo_images, tmp_path, redis_client, redis_url):
    """`home_with(names)`: a copy of the registered workspace on the session's Redis with only the demo site's
    images `names` waiting as candidates (for tests whose claim does not need all twelve detected)."""

    def make(names: list[str]) -> Path:
        target = shutil.copytree(registered_template, tmp_path / "ws")
        configure(target, redis_url)
        ws = open_workspace(target)
        store = Store(ws.db_path)
        add_site_candidates(ws, store, demo_images, names=names)
        store.close()
        return target

    return make


@pytest.fixture
def workers_for(tmp_path):
    """`workers_for(home)`: a pool of `copyhound worker` processes on that workspace (pool.start(n)); every
    process is stopped after the test."""
    pools: list[Workers] = []

    def on(home: Path) -> Workers:
        pools.append(Workers(home, tmp_path, []))
        return pools[-1]

    yield on
    for pool in pools:
        pool.stop()


@pytest.fixture
def workers(home, workers_for) -> Workers:
    return workers_for(home)
