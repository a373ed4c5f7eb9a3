"""The page as it was seen, in the portal: the match page's Screenshot button takes a real one
(Debian's Chromium, the page served on 127.0.0.1 by a target that allows private addresses), the
page shows it, and its image route serves it to its owner only."""

from __future__ import annotations

import hashlib
import io
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from PIL import Image
from support import serving
from web_session import csrf, signed_in

from detector import config, demo_site, tokens
from detector.detect import Detector
from detector.provenance import ledger, signing
from detector.register import WorkInfo, register_files
from detector.web import create_app
from detector.workspace import Workspace, create_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")

HOSTILE = '<script>alert(1)</script>'


@dataclass
class SitePortal:
    url: str
    ws: Workspace
    tokens: dict[str, str]
    matches: dict[str, int]


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


@pytest.fixture(scope="module")
def site_portal(tmp_path_factory):
    """Alice's and Bob's works, each copied onto a page of a loopback site; the target that found
    Alice's ('shop') allows private addresses, Bob's ('elsewhere') does not."""
    tmp = tmp_path_factory.mktemp("screenshot-portal")
    root = tmp / "site"
    root.mkdir()
    server, base = demo_site.serve(root)
    settings = replace(config.Settings().with_embedder("none"),
                       targets=(config.Target(name="shop", start_urls=(base,), allow_private=True),))
    ws, _ = create_workspace(tmp / "ws", settings)
    signing.ensure_keypair(ws)
    store = Store(ws.db_path)
    blobs = BlobStore(ws.blobs_dir)
    scan_id = store.start_scan({"targets": ["shop", "elsewhere"]})
    for owner, work, target in (("alice", "astronaut.jpg", "shop"), ("bob", "rocket.jpg", "elsewhere")):
        [outcome] = register_files(ws, store, settings, None, [demo_site.WORKS_DIR / work], WorkInfo(owner))
        assert outcome.status == "registered"
        copy = _jpeg(demo_site.recompressed(Image.open(demo_site.WORKS_DIR / work).convert("RGB")))
        (root / f"{owner}.jpg").write_bytes(copy)
        (root / f"{owner}.html").write_text(f"<!doctype html><title>{HOSTILE}</title><img src='{owner}.jpg'>",
                                            encoding="utf-8")
        store.add_candidate({
            "scan_id": scan_id, "target": target, "page_url": f"{base}{owner}.html", "page_title": HOSTILE,
            "image_url": f"{base}{owner}.jpg", "discovered_at": utc_now(), "fetched_at": utc_now(),
            "http_status": 200, "sha256": blobs.put(copy), "byte_size": len(copy), "sniffed_format": "jpeg"})
    Detector(ws, store, settings, None).run()
    matches = {owner: store.matches("owners.name = ?", [owner])[0]["id"] for owner in ("alice", "bob")}
    minted = {owner: tokens.create_token(store, owner, label=owner)[1] for owner in ("alice", "bob")}
    store.close()
    try:
        with serving(create_app(ws, settings)) as url:
            yield SitePortal(url, ws, minted, matches)
    finally:
        server.shutdown()


@pytest.mark.slow
def test_the_screenshot_button_takes_one_and_the_match_page_shows_it(site_portal):
    match_id = site_portal.matches["alice"]
    with signed_in(site_portal, "alice") as client:
        before = client.get(f"/matches/{match_id}")
        assert "No screenshot of this page yet." in before.text and 'id="take-screenshot"' in before.text
        assert client.get(f"/matches/{match_id}/screenshot.png").status_code == 404
        taken = client.post(f"/matches/{match_id}/screenshot", data={"csrf": csrf(before.text)})
        assert taken.status_code == 303 and taken.headers["location"] == f"/matches/{match_id}?done=screenshot"
        page = client.get(taken.headers["location"])
        png = client.get(f"/matches/{match_id}/screenshot.png")
    with closing(Store(site_portal.ws.db_path)) as store:
        shot = store.latest_screenshot(match_id)
        entry = ledger.entries(store, [ledger.match_subject(match_id)])[-1]
    assert shot["status"] == "taken" and entry["kind"] == "screenshot"
    assert "Screenshot of the page taken" in page.text
    assert f'<img src="/matches/{match_id}/screenshot.png"' in page.text
    for shown in (shot["taken_at"], shot["sha256"], f"{shot['viewport_width']}×{shot['viewport_height']} CSS px"):
        assert shown in page.text, shown
    assert HOSTILE not in page.text  # the page's own title never comes through as markup
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert hashlib.sha256(png.content).hexdigest() == shot["sha256"]
    assert Image.open(io.BytesIO(png.content)).size == (shot["width"], shot["height"])


def test_another_owner_cannot_see_or_take_a_screenshot_and_forms_need_the_csrf_token(site_portal):
    alice_match = site_portal.matches["alice"]
    with signed_in(site_portal, "bob") as client:
        own = client.get(f"/matches/{site_portal.matches['bob']}")
        assert client.get(f"/matches/{alice_match}/screenshot.png").status_code == 404
        refused = client.post(f"/matches/{alice_match}/screenshot", data={"csrf": csrf(own.text)})
        assert refused.status_code == 404
        forged = client.post(f"/matches/{site_portal.matches['bob']}/screenshot", data={"csrf": "forged"})
        assert forged.status_code == 403
    assert httpx.get(f"{site_portal.url}/matches/{alice_match}/screenshot.png").status_code in (303, 401)


def test_a_page_on_a_private_address_is_refused_unless_the_target_allows_it(site_portal):
    match_id = site_portal.matches["bob"]  # found by target 'elsewhere', which does not allow private addresses
    with signed_in(site_portal, "bob") as client:
        page = client.get(f"/matches/{match_id}")
        refused = client.post(f"/matches/{match_id}/screenshot", data={"csrf": csrf(page.text)})
    assert refused.status_code == 409
    assert f"No screenshot of match {match_id}&#39;s page was taken (private_address: " in refused.text
    assert "a loopback address; no screenshot taken" in refused.text
    with closing(Store(site_portal.ws.db_path)) as store:
        assert store.latest_screenshot(match_id) is None
