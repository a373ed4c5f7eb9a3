"""Cases and compliance in the portal: each owner sees only the sites of their own matches."""

from __future__ import annotations

from test_ui_pages import _signed_in


def test_each_owner_sees_only_the_cases_of_their_own_matches(portal):
    with portal.client("alice") as alice, portal.client("bob") as bob, portal.client("admin") as admin:
        mine = alice.get("/api/cases")
        theirs = alice.get("/api/cases/rockets.example.io")
        own = bob.get("/api/cases/rockets.example.io")
        everyone = admin.get("/api/cases")
        compliance = alice.get("/api/compliance")
    assert mine.status_code == 200
    assert {r["host"] for r in mine.json()} == {"blog.example.com", "shop.example.net", "news.example.org",
                                                  "www.example.com"}
    assert theirs.status_code == 404 and "No matches on 'rockets.example.io'" in theirs.json()["error"]
    assert own.status_code == 200 and [m["id"] for m in own.json()["matches"]] == portal.matches["bob"]
    assert {(r["owner"], r["host"]) for r in everyone.json()} >= {("bob", "rockets.example.io")}
    assert compliance.status_code == 200 and compliance.json() == []


def test_case_pages_list_a_sites_matches_and_hide_other_owners_sites(portal):
    with _signed_in(portal, "alice") as client:
        listing = client.get("/cases")
        page = client.get("/cases/shop.example.net")
        other = client.get("/cases/rockets.example.io")
        compliance = client.get("/compliance")
    assert listing.status_code == 200 and 'href="/cases/shop.example.net"' in listing.text
    assert "rockets.example.io" not in listing.text
    assert page.status_code == 200 and "https://shop.example.net/sale" in page.text
    assert other.status_code == 404
    assert compliance.status_code == 200 and "No notices sent yet." in compliance.text
