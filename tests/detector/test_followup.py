"""Follow-up on rescans, from the rows a crawl leaves: what each kind of answer makes of a known copy."""

from __future__ import annotations

from evidence_case import IMAGE_URL, PAGE_URL, build_env

from detector.followup import follow_up
from detector.provenance import ledger


def rescan(env, *, events=(), sightings=()) -> int:
    """A scan that recorded `events` (url, page_url, reason) and saw `sightings` (image_url, sha256) on PAGE_URL."""
    scan_id = env.store.start_scan({"targets": ["shop"]})
    for url, page_url, reason in events:
        env.store.add_crawl_event(scan_id, "shop", url, reason, f"{url}: {reason}", page_url)
    for image_url, sha256 in sightings:
        env.store.add_candidate({"scan_id": scan_id, "target": "shop", "page_url": PAGE_URL, "image_url": image_url,
                                 "discovered_at": "2025-04-01T00:00:00Z", "sha256": sha256, "state": "detected"})
    return scan_id


def test_network_errors_count_as_removed_only_after_the_limit(tmp_path):
    env = build_env(tmp_path)
    first = follow_up(env.store, rescan(env, events=[(PAGE_URL, None, "timeout")]), 2, at="2025-04-01T03:00:00Z")
    match = env.store.match(env.match_id)
    assert first.presence == {"unreachable": 1} and first.explained == {}
    assert (match["presence"], match["unreachable_count"], match["removed_at"]) == ("unreachable", 1, None)
    second = follow_up(env.store, rescan(env, events=[(IMAGE_URL, PAGE_URL, "connection_error")]), 2,
                       at="2025-04-02T03:00:00Z")
    match = env.store.match(env.match_id)
    assert second.presence == {"removed": 1} and second.removed_now == [env.match_id]
    assert second.explained == {"connection_error": 1}
    assert (match["presence"], match["removed_at"]) == ("removed", "2025-04-02T03:00:00Z")
    assert match["presence_detail"].endswith("(2 scans in a row unreachable)")
    kinds = [(e["kind"], e["payload"]) for e in ledger.entries(env.store, [ledger.match_subject(env.match_id)])]
    assert [k for k, _ in kinds].count("presence") == 2


def test_a_copy_back_up_resets_the_count_and_the_removal(tmp_path):
    env = build_env(tmp_path)
    follow_up(env.store, rescan(env, events=[(PAGE_URL, None, "http_410")]), 3, at="2025-04-01T03:00:00Z")
    assert env.store.match(env.match_id)["presence_detail"] == "the page answered HTTP 410"
    sha = env.store.match(env.match_id)["sha256"]
    back = follow_up(env.store, rescan(env, sightings=[("https://cdn.example.com/renamed.jpg", sha)]), 3)
    match = env.store.match(env.match_id)
    assert back.presence == {"up": 1} and (match["presence"], match["removed_at"]) == ("up", None)


def test_other_bytes_at_the_image_url_are_a_change_not_a_removal(tmp_path):
    env = build_env(tmp_path)
    result = follow_up(env.store, rescan(env, sightings=[(IMAGE_URL, "ab" * 32)]), 3)
    match = env.store.match(env.match_id)
    assert result.presence == {"changed": 1}
    assert match["presence_detail"] == ("the image URL serves other bytes (abababababab), no longer recognised "
                                        "as the work")


def test_a_scan_that_did_not_reach_the_page_leaves_the_copy_alone(tmp_path):
    env = build_env(tmp_path)
    result = follow_up(env.store, rescan(env, events=[("https://elsewhere.example/", None, "http_404")]), 3)
    assert result.presence == {} and env.store.match(env.match_id)["presence_at"] is None
