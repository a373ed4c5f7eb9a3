"""Cases and compliance in the portal: each owner sees only the sites of their own matches."""

from __future__ import annotations

import re

import pytest
from test_ui_pages import _signed_in


@pytest.fixture(scope="module")
def portal(fresh_portal):
    """A portal of this module's own: it asserts on unreviewed matches and on no notices sent, which other
    modules' tests change on the shared one (in whatever order the xdist workers run them)."""
    return fresh_portal


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


def test_one_view_per_site_holds_its_case_and_the_old_case_urls_lead_there(portal):
    with _signed_in(portal, "alice") as client:
        listing = client.get("/sites")
        page = client.get("/sites/shop.example.net")
        other = client.get("/sites/rockets.example.io")
        old_list = client.get("/cases", follow_redirects=False)
        old_case = client.get("/cases/shop.example.net", follow_redirects=False)
        followed = client.get("/cases/shop.example.net", follow_redirects=True)
        compliance = client.get("/compliance")
    assert listing.status_code == 200 and 'href="/sites/shop.example.net"' in listing.text
    assert "rockets.example.io" not in listing.text and "Median days to removal" in listing.text
    assert page.status_code == 200 and "https://shop.example.net/sale" in page.text
    assert "Outcome per copy" in page.text and "Automated actions" in page.text and "Confirm all" in page.text
    assert other.status_code == 404
    assert (old_list.status_code, old_list.headers["location"]) == (308, "/sites")
    assert (old_case.status_code, old_case.headers["location"]) == (308, "/sites/shop.example.net")
    assert followed.status_code == 200 and _timeless(followed.text) == _timeless(page.text)
    assert compliance.status_code == 200 and "No notices sent yet." in compliance.text


def _timeless(page: str) -> str:
    """A page without its relative times ("11 min ago"), which can tick between two requests."""
    return re.sub(r"(<time [^>]*>)[^<]*(</time>)", r"\1\2", page)
