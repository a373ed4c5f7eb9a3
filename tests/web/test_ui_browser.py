"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): sign in,
filter the matches, open one, confirm it, download its evidence bundle and verify it.

Also screenshots the match page; the README's copy (docs/img/match-page.png) is written when it is
missing or when COPYHOUND_UPDATE_SCREENSHOT=1, so ordinary test runs leave the working tree clean.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from detector.evidence.bundle_check import verify_bundle

pytestmark = pytest.mark.slow  # a long end-to-end test: `make test-fast` leaves it out

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "match-page.png"


def test_sign_in_filter_open_confirm_and_download_the_bundle(portal, browser, tmp_path):
    from playwright.sync_api import expect

    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    page.goto(f"{portal.url}/matches")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fmatches$"))
    page.get_by_label("API token").fill(portal.tokens["alice"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{portal.url}/matches")
    expect(page.locator("table.matches tbody tr")).to_have_count(len(portal.matches["alice"]))

    page.get_by_label("Domain").fill("example.net")
    page.get_by_label("Status").select_option("new")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"domain=example\.net"))
    rows = page.locator("table.matches tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("shop.example.net/sale")

    rows.first.get_by_role("link", name=re.compile(r"^#\d+$")).click()
    match_id = portal.matches["alice"][1]
    expect(page).to_have_url(f"{portal.url}/matches/{match_id}")
    expect(page.locator("#status")).to_have_text("new")
    expect(page.locator("polygon.region")).to_have_count(1)  # the matched region is drawn on the copy

    page.get_by_label("Note").fill("banner on a shop page, not licensed")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#status")).to_have_text("confirmed")
    expect(page.get_by_role("status")).to_contain_text("Review saved")
    expect(page.locator("table.ledger")).to_contain_text("confirmed")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download evidence bundle").click()
    download = info.value
    assert download.suggested_filename == f"copyhound-match-{match_id}.zip"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    check = verify_bundle(saved)
    assert check.ok, check.problems

    # Every image on the page loaded (the CSP allows them) and nothing was blocked.
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert errors == []
    with portal.store() as store:
        assert store.match(match_id)["status"] == "confirmed"

    page.reload()
    shot = tmp_path / "match-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("COPYHOUND_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    context.close()
