"""The portal and the offer documents as a newcomer sees them, in headless Chromium at 1280 and 375 px:
styled despite the CSP, and never wider than the phone's screen. Screenshots go to the test's tmp_path, as JPEG:
encoding full pages as PNG was a third of the browser's CPU, and a person looking at them needs no lossless copy."""

from __future__ import annotations

import json
import re
from contextlib import closing

import pytest
from support import invoke_cli

from detector.evidence.notices import make_notice
from detector.evidence.review import review_match
from detector.licensing import settlement
from detector.workspace.store import Store

WIDTHS = (1280, 375)
SHOT = {"type": "jpeg", "quality": 70}


@pytest.fixture(scope="module")
def accepted(fresh_portal):
    """An offer for alice's first match, sent and accepted at a counter of EUR 120 (asked: its list price);
    the match confirmed, with a DMCA notice (so that every kind of page has something to show)."""
    portal = fresh_portal
    with closing(Store(portal.ws.db_path)) as store:
        sent = settlement.send_offer(portal.ws, store, portal.settings, portal.matches["alice"][0])
        visitor = settlement.Visitor("Rita Reader", "", "rita@shop.example")
        settlement.accept(store, portal.settings, sent.offer["id"], visitor, price_minor=12000)
        review_match(store, portal.matches["alice"][0], "confirmed")
        make_notice(portal.ws, store, portal.settings, portal.matches["alice"][0], "dmca")
    return portal, sent


def _open(browser, url: str, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    return context, page, errors


@pytest.mark.parametrize("document", ["invoice", "certificate"])
@pytest.mark.slow
def test_invoice_and_certificate_are_styled_under_the_csp_and_fit_a_phone(browser, accepted, document, tmp_path):
    portal, sent = accepted
    for width in WIDTHS:
        context, page, errors = _open(browser, f"{portal.url}/o/{sent.token}/{document}", width)
        assert errors == [], errors  # no stylesheet refused by the Content-Security-Policy
        assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"  # its own styles apply
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(tmp_path / f"{document}-{width}.jpg"), full_page=True, **SHOT)
        context.close()


def test_offers_show_asked_agreed_and_paid_and_await_payment_until_paid(accepted):
    from web_session import signed_in

    portal, sent = accepted
    offer_id = sent.offer["id"]
    asked = f"EUR {sent.offer['amount']}"
    (row,) = [r for r in json.loads(invoke_cli("offers", "--format", "json", home=portal.ws.home).stdout)
              if r["id"] == offer_id]
    assert (row["asked"], row["agreed"], row["paid"], row["status"]) == (asked, "EUR 120.00", "", "accepted")
    table = invoke_cli("offers", home=portal.ws.home, env={"COLUMNS": "100"}).stdout
    assert "EUR 120.00" in table and "agreed" in table
    with signed_in(portal, "alice") as client:
        listed = client.get("/offers").text
    one = listed[listed.index(f'id="offer-{offer_id}"'):].split("</tr>")[0]
    assert asked in one and "EUR 120.00" in one and "awaiting payment" in one and "final" not in one
    # the site's case says the same, in the portal and the CLI
    with signed_in(portal, "alice") as client:
        case = client.get("/sites/blog.example.com").text
    listed = case[case.index(f'id="case-offer-{offer_id}"'):].split("</li>")[0]
    assert f"asked {asked}, agreed EUR 120.00, accepted" in re.sub(r"<[^>]+>", "", listed)
    (shown,) = [o for o in json.loads(invoke_cli("cases", "--site", "blog.example.com", "--format", "json",
                                              home=portal.ws.home).stdout)[0]["offers"] if o["id"] == offer_id]
    assert (shown["asked"], shown["agreed"], shown["paid"]) == (asked, "EUR 120.00", "")
    table = invoke_cli("cases", "--site", "blog.example.com", home=portal.ws.home, env={"COLUMNS": "80"}).stdout
    assert "agreed" in table and "EUR 120.00" in table

    with closing(Store(portal.ws.db_path)) as store:
        settlement.record_payment(store, portal.settings, offer_id, 12000)
    (row,) = [r for r in json.loads(invoke_cli("offers", "--format", "json", home=portal.ws.home).stdout)
              if r["id"] == offer_id]
    assert (row["agreed"], row["paid"], row["status"]) == ("EUR 120.00", "EUR 120.00", "paid")
    with signed_in(portal, "alice") as client:
        listed = client.get("/offers").text
    one = listed[listed.index(f'id="offer-{offer_id}"'):].split("</tr>")[0]
    assert "awaiting payment" not in one and "final" in one


def test_the_offer_page_settles_in_one_form_asking_who_you_are_once(browser, fresh_portal, tmp_path):
    portal = fresh_portal
    with closing(Store(portal.ws.db_path)) as store:
        sent = settlement.send_offer(portal.ws, store, portal.settings, portal.matches["alice"][1])
    url = f"{portal.url}/o/{sent.token}"
    for width in WIDTHS:
        context, page, errors = _open(browser, url, width)
        assert page.locator("form:has(input[name=name])").count() == 1
        assert page.locator("input[name=name]").count() == 1 and page.locator("input[name=email]").count() == 1
        email, accept, amount = (page.locator(s).bounding_box() for s in (
            "input[name=email]", "button:has-text('Accept for')", "input[name=amount]"))
        assert email["y"] < accept["y"] < amount["y"]  # accept follows the fields, the counter-offer comes after
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(tmp_path / f"offer-page-{width}.jpg"), full_page=True, **SHOT)
        assert errors == []
        context.close()
    context, page, _ = _open(browser, url, 375)
    page.get_by_label("Your name").fill("Sam Shop")
    page.get_by_label("Email").fill("sam@shop.example")
    page.get_by_role("button", name="Accept for").click()
    page.wait_for_url(url)
    assert page.locator("#offer-status").inner_text() == "accepted"
    context.close()


def _pages(portal, sent) -> dict[str, int]:
    """Every page of the portal (an example of each kind) and the status it answers with; the redirects of
    /cases are followed to the page they show."""
    match_id, asset_id = portal.matches["alice"][0], portal.assets["alice"][0]
    with closing(Store(portal.ws.db_path)) as store:
        (notice,) = store.notices([match_id])
    pages = ["/", "/matches", f"/matches/{match_id}", "/assets", f"/assets/{asset_id}", "/notices",
             f"/notices/{notice['id']}", "/offers", f"/offers/{sent.offer['id']}", "/sites", "/sites/blog.example.com",
             "/cases", "/cases/blog.example.com", "/compliance", "/rules", "/profile", "/upload",
             f"/o/{sent.token}", f"/o/{sent.token}/invoice", f"/o/{sent.token}/certificate"]
    return dict.fromkeys(pages, 200) | {"/matches/999999": 404}  # the error page too


def _shot_name(path: str, width: int) -> str:
    return f"{re.sub(r'[^A-Za-z0-9]+', '-', path).strip('-') or 'dashboard'}-{width}.jpg"


@pytest.mark.slow
def test_every_portal_page_fits_a_phone_and_a_desktop(browser, accepted, tmp_path):
    portal, sent = accepted
    too_wide = []
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(f"{portal.url}/signin")
        page.screenshot(path=str(tmp_path / _shot_name("/signin", width)), full_page=True, **SHOT)
        if page.evaluate("document.documentElement.scrollWidth") > width:
            too_wide.append(f"/signin at {width}px")
        page.get_by_label("API token").fill(portal.tokens["alice"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r".*/(matches)?$"))
        for path, status in _pages(portal, sent).items():
            assert page.goto(f"{portal.url}{path}").status == status, path
            page.screenshot(path=str(tmp_path / _shot_name(path.replace(sent.token, "link"), width)), full_page=True, **SHOT)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            if scroll > width:
                too_wide.append(f"{path} at {width}px: {scroll}px wide")
            sideways = page.evaluate("Array.from(document.querySelectorAll('.scroll, table'))"
                                     ".filter(e => e.scrollWidth > e.clientWidth + 1).length")
            if width < 640 and sideways:  # on a phone, tables are cards: nothing scrolls sideways
                too_wide.append(f"{path} at {width}px: {sideways} table(s) scroll sideways")
        context.close()
    assert too_wide == []
    shots = {p.name for p in tmp_path.glob("*.jpg")}
    assert len(shots) == 2 * (len(_pages(portal, sent)) + 1), sorted(shots)  # every page at both widths
    # on a phone each value of a card is named by its column
    context = browser.new_context(viewport={"width": 375, "height": 900})
    page = context.new_page()
    page.goto(f"{portal.url}/signin")
    page.get_by_label("API token").fill(portal.tokens["alice"])
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{portal.url}/offers")
    labels = page.evaluate("Array.from(document.querySelectorAll('table.offers td')).map(td => td.dataset.label)")
    assert {"Asked", "Agreed", "Paid", "Status"} <= set(labels)
    context.close()


CHART_TEXT = """() => Array.from(document.querySelectorAll("figure.chart svg")).flatMap(svg => {
  const box = svg.getBoundingClientRect(), scale = box.width / svg.viewBox.baseVal.width;
  return Array.from(svg.querySelectorAll("text")).map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale,
            inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5 &&
                    r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5};
  });
})"""


def test_dashboard_charts_are_readable_unclipped_and_every_series_has_a_swatch(browser, accepted, tmp_path):
    portal, _ = accepted
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{portal.url}/signin")
    page.get_by_label("API token").fill(portal.tokens["alice"])
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{portal.url}/")
    texts = page.evaluate(CHART_TEXT)
    assert texts and min(t["px"] for t in texts) >= 11, sorted(texts, key=lambda t: t["px"])[:3]
    assert [t["text"] for t in texts if not t["inside"]] == []
    swatches = page.evaluate("Array.from(document.querySelectorAll('figure.chart .swatch'))"
                             ".map(s => [s.parentElement.textContent.trim(), getComputedStyle(s).backgroundColor])")
    assert swatches and [name for name, colour in swatches if colour in ("rgba(0, 0, 0, 0)", "transparent")] == []
    page.screenshot(path=str(tmp_path / "dashboard-1280.jpg"), full_page=True, **SHOT)
    context.close()
