"""The JSON API against the running portal (uvicorn on loopback), with real tokens and real data."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from PIL import Image

from detector.demo_site import WORKS_DIR as WORKS
from detector.evidence.bundle_check import verify_bundle
from detector.provenance import ledger
from detector.web.security import CSP


def test_no_token_is_401_with_how_to_send_one(portal):
    with portal.client(None) as c:
        r = c.get("/api/matches")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer TOKEN" in r.json()["error"]


def test_wrong_scheme_and_unknown_token_are_401(portal):
    with portal.client(None) as c:
        basic = c.get("/api/matches", headers={"Authorization": "Basic abc"})
        unknown = c.get("/api/matches", headers={"Authorization": "Bearer chp_not-a-token"})
    assert basic.status_code == 401 and "must be 'Bearer TOKEN'" in basic.json()["error"]
    assert unknown.status_code == 401 and "unknown or revoked" in unknown.json()["error"]


def test_revoked_token_is_401(portal):
    with portal.client("revoked") as c:
        r = c.get("/api/assets")
    assert r.status_code == 401
    assert "unknown or revoked" in r.json()["error"]


def test_owner_sees_only_own_matches_and_admin_sees_all(portal):
    with portal.client("alice") as alice, portal.client("bob") as bob, portal.client("admin") as admin:
        mine = alice.get("/api/matches").json()
        theirs = bob.get("/api/matches").json()
        everyone = admin.get("/api/matches").json()
        # Naming another owner in the filter finds nothing rather than their data.
        snooping = alice.get("/api/matches", params={"owner": "bob"}).json()
    assert {m["id"] for m in mine["items"]} == set(portal.matches["alice"])
    assert {m["owner"] for m in mine["items"]} == {"alice"}
    assert {m["id"] for m in theirs["items"]} == set(portal.matches["bob"])
    assert everyone["total"] == len(portal.matches["alice"]) + len(portal.matches["bob"])
    assert snooping["total"] == 0 and snooping["items"] == []


@pytest.mark.parametrize("path", ["/api/matches/{match}", "/api/matches/{match}/bundle",
                                  "/api/matches/{match}/image", "/api/assets/{asset}",
                                  "/api/assets/{asset}/image", "/api/notices?match={match}"])
def test_another_owners_ids_answer_404_never_the_data(portal, path):
    bobs = path.format(match=portal.matches["bob"][0], asset=portal.assets["bob"][0])
    missing = path.format(match=99999, asset=99999)
    with portal.client("alice") as alice:
        r, gone = alice.get(bobs), alice.get(missing)
    if "notices" in path:  # a list: filtered to nothing, not an error
        assert r.status_code == 200 and r.json()["total"] == 0
        return
    assert r.status_code == 404, r.text
    assert gone.status_code == 404
    # The same answer as for an id that does not exist, so ids cannot be probed.
    assert r.json()["error"].replace(bobs.split("/")[3], "X") == gone.json()["error"].replace("99999", "X")
    assert "rocket" not in r.text and "rockets.example.io" not in r.text


def test_owner_cannot_review_or_act_on_another_owners_match(portal):
    bobs = portal.matches["bob"][0]
    with portal.client("alice") as alice:
        review = alice.post(f"/api/matches/{bobs}/review", json={"status": "rejected"})
        notice = alice.post(f"/api/matches/{bobs}/notices", json={"kind": "dmca"})
    assert review.status_code == 404 and notice.status_code == 404
    with portal.client("bob") as bob:
        assert bob.get(f"/api/matches/{bobs}").json()["status"] == "new"


def test_admin_reads_any_owners_match_and_asset(portal):
    with portal.client("admin") as admin:
        match = admin.get(f"/api/matches/{portal.matches['bob'][0]}")
        asset = admin.get(f"/api/assets/{portal.assets['alice'][0]}")
    assert match.status_code == 200 and match.json()["owner"] == "bob"
    assert asset.status_code == 200 and asset.json()["owner"] == "alice"


def test_match_detail_carries_region_provenance_and_ledger(portal):
    match_id = portal.matches["alice"][1]
    with portal.client("alice") as c:
        m = c.get(f"/api/matches/{match_id}").json()
    assert m["signals"]["verification"]["verified"] is True
    assert len(m["region"]) == 4  # the work's corners projected into the copy
    assert m["provenance"]["page_url"] == m["page_url"] == "https://shop.example.net/sale"
    # The banner pastes the work at 60% size at (60, 90): the projected corners say so.
    (x0, y0), _, (x2, _y2), _ = m["region"]
    assert abs(x0 - 60) < 6 and abs(y0 - 90) < 6
    assert abs((x2 - x0) - 0.6 * m["asset"]["width"]) < 8
    assert [e["kind"] for e in m["ledger"]][:1] == ["match"]


def test_asset_detail_lists_every_sighting(portal):
    astronaut = portal.assets["alice"][0]
    with portal.client("alice") as c:
        a = c.get(f"/api/assets/{astronaut}").json()
    assert a["filename"] == "astronaut.jpg"
    assert sorted(s["page_url"] for s in a["sightings"]) == ["https://blog.example.com/post/1",
                                                            "https://www.example.com/space"]


def test_pagination_reports_totals_and_pages_do_not_overlap(portal):
    with portal.client("alice") as c:
        first = c.get("/api/matches", params={"limit": 3, "offset": 0}).json()
        second = c.get("/api/matches", params={"limit": 3, "offset": 3}).json()
        assets = c.get("/api/assets", params={"limit": 2, "offset": 2}).json()
        scans = c.get("/api/scans", params={"limit": 1}).json()
    assert (first["total"], first["limit"], first["offset"], len(first["items"])) == (4, 3, 0, 3)
    assert (second["total"], len(second["items"])) == (4, 1)
    assert not {m["id"] for m in first["items"]} & {m["id"] for m in second["items"]}
    assert (assets["total"], len(assets["items"]), assets["items"][0]["filename"]) == (3, 1, "coffee.jpg")
    assert scans["total"] == 1 and scans["items"][0]["status"] == "finished"


def test_filters_narrow_the_list(portal):
    with portal.client("alice") as c:
        by_domain = c.get("/api/matches", params={"domain": "example.com"}).json()
        by_asset = c.get("/api/matches", params={"asset": portal.assets["alice"][1]}).json()
        by_score = c.get("/api/matches", params={"min_score": 1.0}).json()
        future = c.get("/api/matches", params={"since": "2999-01-01"}).json()
    # blog.example.com and www.example.com are sub-domains of example.com; example.net/.org are not.
    assert sorted(m["page_url"] for m in by_domain["items"]) == ["https://blog.example.com/post/1",
                                                                "https://www.example.com/space"]
    assert [m["asset_filename"] for m in by_asset["items"]] == ["chelsea.jpg"]
    assert all(m["score"] >= 1.0 for m in by_score["items"])
    assert future["total"] == 0


@pytest.mark.parametrize("params, message", [
    ({"status": "pending"}, "status: Input should be 'new', 'confirmed', 'rejected' or 'authorized' (got 'pending')"),
    ({"min_score": "high"}, "min_score: Input should be a valid number"),
    ({"min_score": "2"}, "min_score: Input should be less than or equal to 1"),
    ({"asset": "one"}, "asset: Input should be a valid integer"),
    ({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
    ({"since": "last week"}, "since 'last week' is not a date; use YYYY-MM-DD or an ISO 8601 time."),
    ({"domain": "http://x.com/"}, "domain must be a host name like example.com, got 'http://x.com/'."),
])
def test_malformed_filters_are_422_with_a_clear_message(portal, params, message):
    with portal.client("alice") as c:
        r = c.get("/api/matches", params=params)
    assert r.status_code == 422
    assert message in r.json()["error"]


def test_review_changes_status_and_appends_to_the_ledger(portal):
    match_id = portal.matches["alice"][2]
    with portal.client("alice") as c:
        r = c.post(f"/api/matches/{match_id}/review", json={"status": "rejected", "note": "a licensed reseller"})
        after = c.get(f"/api/matches/{match_id}").json()
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert after["status"] == "rejected" and after["note"] == "a licensed reseller"
    entry = after["ledger"][-1]
    assert entry["kind"] == "review"
    assert entry["payload"]["status"] == "rejected" and entry["payload"]["previous"] == "new"
    assert entry["payload"]["by"].startswith("portal token")
    with portal.store() as store:
        assert ledger.verify(store) == []


def test_review_with_unknown_status_is_422(portal):
    with portal.client("alice") as c:
        r = c.post(f"/api/matches/{portal.matches['alice'][0]}/review", json={"status": "maybe"})
    assert r.status_code == 422
    assert "status: Input should be 'confirmed', 'rejected' or 'authorized' (got 'maybe')" in r.json()["error"]


def test_notice_for_a_rejected_match_is_refused_with_409(portal):
    rejected = portal.matches["alice"][2]
    with portal.client("alice") as c:
        c.post(f"/api/matches/{rejected}/review", json={"status": "rejected"})
        r = c.post(f"/api/matches/{rejected}/notices", json={"kind": "dmca"})
    assert r.status_code == 409
    assert f"Match {rejected} is rejected, so no DMCA notice is made" in r.json()["error"]


def test_notice_and_offer_are_drafted_listed_and_scoped(portal):
    match_id = portal.matches["alice"][3]
    with portal.client("alice") as c:
        c.post(f"/api/matches/{match_id}/review", json={"status": "confirmed"})
        notice = c.post(f"/api/matches/{match_id}/notices", json={"kind": "dmca"})
        offer = c.post(f"/api/matches/{match_id}/offers", json={"licence": "web"})
        listed = c.get("/api/notices", params={"match": match_id}).json()
        offers = c.get("/api/offers", params={"match": match_id}).json()
    assert notice.status_code == 201, notice.text
    assert "Alice Example Photography Ltd" in notice.json()["body"]
    assert offer.status_code == 201, offer.text
    assert offer.json()["licence"] == "web" and offer.json()["status"] == "draft"
    assert [n["id"] for n in listed["items"]] == [notice.json()["id"]]
    assert [o["id"] for o in offers["items"]] == [offer.json()["id"]]
    with portal.client("bob") as bob:
        assert bob.get(f"/api/notices/{notice.json()['id']}").status_code == 404
        assert bob.get(f"/api/offers/{offer.json()['id']}").status_code == 404
        assert bob.get("/api/offers").json()["total"] == 0


def test_bundle_downloads_and_verifies(portal, tmp_path):
    match_id = portal.matches["alice"][0]
    with portal.client("alice") as c:
        r = c.get(f"/api/matches/{match_id}/bundle")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    path = tmp_path / "bundle.zip"
    path.write_bytes(r.content)
    check = verify_bundle(path)
    assert check.ok, check.problems
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    assert f"match:{match_id}" in {e["subject"] for e in manifest["ledger"]}
    assert [o["name"] for o in manifest["owners"]] == ["alice"]


def test_fetching_a_bundle_again_changes_nothing(portal):
    match_id = portal.matches["alice"][0]
    with portal.client("alice") as c:
        first = c.get(f"/api/matches/{match_id}/bundle")
        with portal.store() as store:
            entries = ledger.entries(store)
        second = c.get(f"/api/matches/{match_id}/bundle")
        with portal.store() as store:
            assert ledger.entries(store) == entries  # a GET writes nothing
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert entries[-1]["kind"] == "export" and entries[-1]["payload"].count(str(match_id))


def _png(side: int, seed: int) -> bytes:
    image = Image.effect_noise((side, side), 64 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_upload_registers_a_work_for_the_tokens_owner(portal):
    data = (WORKS / "castle.jpg").read_bytes()
    with portal.client("bob") as c:
        r = c.post("/api/assets", files={"file": ("castle.jpg", data, "application/octet-stream")},
                   data={"title": "Castle", "creator": "Bob"})
        again = c.post("/api/assets", files={"file": ("copy.jpg", data, "image/jpeg")})
        listed = c.get("/api/assets").json()
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["owner"], body["filename"]) == ("registered", "bob", "castle.jpg")
    assert again.json()["status"] == "already" and again.json()["asset_id"] == body["asset_id"]
    assert body["asset_id"] in [a["id"] for a in listed["items"]]


def test_admin_upload_needs_an_owner(portal):
    data = (WORKS / "castle.jpg").read_bytes()
    with portal.client("admin") as c:
        r = c.post("/api/assets", files={"file": ("castle.jpg", data)})
    assert r.status_code == 422
    assert "owner is required when an admin token uploads" in r.json()["error"]


def test_oversized_upload_is_413(portal):
    big = b"\xff\xd8\xff" + b"\0" * (portal.max_bytes + 100_000)
    with portal.client("alice") as c:
        r = c.post("/api/assets", files={"file": ("big.jpg", big, "image/jpeg")})
    assert r.status_code == 413
    assert r.json()["reason"] == "too_large"
    assert "Send a smaller" in r.json()["error"]


def test_upload_just_over_the_image_limit_is_413_from_the_handler(portal):
    # Within the form overhead allowance, so it passes the early Content-Length check.
    big = b"\xff\xd8\xff" + b"\0" * portal.max_bytes
    with portal.client("alice") as c:
        r = c.post("/api/assets", files={"file": ("big.jpg", big, "image/jpeg")})
    assert r.status_code == 413
    assert r.json() == {"reason": "too_large", "error": (
        f"big.jpg: is more than {portal.max_bytes:,} bytes, over the {portal.max_bytes:,}-byte limit (intake.max_bytes). "
        "Send a smaller image or raise intake.max_bytes in config.toml.")}


@pytest.mark.parametrize("name, data, reason, words", [
    ("photo.jpg", b"<!doctype html><html><body>not found</body></html>", "not_image", "an HTML page"),
    ("notes.png", b"just some text", "not_image", "plain text"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "svg_unsupported", "SVG"),
])
def test_non_image_upload_is_415_with_the_reason(portal, name, data, reason, words):
    with portal.client("alice") as c:
        r = c.post("/api/assets", files={"file": (name, data, "image/jpeg")})
    assert r.status_code == 415
    assert r.json()["reason"] == reason
    assert words in r.json()["error"]


def test_corrupt_image_upload_is_400(portal):
    truncated = (WORKS / "coffee.jpg").read_bytes()[:3000]
    with portal.client("alice") as c:
        r = c.post("/api/assets", files={"file": ("coffee.jpg", truncated)})
    assert r.status_code == 400
    assert r.json()["reason"] == "corrupt"


def test_scans_latest_hides_crawl_details_from_owners(portal):
    with portal.client("alice") as alice, portal.client("admin") as admin:
        mine = alice.get("/api/scans/latest").json()
        full = admin.get("/api/scans/latest").json()
    assert set(mine) == {"id", "started_at", "finished_at", "status"}
    assert full["summary"]["matches_new"] == 5


def test_openapi_document_lists_the_api(portal):
    with portal.client(None) as c:
        doc = c.get("/openapi.json").json()
    assert {"/api/matches", "/api/matches/{match_id}/review", "/api/assets", "/api/matches/{match_id}/bundle",
            "/api/scans/latest", "/api/notices", "/api/offers"} <= set(doc["paths"])
    assert not any(p.startswith("/signin") for p in doc["paths"])


def test_security_headers_on_api_and_pages(portal):
    with portal.client(None) as c:
        for r in (c.get("/api/matches"), c.get("/signin")):
            assert r.headers["content-security-policy"] == CSP
            assert "frame-ancestors 'none'" in CSP and "unsafe-inline" not in CSP
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin"
