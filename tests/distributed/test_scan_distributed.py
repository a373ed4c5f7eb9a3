"""`copyhound scan --distributed` with real `copyhound worker` processes on a real redis-server: the same
matches and scores as detecting in process, each candidate recorded once, whatever process is killed."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import cli

from detector.detect import Detector
from detector.evidence import ledger
from detector.workspace import open_workspace
from detector.workspace.store import Store


def _matches(home) -> set[tuple]:
    store = Store(open_workspace(home).db_path)
    try:
        return {(m["asset_filename"], m["image_url"], m["score"], m["decision"], m["sightings"]) for m in store.matches()}
    finally:
        store.close()


@pytest.fixture(scope="module")
def in_process(template, tmp_path_factory) -> set[tuple]:
    """The matches of detecting the template's candidates in this process."""
    home = tmp_path_factory.mktemp("in-process") / "ws"
    shutil.copytree(template, home)
    ws = open_workspace(home)
    store = Store(ws.db_path)
    Detector(ws, store, ws.settings(), None).run(workers=1)
    store.close()
    return _matches(home)


def _recorded_once(home) -> None:
    """Every candidate left 'new', every match with exactly one ledger entry."""
    store = Store(open_workspace(home).db_path)
    try:
        assert store.count_pending() == 0
        subjects = [e["subject"] for e in ledger.entries(store) if e["kind"] == "match"]
        assert sorted(subjects) == sorted(f"match:{m['id']}" for m in store.matches())
    finally:
        store.close()


def test_three_workers_find_what_one_process_finds(home, workers, in_process):
    workers.start(3)
    done = subprocess.run(cli("scan", "--distributed", "--no-crawl", "--format", "json", "--home", str(home)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr + workers.log_text()
    summary = json.loads(done.stdout)
    assert _matches(home) == in_process
    assert summary["detect"]["matches_new"] == len(in_process)
    assert summary["detect"]["candidates"] == 11
    _recorded_once(home)
