"""Common Crawl end to end: a loopback server speaks the CDX API (pages, showNumPages, 404, 429) and serves
WARC byte ranges; the source reads captured records whole and takes the image URLs from the archived HTML
(a page gone from the live site still leads to its image), the crawler fetches the images live, detection
finds the copies, and a later run reads only what it has not read."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from support import invoke_cli, registered_home
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from detector import config, demo_site
from detector.sources.base import SourceError
from detector.sources.common_crawl import MAX_INFLATED_BYTES, check_record
from detector.workspace import open_workspace
from detector.workspace.store import Store

WARC = "crawl-data/CC-MAIN-2026-05/segments/1/warc/CC-MAIN-0001.warc.gz"


class CommonCrawl:
    """The index (two collections) and the archive, with the noise a real one has."""

    def __init__(self, site: Path, base: str):
        self.requests: list[str] = []
        self.slow_down = True  # the second collection answers 429 until a test clears this
        self.warc, self.index = bytearray(), {}
        out = io.BytesIO()
        writer = WARCWriter(out, gzip=True)
        spans = {}
        archived_only = {  # pages captured then, no longer on the live site
            # its image is still live: the archived HTML leads to it
            "moved": b"<html><body><img src='img/banner.jpg' alt='sale'></body></html>",
            # its image is gone too (a crawl event); a data: URL and a script are no images to fetch
            "gone": b"<html><img src='img/gone.jpg'><img src='data:image/png;base64,AAAA'>"
                    b"<img src='javascript:alert(1)'></html>",
            "textonly": b"<html><body><p>no pictures here</p></body></html>",
        }
        for slug in ("recompressed", "resized", "cropped", "mirrored", "captioned", *archived_only):
            start = out.tell()
            body = archived_only.get(slug) or (site / f"{slug}.html").read_bytes()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"{base}{slug}.html", "response",
                                                          payload=io.BytesIO(body), http_headers=headers))
            spans[slug] = (start, out.tell() - start)
        self.warc = bytearray(out.getvalue())
        start, length = spans["captioned"]
        self.warc[start + length - 30] ^= 0xFF  # this capture's record is damaged in the archive

        def line(slug, ts="20260201000000"):
            offset, size = spans[slug]
            return json.dumps({"urlkey": "x", "timestamp": ts, "url": f"{base}{slug}.html", "mime": "text/html",
                               "status": "200", "digest": "d", "length": str(size), "offset": str(offset),
                               "filename": WARC})

        wrong = json.dumps({"timestamp": "20260201", "url": f"{base}elsewhere.html", "filename": WARC,
                           "offset": str(spans["cropped"][0]), "length": str(spans["cropped"][1])})
        self.index = {
            "CC-MAIN-2026-05": [[line("recompressed"), line("resized"), "<html>not json</html>", line("captioned")],
                                [line("cropped"), line("resized", "20260202000000"), wrong, line("gone"),
                                 line("moved"), line("textonly")]],
            "CC-MAIN-2026-09": [[line("mirrored")]],
        }

    def answer(self, path: str, query: dict, headers) -> tuple[int, dict, bytes]:
        if path.endswith("-index"):
            collection = path.strip("/")[: -len("-index")]
            if collection not in self.index:
                return 404, {}, b"no such collection"
            if collection == "CC-MAIN-2026-09" and self.slow_down:
                return 429, {}, b"slow down"
            pages = self.index[collection]
            if query.get("showNumPages"):
                return 200, {}, json.dumps({"pages": len(pages), "pageSize": 5, "blocks": len(pages)}).encode()
            return 200, {}, "\n".join(pages[int(query["page"][0])]).encode()
        if path == "/" + WARC:
            first, last = (int(x) for x in headers["Range"].split("=")[1].split("-"))
            return 206, {"Content-Range": f"bytes {first}-{last}/{len(self.warc)}"}, bytes(self.warc[first:last + 1])
        return 404, {}, b""


@pytest.fixture
def cc(tmp_path):
    site = demo_site.build_site(tmp_path / "site")
    site_server, base = demo_site.serve(site)
    index = CommonCrawl(site, base)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            parts = urlsplit(self.path)
            index.requests.append(self.path)
            status, headers, body = index.answer(parts.path, parse_qs(parts.query), self.headers)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield index, f"http://127.0.0.1:{server.server_address[1]}", base
    server.shutdown()
    site_server.shutdown()


@pytest.fixture
def home(tmp_path, cc, registered_template):
    _, endpoint, base = cc
    source = config.SourceConfig(name="cc", type="common_crawl", urls=(f"{base}*",), allow_private=True,
                                 endpoint=endpoint, archive_endpoint=endpoint, monthly_budget=1000,
                                 collections=("CC-MAIN-2026-05", "CC-MAIN-2026-09"))
    return registered_home(tmp_path / "ws", registered_template, (source,))


@pytest.mark.slow  # a long end-to-end test (real scans): `make test-fast` leaves it out
def test_common_crawl_captures_lead_to_copies_and_a_later_run_reads_only_what_is_new(home, cc):
    index, _, base = cc
    done = invoke_cli("scan", "--source", "cc", "--format", "json", home=home)
    assert done.returncode in (0, 1), done.stderr
    summary = json.loads(done.stdout)
    part = summary["sources"]["cc"]
    # The images of the archived pages: recompressed, resized (its two captures once), cropped (each with one
    # unrelated image), banner of the page since moved, and gone.jpg (dead live: a crawl event).
    assert part["leads"] == 8
    problems = "\n".join(part["problems"])
    assert "1 index line(s) were not CDX JSON" in problems
    assert f"{base}captioned.html: capture not used, its WARC record cannot be read" in problems
    assert "HTTP 429" in problems and "the range holds the response record of" in problems
    assert f"{base}textonly.html: the capture of 20260201000000 uses no image" in problems
    store = Store(open_workspace(home).db_path)
    found = {Path(m["image_url"]).name: m["page_url"] for m in store.matches()}
    assert found == {f"{s}.jpg": f"{base}{s}.html" for s in ("recompressed", "resized", "cropped")} | {
        "banner.jpg": f"{base}moved.html"}  # the match's page is the captured page
    match = next(m for m in store.matches() if m["image_url"].endswith("cropped.jpg"))
    lead = store.lead(store.candidate(match["candidate_id"])["lead_id"])
    assert lead["found_by"] == "Common Crawl CC-MAIN-2026-05" and lead["provenance"]["filename"] == WARC
    assert lead["kind"] == "image" and lead["provenance"]["page_url"] == f"{base}cropped.html"
    assert any(e["url"] == f"{base}img/gone.jpg" for e in store.crawl_events(summary["scan_id"]))
    store.close()

    # Next run: the finished collection costs nothing; the one that answered 429 is read now.
    index.requests.clear()
    index.slow_down = False
    again = json.loads(invoke_cli("scan", "--source", "cc", "--format", "json", home=home).stdout)
    assert again["sources"]["cc"]["leads"] == 1 and again["detect"]["matches_new"] == 1
    assert not any("CC-MAIN-2026-05-index" in r for r in index.requests)


def test_the_budget_stops_a_run_and_says_so(home, cc, tmp_path):
    from detector.sources import build
    from detector.sources.base import Budget

    _, endpoint, base = cc
    source = build(config.SourceConfig(name="cc", type="common_crawl", urls=(f"{base}*",), allow_private=True,
                                       endpoint=endpoint, archive_endpoint=endpoint, monthly_budget=3,
                                       collections=("CC-MAIN-2026-05",)))
    budget = Budget(3)
    leads = list(source.leads({}, budget))
    assert budget.used == 3 and len(leads) == 2  # page count, index page 0, one record (a copy, an unrelated)
    assert any("monthly budget" in p for p in source.problems)


def _record(url: str, body: bytes) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))
    return out.getvalue()


def test_a_damaged_record_is_refused_wherever_the_damage_falls():
    # Each record differs (its ID and date), so one damaged byte falls on different deflate codes each time; a
    # damaged member once parsed as a record without its headers, since warcio never reads the CRC.
    url = "http://example.com/page.html"
    body = b"<html><body>" + b"<img src='a.jpg'><p>caption</p>" * 40 + b"</body></html>"
    check_record(_record(url, body), url)  # whole, it passes
    for _ in range(100):
        damaged = bytearray(_record(url, body))
        damaged[-30] ^= 0xFF
        with pytest.raises(SourceError, match="its WARC record cannot be read"):
            check_record(bytes(damaged), url)


def test_a_record_that_inflates_past_the_bound_is_refused():
    url = "http://example.com/huge.html"
    bomb = _record(url, b"<html>" + b" " * (MAX_INFLATED_BYTES + 1) + b"</html>")
    assert len(bomb) < MAX_INFLATED_BYTES // 100
    with pytest.raises(SourceError, match=f"inflates past {MAX_INFLATED_BYTES:,} bytes"):
        check_record(bomb, url)
