"""The report and both notices say how a copy was found (its lead), a post's at:// URI included."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from detector import config, demo_site
from detector.enforcement import recipients
from detector.evidence import profile
from detector.evidence.case import load_case
from detector.evidence.notices import render_notice
from detector.evidence.report import build, render_html
from detector.register import WorkInfo, register_files
from detector.workspace import create_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

POST = "at://did:plc:abc/app.bsky.feed.post/rk1"
PAGE = "https://bsky.app/profile/did:plc:abc/post/rk1"


def test_documents_name_the_lead_that_found_the_copy(tmp_path):
    ws, _ = create_workspace(tmp_path / "ws", config.Settings().with_embedder("none"))
    store = Store(ws.db_path)
    (outcome,) = register_files(ws, store, ws.settings(), None, [demo_site.WORKS_DIR / "coffee.jpg"],
                                WorkInfo("alice"))
    profile.set_profile(store, "alice", legal_name="Alice Ltd", address="1 Lens St", email="a@example.org",
                        signature="/s/ Alice", jurisdiction="Germany")
    data = (demo_site.WORKS_DIR / "coffee.jpg").read_bytes()
    scan_id = store.start_scan({"targets": []})
    run_id = store.start_source_run("bluesky", "bluesky", scan_id)
    image = "https://cdn.test/img/feed_fullsize/plain/did:plc:abc/bafk@jpeg"
    lead_id = store.add_lead(run_id, "bluesky", {"url": image, "kind": "image", "found_by": "Bluesky Jetstream",
                                                 "why": f"image of post {POST} by @alice.test",
                                                 "provenance": {"uri": POST, "handle": "alice.test"}})
    candidate = {"scan_id": scan_id, "target": "bluesky", "page_url": PAGE, "image_url": image,
                 "discovered_at": utc_now(), "fetched_at": utc_now(), "http_status": 200,
                 "sha256": BlobStore(ws.blobs_dir).put(data), "byte_size": len(data), "sniffed_format": "jpeg",
                 "lead_url": image, "lead_id": lead_id}
    candidate["id"] = store.add_candidate(candidate)
    match_id, _ = store.record_match(asset=store.asset(outcome.asset_id), candidate=candidate, score=1.0,
                                     decision="match", signals={})
    case = load_case(ws, store, match_id)
    assert "Bluesky Jetstream (image lead https://cdn.test/" in render_html(build(case, ws.settings()))
    dsa = render_notice(case, ws.settings(), "dsa", "2026-03-02")
    assert f"Post: {POST} by @alice.test" in dsa and "Found through: Bluesky Jetstream" in dsa
    dmca = render_notice(case, ws.settings(), "dmca", "2026-03-02")
    assert f"in the post {POST} by @alice.test" in dmca and "It was found through Bluesky Jetstream." in dmca
    store.close()


def test_a_posts_notice_goes_to_the_platforms_copyright_contact(tmp_path):
    """No lookup is made for a Bluesky post (the network's abuse desk hosts the platform, not the post); the
    owner's override still wins."""
    store = Store(tmp_path / "copyhound.db")
    settings = config.RecipientSettings(rdap_ip_url="http://127.0.0.1:9/", rdap_domain_url="http://127.0.0.1:9/")
    found = recipients.lookup(store, settings, PAGE, datetime(2026, 3, 2, tzinfo=UTC))
    best = found.best("notice")
    assert (best.address, best.source) == ("copyright@blueskyweb.xyz", "platform")
    assert "https://bsky.social/about/support/copyright" in best.detail
    assert found.best("offer").source == "platform"
    overridden = recipients.lookup(store, replace(settings, overrides={"bsky.app": "legal@bsky.example"}), PAGE,
                                   datetime(2026, 3, 2, tzinfo=UTC))
    assert overridden.best("notice").address == "legal@bsky.example"
    assert recipients.platform_of("notbsky.app") is None and recipients.platform_of("x.BSKY.app.") is not None
    store.close()
