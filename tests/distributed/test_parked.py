"""A content whose task kills its worker every time is parked as 'failed' after distributed.max_deliveries
deliveries, instead of going round the queue forever; `copyhound refused` and `copyhound status` show it.

A delivery whose worker died leaves exactly one trace: the delivery counted in the store before detection
began. The test leaves those traces as the dying workers would, then delivers once more for real."""

from __future__ import annotations

import json

from cluster import FirstDelivery, add_site_candidates, run

from detector import demo_site
from detector.config.edit import set_value
from detector.distributed.worker import _Process, detect_content
from detector.register import WorkInfo, register_files
from detector.workspace.store import Store


def test_a_task_that_kills_its_worker_every_time_is_parked_as_failed(workspace, demo_images):
    ws, store = workspace
    set_value(ws.config_path, "distributed.max_deliveries", "3")
    register_files(ws, store, ws.settings(), None, [demo_site.WORKS_DIR / "chelsea.jpg"], WorkInfo("alice"), workers=1)
    scan_id = add_site_candidates(ws, store, demo_images, names=["resized.jpg"])
    (candidate,) = store.candidates()
    ids = [candidate["id"]]
    for delivery in range(1, 4):  # three workers died detecting it, each after counting its delivery
        assert store.count_delivery(ids) == delivery
    _Process.home, _Process.ws, _Process.kept = ws.home, None, None
    try:
        assert detect_content(FirstDelivery(), candidate["sha256"], candidate["image_url"], ids) == 1  # the 4th: parked
        assert detect_content(FirstDelivery(), candidate["sha256"], candidate["image_url"], ids) == 0  # and stays so
    finally:
        _Process.store.close()
        _Process.home = _Process.ws = _Process.store = _Process.kept = None

    parked = Store(ws.db_path).candidate(candidate["id"])
    assert (parked["state"], parked["refusal_reason"], parked["deliveries"]) == ("failed", "detect_failed", 4)
    assert parked["refusal_detail"].startswith("detection was started 3 times (distributed.max_deliveries = 3) "
                                               "and never finished: its worker died each time")
    assert store.count_pending() == 0 and store.matches() == []  # the scan waits for it no more

    refused = run("refused", str(scan_id), "--format", "json", home=ws.home)
    assert [(r["reason"], r["url"]) for r in json.loads(refused.stdout)] == [("detect_failed", candidate["image_url"])]
    status = json.loads(run("status", "--format", "json", home=ws.home).stdout)
    assert {"what": "candidates parked as failed", "count": 1,
            "detail": "their task killed its worker every time; `copyhound refused SCAN` names them"} in status["queue"]


def test_a_task_under_the_limit_is_detected(workspace, demo_images):
    ws, store = workspace
    register_files(ws, store, ws.settings(), None, [demo_site.WORKS_DIR / "chelsea.jpg"], WorkInfo("alice"), workers=1)
    add_site_candidates(ws, store, demo_images, names=["resized.jpg"])
    (candidate,) = store.candidates()
    for _ in range(4):  # four deaths: the fifth delivery (distributed.max_deliveries = 5) still detects
        store.count_delivery([candidate["id"]])
    _Process.home, _Process.ws, _Process.kept = ws.home, None, None
    try:
        assert detect_content(FirstDelivery(), candidate["sha256"], candidate["image_url"], [candidate["id"]]) == 1
    finally:
        _Process.store.close()
        _Process.home = _Process.ws = _Process.store = _Process.kept = None
    assert store.candidate(candidate["id"])["state"] == "detected" and len(store.matches()) == 1
