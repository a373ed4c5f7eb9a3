"""`catalogue.health`: each index file's state, read without loading a model."""

from __future__ import annotations

import re

from PIL import Image

from detector import catalogue
from detector.register import WorkInfo, image_paths, register_files


def test_health_names_a_missing_a_damaged_and_a_stale_index(workspace, works_dir):
    ws, store = workspace
    files = image_paths([works_dir], recursive=False)[:3]
    register_files(ws, store, ws.settings(), None, files[:2], WorkInfo("alice"))
    rows = catalogue.health(ws, store)
    assert rows[:2] == [{"index": "phash", "entries": 2, "state": "ok"}, {"index": "pdq", "entries": 2, "state": "ok"}]
    assert rows[2]["index"] == "local-features" and rows[2]["state"] == "ok" and rows[2]["entries"] > 2
    (ws.index_dir / "phash.faiss").unlink()
    pdq = ws.index_dir / "pdq.faiss"
    pdq.write_bytes(pdq.read_bytes()[:-10])
    states = {r["index"]: r["state"] for r in catalogue.health(ws, store)}
    assert states["phash"] == "missing (the next scan builds it)"
    assert re.fullmatch(r"unusable: .*truncated.* \(the next scan rebuilds it\)", states["pdq"]), states["pdq"]

    catalogue.rebuild(ws, store, None, ws.settings().index)
    store.db["assets"].delete(store.assets()[0]["id"])  # the database moved on without the files
    states = {r["index"]: r["state"] for r in catalogue.health(ws, store) if r["index"] != "local-features"}
    assert states == {name: "out of step with the database (the next scan rebuilds it)" for name in ("phash", "pdq")}


def test_a_work_without_keypoints_does_not_put_the_index_out_of_step(workspace, works_dir, tmp_path):
    ws, store = workspace
    flat = tmp_path / "flat.png"
    Image.new("RGB", (400, 300), (12, 14, 30)).save(flat)  # a dark, flat wallpaper: no SIFT keypoints
    register_files(ws, store, ws.settings(), None, [flat, *image_paths([works_dir], recursive=False)[:1]],
                   WorkInfo("alice"))
    assert len(store.asset_ids_with_features("sift")) == 2
    assert {r["index"]: r["state"] for r in catalogue.health(ws, store)}["local-features"] == "ok"
    index, rebuilt = catalogue.load_local(ws, store, "sift", ws.settings().shortlist)
    assert not rebuilt and len(index.work_ids()) == 1
