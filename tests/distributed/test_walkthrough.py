"""docs/scale.md's walkthrough, as a newcomer follows it: the demo on PostgreSQL and Redis, with two
crawler processes sharing the frontier and two `copyhound worker` processes detecting."""

from __future__ import annotations

import json
import subprocess

import pytest
from cluster import Workers, cli, run

from detector.config.edit import set_value
from detector.demo_site import EXPECTED
from detector.workspace import open_workspace


@pytest.mark.slow
def test_the_demo_on_postgresql_redis_two_crawlers_and_two_workers(tmp_path, postgres_url, redis_url, redis_client):
    home = tmp_path / "ws"
    made = run("init", "--embedder", "none", "--database", postgres_url, "--redis", redis_url, home=home)
    assert made.returncode == 0, made.stderr
    assert not open_workspace(home).db_path.exists()  # the database is the server's, not a SQLite file
    # No page screenshots (a browser for each copy found): tests/test_demo.py checks the demo's; this one is about
    # the crawlers and workers sharing the work.
    set_value(open_workspace(home).config_path, "report.screenshots", "none")
    workers = Workers(home, tmp_path, [])
    workers.start(2)
    try:
        demo = subprocess.run(cli("demo", "--home", str(home), "--distributed", "--crawlers", "2"),
                              check=False, capture_output=True, text=True, timeout=600)
    finally:
        workers.stop()
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:] + workers.log_text()[-3000:]
    assert f"{len(EXPECTED)} of {len(EXPECTED)} copies found; 0 wrong matches." in demo.stdout
    matches = json.loads(run("matches", "--format", "json", home=home).stdout)
    found = {m["image_url"].rsplit("/", 1)[1]: m["asset_filename"] for m in matches if m["decision"] == "match"}
    assert found == EXPECTED
    crawl_logs = sorted(p.name for p in open_workspace(home).crawl_dir.glob("*.crawler-*.log"))
    assert len(crawl_logs) == 2, crawl_logs  # two crawler processes took part
    ledger = run("ledger", "verify", home=home)
    assert ledger.returncode == 0, ledger.stdout + ledger.stderr


def test_the_distributed_demo_needs_a_workspace_with_redis(tmp_path):
    done = subprocess.run(cli("demo", "--home", str(tmp_path / "ws"), "--distributed"), check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "--redis" in done.stderr and "docs/scale.md" in done.stderr
