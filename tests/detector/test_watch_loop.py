"""The watch loop's parts: the detector it keeps across batches, and the scans a killed watcher left."""

from __future__ import annotations

import os
import shutil
import threading

from support import registered_home

from detector.detect import KeptDetector
from detector.watch import storing, unfinished_scans
from detector.workspace import open_workspace
from detector.workspace.store import Store, open_store
from index.persist import manifest_path


def test_the_kept_detector_is_loaded_again_only_when_the_index_files_change(tmp_path, registered_template):
    ws = open_workspace(registered_home(tmp_path / "ws", registered_template))
    store = open_store(ws)
    try:
        kept = KeptDetector(ws, store, ws.settings(), None)
        first = kept.now()
        assert kept.now() is first  # the indexes are not read again for every batch
        # A work registered: the index is saved again, its manifest replaced by a rename.
        manifest = manifest_path(ws.index_dir / "local-features.faiss")
        shutil.copy(manifest, tmp_path / "manifest")
        os.replace(tmp_path / "manifest", manifest)
        second = kept.now()
        assert second is not first and kept.now() is second
    finally:
        store.close()


def test_a_restart_finishes_the_watchers_unfinished_scans_oldest_first(tmp_path):
    store = Store(tmp_path / "copyhound.db")
    try:
        ids = {}
        for name, options, status in [("old", {"watch": "bluesky"}, "finished"), ("detecting", {"watch": "bluesky"}, None),
                                      ("cron", {"targets": []}, "finished"), ("site", {"targets": []}, None),
                                      ("crawling", {"watch": "bluesky"}, None)]:
            ids[name] = store.start_scan(options)
            if status:
                store.finish_scan(ids[name], status, {})
        # A scan finished after the two the watcher left (a cron scan between batches) does not hide them, and a
        # user's own unfinished scan is theirs to resume.
        assert [scan["id"] for scan in unfinished_scans(store)] == [ids["detecting"], ids["crawling"]]
    finally:
        store.close()


def test_detection_forks_no_worker_while_the_fetching_thread_is_in_sqlite():
    # A child forked while another thread holds SQLite's locks inherits them held, and hangs on its first query.
    inside, leave, forked = threading.Event(), threading.Event(), threading.Event()

    def fetching():
        with storing():
            inside.set()
            leave.wait(10)

    def detecting():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        forked.set()

    fetcher = threading.Thread(target=fetching)
    fetcher.start()
    assert inside.wait(10)
    detector = threading.Thread(target=detecting)
    detector.start()
    try:
        assert not forked.wait(0.5), "a fork went ahead while the fetching thread was inside SQLite"
    finally:
        leave.set()
    assert forked.wait(10)
    fetcher.join(10)
    detector.join(10)
