"""`init --redis`, a scan with no worker alive, and the queue as `copyhound status` and GET /api/status show it."""

from __future__ import annotations

import json

import httpx
import pytest
from cluster import free_port, run
from support import serving

from detector import tokens
from detector.web import create_app
from detector.workspace import open_workspace
from detector.workspace.store import Store


def test_init_refuses_a_redis_that_does_not_answer(tmp_path):
    url = f"redis://127.0.0.1:{free_port()}/0"
    done = run("init", "--embedder", "none", "--redis", url, home=tmp_path / "ws")
    assert done.returncode == 3
    assert url in done.stderr and "redis-server" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ws").exists()  # nothing written


def test_init_writes_the_redis_url_also_into_an_existing_workspace(tmp_path, redis_url):
    home = tmp_path / "ws"
    assert run("init", "--embedder", "none", home=home).returncode == 0
    assert open_workspace(home).settings().distributed.redis_url == ""
    other = redis_url.replace("/0", "/3")
    done = run("init", "--redis", other, home=home)
    assert done.returncode == 0, done.stderr
    settings = open_workspace(home).settings()
    assert settings.distributed.redis_url == other and settings.embedder.spec == "none"  # the rest kept


#: Candidates waiting in the workspace: two copies of registered works and one other photo.
COPIES, OTHERS = ["cropped.jpg", "resized.jpg"], ["lake.jpg"]


@pytest.mark.slow
def test_no_live_worker_stops_the_scan_with_one_line_and_status_shows_the_queue(home_with, workers_for):
    home = home_with(COPIES + OTHERS)
    alone = run("scan", "--distributed", "--no-crawl", home=home)
    assert alone.returncode == 3
    assert f"copyhound worker --home {home}" in alone.stderr and "scan --resume --distributed" in alone.stderr
    status = json.loads(run("status", "--format", "json", home=home).stdout)
    queue = {row["what"]: row["count"] for row in status["queue"]}
    assert queue["tasks waiting"] == len(COPIES) + len(OTHERS) and queue["workers alive"] == 0 and status["workers"] == []

    workers = workers_for(home)
    workers.start(2)
    status = json.loads(run("status", "--format", "json", home=home).stdout)
    assert {w["pid"] for w in status["workers"]} == {p.pid for p in workers.processes}
    assert all(w["heartbeat_at"] and w["pool"] == "solo" for w in status["workers"])

    resumed = run("scan", "--resume", "--distributed", "--format", "json", home=home)  # every content sent twice
    assert resumed.returncode == 0, resumed.stderr + workers.log_text()
    ws = open_workspace(home)
    store = Store(ws.db_path)
    assert store.count_pending() == 0
    matches = len(store.matches())
    assert matches == len(COPIES) and len([e for e in store.ledger_rows() if e["kind"] == "match"]) == matches
    admin = tokens.create_token(store, None, label="monitoring")[1]
    store.ensure_owner("bob")
    bob = tokens.create_token(store, "bob", label="bob")[1]
    store.close()
    with serving(create_app(ws)) as url:
        assert httpx.get(f"{url}/api/status").status_code == 401
        seen = httpx.get(f"{url}/api/status", headers={"Authorization": f"Bearer {admin}"}).json()
        bobs = httpx.get(f"{url}/api/status", headers={"Authorization": f"Bearer {bob}"}).json()
    assert {w["pid"] for w in seen["workers"]} == {p.pid for p in workers.processes}
    found = {row["what"]: row["count"] for row in seen["queue"]}
    assert found["matches, last 5 min"] == len(COPIES) and found["tasks waiting"] == 0
    assert {row["what"]: row["count"] for row in bobs["queue"]}["matches, last 5 min"] == 0  # alice's, not bob's
