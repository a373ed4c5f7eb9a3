"""The owner's enforcement rules and pricing in headless Chromium: a rule added through its dry-run
preview, moved and deleted; pricing set on the profile page; the site page shows its case."""

from __future__ import annotations

import pytest
from test_casework_browser import _sign_in

pytestmark = pytest.mark.slow  # a long end-to-end test: `make test-fast` leaves it out


def test_a_rule_is_previewed_saved_moved_and_deleted_in_the_browser(fresh_portal, browser):
    from playwright.sync_api import expect

    context, page, problems = _sign_in(browser, fresh_portal, "alice")
    page.get_by_role("link", name="Rules").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enforcement rules of alice")
    for name, action in (("look-first", "review"), ("ignore-rest", "ignore")):
        page.get_by_label("Name").fill(name)
        page.get_by_label("Action").select_option(action)
        page.get_by_role("button", name="Preview").click()
        expect(page.get_by_role("heading", name=f"Before you save: add rule '{name}'")).to_be_visible()
        expect(page.locator("table.dry-run tbody tr").first).to_contain_text("no rule" if name == "look-first"
                                                                            else "look-first: review")
        page.get_by_role("button", name=f"Save: add rule '{name}'").click()
        expect(page.get_by_role("status")).to_contain_text("Rules saved and entered in the ledger")
    expect(page.locator("table.rules tbody tr td:nth-child(2)")).to_have_text(["look-first", "ignore-rest"])

    page.locator("table.rules tbody tr").nth(1).get_by_role("button", name="Move up").click()
    page.get_by_role("button", name="Save: move up rule 'ignore-rest'").click()
    expect(page.locator("table.rules tbody tr td:nth-child(2)")).to_have_text(["ignore-rest", "look-first"])

    page.locator("table.rules tbody tr").nth(0).get_by_role("button", name="Delete").click()
    expect(page.locator("table.dry-run")).to_contain_text("look-first: review")
    page.get_by_role("button", name="Save: delete rule 'ignore-rest'").click()
    expect(page.locator("table.rules tbody tr td:nth-child(2)")).to_have_text(["look-first"])
    assert problems == []

    page.get_by_label("Name").fill("bad")  # refused with a 422, the typed value kept
    page.get_by_label("Minimum score").fill("very")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("alert")).to_contain_text("min_score: 'very' is not a number")
    expect(page.get_by_label("Minimum score")).to_have_value("very")
    context.close()


def test_pricing_is_set_on_the_profile_page_in_the_browser(fresh_portal, browser):
    from playwright.sync_api import expect

    context, page, problems = _sign_in(browser, fresh_portal, "bob")
    page.goto(f"{fresh_portal.url}/profile")
    page.get_by_label("currency").fill("CHF")
    page.get_by_role("button", name="Save pricing").click()
    expect(page.get_by_role("status")).to_contain_text("Pricing saved")
    expect(page.get_by_label("currency")).to_have_value("CHF")

    page.goto(f"{fresh_portal.url}/cases")  # the old case URL leads to the one site list
    expect(page).to_have_url(f"{fresh_portal.url}/sites")
    page.get_by_role("link", name="rockets.example.io").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Case: rockets.example.io")
    expect(page.get_by_role("heading", name="Outcome per copy")).to_be_visible()
    assert problems == []
    context.close()
