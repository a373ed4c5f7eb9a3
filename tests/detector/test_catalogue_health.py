"""`catalogue.health`: each index file's state, read without loading a model."""

from __future__ import annotations

import re

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
