"""Recipients from the site's own contact page: a local site whose home page links to its imprint."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from enforcement_servers import NETWORK_ABUSE, WebServer
from evidence_case import build_env

from detector import config
from detector.enforcement import recipients

T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)

HOME = b"""<!doctype html><html><body>
<nav><a href="/shop">Shop</a> <a href="/about">About us</a> <a href="impressum#top">Impressum</a>
<a href="http://evil.example/contact">Contact elsewhere</a> <a href="/help">Contact</a></nav>
<p>Write to <a href="mailto:home@site.example">us</a></p></body></html>"""
IMPRINT = b"""<html><body><h1>Impressum</h1>
<p>Rights: <a href="mailto:Legal%40site.example?subject=Hello">legal desk</a>,
<a href="mailto:not an address">broken</a>, <a href="mailto:legal@site.example">again</a></p></body></html>"""
HELP = b"<p>No address here, <a href='/'>home</a>.</p>"


def _settings(site: WebServer, **recipient) -> config.Settings:
    return config.from_dict({"recipients": {"rdap_ip_url": site.url, "rdap_domain_url": site.url,
                                            "allow_private": True, "security_txt": False, **recipient}})


def _lookup(tmp_path, site: WebServer, **recipient) -> recipients.Lookup:
    env = build_env(tmp_path, settings=_settings(site, **recipient))
    page = f"http://localhost:{site.server.server_address[1]}/products/mug"
    return recipients.lookup(env.store, env.settings.recipients, page, T0)


def test_addresses_come_from_the_contact_pages_linked_from_the_home_page(tmp_path):
    with WebServer(files={"/": HOME, "/impressum": IMPRINT, "/help": HELP}) as site:
        found = _lookup(tmp_path, site)
    origin = f"http://localhost:{site.server.server_address[1]}"
    assert [(c.source, c.address, c.detail) for c in found.contacts()] == [
        ("rdap_ip", NETWORK_ABUSE, found.contacts()[0].detail),
        ("contact_page", "Legal@site.example", f"{origin}/impressum (linked from {origin}/)"),
        ("contact_page", "legal@site.example", f"{origin}/impressum (linked from {origin}/)")]
    assert found.best("offer").address == "Legal@site.example" and found.best("notice").address == NETWORK_ABUSE
    # Only the links that say contact, imprint or legal, on the site itself; the home page's own mailto is not one.
    assert "/impressum" in site.requests and "/help" in site.requests
    assert "/about" not in site.requests and "/shop" not in site.requests


def test_a_site_without_a_contact_page_says_why_and_private_sites_are_not_read(tmp_path):
    with WebServer(files={"/": b"<p>Just a <a href='/shop'>shop</a></p>"}) as site:
        found = _lookup(tmp_path / "none", site)
    (row,) = [r for r in found.rows if r.source == "contact_page"]
    assert row.address == "" and row.detail.endswith("/ links to no contact, imprint or legal page")

    with WebServer(files={"/": HOME, "/impressum": b"<p>gone</p>", "/help": HELP}) as site:
        found = _lookup(tmp_path / "empty", site)
    (row,) = [r for r in found.rows if r.source == "contact_page"]
    assert row.address == "" and "/impressum has no mailto: link" in row.detail and "/help has no mailto" in row.detail

    with WebServer(files={"/": HOME, "/impressum": IMPRINT}) as site:
        env = build_env(tmp_path / "strict", settings=_settings(site))
        strict = replace(env.settings.recipients, allow_private=False)
        found = recipients.lookup(env.store, strict, f"http://127.0.0.1:{site.server.server_address[1]}/p", T0)
        assert "/" not in site.requests and "/impressum" not in site.requests
    (row,) = [r for r in found.rows if r.source == "contact_page"]
    assert row.address == "" and "is not a public address (recipients.allow_private)" in row.detail


def test_contact_pages_can_be_left_unread(tmp_path):
    with WebServer(files={"/": HOME, "/impressum": IMPRINT}) as site:
        found = _lookup(tmp_path, site, contact_page=False)
        assert "/" not in site.requests
    assert [r.source for r in found.rows if r.source == "contact_page"] == []
