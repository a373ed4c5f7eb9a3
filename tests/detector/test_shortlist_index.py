"""The workspace's local-feature shortlist index: trained when the catalogue outgrows the exact
limit, grown by adds on register, rebuilt (with progress) when missing, corrupt or out of step."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from detector import catalogue, demo_site
from detector.config import ShortlistSettings
from detector.detect import Detector
from detector.register import WorkInfo, image_paths, register_files
from detector.workspace.blobs import BlobStore
from detector.workspace.store import utc_now
from index.local import LocalFeatureIndex

#: Low enough that the demo's few works are indexed by a trained inverted file.
SMALL = ShortlistSettings(exact_limit=500)


def _manifest(ws) -> dict:
    path = catalogue.local_index_path(ws)
    return json.loads(path.with_name(path.name + ".manifest.json").read_text())


def _settings(ws, shortlist=SMALL):
    return dataclasses.replace(ws.settings(), shortlist=shortlist)


@pytest.mark.slow
def test_a_trained_shortlist_still_finds_every_demo_copy_and_nothing_else(workspace, works_dir, tmp_path):
    ws, store = workspace
    settings = _settings(ws)
    register_files(ws, store, settings, None, image_paths([works_dir], False), WorkInfo("alice"))
    assert _manifest(ws)["lists"] >= 16  # trained, not exact

    site = demo_site.build_site(tmp_path / "site")
    blobs, scan_id = BlobStore(ws.blobs_dir), store.start_scan({})
    for path in sorted((site / "img").iterdir()):
        data = path.read_bytes()
        store.add_candidate({"scan_id": scan_id, "target": "t", "page_url": f"https://b.example/{path.stem}",
                             "image_url": f"https://b.example/{path.name}", "discovered_at": utc_now(),
                             "sha256": blobs.put(data), "byte_size": len(data)})
    Detector(ws, store, settings, None).run()
    assert {Path(m["image_url"]).name: m["asset_filename"] for m in store.matches()} == demo_site.EXPECTED


def test_register_adds_to_the_trained_index_without_retraining_it(workspace, works_dir):
    ws, store = workspace
    settings = _settings(ws)
    files = image_paths([works_dir], False)
    register_files(ws, store, settings, None, files[:-1], WorkInfo("alice"))
    before = _manifest(ws)
    assert before["lists"] >= 16 and before["mirror_paired"]  # SIFT lists come in mirror pairs
    assert {row["index"]: row for row in catalogue.stats(ws, 0)}["features"]["mirror_paired"] is True

    events = []
    register_files(ws, store, settings, None, files[-1:], WorkInfo("alice"),
                   index_progress=lambda stage, done, total: events.append(stage))
    after = _manifest(ws)
    assert events == []  # no rebuild, no retraining
    assert (after["trained_at"], after["trained_for"]) == (before["trained_at"], before["trained_for"])
    assert after["count"] > before["count"]
    index, _ = LocalFeatureIndex.load(catalogue.local_index_path(ws))
    assert index.work_ids().tolist() == [a["id"] for a in store.assets()]


@pytest.mark.parametrize("damage", ["missing", "corrupt", "out of step", "earlier codes", "another kind"])
def test_an_untrustworthy_index_is_rebuilt_with_progress(registered, damage):
    ws, store = registered
    path = catalogue.local_index_path(ws)
    kind = "sift"
    if damage == "missing":
        path.unlink()
    elif damage == "corrupt":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "out of step":
        index, _ = LocalFeatureIndex.load(path)
        index.remove([store.assets()[0]["id"]])
        catalogue.save_local(ws, index)
    elif damage == "earlier codes":  # 8-bit PQ, as copyhound saved a trained index before fast-scan
        earlier = LocalFeatureIndex(128)
        earlier._index = faiss.index_factory(128, "IVF16,PQ16np")
        rng = np.random.default_rng(0)
        earlier._index.train(rng.random((1024, 128), dtype=np.float32))  # enough for 256 codes a sub-vector
        for asset in store.assets():  # in step with the database and not due for training: only its codes are stale
            earlier.add(asset["id"], rng.random((10, 128), dtype=np.float32))
        earlier.trained_for = 10**6
        catalogue.save_local(ws, earlier)
    else:
        kind = "orb"
    events = []
    loaded = catalogue.load(ws, store, None, ws.settings().index, kind=kind,
                            progress=lambda stage, done, total: events.append((stage, done, total)))
    works = len(store.assets())
    assert "local-features" in loaded.rebuilt
    assert events[-1] == ("indexing", works, works)
    assert loaded.features.work_ids().tolist() == [a["id"] for a in store.assets()]
    assert loaded.features.binary == (kind == "orb")
    again = catalogue.load(ws, store, None, ws.settings().index, kind=kind)
    assert "local-features" not in again.rebuilt


@pytest.mark.parametrize("held, lists, trained_for, due", [
    (60_000, 0, 0, False),        # exact, at the limit
    (60_001, 0, 0, True),         # exact, past it: train
    (900_000, 512, 300_000, False),
    (1_200_001, 512, 300_000, True),  # four times what it was trained for: retrain
])
def test_the_retrain_rule(held, lists, trained_for, due):
    class Held:
        def __len__(self):
            return held

    index = Held()
    index.lists, index.trained_for = lists, trained_for
    assert catalogue.needs_training(index, ShortlistSettings()) is due
