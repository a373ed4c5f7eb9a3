"""The casework pages over plain HTTP on a portal of their own: profile, notices, offers, reports,
sites with bulk review, licensed uses and the dashboard's charts; each scoped to its owner."""

from __future__ import annotations

import re
from html import unescape

import pytest
from web_session import csrf, signed_in

from detector.provenance import ledger

BOB_PROFILE = {"legal_name": "Bob Rockets GmbH", "address": "2 Launch Road, Kourou", "email": "bob@example.org",
               "phone": "+49 30 1234", "signature": "/s/ Bob", "jurisdiction": "Germany"}


def _post(client, page: str, action: str, data: dict):
    return client.post(action, data={"csrf": csrf(client.get(page).text), **data})


def test_profile_page_sets_what_a_notice_needs_then_the_notice_is_drafted(fresh_portal):
    bobs_match = fresh_portal.matches["bob"][0]
    with signed_in(fresh_portal, "bob") as c:
        match_page = c.get(f"/matches/{bobs_match}").text
        assert "A DMCA notice needs your legal name, address, email, signature" in match_page
        assert f'href="/profile?next=/matches/{bobs_match}"' in match_page
        _post(c, f"/matches/{bobs_match}", f"/matches/{bobs_match}/review", {"status": "confirmed"})
        refused = _post(c, "/profile", f"/matches/{bobs_match}/notice", {"kind": "dmca"})
        assert refused.status_code == 409 and "Profile page (/profile)" in refused.text

        saved = _post(c, f"/profile?next=/matches/{bobs_match}", "/profile",
                      {**BOB_PROFILE, "next": f"/matches/{bobs_match}"})
        assert saved.status_code == 303 and saved.headers["location"] == f"/matches/{bobs_match}?done=profile"
        assert "complete your profile" not in c.get(f"/matches/{bobs_match}").text
        made = _post(c, f"/matches/{bobs_match}", f"/matches/{bobs_match}/notice", {"kind": "dmca"})
        assert made.status_code == 303
        notice = c.get(made.headers["location"]).text
        listed = c.get("/notices").text
    assert "Bob Rockets GmbH" in notice and "2 Launch Road, Kourou" in notice and "/s/ Bob" in notice
    assert f'href="/matches/{bobs_match}"' in listed and "DMCA" in listed
    with fresh_portal.store() as store:
        assert {k: store.owner_by_name("bob")[k] for k in BOB_PROFILE} == BOB_PROFILE


def test_a_bad_profile_value_is_422_and_saves_nothing(fresh_portal):
    with signed_in(fresh_portal, "alice") as c:
        r = _post(c, "/profile", "/profile", {"legal_name": "Changed Name", "email": "not an address"})
    assert r.status_code == 422 and "--email must be one address like name@example.org" in r.text
    assert 'value="Changed Name"' in r.text  # what was typed is kept in the form
    with fresh_portal.store() as store:
        assert store.owner_by_name("alice")["legal_name"] == "Alice Example Photography Ltd"


def test_profile_posts_need_the_csrf_token_and_other_owners_are_404(fresh_portal):
    with signed_in(fresh_portal, "alice") as c:
        forged = c.post("/profile", data={"legal_name": "Mallory"})
        assert c.get("/profile?owner=bob").status_code == 404
    assert forged.status_code == 403
    with fresh_portal.store() as store:
        assert store.owner_by_name("alice")["legal_name"] != "Mallory"


def test_offers_page_lists_filters_and_moves_an_offer_along(fresh_portal):
    match_id = fresh_portal.matches["alice"][3]
    with signed_in(fresh_portal, "alice") as c:
        made = _post(c, f"/matches/{match_id}", f"/matches/{match_id}/offer", {"licence": "web"})
        offer_id = int(made.headers["location"].rsplit("/", 1)[1])
        page = c.get("/offers?status=draft").text
        assert f'id="offer-{offer_id}"' in page and "Mark sent" in page
        # a draft says why it was not sent, in the list and on its own page
        row = page[page.index(f'id="offer-{offer_id}"'):].split("</tr>")[0]
        why = "not sent: drafted in the portal: it is sent when its page is opened"
        assert why in unescape(row) and why in unescape(c.get(f"/offers/{offer_id}").text)
        sent = _post(c, "/offers", f"/offers/{offer_id}/status", {"status": "sent", "back": "/offers?status=sent"})
        assert sent.headers["location"] == "/offers?status=sent&done=offer"
        assert f'id="offer-{offer_id}"' in c.get(sent.headers["location"]).text
        assert f'id="offer-{offer_id}"' not in c.get("/offers?status=draft").text
        assert "not sent:" not in c.get(f"/offers/{offer_id}").text  # sent: the reason no longer applies
        again = _post(c, "/offers", f"/offers/{offer_id}/status", {"status": "draft"})
        bad_filter = c.get("/offers?status=settled")
    assert again.status_code == 409 and f"Offer {offer_id} is sent; it can become" in again.text
    assert bad_filter.status_code == 422 and "status must be one of draft, sent" in bad_filter.text
    with signed_in(fresh_portal, "bob") as bob:
        assert _post(bob, "/offers", f"/offers/{offer_id}/status", {"status": "declined"}).status_code == 404
        assert f"offer-{offer_id}" not in bob.get("/offers").text
    with fresh_portal.store() as store:
        assert store.offer(offer_id)["status"] == "sent" and ledger.verify(store) == []


def test_reports_download_as_html_and_pdf_for_the_owner_only(fresh_portal):
    match_id = fresh_portal.matches["alice"][0]
    with signed_in(fresh_portal, "alice") as c:
        html = c.get(f"/matches/{match_id}/report.html")
        pdf = c.get(f"/matches/{match_id}/report.pdf")
        other = c.get(f"/matches/{match_id}/report.docx")
    assert html.headers["content-disposition"] == f'attachment; filename="copyhound-match-{match_id}.html"'
    assert html.headers["content-type"].startswith("text/html") and "blog.example.com" in html.text
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert other.status_code == 404
    with signed_in(fresh_portal, "bob") as bob:
        assert bob.get(f"/matches/{match_id}/report.pdf").status_code == 404


def test_sites_group_matches_and_bulk_review_a_site(fresh_portal):
    with signed_in(fresh_portal, "alice") as c:
        sites = c.get("/sites").text
        assert "shop.example.net" in sites and "rockets.example.io" not in sites
        site = c.get("/sites/shop.example.net").text
        assert "Confirm all 1" in site
        r = _post(c, "/sites/shop.example.net", "/sites/shop.example.net/review", {"status": "confirmed",
                                                                                   "note": "shop banner"})
        assert r.headers["location"] == "/sites/shop.example.net?done=reviewed"
        after = c.get(r.headers["location"]).text
    assert "Confirm all" not in after and "confirmed" in after
    with fresh_portal.store() as store:
        match = store.match(fresh_portal.matches["alice"][1])
        assert (match["status"], match["note"]) == ("confirmed", "shop banner")
        entry = ledger.entries(store, [ledger.match_subject(match["id"])])[-1]
        assert entry["kind"] == "review" and "portal token" in entry["payload"]
    with signed_in(fresh_portal, "bob") as bob:
        assert bob.get("/sites/shop.example.net").status_code == 404
        assert _post(bob, "/sites", "/sites/shop.example.net/review", {"status": "rejected"}).status_code == 303
    with fresh_portal.store() as store:
        assert store.match(fresh_portal.matches["alice"][1])["status"] == "confirmed"  # bob reviewed none of it


def test_authorising_a_domain_marks_its_unreviewed_matches(fresh_portal):
    match_id = fresh_portal.matches["alice"][2]  # on news.example.org
    with signed_in(fresh_portal, "alice") as c:
        r = _post(c, "/sites", "/authorize", {"pattern": "news.example.org", "note": "licence 42"})
        assert r.headers["location"] == "/sites?done=authorized"
        page = c.get(r.headers["location"]).text
        bad = _post(c, "/sites", "/authorize", {"pattern": "javascript:alert(1)"})
    assert "news.example.org" in page and "licence 42" in page and "Licensed use saved" in page
    assert bad.status_code == 422 and "A licensed use is a domain like example.com" in bad.text
    with fresh_portal.store() as store:
        assert store.match(match_id)["status"] == "authorized"
    with signed_in(fresh_portal, "bob") as bob:
        assert "news.example.org" not in bob.get("/sites").text


def test_lists_page_with_their_filters_in_the_links(fresh_portal):
    with signed_in(fresh_portal, "admin") as c:
        first = c.get("/sites?limit=2").text
        second = c.get("/sites?limit=2&offset=2").text
    on_first, on_second = (re.findall(r'href="/sites/([^"]+)"', html) for html in (first, second))
    assert len(on_first) == 2 and on_second and not set(on_first) & set(on_second)
    assert 'href="?offset=2&amp;limit=2" rel="next"' in first


def test_dashboard_draws_accessible_charts_without_script(fresh_portal):
    with signed_in(fresh_portal, "alice") as c:
        html = c.get("/").text
    charts = re.findall(r'<svg viewBox="[^"]+" role="img" aria-labelledby="([^"]+)"', html)
    # the charts need no script: the only one is the optional labeller of phone cards, from the site itself
    assert len(charts) == 4 and re.findall(r"<script[^>]*>", html) == ['<script src="/static/cards.js" defer>']
    for ids in charts:
        for part in ids.split():
            assert f'id="{part}"' in html
    assert "Matches found per week" in html and "Top 8 sites by matches" in html
    assert "Licensing offers by status" in html
    assert "<th scope=\"row\">blog.example.com</th>" in html  # the numbers as a table too
    assert "rockets.example.io" not in html


def test_dashboard_charts_copies_removed_against_still_up(fresh_portal):
    removed = fresh_portal.matches["alice"][0]
    with fresh_portal.store() as store:
        host = store.match(removed)["page_url"].split("/")[2]
        total = len(store.matches("matches.owner_id = ?", [store.owner_by_name("alice")["id"]]))
        store.set_match_presence(removed, presence="removed", presence_at="2025-05-01T00:00:00Z",
                                 presence_detail="the page answered HTTP 404", removed_at="2025-05-01T00:00:00Z")
    with signed_in(fresh_portal, "alice") as c:
        html = c.get("/").text
    figure = html[html.index('<figure class="chart" id="chart-presence">'):]
    figure = figure[:figure.index("</figure>")]
    assert "<title id=\"chart-presence-title\">Copies removed vs still up</title>" in figure
    rows = dict(re.findall(r'<tr><th scope="row">([^<]+)</th>((?:<td>[^<]*</td>)+)</tr>', figure))
    assert re.findall(r"<td>([^<]*)</td>", rows["all sites"]) == \
        [str(total - 1), "0", "0", "1", f"{total} (" + f"{round(100 / total)}% removed)"]
    assert re.findall(r"<td>([^<]*)</td>", rows[host])[3] == "1"  # its site's bar shows it removed too
    assert "rockets.example.io" not in figure  # bob's sites stay his


def test_match_page_has_keyboard_shortcuts_and_a_next_link(fresh_portal):
    first = fresh_portal.matches["alice"][0]
    with signed_in(fresh_portal, "alice") as c:
        html = c.get(f"/matches/{first}").text
    for key in ("c", "r", "a"):
        assert f'data-shortcut="{key}" aria-keyshortcuts="{key.upper()}"' in html
    assert re.search(r'<a href="/matches/(\d+)" id="next" data-shortcut="n"', html)
    assert '<script src="/static/shortcuts.js" defer></script>' in html


@pytest.mark.parametrize("path", ["/profile", "/notices", "/offers", "/sites", "/sites/example.com"])
def test_new_pages_need_a_session(fresh_portal, path):
    import httpx

    with httpx.Client(base_url=fresh_portal.url) as c:
        assert c.get(path).status_code == 303
