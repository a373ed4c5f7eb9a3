"""The pages over plain HTTP: sign-in, sessions, CSRF, escaping and isolation (the browser test
covers the happy path in Chromium)."""

from __future__ import annotations

import httpx
from web_session import csrf as _csrf
from web_session import signed_in as _signed_in


def test_pages_redirect_to_sign_in_and_back(portal):
    with httpx.Client(base_url=portal.url) as c:
        r = c.get("/matches?status=new")
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=%2Fmatches%3Fstatus%3Dnew"


def test_session_cookie_is_httponly_and_samesite(portal):
    with httpx.Client(base_url=portal.url) as c:
        r = c.get("/signin")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_sign_in_with_a_wrong_or_revoked_token_is_refused(portal):
    with httpx.Client(base_url=portal.url) as c:
        csrf = _csrf(c.get("/signin").text)
        wrong = c.post("/signin", data={"token": "chp_nope", "csrf": csrf})
        revoked = c.post("/signin", data={"token": portal.tokens["revoked"], "csrf": csrf})
        still_out = c.get("/")
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    assert revoked.status_code == 401
    assert still_out.status_code == 303


def test_sign_in_without_the_forms_csrf_token_is_refused(portal):
    with httpx.Client(base_url=portal.url) as c:
        c.get("/signin")
        r = c.post("/signin", data={"token": portal.tokens["alice"], "csrf": "forged"})
    assert r.status_code == 403 and "CSRF token" in r.text


def test_posts_without_csrf_token_change_nothing(portal):
    match_id = portal.matches["alice"][0]
    with _signed_in(portal, "alice") as c:
        before = c.get(f"/matches/{match_id}").text
        r = c.post(f"/matches/{match_id}/review", data={"status": "authorized"})
        after = c.get(f"/matches/{match_id}").text
    assert r.status_code == 403
    assert 'id="status">authorized' not in after
    assert before.count("review</td>") == after.count("review</td>")


def test_web_strings_are_escaped(portal):
    match_id = portal.matches["alice"][2]
    with _signed_in(portal, "alice") as c:
        html = c.get(f"/matches/{match_id}").text
    assert "<script>alert" not in html and "<b>Coffee</b>" not in html
    found_by = html.split('id="found-by">')[1].split("</td>")[0]  # how the copy was found, escaped
    assert "feed https://blog.example/rss" in found_by and "&lt;img src=x onerror=alert(1)&gt;" in found_by
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&lt;b&gt;Coffee&lt;/b&gt;" in html
    assert portal.hostile_title.startswith("<script>")


def test_other_owners_pages_and_images_are_404(portal):
    bobs_match, bobs_asset = portal.matches["bob"][0], portal.assets["bob"][0]
    with _signed_in(portal, "alice") as c:
        for path in (f"/matches/{bobs_match}", f"/assets/{bobs_asset}", f"/img/match/{bobs_match}/thumb",
                     f"/img/asset/{bobs_asset}/view"):
            r = c.get(path)
            assert r.status_code == 404, path
            assert "rockets.example.io" not in r.text
        listing = c.get("/matches").text
    assert "rockets.example.io" not in listing and "/matches/1" in listing


def test_bad_filter_on_the_page_is_422_with_the_message(portal):
    with _signed_in(portal, "alice") as c:
        r = c.get("/matches", params={"min_score": "lots"})
    assert r.status_code == 422
    assert "min_score must be a number like 0.8, got &#39;lots&#39;." in r.text


def test_upload_page_refuses_a_non_image_with_the_reason(portal):
    with _signed_in(portal, "alice") as c:
        csrf = _csrf(c.get("/upload").text)
        r = c.post("/upload", data={"csrf": csrf}, files={"file": ("cat.jpg", b"%PDF-1.7 not a picture")})
    assert r.status_code == 415
    assert "a PDF document" in r.text


def test_sign_out_ends_the_session(portal):
    with _signed_in(portal, "bob") as c:
        csrf = _csrf(c.get("/").text)
        r = c.post("/signout", data={"csrf": csrf})
        after = c.get("/")
    assert r.status_code == 303 and after.status_code == 303


def test_every_page_renders_for_its_owner(portal):
    astronaut = portal.assets["alice"][0]
    with _signed_in(portal, "alice") as c:
        dashboard = c.get("/")
        works = c.get("/assets")
        work = c.get(f"/assets/{astronaut}")
        upload = c.get("/upload")
        thumb = c.get(f"/img/asset/{astronaut}/thumb")
    assert dashboard.status_code == 200 and "Latest scan" in dashboard.text and "Scan #1: finished" in dashboard.text
    assert works.status_code == 200 and "3 works" in works.text
    assert work.status_code == 200 and "Sightings (2)" in work.text and "blog.example.com" in work.text
    assert upload.status_code == 200 and 'enctype="multipart/form-data"' in upload.text
    assert thumb.headers["content-type"] == "image/jpeg" and thumb.content[:3] == b"\xff\xd8\xff"


def test_lists_show_relative_times_with_the_exact_time_at_hand(portal):
    import re

    with portal.store() as store:
        seen = {m["id"]: m["last_seen"] for m in store.matches("owners.name = ?", ["alice"])}
    with _signed_in(portal, "alice") as c:
        listed = c.get("/matches").text
    times = re.findall(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', listed)
    assert sorted(t[0] for t in times) == sorted(seen.values())  # every row's last sighting, ISO in datetime
    for iso, title, shown in times:
        assert title == f"{iso[:10]} {iso[11:16]} UTC"  # the exact time in the tooltip
        assert re.fullmatch(r"just now|\d+ (min|h) ago", shown), shown  # found minutes ago: relative


def test_the_match_page_gives_its_first_and_last_sighting_as_relative_times(portal):
    import re

    with portal.store() as store:
        match = store.matches("owners.name = ?", ["alice"])[0]
    with _signed_in(portal, "alice") as c:
        page = c.get(f"/matches/{match['id']}").text
    shown = dict(re.findall(r'<time datetime="([^"]+)" title="[^"]+">([^<]+)</time>', page))
    assert match["first_seen"] in shown and match["last_seen"] in shown
    assert all(re.fullmatch(r"just now|\d+ (min|h) ago", text) for text in shown.values()), shown
