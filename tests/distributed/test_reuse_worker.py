"""A worker records a content analysed as a non-copy before, under its detector's key, from that analysis
(detector.reuse), as `scan` does in one process; a copy it analyses again."""

from __future__ import annotations

from cluster import FirstDelivery, add_site_candidates

from detector import demo_site
from detector.detect import Detector
from detector.distributed.worker import _Process, detect_content
from detector.register import WorkInfo, register_files


def test_a_worker_reuses_a_non_copy_analysis_and_analyses_a_copy_again(workspace, demo_images):
    ws, store = workspace
    register_files(ws, store, ws.settings(), None, [demo_site.WORKS_DIR / "chelsea.jpg"], WorkInfo("alice"), workers=1)
    names = ["lake.jpg", "resized.jpg"]
    add_site_candidates(ws, store, demo_images, names=names)
    assert Detector(ws, store, ws.settings(), None).run().reused == 0
    rescan = add_site_candidates(ws, store, demo_images, names=names)
    _Process.home, _Process.ws, _Process.detector = ws.home, None, None
    try:
        for candidate in store.candidates("scan_id = ?", [rescan]):
            assert detect_content(FirstDelivery(), candidate["sha256"], candidate["image_url"], [candidate["id"]]) == 1
    finally:
        _Process.store.close()
        _Process.home = _Process.ws = _Process.store = _Process.detector = None
    exits = {c["image_url"].rsplit("/", 1)[1]: c["detection"]["exit"] for c in store.candidates("scan_id = ?", [rescan])}
    assert exits["lake.jpg"] == "reused" and exits["resized.jpg"] in ("screen", "full")
    assert [m["sightings"] for m in store.matches()] == [2]
