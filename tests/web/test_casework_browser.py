"""The casework pages in headless Chromium: from sign-in to a drafted notice and a sent offer with
no CLI step, bulk review of a site, authorising a domain, shortcuts, and every page at phone width."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow  # a long end-to-end test: `make test-fast` leaves it out

BOB_PROFILE = {"Legal name": "Bob Rockets GmbH", "Postal address": "2 Launch Road\nKourou",
               "Email": "bob@example.org", "Signature": "/s/ Bob", "Jurisdiction": "France"}


def _sign_in(browser, portal, who: str, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(f"{portal.url}/signin")
    page.get_by_label("API token").fill(portal.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{portal.url}/")
    return context, page, problems


def test_profile_then_notice_and_a_sent_offer_all_in_the_browser(fresh_portal, browser):
    from playwright.sync_api import expect

    match_id = fresh_portal.matches["bob"][0]
    context, page, problems = _sign_in(browser, fresh_portal, "bob")
    page.goto(f"{fresh_portal.url}/matches/{match_id}")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#status")).to_have_text("confirmed")
    page.get_by_role("link", name="complete your profile").click()
    for label, value in BOB_PROFILE.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Save profile").click()
    expect(page).to_have_url(f"{fresh_portal.url}/matches/{match_id}?done=profile")
    expect(page.get_by_role("status")).to_have_text("Profile saved.")

    page.get_by_label("notice kind").select_option("dmca")
    page.get_by_role("button", name="Generate notice").click()
    expect(page).to_have_url(re.compile(r"/notices/\d+$"))
    expect(page.locator("pre.document")).to_contain_text("Bob Rockets GmbH")
    expect(page.locator("pre.document")).to_contain_text("/s/ Bob")

    page.goto(f"{fresh_portal.url}/matches/{match_id}")
    page.get_by_role("button", name="Generate offer").click()
    expect(page).to_have_url(re.compile(r"/offers/\d+$"))
    offer_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("link", name="Offers").click()
    row = page.locator(f"#offer-{offer_id}")
    expect(row).to_contain_text("draft")
    row.get_by_role("button", name="Mark sent").click()
    expect(page.locator(f"#offer-{offer_id}")).to_contain_text("sent")
    expect(page.get_by_role("status")).to_contain_text("Offer status saved")
    page.get_by_label("Status").select_option("sent")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/offers\?status=sent"))
    expect(page.locator("table.offers tbody tr")).to_have_count(1)
    assert problems == []
    context.close()


def test_a_site_is_reviewed_in_bulk_and_a_domain_authorised(fresh_portal, browser):
    from playwright.sync_api import expect

    context, page, problems = _sign_in(browser, fresh_portal, "alice")
    page.get_by_role("link", name="Sites").click()
    page.get_by_role("link", name="blog.example.com").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Case: blog.example.com")
    page.get_by_role("button", name="Reject all 1").click()
    expect(page.get_by_role("status")).to_contain_text("Review saved")
    expect(page.locator("table.matches .badge")).to_have_text(["rejected"])

    page.goto(f"{fresh_portal.url}/sites")
    page.get_by_label("Domain or URL prefix").fill("www.example.com")
    page.get_by_label("Licence reference").fill("contract 9")
    page.get_by_role("button", name="Authorise").click()
    expect(page.get_by_role("status")).to_contain_text("Licensed use saved")
    expect(page.locator("ul.uses")).to_contain_text("www.example.com: contract 9")
    with fresh_portal.store() as store:
        assert store.match(fresh_portal.matches["alice"][3])["status"] == "authorized"
        assert store.match(fresh_portal.matches["alice"][0])["status"] == "rejected"
    assert problems == []
    context.close()


def test_access_keys_review_the_match_and_go_to_the_next(fresh_portal, browser):
    from playwright.sync_api import expect

    context, page, _ = _sign_in(browser, fresh_portal, "alice")
    match_id = fresh_portal.matches["alice"][1]
    page.goto(f"{fresh_portal.url}/matches/{match_id}")
    page.get_by_label("Note").press_sequentially("crc")  # keys typed into the note are text, not shortcuts
    expect(page.get_by_label("Note")).to_have_value("crc")
    expect(page.locator("#status")).to_have_text("new")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("c")
    expect(page.locator("#status")).to_have_text("confirmed")
    target = page.locator("#next").get_attribute("href")
    page.keyboard.press("n")
    expect(page).to_have_url(f"{fresh_portal.url}{target}")
    context.close()


def test_every_page_fits_a_phone(fresh_portal, browser):
    context, page, problems = _sign_in(browser, fresh_portal, "alice", viewport={"width": 375, "height": 740},
                                       is_mobile=True, has_touch=True)
    match_id = fresh_portal.matches["alice"][2]
    for path in ("/", "/matches", f"/matches/{match_id}", "/sites", "/sites/news.example.org", "/notices",
                 "/offers", "/profile", "/assets", "/upload", "/rules", "/compliance"):
        page.goto(f"{fresh_portal.url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a 375px phone"
    page.goto(f"{fresh_portal.url}/")
    charts = page.locator("figure.chart svg")
    assert charts.count() == 4
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert 0 < box["width"] <= 375 and box["height"] > 0
    assert problems == []
    context.close()
