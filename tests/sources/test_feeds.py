"""Feeds end to end: RSS, Atom and an image sitemap served on 127.0.0.1 lead a real scan (crawler, store,
detection) to the copies; a second scan reads only what is new; broken feeds are recorded, not fatal."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from support import invoke_cli, registered_home

from detector import config, demo_site
from detector.evidence.report import write_report
from detector.sources.feeds import items
from detector.workspace import open_workspace
from detector.workspace.store import Store


def _rss(base: str, slugs: list[str]) -> str:
    entries = "".join(
        f"<item><title>Post {slug}</title><link>{base}{slug}.html</link><guid>{base}{slug}</guid>"
        f"<pubDate>Sun, 01 Mar 2026 10:00:00 GMT</pubDate>"
        f"<media:content url='{base}img/{slug}.jpg' medium='image'/></item>" for slug in slugs)
    return ("<?xml version='1.0'?><rss version='2.0' xmlns:media='http://search.yahoo.com/mrss/'><channel>"
            f"<title>Demo blog</title><link>{base}</link>"
            "<item><title>A script link</title><link>javascript:alert(1)</link></item>"
            f"{entries}</channel></rss>")


ATOM = """<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'><title>Mirror</title>
<id>urn:demo</id><updated>2026-03-02T00:00:00Z</updated>
<entry><title>Captioned</title><id>urn:c</id><updated>2026-03-02T00:00:00Z</updated><link href='{base}captioned.html'/></entry>
<entry><title>Resized again</title><id>urn:r</id><updated>2026-03-02T00:00:00Z</updated><link href='{base}resized.html'/></entry>
</feed>"""

SITEMAP = """<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'
 xmlns:image='http://www.google.com/schemas/sitemap-image/1.1'>
<url><loc>{base}mirrored.html</loc><lastmod>2026-03-03</lastmod>
<image:image><image:loc>{base}img/mirrored.jpg</image:loc></image:image></url></urlset>"""

# A sitemap index: its child on the site is read; a nested index, a child elsewhere and a dead one are refused.
SITEMAP_INDEX = """<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>
<sitemap><loc>{base}more.xml</loc></sitemap><sitemap><loc>{base}nested.xml</loc></sitemap>
<sitemap><loc>http://elsewhere.test/sitemap.xml</loc></sitemap><sitemap><loc>{base}gone.xml</loc></sitemap>
</sitemapindex>"""
MORE = """<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>
<url><loc>{base}grayscale.html</loc></url></urlset>"""


@pytest.fixture
def web(tmp_path):
    root = demo_site.build_site(tmp_path / "site")
    server, base = demo_site.serve(root)
    (root / "feed.xml").write_text(_rss(base, ["recompressed", "resized", "cropped"]), encoding="utf-8")
    (root / "atom.xml").write_text(ATOM.format(base=base), encoding="utf-8")
    (root / "images.xml").write_text(SITEMAP.format(base=base), encoding="utf-8")
    (root / "broken.xml").write_text("this is no feed < at all", encoding="utf-8")
    (root / "pages.xml").write_text(SITEMAP_INDEX.format(base=base), encoding="utf-8")
    (root / "nested.xml").write_text(SITEMAP_INDEX.format(base=base), encoding="utf-8")
    (root / "more.xml").write_text(MORE.format(base=base), encoding="utf-8")
    yield root, base
    server.shutdown()


@pytest.fixture
def home(tmp_path, web, registered_template):
    _, base = web
    source = config.SourceConfig(name="blogs", type="feed", cadence_days=1.0, allow_private=True,
                                 urls=tuple(base + name for name in ("feed.xml", "atom.xml", "images.xml",
                                                                      "broken.xml", "missing.xml", "pages.xml")))
    return registered_home(tmp_path / "ws", registered_template, (source,))


def _scan(home: Path, *args: str) -> dict:
    done = invoke_cli("scan", "--format", "json", *args, home=home)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow  # a long end-to-end test (real scans): `make test-fast` leaves it out
def test_feeds_lead_a_scan_to_the_copies_and_then_only_to_new_items(home, web):
    root, base = web
    first = _scan(home)  # due: it never ran
    part = first["sources"]["blogs"]
    # 3 RSS + captioned + mirrored (resized once) + grayscale from the sitemap index's child
    assert part["status"] == "finished" and part["leads"] == 6
    problems = "\n".join(part["problems"])
    assert "broken.xml: not a readable RSS/Atom feed" in problems and "missing.xml: HTTP 404" in problems
    assert f"{base}nested.xml: a sitemap index inside the sitemap index {base}pages.xml; not followed" in problems
    assert f"{base}pages.xml: 1 child sitemap(s) not on 127.0.0.1 were not read" in problems
    assert f"gone.xml: HTTP 404; the feed was not read (a child of the sitemap index {base}pages.xml)" in problems
    assert "javascript:alert(1)" in problems  # a lead that is no http(s) URL is refused, with its reason
    store = Store(open_workspace(home).db_path)
    found = {Path(m["image_url"]).name for m in store.matches()}
    assert found == {f"{s}.jpg" for s in ("recompressed", "resized", "cropped", "captioned", "mirrored", "grayscale")}

    # Every candidate keeps its lead; the report says how the copy was found.
    match = next(m for m in store.matches() if m["image_url"].endswith("/captioned.jpg"))
    lead = store.lead(store.candidate(match["candidate_id"])["lead_id"])
    assert lead["found_by"] == f"feed {base}atom.xml" and lead["url"] == f"{base}captioned.html"
    ws = open_workspace(home)
    (page,) = write_report(ws, store, ws.settings(), match["id"])
    assert f"feed {base}atom.xml" in page.read_text(encoding="utf-8")
    store.close()

    # Not due again within its cadence: a plain scan skips it; --source runs it, and nothing changed.
    assert "sources" not in _scan(home, "--no-crawl")
    again = _scan(home, "--source", "blogs")
    assert again["sources"]["blogs"]["leads"] == 0 and "crawl" not in again

    # A new item in the feed (the file is newer, so the 304 turns into a 200): only that item is new.
    feed = root / "feed.xml"
    feed.write_text(_rss(base, ["recompressed", "resized", "cropped", "banner"]), encoding="utf-8")
    later = time.time() + 120
    os.utime(feed, (later, later))
    # A child sitemap changed under an unchanged index (304): it is asked again all the same.
    (root / "more.xml").write_text(MORE.format(base=base).replace("grayscale.html", "index.html"), encoding="utf-8")
    os.utime(root / "more.xml", (later, later))
    third = _scan(home, "--source", "blogs")
    assert third["sources"]["blogs"]["leads"] == 2 and third["detect"]["matches_new"] == 1  # banner; index.html

    listed = json.loads(invoke_cli("sources", "list", "--format", "json", home=home).stdout)
    (row,) = [r for r in listed if r["source"] == "blogs"]
    assert (row["runs"], row["leads"], row["matches"]) == (3, 8, 7) and row["candidates"] >= 14


def test_sources_test_reads_one_feed_and_names_a_broken_one(home, web, tmp_path):
    done = invoke_cli("sources", "test", "blogs", home=home)
    assert done.returncode == 0, done.stderr
    assert "feed.xml: 4 item(s) readable" in done.stdout and "blogs: ok" in done.stdout
    missing = invoke_cli("sources", "test", "nope", home=home)
    assert missing.returncode == 2 and "No source named 'nope'" in missing.stderr


def test_private_feed_is_refused_without_allow_private(web):
    from detector.sources import build

    _, base = web
    source = build(config.SourceConfig(name="x", type="feed", urls=(base + "feed.xml",)))
    from detector.sources.base import Budget

    assert list(source.leads({}, Budget(None))) == []
    assert "non-public address" in source.problems[0]


def test_a_sitemap_with_entities_is_read_without_expanding_them():
    bomb = (b"<?xml version='1.0'?><!DOCTYPE u [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]>"
            b"<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'><url><loc>https://x.test/&b;</loc></url>"
            b"</urlset>")
    leads = list(items("https://x.test/s.xml", bomb, "application/xml"))
    assert all("aaaaaaaaaa" not in lead.url for lead in leads)
