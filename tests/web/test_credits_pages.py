"""The licence check in the portal: the owner's list from the profile, the credit and the hold on the match page
and in the lists, releasing a hold and "not mine", each scoped to the owner and entered in the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from web_session import csrf, signed_in

from detector.enforcement import holds
from detector.provenance import ledger


def _post(client, page: str, action: str, data: dict):
    return client.post(action, data={"csrf": csrf(client.get(page).text), **data})


def test_a_listed_url_holds_the_copy_the_match_page_and_list_show_it_and_the_owner_releases_it(fresh_portal):
    portal = fresh_portal
    with portal.store() as store:
        blog = next(m for m in store.matches("owners.name = 'alice'") if "blog.example.com" in m["page_url"])
    with signed_in(portal, "alice") as c:
        assert "your list" in c.get("/profile").text
        bad = _post(c, "/profile/licensed", "/profile/licensed", {"kind": "url", "value": "ftp://x.example/"})
        assert bad.status_code == 422 and "is not an http(s) URL prefix" in bad.text
        added = _post(c, "/profile/licensed", "/profile/licensed",
                      {"kind": "url", "value": "https://blog.example.com/post/", "note": "licensed 2024"})
        assert (added.status_code, added.headers["location"]) == (303, "/profile/licensed?done=licensed")
        _post(c, "/profile/licensed", "/profile/licensed", {"kind": "agency", "value": "shutterstock"})
        listed = c.get("/profile/licensed").text
        assert "https://blog.example.com/post/" in listed and "Shutterstock" in listed and "Getty Images" in listed

        with portal.store() as store:
            held = holds.hold_matches(portal.ws, store, portal.settings, datetime.now(UTC))
        assert held.credit == [blog["id"]]
        page = c.get(f"/matches/{blog['id']}").text
        assert "Held for review: credited on the page: a listed URL prefix (https://blog.example.com/post/)" in page
        assert "image URL" in page and 'id="release"' in page
        listing = c.get("/matches").text
        assert listing.count(">held for review</span>") == 1
        assert "credit: a listed URL prefix (https://blog.example.com/post/) in the image URL" in listing
        assert 'name="credit"' in c.get("/rules").text  # rules can require "no credit found"
        only_held = c.get("/matches?held=1").text
        assert f'href="/matches/{blog["id"]}"' in only_held and "1 match." in only_held
        assert 'name="held" value="1" checked' in only_held
        assert "1 match." in c.get("/matches?credited=1").text
        assert c.get("/matches?held=maybe").status_code == 422

    summary = "a listed URL prefix (https://blog.example.com/post/) in the image URL"
    with portal.client("alice") as api:
        (row,) = api.get("/api/matches", params={"held": "true"}).json()["items"]
        assert (row["id"], row["credit"], row["held"]) == (blog["id"], summary, f"credited on the page: {summary}")
        assert [r["id"] for r in api.get("/api/matches", params={"credited": 1}).json()["items"]] == [blog["id"]]
        everything = api.get("/api/matches").json()["items"]
        assert {r["held"] for r in everything if r["id"] != blog["id"]} == {""}
        detail = api.get(f"/api/matches/{blog['id']}").json()
        assert (detail["credit"], detail["held"]) == (summary, f"credited on the page: {summary}")
    with portal.client("bob") as api:  # the filter stays scoped to the owner
        assert api.get("/api/matches", params={"held": "true"}).json()["total"] == 0
        assert api.get(f"/api/matches/{blog['id']}").status_code == 404

    with signed_in(portal, "alice") as c:

        released = _post(c, f"/matches/{blog['id']}", f"/matches/{blog['id']}/release", {})
        assert released.headers["location"] == f"/matches/{blog['id']}?done=released"
        page = c.get(f"/matches/{blog['id']}").text
        assert "Held for review" not in page and "credit hold released" in page
    with signed_in(portal, "bob") as c:  # another owner's match is not found, and bob's list is his own
        bob_match = portal.matches["bob"][0]
        assert _post(c, "/profile/licensed", f"/matches/{blog['id']}/release", {}).status_code == 404
        assert "blog.example.com" not in c.get("/profile/licensed").text
        assert _post(c, "/profile/licensed", f"/matches/{bob_match}/not-mine", {}).status_code == 303
    with portal.store() as store:
        kinds = [e["kind"] for e in ledger.entries(store, [ledger.match_subject(blog["id"])])]
        assert kinds[-2:] == ["hold", "hold"]
        alice = store.owner_by_name("alice")
        changes = [json.loads(e["payload"]) for e in ledger.entries(store, [ledger.owner_subject(alice["id"])])]
        assert [c["licensed_source"]["value"] for c in changes if "licensed_source" in c] == \
            ["https://blog.example.com/post/", "Shutterstock"]


def test_not_mine_from_the_match_page_rejects_it_and_lists_the_image(fresh_portal):
    portal = fresh_portal
    match_id = portal.matches["alice"][-1]
    with signed_in(portal, "alice") as c:
        done = _post(c, f"/matches/{match_id}", f"/matches/{match_id}/not-mine", {"note": "a poster, not my photo"})
        assert done.headers["location"] == f"/matches/{match_id}?done=not-mine"
        page = c.get(f"/matches/{match_id}").text
        assert 'id="not-mine"' not in page and "rejected" in page
    with portal.store() as store:
        match = store.match(match_id)
        assert (match["status"], match["note"]) == ("rejected", "not mine / not a copy: a poster, not my photo")
        (negative,) = [n for n in store.negatives([match["asset_id"]]) if n["match_id"] == match_id]
        assert negative["sha256"] == match["sha256"] and negative["actor"].startswith("portal token")
