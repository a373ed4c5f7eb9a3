"""The licence check before any claim, end to end: a loopback site whose pages credit their copies (a figcaption,
a credit line, a listed preview URL, a Creative Commons link) and one that does not, crawled and detected for
real; enforcement on a real SMTP server sends only what the rules and the holds allow. Then "not mine": the
same image, and a re-encoded one, is never flagged again for that work."""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from enforcement_servers import SmtpServer
from PIL import Image
from support import invoke_cli

from detector import config, demo_site
from detector.enforcement import credits, holds, licensed
from detector.enforcement.run import enforce
from detector.provenance import ledger
from detector.workspace import open_workspace
from detector.workspace.store import Store

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
#: page -> (work whose recompressed copy it shows, the page's body around the image `IMG`)
PAGES = {
    "figcaption": ("astronaut.jpg", ("<figure><img src='IMG' alt='launch'>"
                                    "<figcaption>Photo: J. Doe / Getty Images</figcaption></figure>")),
    "creditline": ("chelsea.jpg", ("<div class='post'><img src='IMG' alt='cat'><p class='byline'>Jane Doe for "
                                  "Example Weekly</p></div>")),
    "preview": ("coffee.jpg", "<p><img src='/previews/coffee-preview.jpg' alt='coffee'></p>"),
    "cc": ("rocket.jpg", "<p><a href='https://creativecommons.org/licenses/by/4.0/'><img src='IMG'></a></p>"),
    "uncredited": ("fruits.jpg", ("<main><figure><img src='IMG' alt='fruit'><figcaption>Our market</figcaption>"
                                 "</figure><p>Some text.</p></main><footer>Photos by Jane Doe</footer>")),
}


def _jpeg(work: str, quality: int = 80) -> bytes:
    out = io.BytesIO()
    Image.open(demo_site.WORKS_DIR / work).convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def build_site(root: Path) -> Path:
    (root / "img").mkdir(parents=True)
    (root / "previews").mkdir()
    links = []
    for slug, (work, body) in PAGES.items():
        image = "previews/coffee-preview.jpg" if slug == "preview" else f"img/{slug}.jpg"
        (root / image).write_bytes(_jpeg(work))
        (root / f"{slug}.html").write_text(f"<!doctype html><html><head><title>{slug}</title></head><body>"
                                           f"{body.replace('IMG', image)}</body></html>", encoding="utf-8")
        links.append(f"<a href='{slug}.html'>{slug}</a>")
    (root / "index.html").write_text(f"<html><body>{' '.join(links)}</body></html>", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def scanned_once(registered_template, tmp_path_factory):
    """A copy of the registered workspace where alice lists Getty Images, Jane Doe and the preview server, after
    a real crawl of the site, built once for the module; yields (home, base URL, the site's root, its server)."""
    folder = tmp_path_factory.mktemp("credits")
    home = shutil.copytree(registered_template, folder / "ws")
    root = build_site(folder / "site")
    server, base = demo_site.serve(root)
    try:
        store = Store(open_workspace(home).db_path)
        alice = store.owner_by_name("alice")
        store.update_owner(alice["id"], legal_name="Alice Example", email="alice@example.org",
                           address="1 Example Street", signature="/s/ Alice")
        licensed.add(store, alice, "agency", "getty images")
        licensed.add(store, alice, "photographer", "Jane Doe")
        licensed.add(store, alice, "url", f"{base}previews/")
        store.close()
        result = invoke_cli("scan", "--site", base, "--allow-private", "--format", "json", home=home)
        assert result.returncode == 0, result.stderr
        yield home, base, root, server
    finally:
        server.shutdown()


@pytest.fixture
def scanned(scanned_once, tmp_path):
    """Copies of the scanned workspace and of the site for this test to change, the module's server answering
    from the copy of the site at the same URLs; yields (home, base URL, the site's root)."""
    home, base, root, server = scanned_once
    site = shutil.copytree(root, tmp_path / "site")
    served = server.RequestHandlerClass
    server.RequestHandlerClass = partial(demo_site.QuietHandler, directory=str(site))
    try:
        yield shutil.copytree(home, tmp_path / "ws"), base, site
    finally:
        server.RequestHandlerClass = served


def _by_page(store: Store) -> dict[str, dict]:
    return {Path(m["page_url"]).stem: m for m in store.matches()}


@pytest.mark.slow  # a real crawl and scan (the module's)
def test_credited_copies_are_held_and_enforcement_sends_only_the_uncredited_offer(scanned):
    home, base, _ = scanned
    ws = open_workspace(home)
    store = Store(ws.db_path)
    matches = _by_page(store)
    assert set(matches) == set(PAGES), matches.keys()
    active = holds.active(store, [m["id"] for m in matches.values()])
    held = {slug for slug, m in matches.items() if m["id"] in active}
    assert held == {"figcaption", "creditline", "preview", "cc"}
    found = {slug: store.credit_checks([m["id"]])[m["id"]]["findings"] for slug, m in matches.items()}
    assert {"where": "figcaption", "text": "Photo: J. Doe / Getty Images",
            "credits": "Getty Images, a listed agency"} in found["figcaption"]
    assert {"where": "credit line", "text": "Jane Doe for Example Weekly",
            "credits": "Jane Doe, a listed photographer's name"} in found["creditline"]
    assert {"where": "image URL", "text": f"{base}previews/coffee-preview.jpg",
            "credits": f"a listed URL prefix ({base}previews/)"} in found["preview"]
    assert {"where": "link by the image", "text": "https://creativecommons.org/licenses/by/4.0/",
            "credits": "a licence (a Creative Commons licence link)"} in found["cc"]
    assert found["uncredited"] == []  # "Photos by Jane Doe" in the footer is not near the image
    assert all(h[0]["reason"] == "credited on the page" for h in active.values())
    entries = ledger.entries(store, [ledger.match_subject(matches["figcaption"]["id"])])
    assert [json.loads(e["payload"])["reason"] for e in entries if e["kind"] == "hold"] == ["credited on the page"]

    with SmtpServer() as smtp:
        (home / "smtp-password").write_text(SmtpServer.PASSWORD)
        settings = ws.settings()
        settings = replace(
            settings,
            smtp=replace(settings.smtp, host="127.0.0.1", port=smtp.port, starttls=False,
                         username=SmtpServer.USER, password_file="smtp-password"),
            recipients=replace(settings.recipients, overrides={"127.0.0.1": "legal@site.example"}),
            # an offer its recipient can open and pay, or enforce keeps it a draft
            licensing=replace(settings.licensing, public_url="https://portal.example",
                              payment_link="https://pay.example/{offer_id}"),
            enforcement=replace(settings.enforcement, rules=(
                config.PolicyRule(name="offer-uncredited", credit="none", action="offer"),
                config.PolicyRule(name="notice-the-rest", action="dmca"))))
        steps = {Path(store.match(s.match_id)["page_url"]).stem: s for s in enforce(ws, store, settings, NOW,
                                                                                      dry_run=False)}
        assert (steps["uncredited"].rule, steps["uncredited"].held) == ("offer-uncredited", None)
        assert steps["uncredited"].why == ["no credit found"]
        for slug in ("figcaption", "creditline", "preview", "cc"):
            assert steps[slug].rule == "notice-the-rest", slug  # a credited copy never fits credit = "none"
            assert steps[slug].held.startswith("held for review: credited on the page: "), steps[slug].held
        ((_, to, message),) = smtp.messages  # only the offer for the uncredited copy went out
        assert to == ["legal@site.example"] and message["Subject"].startswith("Licence offer for the use of")
        assert {slug for slug, m in matches.items() if store.offers([m["id"]])} == {"uncredited"}
        assert [store.notices([m["id"]]) for m in matches.values()] == [[]] * len(PAGES)

        # the owner checked the Creative Commons copy and releases it: the rules apply to it again
        released = invoke_cli("release", str(matches["cc"]["id"]), home=home)
        assert released.returncode == 0 and "released from: credit" in released.stdout, released.stderr
        (cc,) = [s for s in enforce(ws, store, settings, NOW, dry_run=True) if s.match_id == matches["cc"]["id"]]
        assert (cc.rule, cc.held, cc.why) == ("notice-the-rest", None, [])
    assert invoke_cli("ledger", "verify", home=home).returncode == 0
    store.close()


@pytest.mark.slow  # a real crawl and scan (the module's)
def test_matches_lists_the_credit_and_the_hold_and_filters_on_them(scanned):
    home, base, _ = scanned
    store = Store(open_workspace(home).db_path)
    ids = {slug: m["id"] for slug, m in _by_page(store).items()}
    store.close()
    listed = json.loads(invoke_cli("matches", "--format", "json", home=home).stdout)
    rows = {Path(r["page_url"]).stem: r for r in listed}
    assert rows["figcaption"]["credit"] == "Getty Images, a listed agency in the figcaption"
    assert rows["figcaption"]["held"] == "credited on the page: Getty Images, a listed agency in the figcaption"
    assert rows["preview"]["credit"] == f"a listed URL prefix ({base}previews/) in the image URL"
    assert (rows["uncredited"]["credit"], rows["uncredited"]["held"]) == ("", "")

    held = json.loads(invoke_cli("matches", "--held", "--format", "json", home=home).stdout)
    assert sorted(r["id"] for r in held) == sorted(ids[s] for s in ("figcaption", "creditline", "preview", "cc"))
    assert json.loads(invoke_cli("matches", "--held", "--owner", "bob", "--format", "json", home=home).stdout) == []
    wide = invoke_cli("matches", "--held", "--wide", home=home, env={"COLUMNS": "400"}).stdout
    assert "credited on the page: Jane Doe, a listed photographer's name in the credit line" in wide
    assert "uncredited" not in wide

    # a released match is credited still, but no longer held
    assert invoke_cli("release", str(ids["cc"]), home=home).returncode == 0
    held = json.loads(invoke_cli("matches", "--held", "--format", "json", home=home).stdout)
    credited = json.loads(invoke_cli("matches", "--credited", "--format", "json", home=home).stdout)
    assert ids["cc"] not in {r["id"] for r in held} and len(held) == 3
    assert {Path(r["page_url"]).stem for r in credited} == {"figcaption", "creditline", "preview", "cc"}
    (cc,) = [r for r in credited if r["id"] == ids["cc"]]
    assert (cc["credit"], cc["held"]) == ("a licence (a Creative Commons licence link) in the link by the image", "")


@pytest.mark.slow  # a real crawl and scan (the module's), and a scan of its own
def test_not_mine_keeps_the_same_image_and_a_reencoded_one_from_being_flagged_again(scanned):
    home, base, root = scanned
    store = Store(open_workspace(home).db_path)
    match = _by_page(store)["uncredited"]
    marked = invoke_cli("not-mine", str(match["id"]), "--note", "a look-alike from the market", home=home)
    assert marked.returncode == 0, marked.stderr
    assert store.match(match["id"])["status"] == "rejected"
    (negative,) = store.negatives([match["asset_id"]])
    assert (negative["sha256"], negative["match_id"]) == (match["sha256"], match["id"]) and negative["phash"]
    kinds = [e["kind"] for e in ledger.entries(store, [ledger.match_subject(match["id"])])]
    assert kinds[-2:] == ["review", "negative"]

    # the same bytes on a new page, and the same picture re-encoded on another
    (root / "img" / "again.jpg").write_bytes((root / "img" / "uncredited.jpg").read_bytes())
    (root / "img" / "reencoded.jpg").write_bytes(_jpeg("fruits.jpg", quality=60))
    for slug in ("again", "reencoded"):
        (root / f"{slug}.html").write_text(f"<html><body><img src='img/{slug}.jpg'></body></html>", encoding="utf-8")
    (root / "index.html").write_text("<html><body><a href='again.html'>a</a> <a href='reencoded.html'>r</a> "
                                     "<a href='figcaption.html'>f</a></body></html>", encoding="utf-8")
    rescan = invoke_cli("scan", "--site", base, "--allow-private", "--format", "json", home=home)
    assert rescan.returncode == 0, rescan.stderr
    summary = json.loads(rescan.stdout)
    assert summary["detect"]["decisions"].get("not mine") == 2, summary["detect"]
    pages = {Path(m["page_url"]).stem for m in store.matches("matches.asset_id = ?", [match["asset_id"]])}
    assert pages == {"uncredited"}  # the work was not flagged on the new pages
    assert {Path(m["page_url"]).stem for m in store.matches()} >= {"figcaption"}  # other works still are


def test_the_credit_finder_reads_agency_preview_hosts_alt_text_and_the_copys_metadata():
    terms = licensed.Terms((("Example Stock", "Example Stock, a listed agency"),), ())
    found = credits.find_credits(None, "https://blog.example/post", "https://media.gettyimages.com/id/1/photo.jpg",
                                 terms, alt="Harbour (Example Stock)",
                                 copy_rights={"credit": "Example Stock", "copyright": "(c) 2025 Someone"})
    assert {(f["where"], f["credits"]) for f in found} == {
        ("image URL", "the preview or embed host of Getty Images"), ("alt text", "Example Stock, a listed agency"),
        ("the copy's metadata Credit", "Example Stock, a listed agency")}
    # a name inside another word, or a page with no image element for it, credits nothing
    assert credits.find_credits("<p>Example Stockholm <img src='/x.jpg'></p>", "https://a.example/",
                                "https://a.example/y.jpg", terms) == []
    # a page of thousands of images is searched in its first MAX_IMAGES, and finds the copy's figure among them
    crowded = "<img src='/o.jpg'>" * 10 + "<figure><img src='/y.jpg'><figcaption>Example Stock</figcaption></figure>" \
        + "<img src='/o.jpg'>" * 20_000
    (figure,) = credits.find_credits(crowded, "https://a.example/", "https://a.example/y.jpg", terms)
    assert (figure["where"], figure["text"]) == ("figcaption", "Example Stock")
