"""The store on SQLite and on a real PostgreSQL server: the same schema, the same answers, every method.

`scenario` drives a store through every public method the other store tests do not reach, with the
results it reads back; it runs on each backend (with assertions), and once on both, whose results
must be equal once the times each write stamped are set aside.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from store_calls import CALLED, CALLS_MODULES, public_methods

from detector.errors import DatabaseUnusable, NotFound, UsageError
from detector.provenance import ledger
from detector.workspace.dialect import postgres_migration, to_postgres
from detector.workspace.schema import MIGRATIONS
from detector.workspace.store import MatchFilter, Store
from detector.workspace.store.sqlite import url_host

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _stamp_free(value):
    """`value` with every time a write stamped (utc_now) replaced by a marker, recursively."""
    if isinstance(value, dict):
        return {k: _stamp_free(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stamp_free(v) for v in value]
    if isinstance(value, str) and TIME.match(value) and value >= "2026":
        return "<now>"
    return value


def scenario(store: Store) -> dict:
    out: dict = {}
    alice, bob = store.ensure_owner("alice"), store.ensure_owner("bob")
    out["owner"] = store.update_owner(alice["id"], email="a@example.org", legal_name="Alice Ltd")
    out["owners"] = [o["name"] for o in store.owners()]
    with pytest.raises(NotFound):
        store.owner_by_name("carol")

    features = {"sift": b"\x00\x01binary\xff"}
    a1 = store.add_asset({"owner_id": alice["id"], "sha256": "a" * 64, "filename": "one.jpg", "width": 64,
                          "height": 48, "format": "jpeg", "frames": 1, "byte_size": 10, "rights": {"licence": "x"},
                          "credentials": {}, "phash": "f0", "dhash": "0f", "pdq": "ab"},
                         features, ("clip:test", b"\x01\x02\x03\x04"))
    a2 = store.add_asset({"owner_id": bob["id"], "sha256": "b" * 64, "filename": "two.png", "width": 64,
                          "height": 64, "format": "png", "frames": 1, "byte_size": 20}, {}, None)
    out["asset_by_sha"] = store.asset_by_sha(alice["id"], "a" * 64)
    out["asset_features"] = store.asset_features(a1, "sift")
    store.replace_features(a2, {"sift": b"\x02", "orb": b"\x03"})
    out["replaced_features"] = (store.asset_features(a2, "sift"), store.asset_features(a2, "orb"),
                                store.asset_features(a1, "sift"))
    out["with_features"] = store.asset_ids_with_features("sift")
    store.replace_embeddings("clip:test", [(a1, b"\x05"), (a2, b"\x06")])
    out["embeddings"] = store.embeddings("clip:test")
    out["embedder_ids"] = store.embedder_ids()
    out["hashes"] = store.hashes()
    store.set_asset_credentials(a2, {"claim": "c2pa"})
    out["count_assets"] = store.count_assets("owners.name = ?", ["bob"])
    out["assets_page"] = store.assets_page("1", [], 1, 1)
    out["every_asset"] = [a["id"] for a in store.assets_page("1", [], -1, 0)]

    scan_id = store.start_scan({"targets": ["shop"]})
    pages = ["https://Shop.Example:8443/p/1", "https://www.shop.example/p/2", "http://blog.test/x?y=1%20z"]
    candidates = []
    for n, page in enumerate(pages):
        candidate_id = store.add_candidate({"scan_id": scan_id, "target": "shop", "page_url": page,
                                            "image_url": page + "/i.jpg", "discovered_at": "2025-01-01T00:00:00Z",
                                            "sha256": f"{n}" * 64, "headers": {"x": "y"}})
        candidates.append(store.candidate(candidate_id))
    out["again"] = store.add_candidate({"scan_id": scan_id, "target": "shop", "page_url": pages[0],
                                        "image_url": pages[0] + "/i.jpg", "discovered_at": "2025-01-01T00:00:00Z"})
    store.update_candidate(candidates[0]["id"], state="detected")
    store.set_candidate_credentials(candidates[1]["id"], {})
    out["new_candidates"] = [c["id"] for c in store.candidates("state = 'new' AND page_url LIKE ?", ["%shop%"])]
    store.add_crawl_event(scan_id, "shop", pages[2], "robots", "disallowed by robots.txt", page_url=pages[2])
    out["crawl_events"] = store.crawl_events(scan_id)
    out["crawl_progress"] = store.crawl_progress(scan_id)
    store.finish_scan(scan_id, "finished", {"images": 3})
    out["scan"] = store.scan(scan_id)
    out["scans"] = store.scans(5)
    out["scans_page"] = store.scans_page(1, 0)
    out["count_scans"] = store.count_scans()

    asset = store.asset(a1)
    match_ids = []
    for n, candidate in enumerate(candidates):
        match_id, created = store.record_match(asset=asset, candidate=candidate, score=0.5 + n / 10,
                                               decision="match" if n < 2 else "review", signals={"n": n})
        match_ids.append(match_id)
        assert created
    store.set_match_status(match_ids[1], "confirmed", "ours", at="2025-02-01T00:00:00Z")
    store.set_match_presence(match_ids[2], presence="removed", presence_at="2025-03-01T00:00:00Z",
                             unreachable_count=2)
    out["find_matches"] = store.find_matches(MatchFilter(domain="shop.example", min_score=0.5), limit=1)
    store.set_collectability(match_ids[2], 0.8, [{"name": "presence", "value": 0.0, "weight": 0.2, "reason": "gone"}],
                             "2025-03-02T00:00:00Z")
    store.set_collectability(match_ids[0], 0.4, [], "2025-03-02T00:00:00Z")
    store.set_collectability(match_ids[0], 0.45, [], "2025-03-03T00:00:00Z")  # replaces the first
    out["collectability"] = store.collectability(match_ids[0])
    out["no_collectability"] = store.collectability(match_ids[1])
    out["by_collectability"] = [m["id"] for m in store.find_matches(MatchFilter(), order="collectability")[0]]
    store.set_hosting_country("shop.example", "DE", "RDAP", "2025-03-01T00:00:00Z")
    store.set_hosting_country("shop.example", None, "none found", "2025-03-02T00:00:00Z")
    out["hosting_country"] = store.hosting_country("shop.example", "2025-03-01T00:00:00Z")
    out["hosting_country_stale"] = store.hosting_country("shop.example", "2025-04-01T00:00:00Z")
    out["every_match"] = [m["id"] for m in store.find_matches(MatchFilter(), limit=-1)[0]]  # -1: no limit
    out["matches_touched"] = [m["id"] for m in store.matches_touched_by_scan(scan_id)]
    out["match_status_counts"] = store.match_status_counts(alice["id"])
    out["match_counts"] = store.match_counts(None)
    out["matches_per_week"] = store.matches_per_week(alice["id"], 10_000)
    out["sites"] = store.sites(alice["id"])
    out["site_matches"] = [m["id"] for m in store.site_matches(alice["id"], "SHOP.example")]
    out["site_match_ids"] = store.site_match_ids(None, "www.shop.example", "new")
    out["unreviewed"] = store.unreviewed_match_ids(alice["id"])
    out["presence_by_site"] = sorted(store.presence_by_site(None), key=lambda r: (r["host"], r["presence"]))
    store.add_authorized_use(alice["id"], "blog.test", None)
    store.add_authorized_use(alice["id"], "blog.test", "again")
    out["authorized_uses"] = store.authorized_uses(alice["id"])

    offer_record = {"match_id": match_ids[0], "owner_id": alice["id"], "licence": "web", "commercial": True,
                    "currency": "EUR", "amount": "518.40", "early_amount": "400.00", "amount_minor": 51840,
                    "early_amount_minor": 40000, "breakdown": [["base", "400.00"]], "status": "sent",
                    "created_at": "2025-01-02T00:00:00Z", "discount_until": "2025-01-10T00:00:00Z",
                    "expires_at": "2025-02-01T00:00:00Z", "letter": "Dear 100% sure?"}
    offer_id = store.add_offer(offer_record)
    out["offer"] = store.update_offer(offer_id, viewed_at="2025-01-03T00:00:00Z")
    with pytest.raises(NotFound):
        store.offer(offer_id, owner_id=bob["id"])
    out["offers"] = store.offers(match_ids)
    out["open_offers"] = [o["id"] for o in store.open_offers()]
    out["offers_page"] = store.offers_page(alice["id"], None, 10, 0)
    out["find_offers"] = store.find_offers(owner="alice", status="sent")
    out["offer_totals"] = store.offer_totals(None)
    notice_id = store.add_notice({"match_id": match_ids[0], "owner_id": alice["id"], "kind": "dmca",
                                  "created_at": "2025-01-04T00:00:00Z", "body": "text", "sha256": "c" * 64})
    out["notices"] = store.notices(match_ids)
    out["notice"] = store.notice(notice_id, alice["id"])
    out["notices_page"] = store.notices_page(None, match_ids[0], 10, 0)
    out["find_notices"] = store.find_notices(kind="dmca")
    out["notice_counts"] = store.notice_counts(alice["id"])

    link = store.add_offer_link(offer_id, "nonce-1")
    out["offer_link"] = store.offer_link("nonce-1")["id"] == link
    out["live_link"] = store.live_offer_link(offer_id)["nonce"]
    out["revoked"] = store.revoke_offer_links(offer_id, "2025-01-05T00:00:00Z")
    out["live_after"] = store.live_offer_link(offer_id)
    store.add_counter_offer({"offer_id": offer_id, "amount_minor": 30000, "answer": "proposed",
                             "answer_minor": 45000, "at": "2025-01-05T00:00:00Z"})
    out["counter_offers"] = store.counter_offers(offer_id)
    seq = store.next_invoice_seq(alice["id"])
    store.add_acceptance({"offer_id": offer_id, "owner_id": alice["id"], "name": "Buyer", "email": "b@example.org",
                          "terms": {"licence": "web"}, "amount_minor": 45000, "invoice_seq": seq,
                          "invoice_number": f"INV-{seq}", "at": "2025-01-06T00:00:00Z"})
    out["acceptance"] = store.acceptance(offer_id)
    out["by_invoice"] = store.acceptance_by_invoice("INV-1")["offer_id"] == offer_id
    out["next_seq"] = store.next_invoice_seq(alice["id"])
    store.add_contributor_shares(a1, "2025-01-01", [["Ann", 60], ["Ben", 40]])
    out["contributor_shares"] = store.contributor_shares(a1)
    payment_id = store.add_payment({"offer_id": offer_id, "owner_id": alice["id"], "currency": "EUR",
                                    "amount_minor": 45000, "reference": "r1", "source": "owner",
                                    "received_at": "2025-01-07T00:00:00Z"},
                                   [{"contributor": None, "share": "20", "amount_minor": 9000},
                                    {"contributor": "Ann", "share": "60", "amount_minor": 21600}])
    out["payments"] = store.payments(offer_id)
    out["payment_splits"] = store.payment_splits(payment_id)
    out["statement_rows"] = store.statement_rows(alice["id"], "2025-01-01", "2025-02-01")
    licence = {"offer_id": offer_id, "asset_id": a1, "domain": "shop.example",
               "starts_at": "2025-01-07T00:00:00Z", "ends_at": "2026-01-07T00:00:00Z"}
    store.add_licence(licence)
    store.add_licence(dict(licence, domain="www.shop.example"))  # the offer's licence again: replaced
    out["licence"] = store.licence(offer_id)
    out["licensed_domains"] = store.licensed_domains("2025-06-01T00:00:00Z")
    out["webhook"] = [store.take_webhook_event("evt-1", "2025-01-07T00:00:00Z"),
                      store.take_webhook_event("evt-1", "2025-01-07T00:00:01Z")]
    store.add_work_negotiation({"asset_id": a1, "floor_percent": 50.0, "accept_percent": None,
                                "recorded_at": "2025-01-01T00:00:00Z"})
    store.add_work_negotiation({"asset_id": a1, "floor_percent": 40.5, "accept_percent": 90.0,
                                "recorded_at": "2025-01-02T00:00:00Z"})
    out["work_negotiation"] = store.work_negotiation(a1)

    action = store.add_enforcement_action({"owner_id": alice["id"], "match_id": match_ids[0], "rule": "r",
                                           "action": "offer", "recipient": "x@shop.example",
                                           "at": "2025-01-02T00:00:00Z", "detail": {"why": "rule"}})
    out["enforcement_actions"] = [a["id"] == action and a["detail"] for a in store.enforcement_actions(match_ids)]
    out["count_actions"] = store.count_enforcement_actions(alice["id"], "2025-01-01")
    claims = [store.add_enforcement_action({"owner_id": alice["id"], "match_id": match_ids[1], "rule": "r",
                                            "action": "dmca", "recipient": "Y@shop.example", "state": "claimed",
                                            "at": "2025-01-02T00:00:00Z", "detail": {}}) for _ in range(3)]
    out["claimed_to"] = store.count_claimed_to("y@SHOP.example", "2025-01-01")
    store.finish_enforcement_action(claims[0], {"outcome": "sent"})
    store.drop_enforcement_action(claims[1])
    store.drop_enforcement_action(claims[0])  # done: kept
    out["claims"] = [(a["state"], a["detail"]) for a in store.enforcement_actions([match_ids[1]])]
    store.replace_recipient_lookups("shop.example", [
        {"source": "rdap_ip", "address": "z@net.example", "detail": "d", "country": "DE",
         "looked_up_at": "2025-01-01T00:00:00Z"},
        {"source": "security_txt", "address": "a@shop.example", "detail": "d", "looked_up_at": "2025-01-01T00:00:00Z"}])
    out["recipient_lookups"] = [r["address"] for r in store.recipient_lookups("shop.example", "2024-01-01")]
    delivery_id = store.add_delivery({"owner_id": alice["id"], "match_id": match_ids[0], "notice_id": notice_id,
                                      "offer_id": offer_id, "recipient": "X@Shop.example", "message_id": "<m1@x>",
                                      "status": "sent", "response": "250 ok", "at": "2025-01-02T00:00:00Z"})
    out["deliveries"] = store.deliveries(match_ids)
    out["count_deliveries"] = store.count_deliveries("x@shop.EXAMPLE", "2025-01-01")
    out["latest_delivery"] = store.latest_delivery_to("x@shop.example", "2025-01-03")["id"] == delivery_id
    store.mark_delivery_bounced(delivery_id, "2025-01-03T00:00:00Z", "550 no such user")
    out["delivery"] = store.delivery(delivery_id)
    out["by_message_id"] = store.delivery_by_message_id("<m1@x>")["status"]
    store.set_owner_pricing(alice["id"], {"web": 100})
    store.set_owner_pricing(alice["id"], {"web": 200})
    out["owner_pricing"] = [store.owner_pricing(alice["id"]), store.owner_pricing(bob["id"])]
    store.replace_owner_rules(alice["id"], [{"name": "b"}, {"name": "a"}])
    out["owner_rules"] = store.owner_rules(alice["id"])

    shot = {"match_id": match_ids[0], "page_url": pages[0], "status": "taken", "taken_at": "2025-01-02T00:00:00Z",
            "viewport_width": 1280, "viewport_height": 800, "user_agent": "ua", "cut": False}
    store.add_screenshot(dict(shot, status="failed", detail="timeout"))
    store.add_screenshot(shot)
    out["latest_screenshot"] = store.latest_screenshot(match_ids[0])
    out["to_screenshot"] = store.matches_to_screenshot(scan_id, ["match", "review"])
    out["screenshot_subject"] = store.screenshot_subject(match_ids[2])

    token_id = store.add_api_token("d" * 64, alice["id"], "ci")
    store.add_api_token("e" * 64, None, "admin")
    out["token"] = store.api_token_by_hash("d" * 64)
    out["revoked_token"] = store.revoke_api_token(token_id)["revoked_at"] is not None
    out["tokens"] = [(t["label"], t["owner"]) for t in store.api_tokens()]

    checkpoint = {"tree_size": 2, "statement": "{}", "signature": "ab", "tsa_token": b"\x30\x82", "leaves": "[]"}
    store.add_ledger_checkpoint(checkpoint, 0)
    with pytest.raises(UsageError):
        store.add_ledger_checkpoint(dict(checkpoint, tree_size=3), 0)  # another one was made meanwhile
    out["checkpoints"] = store.ledger_checkpoints()

    with store.atomic():
        store.set_meta("k", "v1")
        with store.atomic():
            store.set_meta("k", "v2")
    out["meta"] = store.get_meta("k")
    with store.index_lock():  # taken, released, and taken again
        pass
    with store.index_lock():
        out["index_lock"] = True
    # Distributed detection: a task delivered twice claims its candidates once.
    ids = [c["id"] for c in candidates]
    out["still_new"] = [c["id"] for c in store.new_candidates(ids)]
    out["pending"] = [c["id"] for c in store.pending_candidates()]
    out["pending_after"] = [c["id"] for c in store.pending_candidates(after_id=ids[1])]
    out["count_pending"] = (store.count_pending(), store.count_pending(through_id=ids[1]))
    out["deliveries"] = [store.count_delivery(ids[1:]), store.count_delivery(ids[2:]), store.count_delivery(ids[:1])]
    reused = {"exit": "reused", "analysed_at": "2025-01-01T00:00:00Z", "analysed_exit": "screen"}
    out["claimed"] = store.claim_candidate(ids[1], "detected", detected_at="2025-01-02T00:00:00Z", detection=reused)
    out["detection"] = store.candidate(ids[1])["detection"]
    out["claimed_again"] = store.claim_candidate(ids[1], "refused", detected_at="2025-01-02T00:00:00Z")
    store.claim_candidate(ids[2], "refused", refusal_reason="truncated", detected_at="2025-01-02T00:00:00Z")
    out["outcome"] = store.detection_outcome("2025-01-01T00:00:00Z", ids[-1])
    out["throughput"] = store.throughput("2025-01-01T00:00:00Z")
    store.update_candidate(ids[2], state="failed")
    out["failed"] = store.count_failed()
    assert out["deliveries"] == [1, 2, 0] and out["failed"] == 1  # ids[0] was no longer 'new'
    assert out["claimed"] and not out["claimed_again"]
    assert out["still_new"] == ids[1:] and out["count_pending"] == (2, 1)
    assert out["outcome"]["candidates"] == 2 and out["outcome"]["refused"] == {"truncated": 1}
    assert out["detection"] == reused and out["outcome"]["reused"] == 1

    # Non-copy analyses kept for later scans (detector.reuse): per content and detection key, the first stands.
    store.remember_non_copy("d" * 64, "key-1", "2025-01-06T00:00:00Z", "screen")
    store.remember_non_copy("d" * 64, "key-1", "2025-01-07T00:00:00Z", "full")
    store.remember_non_copy("e" * 64, "key-0", "2025-01-05T00:00:00Z", "full")
    out["non_copies"] = store.known_non_copies(["d" * 64, "e" * 64, "f" * 64], "key-1")
    out["forgotten"] = [store.forget_non_copies(keep_key="key-1"), store.forget_non_copies()]
    out["non_copies_after"] = store.known_non_copies(["d" * 64], "key-1")
    assert out["non_copies"] == {"d" * 64: {"analysed_at": "2025-01-06T00:00:00Z", "cascade_exit": "screen"}}
    assert out["forgotten"] == [1, 1] and out["non_copies_after"] == {}

    # Discovery: a source run's lead, linked to the candidate the crawl reached from it.
    run_id = store.start_source_run("feeds", "feed")
    store.attach_source_runs([run_id], scan_id)
    lead_id = store.add_lead(run_id, "feeds", {"url": pages[0], "kind": "page", "found_by": "feed https://f.test/rss",
                                               "why": "new item", "provenance": {"guid": "g1"}})
    out["known_leads"] = sorted(store.known_lead_urls("feeds", [pages[0], pages[1]]))
    out["known_by_type"] = sorted(store.known_lead_urls("other", [pages[0]], ("feed", "tineye")))
    store.update_candidate(ids[0], lead_url=pages[0])
    out["linked"] = store.link_leads(scan_id)
    out["lead_of_candidate"] = store.candidate(ids[0])["lead_id"] == lead_id
    out["lead"] = store.lead(lead_id)["provenance"]
    out["run_leads"] = [lead["url"] for lead in store.run_leads(run_id)]
    store.finish_source_run(run_id, "finished", leads=1, budget_used=2, cursor={"seen": ["g1"]})
    out["source_cursor"] = store.source_cursor("feeds")
    out["last_source_run"] = store.last_source_run("feeds")["cursor"]
    out["source_budget"] = store.source_budget_used("feeds", "2025-01-01")
    out["source_overview"] = store.source_overview()
    out["scan_source_runs"] = [run["cursor"] for run in store.scan_source_runs(scan_id, "feeds")]
    assert out["known_leads"] == [pages[0]] == out["known_by_type"] and out["linked"] == 1 and out["lead_of_candidate"]
    assert out["lead"] == {"guid": "g1"} and out["source_cursor"] == {"seen": ["g1"]} and out["source_budget"] == 2
    assert out["scan_source_runs"] == [{"seen": ["g1"]}]
    assert out["source_overview"] == [{"source": "feeds", "type": "feed", "runs": 1, "last_run_id": run_id,
                                       "leads": 1, "candidates": 1, "matches": 1}]

    # The licence check: where works are licensed, credit checks, holds, negative lists.
    source_id, created = store.add_licensed_source(alice["id"], None, "agency", "Getty Images", "since 2024")
    out["licensed_again"] = store.add_licensed_source(alice["id"], None, "agency", "getty images", None)
    store.add_licensed_source(alice["id"], a1, "photographer", "Jane Doe", None)
    out["licensed"] = [(r["kind"], r["value"], r["asset_id"]) for r in store.licensed_sources(alice["id"])]
    out["removed_licensed"] = store.remove_licensed_source(alice["id"], source_id)["value"]
    out["removed_foreign"] = store.remove_licensed_source(bob["id"], source_id)
    store.set_credit_check(match_ids[0], ids[0], [], "2025-01-02T00:00:00Z")
    store.set_credit_check(match_ids[0], ids[1], [{"where": "figcaption"}], "2025-01-03T00:00:00Z")
    out["credit_checks"] = store.credit_checks([match_ids[0], match_ids[1]])
    out["holds_added"] = [store.add_hold(match_ids[0], "credit", "credited on the page", {"n": 1}, "2025-01-03T00:00:00Z"),
                          store.add_hold(match_ids[0], "credit", "again", {}, "2025-01-04T00:00:00Z"),
                          store.add_hold(match_ids[0], "flood", "flood", {}, "2025-01-04T00:00:00Z")]
    store.set_credit_check(match_ids[1], ids[1], [], "2025-01-03T00:00:00Z")  # checked, nothing found
    out["held_filter"] = [m["id"] for m in store.find_matches(MatchFilter(held=True))[0]]
    out["credited_filter"] = [m["id"] for m in store.find_matches(MatchFilter(credited=True))[0]]
    out["released"] = [h["kind"] for h in store.release_holds(match_ids[0], "cli", "2025-01-05T00:00:00Z")]
    out["holds"] = [(h["kind"], h["detail"], h["released_by"]) for h in store.holds([match_ids[0]])]
    out["active_holds"] = store.holds([match_ids[0]], active_only=True)
    out["held_after_release"] = store.find_matches(MatchFilter(held=True))
    out["recent_matches"] = [m["id"] for m in store.recent_matches_of(a1, "2000-01-01")]
    out["negatives_added"] = [store.add_negative({"asset_id": a1, "sha256": "c" * 64, "phash": "ff00", "actor": "cli",
                                                  "created_at": "2025-01-05T00:00:00Z"}),
                              store.add_negative({"asset_id": a1, "sha256": "c" * 64, "actor": "cli"})]
    out["negatives"] = [(n["sha256"][:1], n["phash"]) for n in store.negatives([a1])]
    assert created and out["licensed_again"] == (source_id, False) and out["removed_foreign"] is None
    assert out["licensed"] == [("agency", "Getty Images", None), ("photographer", "Jane Doe", a1)]
    assert out["credit_checks"][match_ids[0]]["findings"] == [{"where": "figcaption"}]
    assert out["credit_checks"][match_ids[0]]["candidate_id"] == ids[1] and match_ids[1] not in out["credit_checks"]
    assert out["holds_added"] == [True, False, True] and out["released"] == ["credit", "flood"]
    assert out["holds"][0] == ("credit", {"n": 1}, "cli") and out["active_holds"] == []
    assert out["held_filter"] == out["credited_filter"] == [match_ids[0]] and out["held_after_release"] == ([], 0)
    assert out["negatives_added"] == [True, False] and out["negatives"] == [("c", "ff00")]
    return out


def test_every_store_method_answers_on_each_backend(store_target, tmp_path):
    store = Store(store_target)
    out = scenario(store)
    assert out["collectability"] == {"match_id": 1, "score": 0.45, "factors": [], "assessed_at": "2025-03-03T00:00:00Z"}
    assert out["no_collectability"] is None and out["by_collectability"] == [3, 1, 2]
    assert (out["hosting_country"]["country"], out["hosting_country"]["detail"]) == (None, "none found")
    assert out["hosting_country_stale"] is None
    assert out["owners"] == ["alice", "bob"] and out["owner"]["legal_name"] == "Alice Ltd"
    assert out["asset_features"] == b"\x00\x01binary\xff" and out["embeddings"][1] == (2, b"\x06")
    assert out["replaced_features"] == (b"\x02", b"\x03", b"\x00\x01binary\xff")
    assert out["asset_by_sha"]["rights"] == {"licence": "x"} and out["asset_by_sha"]["credentials"] == {}
    assert out["every_match"] == [1, 2, 3] and out["every_asset"] == [1, 2]
    assert out["count_assets"] == 1 and [a["id"] for a in out["assets_page"]] == [2]
    assert out["again"] is None and out["new_candidates"] == [2]
    assert out["crawl_progress"] == {"pages": 3, "images": 3, "refusals": 1}
    matches, total = out["find_matches"]
    assert total == 2 and [m["page_url"] for m in matches] == ["https://Shop.Example:8443/p/1"]
    assert out["sites"] == ([{"host": "blog.test", "matches": 1, "unreviewed": 1, "confirmed": 0,
                              "last_seen": out["sites"][0][0]["last_seen"]},
                             {"host": "shop.example", "matches": 1, "unreviewed": 1, "confirmed": 0,
                              "last_seen": out["sites"][0][1]["last_seen"]},
                             {"host": "www.shop.example", "matches": 1, "unreviewed": 0, "confirmed": 1,
                              "last_seen": out["sites"][0][2]["last_seen"]}], 3)
    assert out["site_matches"] == [1] and out["site_match_ids"] == [] and out["unreviewed"] == [1, 3]
    assert sum(r["matches"] for r in out["matches_per_week"]) == 3
    assert {r["decision"] for r in out["matches_per_week"]} == {"match", "review"}
    assert [u["note"] for u in out["authorized_uses"]] == [None]
    assert out["offer"]["commercial"] == 1 and out["offer"]["breakdown"] == [["base", "400.00"]]
    assert out["offer"]["letter"] == "Dear 100% sure?"
    assert out["revoked"] == 1 and out["live_after"] is None and out["next_seq"] == 2
    assert out["licence"]["domain"] == "www.shop.example"
    assert out["licensed_domains"] == {1: ["www.shop.example"]}
    assert out["webhook"] == [True, False] and out["work_negotiation"]["floor_percent"] == 40.5
    assert [r["contributor"] for r in out["statement_rows"]] == [None, "Ann"]
    assert out["recipient_lookups"] == ["z@net.example", "a@shop.example"]  # in the order found
    assert out["claimed_to"] == 3 and out["claims"] == [("done", {"outcome": "sent"}), ("claimed", {})]
    assert out["count_deliveries"] == 1 and out["delivery"]["status"] == "bounced"
    assert out["owner_pricing"] == [{"web": 200}, {}]
    assert out["owner_rules"] == [{"name": "b"}, {"name": "a"}]
    assert out["latest_screenshot"]["status"] == "taken" and out["to_screenshot"] == [
        {"match_id": 2, "page_url": "https://www.shop.example/p/2", "target": "shop"},
        {"match_id": 3, "page_url": "http://blog.test/x?y=1%20z", "target": "shop"}]
    assert out["tokens"] == [("ci", "alice"), ("admin", None)] and out["revoked_token"]
    assert out["meta"] == "v2" and [(c["tree_size"], c["tsa_token"]) for c in out["checkpoints"]] == [(2, b"\x30\x82")]
    if isinstance(store_target, Path):  # no write left uncommitted: another connection can write at once
        other = sqlite3.connect(store_target, timeout=2)
        other.execute("INSERT INTO meta(key, value) VALUES ('other', 'writer')")
        other.commit()
        other.close()
    store.backup_to(tmp_path / "backup")
    store.close()
    assert (tmp_path / "backup").stat().st_size > 0 and not (tmp_path / "backup.partial").exists()


def test_both_backends_give_the_same_answers(tmp_path, postgres_url):
    sqlite = Store(tmp_path / "copyhound.db")
    postgres = Store(postgres_url)
    try:
        on_sqlite, on_postgres = _stamp_free(scenario(sqlite)), _stamp_free(scenario(postgres))
    finally:
        sqlite.close()
        postgres.close()
    assert {k: v for k, v in on_postgres.items() if on_sqlite[k] != v} == {}


def _sqlite_columns(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    conn.close()
    return columns


def test_both_backends_end_with_the_same_tables_and_columns(tmp_path, postgres_url):
    Store(tmp_path / "copyhound.db").close()
    postgres = Store(postgres_url)
    on_postgres = {t: [c for c, _ in postgres.db.columns(t)] for t in postgres.db.table_names()}
    types = {c: kind for t in on_postgres for c, kind in postgres.db.columns(t)}
    assert postgres.schema_version() == len(MIGRATIONS)
    postgres.close()
    assert on_postgres == _sqlite_columns(tmp_path / "copyhound.db")
    assert types["vector"] == "bytea" and types["score"] == "double precision" and types["seq"] == "bigint"


def test_migrations_translate_column_types_and_keep_set_keys_plain():
    script = postgres_migration(MIGRATIONS[0] + MIGRATIONS[1] + MIGRATIONS[6])
    assert "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" in script
    assert "seq BIGINT PRIMARY KEY," in script  # ledger.seq is set by the writer
    assert "offer_id BIGINT PRIMARY KEY REFERENCES offers(id)" in script
    assert "CAST(ROUND(CAST(amount AS DOUBLE PRECISION) * 100) AS BIGINT)" in script
    assert not re.search(r"\b(INTEGER|REAL|BLOB)\b", "\n".join(
        line for line in script.splitlines() if not line.strip().startswith("--")))


@pytest.mark.parametrize(("sqlite", "postgres"), [
    ("SELECT * FROM t WHERE a = ? AND b LIKE '%?%'", "SELECT * FROM t WHERE a = %s AND b LIKE '%%?%%'"),
    ("SELECT count(*) FROM m WHERE 1 AND x = ?", "SELECT count(*) FROM m WHERE TRUE AND x = %s"),
    ("SELECT 1 FROM m WHERE 1 = 1", "SELECT 1 FROM m WHERE 1 = 1"),
    ("SELECT * FROM n WHERE id = ? AND 1 AND n.o = ? LIMIT 1", "SELECT * FROM n WHERE id = %s AND TRUE AND n.o = %s LIMIT 1"),
    ("SELECT x FROM n WHERE a OR 1 + 1 = 2", "SELECT x FROM n WHERE a OR 1 + 1 = 2"),
    ("INSERT OR IGNORE INTO w(e) VALUES (?)", "INSERT INTO w(e) VALUES (%s) ON CONFLICT DO NOTHING "),
    ("INSERT OR IGNORE INTO w(e) VALUES (?) RETURNING id",
     "INSERT INTO w(e) VALUES (%s) ON CONFLICT DO NOTHING RETURNING id"),
    ("SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , %s"),
    ("SELECT * FROM m ORDER BY id LIMIT -1 OFFSET 0", "SELECT * FROM m ORDER BY id LIMIT ALL OFFSET 0"),
    ("SELECT * FROM m LIMIT ? OFFSET ?", "SELECT * FROM m LIMIT NULLIF(GREATEST(%s::bigint, -1), -1) OFFSET %s"),
])
def test_sqlite_statements_become_postgresql_ones(sqlite, postgres):
    assert to_postgres(sqlite) == postgres


URLS = ["https://Shop.Example:8443/p/1", "http://user:pw@www.example.org/a", "https://[2001:DB8::1]:8080/x",
        "http://[::1]/", "ftp://files.example", "//no-scheme.example/x", "not a url", "", None,
        "HTTPS://UPPER.example?q=1", "http://host.example#frag", "http://:80/", "https://ex.example:/p",
        "http://a@b@c.example/x", "http://münchen.example/bild.jpg"]


def test_url_host_in_postgresql_is_pythons(postgres_url):
    store = Store(postgres_url)
    found = [store.db.execute("SELECT url_host(?)", [url]).fetchone()[0] for url in URLS]
    store.close()
    assert found == [url_host(url) for url in URLS]


def test_an_unreachable_server_is_one_line_naming_the_url_without_its_password(postgres_server):
    url = postgres_server.url("copyhound").replace("postgres@", "postgres:s3cret@").replace(
        f":{postgres_server.port}/", ":1/")
    with pytest.raises(DatabaseUnusable) as e:
        Store(url)
    message = str(e.value)
    assert "postgresql://postgres:***@127.0.0.1:1/copyhound" in message and "s3cret" not in message
    assert "\n" not in message and "[store] url" in message


def test_a_newer_schema_on_postgresql_is_refused(postgres_url):
    Store(postgres_url).close()
    store = Store(postgres_url)
    store.set_meta("schema_version", "999")
    store.close()
    with pytest.raises(UsageError) as e:
        Store(postgres_url)
    assert "schema version 999, newer than this copyhound understands" in str(e.value)


def test_processes_opening_a_new_database_at_once_migrate_it_once(postgres_url):
    program = "import sys\nfrom detector.workspace.store import Store\nStore(sys.argv[1]).close()"
    opened = [subprocess.Popen([sys.executable, "-c", program, postgres_url]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in opened] == [0, 0, 0, 0]
    store = Store(postgres_url)
    assert store.schema_version() == len(MIGRATIONS)
    store.close()


def test_ledger_writers_racing_on_postgresql_keep_one_chain(postgres_url):
    """Eight threads, each with its own connection, append at once: atomic() serialises the head check."""
    Store(postgres_url).close()
    failures: list[BaseException] = []

    def append(n: int) -> None:
        store = Store(postgres_url)
        try:
            for i in range(5):
                while True:
                    try:
                        ledger.append(store, "register", ledger.asset_subject(n * 10 + i), {"n": n, "i": i})
                        break
                    except UsageError:  # the head moved between reading it and writing: as on SQLite
                        continue
        except BaseException as e:  # noqa: BLE001 (reported by the assertion below)
            failures.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    store = Store(postgres_url)
    assert [r["seq"] for r in ledger.entries(store)] == list(range(1, 41))
    assert ledger.verify(store) == []
    store.close()


def test_every_public_store_method_runs_on_postgresql(request, tmp_path):
    """A store method added without PostgreSQL support (or without a both-backend test) fails here.

    Ordered last by conftest; when this session did not run the both-backend tests, they run in a
    child pytest that reports the methods called.
    """
    ran = {item.nodeid.split("::")[0] for item in request.session.items}
    called = set(CALLED)
    if not set(CALLS_MODULES) <= ran or not called:
        report = tmp_path / "calls.json"
        root = Path(__file__).resolve().parents[2]
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
                               "not every_public_store_method", *CALLS_MODULES], check=False, cwd=root,
                              env={**os.environ, "COPYHOUND_STORE_CALLS": str(report)},
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:]
        called = set(json.loads(report.read_text()))
    assert set(public_methods(Store)) - called == set()


def _read_in_child(store: Store, queue) -> None:
    queue.put([o["name"] for o in store.owners()])


def test_a_child_forked_with_a_postgresql_store_uses_its_own_connection(postgres_url):
    """Detection forks its workers with the store open: parent and child must not share one session."""
    import multiprocessing

    store = Store(postgres_url)
    store.ensure_owner("alice")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_read_in_child, args=(store, queue)) for _ in range(3)]
    for child in children:
        child.start()
    answers = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert answers == [["alice"]] * 3 and [c.exitcode for c in children] == [0, 0, 0]
    assert store.ensure_owner("bob")["name"] == "bob" and len(store.owners()) == 2  # the parent's session lives on
    store.close()
