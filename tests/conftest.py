"""Fixtures shared by the whole suite: real workspaces, real images, a tiny real CLIP model."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from support import make_tiny_clip

from detector import config
from detector.demo_site import OTHERS_DIR, WORKS_DIR
from detector.workspace import create_workspace
from detector.workspace.store import Store


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
