"""`copyhound refused` lists every URL a scan refused, each with its reason, policy refusals too."""

from __future__ import annotations

import json

from support import invoke_cli

from detector.workspace.store import utc_now


def test_refused_lists_every_refusal_of_the_newest_scan(workspace):
    ws, store = workspace
    older = store.start_scan({"crawl": True})
    store.add_crawl_event(older, "site", "https://a.example/old.jpg", "http_404", "old answer")
    scan_id = store.start_scan({"crawl": True})
    store.add_crawl_event(scan_id, "site", "https://a.example/private/", "robots_disallowed", "robots says no")
    store.add_crawl_event(scan_id, "site", "https://a.example/gone.jpg", "http_404", "answered 404",
                          page_url="https://a.example/")
    store.add_candidate({"scan_id": scan_id, "target": "site", "page_url": "https://a.example/",
                         "image_url": "https://a.example/broken.jpg", "discovered_at": utc_now(),
                         "state": "refused", "refusal_reason": "truncated", "refusal_detail": "cut short"})

    result = invoke_cli("refused", "--format", "json", home=ws.home)

    assert result.returncode == 0, result.stderr
    assert [(r["reason"], r["url"]) for r in json.loads(result.stdout)] == [
        ("robots_disallowed", "https://a.example/private/"),
        ("http_404", "https://a.example/gone.jpg"),
        ("truncated", "https://a.example/broken.jpg"),
    ]
    older_rows = json.loads(invoke_cli("refused", str(older), "--format", "json", home=ws.home).stdout)
    assert [r["url"] for r in older_rows] == ["https://a.example/old.jpg"]
    missing = invoke_cli("refused", "99", home=ws.home)
    assert missing.returncode == 1 and "No scan with id 99; list them with `copyhound scans`." in missing.stderr
