"""Real crawls (the `python -m crawlers` child process) of the test site served by conftest."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from detector.config import Target
from detector.config.targets import targets_from_urls_file
from detector.crawl import CrawlFailed, crawl, crawl_command, log_path, queued
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store

REPO = Path(__file__).resolve().parents[2]

# What a full crawl of /index.html (max_depth 2) captures: page -> {image URL: final URL}.
EXPECTED = {
    "/index.html": {
        "/img/astronaut.jpg": "/img/astronaut.jpg",
        "/img/portrait.jpg": "/img/portrait.jpg",
        "/img/chelsea.jpg": "/img/chelsea.jpg",
        "/img/coffee.webp": "/img/coffee.webp",
        "/img/coffee.jpg": "/img/coffee.jpg",
        "/img/rocket.jpg": "/img/rocket.jpg",
        "/img/building.jpg": "/img/building.jpg",
        "/img/basketball-a.jpg": "/img/basketball-a.jpg",
        "/img/basketball-b.jpg": "/img/basketball-b.jpg",
        "/img/motorcycle.jpg": "/img/motorcycle.jpg",
        "/img/fruits.jpg": "/img/fruits.jpg",
        "/img/mural.jpg": "/img/mural.jpg",
        "/img/castle.jpg": "/img/castle.jpg",
        "/img/flaky.jpg": "/img/flaky.jpg",
        "/img/redirect1.jpg": "/img/lake.jpg",
    },
    "/page2.html": {"/img/astronaut.jpg": "/img/astronaut.jpg"},
    "/based.html": {"/assets/castle-copy.jpg": "/assets/castle-copy.jpg"},
    "/orphan.html": {"/img/village.jpg": "/img/village.jpg"},
}

EXPECTED_EVENTS = {
    ("http_404", "/img/missing.jpg", "/index.html"),
    ("http_404", "/img/missing.jpg", "/page2.html"),
    ("robots_disallowed", "/private/secret.jpg", "/index.html"),
    ("robots_disallowed", "/private/page.html", None),
    ("too_large", "/img/huge.jpg", "/index.html"),
    ("not_image", "/img/fake.jpg", "/index.html"),
    ("offsite", "http://example.invalid/elsewhere.html", "/index.html"),
    ("cap_reached", "/calendar?month=2", None),
}


def _path(site, url: str | None) -> str | None:
    return url[len(site.base):] if url and url.startswith(site.base) else url


def captured(site, store: Store, scan_id: int) -> dict:
    out: dict = {}
    for row in store.candidates("scan_id = ?", [scan_id]):
        out.setdefault(_path(site, row["page_url"]), {})[_path(site, row["image_url"])] = _path(site, row["final_url"])
    return out


def events(site, store: Store, scan_id: int) -> set:
    return {(e["reason"], _path(site, e["url"]), _path(site, e["page_url"])) for e in store.crawl_events(scan_id)}


def site_target(site, **fields) -> Target:
    return Target(**{"name": "site", "start_urls": (f"{site.base}/index.html",), "allow_private": True, **fields})


def new_scan(ws) -> tuple[Store, int]:
    store = Store(ws.db_path)
    return store, store.start_scan({"test": True})


@dataclass
class Crawled:
    ws: object
    store: Store
    scan_id: int
    summary: dict
    hits: list
    ticks: list  # store.crawl_progress as seen from this process while the crawl ran


@pytest.fixture(scope="module")
def full_crawl(site, make_workspace):
    """One full crawl of the site, shared by the tests that read what it captured."""
    site.reset()
    ws = make_workspace()
    store, scan_id = new_scan(ws)
    ticks: list[dict] = []
    summary = crawl(ws.home, scan_id, [site_target(site)], tick=lambda: ticks.append(store.crawl_progress(scan_id)),
                    tick_seconds=0.05)
    yield Crawled(ws, store, scan_id, summary, list(site.hits), ticks)
    store.close()


def test_progress_is_read_from_the_workspace_while_the_crawl_runs(full_crawl):
    ticks = full_crawl.ticks
    assert ticks, "the crawl ended before the first tick"
    for key in ("pages", "images", "refusals"):
        assert [t[key] for t in ticks] == sorted(t[key] for t in ticks)  # counts only grow
    final = full_crawl.store.crawl_progress(full_crawl.scan_id)
    assert final["images"] == full_crawl.summary["candidates_added"]
    assert final["refusals"] == len(full_crawl.store.crawl_events(full_crawl.scan_id)) > 0
    assert ticks[-1]["images"] <= final["images"]


def test_a_running_crawl_offers_no_way_in(full_crawl):
    # Scrapy 2.19 starts a remote-control HTTP server that runs Python code in every crawl unless told not to.
    log = log_path(full_crawl.ws.home, full_crawl.scan_id).read_text(encoding="utf-8")
    enabled = [line for line in log.splitlines() if "Enabled extensions" in line]
    assert enabled, log[-2000:]
    extensions = log.split("Enabled extensions:", 1)[1].split("]", 1)[0]
    assert "CrawlProgress" in extensions
    assert "RemoteControl" not in extensions and "TelnetConsole" not in extensions
    assert "Remote control HTTP server listening" not in log


_COMPONENTS_IMPORTED = """
import json, sys
from scrapy.settings import Settings
settings = Settings()
settings.setmodule("crawlers.settings", priority="project")
extensions = settings.get_component_priority_dict_with_base("EXTENSIONS")
middlewares = settings.get_component_priority_dict_with_base("DOWNLOADER_MIDDLEWARES")
print(json.dumps({"extensions": list(extensions), "middlewares": list(middlewares),
                  "imported": sorted(m for m in ("aiohttp", "tldextract", "requests") if m in sys.modules)}))
"""


def test_the_components_turned_off_are_not_even_imported():
    """A crawl process starts for every scan and every watched batch: the remote control (aiohttp), the telnet console
    and the cookies middleware (tldextract, requests) are off and cost it no import either."""
    answer = subprocess.run([sys.executable, "-c", _COMPONENTS_IMPORTED], capture_output=True, text=True, check=True)
    listed = json.loads(answer.stdout)
    assert listed["imported"] == []
    assert not [c for c in listed["extensions"] + listed["middlewares"]
                if c.endswith(("RemoteControl", "TelnetConsole", "CookiesMiddleware"))]
    # what copyhound adds, and what it keeps of Scrapy's own
    assert {"crawlers.progress.CrawlProgress", "scrapy.extensions.logstats.LogStats"} <= set(listed["extensions"])
    assert {"crawlers.middlewares.PrivateAddressGuard", "crawlers.middlewares.WarcCapture",
            "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware"} <= set(listed["middlewares"])


@pytest.mark.slow
def test_the_crawl_reports_its_queue_while_it_runs_and_empties_it_by_the_end(site, make_workspace):
    """A polite crawl (a delay between requests) keeps requests queued long enough to be seen."""
    site.reset()
    ws = make_workspace()
    store, scan_id = new_scan(ws)
    target = site_target(site, download_delay=0.1)  # about 40 requests: 4 s of a queue, read 4 times a second
    seen: list[int] = []
    summary = crawl(ws.home, scan_id, [target], tick=lambda: seen.append(queued(ws, [target])), tick_seconds=0.05)
    store.close()
    assert max(seen) > 0, "no tick saw a request waiting in the crawl's queue"
    state = json.loads(ws.crawl_progress_path(target.name).read_text(encoding="utf-8"))
    assert state["queued"] == 0 and state["finished"] == "finished"
    assert state["responses"] >= summary["pages_fetched"]
    assert queued(ws, [target]) == 0  # a finished crawl has nothing left


def test_crawl_captures_every_image_form_and_records_every_refusal(site, full_crawl):
    store, scan_id, summary, hits = full_crawl.store, full_crawl.scan_id, full_crawl.summary, full_crawl.hits
    assert captured(site, store, scan_id) == EXPECTED
    assert events(site, store, scan_id) == EXPECTED_EVENTS
    assert summary["complete"] is True
    assert summary["pages_fetched"] == 6  # index, page2, based, orphan, calendar 1 and 2
    assert summary["candidates_added"] == sum(len(images) for images in EXPECTED.values())
    assert summary["images_fetched"] == 18  # 17 distinct captured URLs and fake.jpg
    assert summary["refusals"] == {
        "http_404": 2, "not_image": 1, "offsite": 1, "robots_disallowed": 2, "too_large": 1,
    }
    assert summary["caps_hit"] == {"site": ["max_depth"]}
    assert summary["errors"] == []
    # The page past the depth cap was never requested.
    assert not [p for p, _ in hits if p == "/calendar?month=3"]
    # The orphan page is only in the sitemap index's child on the site (the off-site child is not read).
    assert ("/sitemap.xml", 200) in hits and ("/sitemap-pages.xml", 200) in hits
    # Each image URL was fetched once although two pages use astronaut.jpg.
    assert hits.count(("/img/astronaut.jpg", 200)) == 1
    # The flaky image failed once with 500 and was captured on the retry.
    assert [h for h in hits if h[0] == "/img/flaky.jpg"] == [("/img/flaky.jpg", 500), ("/img/flaky.jpg", 200)]


def test_sightings_keep_what_the_page_says_and_the_provenance(site, full_crawl):
    ws, store, scan_id = full_crawl.ws, full_crawl.store, full_crawl.scan_id
    rows = {(_path(site, r["page_url"]), _path(site, r["image_url"])): r for r in store.candidates("scan_id = ?", [scan_id])}
    first = rows[("/index.html", "/img/astronaut.jpg")]
    assert (first["page_title"], first["alt_text"], first["caption"]) == (
        "Gallery home", "Astronaut on the moon", "An astronaut, 1969",
    )
    assert (first["declared_width"], first["declared_height"]) == (300, 200)
    again = rows[("/page2.html", "/img/astronaut.jpg")]
    assert (again["page_title"], again["alt_text"], again["caption"]) == (
        "Second page", "Reused astronaut", "Used again here",
    )
    assert again["sha256"] == first["sha256"] == rows[("/index.html", "/img/portrait.jpg")]["sha256"]
    castle = rows[("/index.html", "/img/castle.jpg")]
    assert (castle["caption"], castle["declared_width"], castle["declared_height"]) == ("Castle at dusk", 800, 600)
    motorcycle = rows[("/index.html", "/img/motorcycle.jpg")]
    assert (motorcycle["declared_width"], motorcycle["declared_height"]) == (640, 480)
    assert rows[("/index.html", "/img/coffee.webp")]["sniffed_format"] == "webp"
    lake = rows[("/index.html", "/img/redirect1.jpg")]
    assert lake["final_url"] == f"{site.base}/img/lake.jpg" and lake["http_status"] == 200
    blobs = BlobStore(ws.blobs_dir)
    for row in rows.values():
        served = site.images[_path(site, row["final_url"])]
        assert row["sha256"] == hashlib.sha256(served).hexdigest()
        assert row["byte_size"] == len(served) and blobs.get(row["sha256"]) == served
        assert set(row["headers"]) == {"Date", "Last-Modified", "ETag", "Server", "Content-Type", "Content-Length"}
        assert row["headers"]["Content-Length"] == str(len(served))
        assert row["fetched_at"].endswith("Z") and row["discovered_at"].endswith("Z")
        assert row["state"] == "new"
    # Two URLs serve the astronaut and two the castle: 18 sightings, 14 distinct blobs.
    assert len({r["sha256"] for r in rows.values()}) == 14


def test_refusals_explain_themselves(site, full_crawl):
    store, scan_id = full_crawl.store, full_crawl.scan_id
    details = {(e["reason"], _path(site, e["url"])): e["detail"] for e in store.crawl_events(scan_id)}
    assert "larger than the 120000-byte limit" in details[("too_large", "/img/huge.jpg")]
    assert "crawl.max_image_bytes" in details[("too_large", "/img/huge.jpg")]
    assert "is an HTML page, not an image" in details[("not_image", "/img/fake.jpg")]
    assert "robots.txt" in details[("robots_disallowed", "/private/page.html")]
    assert details[("http_404", "/img/missing.jpg")] == f"{site.base}/img/missing.jpg answered HTTP 404."
    assert "max_depth 2 reached" in details[("cap_reached", "/calendar?month=2")]
    assert "allowed_domains" in details[("offsite", "http://example.invalid/elsewhere.html")]


def _record_at(path: Path, offset: int):
    with open(path, "rb") as handle:
        handle.seek(offset)
        record = next(iter(ArchiveIterator(handle)))
        return record, record.content_stream().read()


def test_warc_records_read_back_equal_the_stored_bytes(site, full_crawl):
    ws, store, scan_id = full_crawl.ws, full_crawl.store, full_crawl.scan_id
    blobs = BlobStore(ws.blobs_dir)
    rows = store.candidates("scan_id = ?", [scan_id])
    assert {r["warc_file"] for r in rows} == {f"warc/scan-{scan_id}-site.warc.gz"}
    for row in rows:
        record, body = _record_at(ws.home / row["warc_file"], row["warc_offset"])
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Target-URI") == row["final_url"]
        assert body == blobs.get(row["sha256"])
        page, html = _record_at(ws.home / row["page_warc_file"], row["page_warc_offset"])
        assert page.rec_headers.get_header("WARC-Target-URI") == row["page_url"]
        # Pages were sent gzipped; the record keeps the wire bytes and reads back decoded.
        assert page.http_headers.get_header("Content-Encoding") == "gzip"
        assert b"<title>" in html
    with open(ws.home / rows[0]["warc_file"], "rb") as handle:
        kinds = [r.rec_type for r in ArchiveIterator(handle)]
    assert kinds[0] == "warcinfo"
    # One exchange per request the site answered, except the oversized image the crawler hung up on.
    answered = [h for h in full_crawl.hits if h[0] != "/img/huge.jpg"]
    assert kinds.count("request") == kinds.count("response") == len(answered)


def test_recrawl_is_served_by_the_http_cache_and_still_records_every_sighting(site, full_crawl):
    ws, store, first_scan = full_crawl.ws, full_crawl.store, full_crawl.scan_id
    site.reset()
    second_scan = store.start_scan({"test": "nightly"})
    summary = crawl(ws.home, second_scan, [site_target(site)])
    assert captured(site, store, second_scan) == EXPECTED
    for page, images in EXPECTED.items():
        for final in images.values():
            assert site.full_fetches(final) == 0, final
        # Pages are revalidated (a 304), never sent again.
        assert (page, 304) in site.hits and site.full_fetches(page) == 0
    assert summary["from_cache"] >= summary["images_fetched"] - 3  # all but refused URLs
    before = {(r["page_url"], r["image_url"]): r for r in store.candidates("scan_id = ?", [first_scan])}
    for row in store.candidates("scan_id = ?", [second_scan]):
        earlier = before[(row["page_url"], row["image_url"])]
        # The evidence of a cached image is the record of the fetch that produced it.
        assert (row["sha256"], row["warc_file"], row["warc_offset"], row["fetched_at"]) == (
            earlier["sha256"], earlier["warc_file"], earlier["warc_offset"], earlier["fetched_at"],
        )


def test_private_addresses_are_refused_unless_the_target_allows_them(site, make_workspace):
    site.reset()
    ws = make_workspace()
    store, scan_id = new_scan(ws)
    summary = crawl(ws.home, scan_id, [site_target(site, allow_private=False)])
    assert site.hits == []
    assert store.candidates() == []
    (event,) = store.crawl_events(scan_id)
    assert (event["reason"], event["url"]) == ("private_address", f"{site.base}/index.html")
    assert event["detail"] == (
        f"{site.base}/index.html: host 127.0.0.1 is a loopback address; refused to keep the crawler "
        "away from internal services. If target 'site' is yours, set allow_private = true on it in "
        "config.toml, or pass --allow-private."
    )
    assert summary["refusals"] == {"private_address": 1}


def test_a_public_url_redirecting_to_a_private_one_is_refused(site, make_workspace, monkeypatch):
    # The site doubles as an HTTP proxy, so a "public" address can answer without a network:
    # its redirect to 127.0.0.1 must be caught when the redirected request is sent.
    site.reset()
    monkeypatch.setenv("http_proxy", site.base)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    ws = make_workspace()
    store, scan_id = new_scan(ws)
    public = "http://93.184.216.34/go-local"
    crawl(ws.home, scan_id, [Target(name="public", start_urls=(public,), follow_links=False)])
    assert ("/go-local", 302) in site.hits
    assert site.full_fetches("/img/lake.jpg") == 0
    (event,) = store.crawl_events(scan_id)
    # Recorded under the URL that was asked for; the detail names where it led.
    assert (event["reason"], event["url"]) == ("private_address", public)
    assert f"{site.base}/img/lake.jpg (reached by a redirect from {public})" in event["detail"]


def test_page_cap_bounds_an_endless_calendar(site, make_workspace):
    site.reset()
    ws = make_workspace(max_depth=50, max_pages=3)
    store, scan_id = new_scan(ws)
    summary = crawl(ws.home, scan_id, [site_target(site, name="cal", start_urls=(f"{site.base}/calendar?month=1",))])
    # Three pages in all: the calendar's first month and whatever else came first (the sitemap's
    # pages compete for the same budget); the calendar would otherwise run for ever.
    pages = [p for p, status in site.hits if status == 200 and (p.endswith(".html") or p.startswith("/calendar"))]
    assert len(pages) == 3 and "/calendar?month=1" in pages
    assert summary["pages_fetched"] == 3
    assert summary["caps_hit"] == {"cal": ["max_pages"]}
    (cap,) = [e for e in store.crawl_events(scan_id) if e["reason"] == "cap_reached"]
    assert cap["detail"].startswith("max_pages 3 reached: ")


def test_urls_file_captures_listed_images_as_their_own_pages(site, make_workspace, tmp_path):
    site.reset()
    ws = make_workspace()
    store, scan_id = new_scan(ws)
    listing = tmp_path / "found.txt"
    listing.write_text(
        f"# exported from a reverse image search\n{site.base}/img/village.jpg\n\n"
        f"{site.base}/page2.html   # a page using the work\n{site.base}/private/secret.jpg\n"
    )
    target = targets_from_urls_file(listing, allow_private=True)
    target = replace(target, ignore_robots=True, robots_reason="the owner asked us to check")
    summary = crawl(ws.home, scan_id, [target])
    assert captured(site, store, scan_id) == {
        "/img/village.jpg": {"/img/village.jpg": "/img/village.jpg"},
        "/page2.html": {"/img/astronaut.jpg": "/img/astronaut.jpg"},
        "/private/secret.jpg": {"/private/secret.jpg": "/private/secret.jpg"},
    }
    assert events(site, store, scan_id) == {
        ("robots_ignored", "/img/village.jpg", None),
        ("http_404", "/img/missing.jpg", "/page2.html"),
    }
    (notice,) = [e for e in store.crawl_events(scan_id) if e["reason"] == "robots_ignored"]
    assert "the owner asked us to check" in notice["detail"]
    # No links followed, no sitemap read, robots.txt not even asked for (the TDMRep file is: crawlers.site_rights).
    assert {p for p, _ in site.hits} == {
        "/img/village.jpg", "/page2.html", "/private/secret.jpg", "/img/astronaut.jpg", "/img/missing.jpg",
        "/.well-known/tdmrep.json",
    }
    assert summary["pages_fetched"] == 1


@pytest.mark.slow
def test_a_killed_crawl_resumes_and_ends_complete_without_duplicates(site, make_workspace, tmp_path):
    site.reset()
    site.delay = 0.1  # slow enough to stop it half-way
    ws = make_workspace(concurrency_per_domain=2)
    store, scan_id = new_scan(ws)
    target = site_target(site)
    command = crawl_command(ws.home, scan_id, [target], resume=False, summary_out=tmp_path / "s.json", workdir=tmp_path)
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(store.candidates("scan_id = ?", [scan_id])) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    kept = captured(site, store, scan_id)
    total = sum(len(images) for images in EXPECTED.values())
    assert 3 <= sum(len(images) for images in kept.values()) < total
    site.delay = 0.0

    summary = crawl(ws.home, scan_id, [target], resume=True)
    assert captured(site, store, scan_id) == EXPECTED
    rows = store.candidates("scan_id = ?", [scan_id])
    assert len(rows) == total
    assert summary["candidates_added"] == total - sum(len(images) for images in kept.values())
    for row in rows:  # every record still reads back, those written before the kill included
        _, body = _record_at(ws.home / row["warc_file"], row["warc_offset"])
        assert hashlib.sha256(body).hexdigest() == row["sha256"]


def test_a_crawl_that_dies_without_a_summary_says_why(tmp_path):
    with pytest.raises(CrawlFailed) as caught:
        crawl(tmp_path / "nowhere", 1, [Target(name="x", start_urls=("http://127.0.0.1/",))])
    message = str(caught.value)
    assert "The crawl of scan 1 ended with exit code 2 and no summary" in message
    assert f"No copyhound workspace at {tmp_path / 'nowhere'}" in message


@pytest.mark.slow
def test_plain_scrapy_crawl_opens_and_finishes_a_scan_of_its_own(site, make_workspace):
    site.reset()
    ws = make_workspace()
    store = Store(ws.db_path)  # as `copyhound init` leaves it
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"home={ws.home}",
         "-a", f"start_url={site.base}/orphan.html", "-a", "allow_private=true"],
        check=False, cwd=REPO / "crawlers", capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (scan,) = store.scans()
    assert scan["status"] == "finished"
    assert scan["options"]["targets"][0]["start_urls"] == [f"{site.base}/orphan.html"]
    summary = scan["summary"]["crawl"]["targets"][f"site-127.0.0.1-{site.base.rsplit(':', 1)[1]}"]
    # Started from the orphan page, the sitemap leads it to the rest of the site.
    assert captured(site, store, scan["id"]) == EXPECTED
    assert summary["candidates_added"] == sum(len(images) for images in EXPECTED.values())
    assert summary["finish_reason"] == "finished"


@pytest.mark.slow
def test_a_gracefully_stopped_crawl_resumes_from_its_job_folder(site, make_workspace, tmp_path):
    site.reset()
    site.delay = 0.1
    ws = make_workspace(concurrency_per_domain=2, http_cache=False)
    store, scan_id = new_scan(ws)
    target = site_target(site)
    summary_out = tmp_path / "stopped.json"
    command = crawl_command(ws.home, scan_id, [target], resume=False, summary_out=summary_out, workdir=tmp_path)
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(store.candidates("scan_id = ?", [scan_id])) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 0
    stopped = json.loads(summary_out.read_text())
    assert stopped["complete"] is False and stopped["targets"]["site"]["finish_reason"] == "shutdown"
    before = list(site.hits)
    site.delay = 0.0

    summary = crawl(ws.home, scan_id, [target], resume=True)
    assert summary["complete"] is True
    assert captured(site, store, scan_id) == EXPECTED
    # Without an HTTP cache, only a kept job explains why nothing fetched before was fetched again.
    again = [hit for hit in site.hits[len(before):] if hit in before and hit[1] == 200 and hit[0] != "/robots.txt"]
    assert again == []


@pytest.mark.parametrize("status", [503, 429])
def test_a_site_whose_robots_txt_fails_is_not_crawled_and_each_refusal_says_why(site, make_workspace, status):
    site.reset()
    site.robots_status = status
    ws = make_workspace()
    store, scan_id = new_scan(ws)
    try:
        summary = crawl(ws.home, scan_id, [site_target(site)])
    finally:
        site.robots_status = 200
    assert captured(site, store, scan_id) == {}
    assert events(site, store, scan_id) == {("robots_unavailable", "/index.html", None)}
    (refusal,) = store.crawl_events(scan_id)
    assert f"robots.txt answered HTTP {status}" in refusal["detail"] and "ignore_robots" in refusal["detail"]
    assert {path for path, _ in site.hits} <= {"/robots.txt", "/.well-known/tdmrep.json"}
    assert summary["pages_fetched"] == 0
    store.close()
