"""Detection in worker processes: the same matches and scores as one process, and a worker killed
with SIGKILL loses no candidate and records none twice."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detector import demo_site
from detector.detect import Detector
from detector.provenance import ledger
from detector.register import WorkInfo, image_paths, register_files
from detector.workspace.blobs import BlobStore
from detector.workspace.store import utc_now


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return demo_site.build_site(tmp_path_factory.mktemp("site"))


#: Half the site's images (four copies, two others): enough to lose a worker midway.
HALF = ["banner.jpg", "cropped.jpg", "mirrored.jpg", "resized.jpg", "baboon.jpg", "lake.jpg"]


def _candidates(ws, store, site: Path, names: list[str] | None = None) -> None:
    blobs, scan_id = BlobStore(ws.blobs_dir), store.start_scan({})
    for path in sorted((site / "img").iterdir()):
        if names is not None and path.name not in names:
            continue
        data = path.read_bytes()
        store.add_candidate({"scan_id": scan_id, "target": "t", "page_url": f"https://b.example/{path.stem}.html",
                             "image_url": f"https://b.example/img/{path.name}", "discovered_at": utc_now(),
                             "sha256": blobs.put(data), "byte_size": len(data)})


def _results(store) -> dict:
    return {(m["image_url"], m["asset_filename"]): (m["decision"], m["score"], m["sightings"])
            for m in store.matches()}


def _detect(ws, store, site, names: list[str] | None = None, **run):
    """Detect the site's images (or those `names`) in a workspace with every demo work registered."""
    _candidates(ws, store, site, names)
    return Detector(ws, store, ws.settings(), None).run(**run)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, registered_template, site) -> dict:
    """What detecting in this process alone finds (the reference, computed once for the module)."""
    from detector.workspace import open_workspace
    from detector.workspace.store import Store

    ws = open_workspace(shutil.copytree(registered_template, tmp_path_factory.mktemp("one") / "ws"))
    store = Store(ws.db_path)
    _detect(ws, store, site, workers=1)
    results = _results(store)
    store.close()
    return results


def test_a_worker_forked_from_a_loaded_detector_imports_nothing_to_analyse(registered, site):
    # A worker is forked once the detector has loaded; whatever the analysis still imports, every worker of every
    # scan (and every batch of a watch) would import again. Run in a fresh interpreter: this test process has
    # imported far more than detection does.
    ws, store = registered
    _candidates(ws, store, site, ["mirrored.jpg"])
    script = f"""
import sys
from detector.detect import Detector
from detector.workspace import open_workspace
from detector.workspace.store import Store
ws = open_workspace({str(ws.home)!r})
store = Store(ws.db_path)
detector = Detector(ws, store, ws.settings(), None)
candidate = store.candidates("state = 'new'")[0]
before = set(sys.modules)
analysis = detector.analyse_content(candidate["sha256"], candidate["image_url"])
print(len(analysis.findings), sorted(set(sys.modules) - before))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    findings, imported = done.stdout.strip().split(" ", 1)
    assert int(findings) >= 1  # the mirrored copy was analysed through to its match
    assert imported == "[]", imported


@pytest.mark.slow
def test_two_workers_find_the_same_matches_with_the_same_scores(registered, site, one_process):
    ws, store = registered
    summary = _detect(ws, store, site, workers=2)
    assert _results(store) == one_process
    assert {Path(url).name: work for url, work in one_process} == demo_site.EXPECTED
    assert summary.candidates == len(demo_site.EXPECTED) + len(demo_site.OTHERS)


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_no_candidate_and_records_none_twice(registered, site, one_process):
    ws, store = registered
    killed = []

    def kill_a_worker(_done: int) -> None:
        workers = multiprocessing.active_children()
        if not killed and workers:
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    summary = _detect(ws, store, site, HALF, workers=2, progress=kill_a_worker)
    assert killed  # the run really lost a worker
    assert store.candidates("state = 'new'") == []
    assert summary.candidates == len(HALF)
    expected = {key: found for key, found in one_process.items() if Path(key[0]).name in HALF}
    assert len(expected) == 4 and _results(store) == expected  # every match once, one sighting each
    recorded = [e for e in ledger.entries(store) if e["kind"] == "match"]
    assert len(recorded) == len({e["subject"] for e in recorded}) == len(expected)


@pytest.mark.slow
def test_registering_with_two_workers_stores_what_one_process_stores(tmp_path, works_dir):
    from detector import config
    from detector.workspace import create_workspace
    from detector.workspace.store import Store

    stored = []
    for workers in (1, 2):
        ws, _ = create_workspace(tmp_path / f"w{workers}", config.Settings().with_embedder("none"))
        store = Store(ws.db_path)
        outcomes = register_files(ws, store, ws.settings(), None, image_paths([works_dir], False), WorkInfo("alice"),
                                  workers=workers)
        assert {o.status for o in outcomes} == {"registered"}
        stored.append({a["filename"]: (a["id"], a["phash"], a["pdq"], store.asset_features(a["id"], "sift"),
                                       store.asset_features(a["id"], "orb")) for a in store.assets()})
        store.close()
    assert stored[0] == stored[1] and len(stored[0]) == len(image_paths([works_dir], False))


def test_workers_end_with_the_process_that_forked_them(tmp_path):
    """A scan killed with SIGKILL mid-detection leaves no idle worker behind holding its open files (the
    workspace's scan lock among them)."""
    script = tmp_path / "pool.py"
    script.write_text(
        "import os, sys, time\n"
        "from detector.parallel import _pool\n"
        "with _pool(2) as pool:\n"
        "    print(*{pool.submit(os.getpid).result() for _ in range(20)}, flush=True)\n"
        "    time.sleep(600)\n", encoding="utf-8")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert workers and parent.pid not in workers
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
