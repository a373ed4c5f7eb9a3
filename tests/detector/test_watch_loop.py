"""The watch loop's parts: the detector it keeps across batches, and the scans a killed watcher left."""

from __future__ import annotations

import os
import shutil

from support import registered_home

from detector.detect import KeptDetector
from detector.watch import unfinished_scans
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
