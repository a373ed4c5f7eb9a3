"""`copyhound scan --distributed` with real `copyhound worker` processes on a real redis-server: the same
matches and scores as detecting in process, each candidate recorded once, whatever process is killed."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from cluster import add_site_candidates, cli, configure, run

from detector import config, demo_site
from detector.config.edit import set_value
from detector.detect import Detector
from detector.provenance import ledger
from detector.register import WorkInfo, image_paths, register_files
from detector.workspace import create_workspace, open_workspace
from detector.workspace.store import Store

pytestmark = pytest.mark.slow  # a long end-to-end test: `make test-fast` leaves it out

#: The demo site's images: its copies of registered works and its other photos.
CANDIDATES = len(demo_site.COPIES) + len(demo_site.OTHERS)
#: Half of them (four copies, two others): enough for the tests that kill a process midway.
HALF = ["banner.jpg", "cropped.jpg", "mirrored.jpg", "resized.jpg", "baboon.jpg", "lake.jpg"]


def _matches(home) -> set[tuple]:
    store = Store(open_workspace(home).db_path)
    try:
        return {(m["asset_filename"], m["image_url"], m["score"], m["decision"], m["sightings"]) for m in store.matches()}
    finally:
        store.close()


def _pending(home) -> int:
    store = Store(open_workspace(home).db_path)
    try:
        return store.count_pending()
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


def _of(matches: set[tuple], names: list[str]) -> set[tuple]:
    """The matches on those of the site's images (each content is detected on its own, wherever)."""
    return {m for m in matches if m[1].rsplit("/", 1)[1] in names}


def _recorded_once(home) -> None:
    """No candidate left 'new', and every match has exactly one ledger entry."""
    store = Store(open_workspace(home).db_path)
    try:
        assert store.count_pending() == 0
        subjects = [e["subject"] for e in ledger.entries(store) if e["kind"] == "match"]
        assert sorted(subjects) == sorted(f"match:{m['id']}" for m in store.matches())
    finally:
        store.close()


def _scan(home, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(cli("scan", "--distributed", "--no-crawl", "--format", "json", "--home", str(home), *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_three_workers_find_what_one_process_finds(home, workers, in_process):
    workers.start(3)
    done = run("scan", "--distributed", "--no-crawl", "--format", "json", home=home)
    assert done.returncode == 0, done.stderr + workers.log_text()
    summary = json.loads(done.stdout)
    assert _matches(home) == in_process
    assert summary["detect"]["matches_new"] == len(in_process)
    assert summary["detect"]["candidates"] == CANDIDATES
    _recorded_once(home)


def test_a_worker_killed_mid_task_loses_nothing_and_records_nothing_twice(home_with, workers_for, in_process):
    home = home_with(HALF)
    workers = workers_for(home)
    workers.start(2)  # one to kill, one to take over its task
    scan = _scan(home)
    _wait_for(lambda: 0 < _pending(home) < len(HALF) and workers.busy() is not None,
              "a worker busy after the first results")
    victim = workers.busy()
    workers.processes[victim].send_signal(signal.SIGKILL)
    workers.processes[victim].wait()
    cut_short = workers.unfinished(victim)
    _, errors = scan.communicate(timeout=600)
    assert scan.returncode == 0, errors + workers.log_text()
    assert cut_short and cut_short <= workers.succeeded_elsewhere(victim)  # handed out again, and done
    assert _matches(home) == _of(in_process, HALF)
    _recorded_once(home)


def test_a_killed_scan_is_resumed_with_the_same_result(home_with, workers_for, in_process):
    home = home_with(HALF)
    workers = workers_for(home)
    workers.start(1)  # the scan is what is killed here: one worker does
    scan = _scan(home)
    _wait_for(lambda: _pending(home) < len(HALF), "the first results")
    scan.kill()
    scan.wait()
    status = json.loads(run("status", "--format", "json", home=home).stdout)
    assert "scan in progress" in [row["what"] for row in status["queue"]]
    resumed = run("scan", "--resume", "--distributed", "--format", "json", home=home)
    assert resumed.returncode == 0, resumed.stderr + workers.log_text()
    assert json.loads(resumed.stdout)["resumed"] is True
    assert _matches(home) == _of(in_process, HALF)
    _recorded_once(home)


#: Works registered only once the workers run.
LATE = ["chelsea.jpg", "rocket.jpg"]
#: The demo site's copies of LATE (resized, captioned) and of a work registered from the start (cropped: coffee.jpg).
SEEN = ["captioned.jpg", "cropped.jpg", "resized.jpg"]


@pytest.fixture
def early_home(tmp_path, redis_client, redis_url, demo_images):
    """A workspace with every demo work but LATE registered, and SEEN as candidates."""
    ws, _ = create_workspace(tmp_path / "early", config.Settings().with_embedder("none"))
    store = Store(ws.db_path)
    configure(ws.home, redis_url)
    works = [p for p in image_paths([demo_site.WORKS_DIR], False) if p.name not in LATE]
    register_files(ws, store, ws.settings(), None, works, WorkInfo("alice"), workers=1)
    add_site_candidates(ws, store, demo_images, names=SEEN)
    store.close()
    return ws.home


def test_workers_pick_up_works_registered_while_they_run(early_home, workers_for, demo_images):
    workers = workers_for(early_home)
    workers.start(1)
    first = run("scan", "--distributed", "--no-crawl", home=early_home)
    assert first.returncode == 0, first.stderr + workers.log_text()
    ws = open_workspace(early_home)
    store = Store(ws.db_path)
    assert {m["asset_filename"] for m in store.matches()} == {"coffee.jpg"}  # the works it had, not LATE

    register_files(ws, store, ws.settings(), None, [demo_site.WORKS_DIR / name for name in LATE],
                   WorkInfo("alice"), workers=1)
    add_site_candidates(ws, store, demo_images, names=SEEN)
    second = run("scan", "--distributed", "--no-crawl", home=early_home)
    assert second.returncode == 0, second.stderr + workers.log_text()
    assert set(LATE) <= {m["asset_filename"] for m in store.matches()}
    assert "the index files changed: loading them again" in workers.log_text()
    store.close()


@pytest.fixture
def crawl_home(home_with) -> Path:
    """The registered workspace with one candidate of an earlier scan still waiting (lake.jpg, not a copy),
    which a crawling scan sends to the workers too."""
    return home_with(["lake.jpg"])


@pytest.fixture
def served_site(demo_images):
    """The demo site on a loopback HTTP server, for the length of one test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(demo_site.QuietHandler, directory=str(demo_images)))
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def _crawl_settings(home, delay: str) -> None:
    for key, value in {"crawl.download_delay": delay, "crawl.autothrottle": "false"}.items():
        set_value(open_workspace(home).config_path, key, value)


def _crawled(home, site: str) -> dict[str, str]:
    store = Store(open_workspace(home).db_path)
    try:
        return {Path(m["image_url"]).name: m["asset_filename"] for m in store.matches() if m["image_url"].startswith(site)}
    finally:
        store.close()


def test_two_crawlers_and_three_workers_find_what_one_machine_finds(crawl_home, workers_for, served_site):
    home = crawl_home
    _crawl_settings(home, "0.0")
    workers = workers_for(home)
    workers.start(3)
    done = run("scan", "--distributed", "--crawlers", "2", "--site", served_site, "--allow-private",
               "--format", "json", home=home)
    assert done.returncode == 0, done.stderr + workers.log_text()
    summary = json.loads(done.stdout)
    assert _crawled(home, served_site) == demo_site.EXPECTED
    assert summary["detect"]["distributed"]["candidates_sent"] == 1 + summary["crawl"]["candidates_added"]
    _recorded_once(home)


def _crawler_children(scan: subprocess.Popen) -> list[int]:
    """The `python -m crawlers` processes the scan started (its direct children), read from Linux's /proc
    (the suite runs on Linux, as CI does; its servers and forked workers assume it too)."""
    children = Path(f"/proc/{scan.pid}/task/{scan.pid}/children").read_text().split()
    return [int(pid) for pid in children if b"crawlers" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_a_crawler_and_a_worker_killed_mid_scan_lose_nothing_and_record_nothing_twice(crawl_home, workers_for,
                                                                                       served_site):
    home = crawl_home
    _crawl_settings(home, "0.3")  # slow enough that both are still at work when they are killed
    workers = workers_for(home)
    workers.start(2)  # one to kill, one to take over its task
    scan = subprocess.Popen(cli("scan", "--distributed", "--crawlers", "2", "--site", served_site, "--allow-private",
                                "--format", "json", "--home", str(home)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(_crawler_children(scan)) == 2, "two crawler processes")
    victim_crawler = _crawler_children(scan)[0]
    _wait_for(lambda: workers.busy() is not None, "a worker busy")
    victim = workers.busy()
    workers.processes[victim].send_signal(signal.SIGKILL)
    workers.processes[victim].wait()
    cut_short = workers.unfinished(victim)
    subprocess.run(["kill", "-9", str(victim_crawler)], check=True)
    out, errors = scan.communicate(timeout=600)
    # The dead crawler is reported as a crawl error (exit 1); its requests went back to the frontier.
    assert scan.returncode in (0, 1), errors + workers.log_text()
    summary = json.loads(out)
    assert any("crawler process" in e for e in summary["crawl"]["errors"]), summary["crawl"]["errors"]
    assert cut_short <= workers.succeeded_elsewhere(victim)
    assert _crawled(home, served_site) == demo_site.EXPECTED
    _recorded_once(home)
