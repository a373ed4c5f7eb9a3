"""Rights signals end to end: a work carrying IPTC, XMP and a signed CAWG training-and-mining manifest is
registered; a real site on 127.0.0.1 declares TDMRep (tdmrep.json, HTTP headers, meta tags), noai and
noimageai (X-Robots-Tag, meta robots) and robots.txt rules for AI crawlers; the real crawler (Scrapy, in
its own process) captures three copies, the real detector records the matches, and each match's signals,
report and notice say what the work carried, what the copy lost and what the copy's site declared."""

from __future__ import annotations

import io
import json
import re
import threading
from collections import Counter
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from evidence_case import PROFILE
from PIL import Image
from support import serving
from test_rights_signals import with_rights, with_training_mining

from detector import config, demo_site, tokens
from detector.crawl import crawl
from detector.detect import Detector
from detector.evidence import case, notices, report
from detector.register import WorkInfo, register_files
from detector.web import create_app
from detector.workspace import create_workspace
from detector.workspace.store import Store

ROBOTS = b"""User-agent: GPTBot
Disallow: /

User-agent: CCBot
User-agent: Google-Extended
Disallow: /gallery/

User-agent: *
Disallow: /private/
"""
TDMREP = [{"location": "/gallery/*", "tdm-reservation": 1, "tdm-policy": "https://rights.example/tdm-policy.json"},
          {"location": "/private/*", "tdm-reservation": 1}]
INDEX = """<!doctype html><html><head><title>Home</title></head><body>
<a href="/gallery/a.html">gallery</a> <a href="/blog/b.html">blog</a> <a href="/shop/c.html">shop</a>
</body></html>"""
GALLERY = """<!doctype html><html><head><title>Gallery</title>
<META NAME="Robots" CONTENT="index, noai, noimageai"></head><body><img src="/img/stripped.jpg"></body></html>"""
BLOG = """<!doctype html><html><head><title>Blog</title><meta name="tdm-reservation" content="0"></head>
<body><img src="/img/kept.jpg"></body></html>"""
SHOP = """<!doctype html><html><head><title>Shop</title></head><body><img src="/img/shop.jpg"></body></html>"""


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


class RightsSite:
    """A site whose every answer is fixed: path -> (headers, body); anything else is a 404."""

    def __init__(self, routes: dict[str, tuple[dict, bytes]]):
        self.routes, self.hits = routes, Counter()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                site.hits[self.path] += 1
                headers, body = site.routes.get(self.path, ({"Content-Type": "text/html"}, b"not here"))
                self.send_response(200 if self.path in site.routes else 404)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rights")
    photo = Image.open(demo_site.WORKS_DIR / "astronaut.jpg").convert("RGB")
    work = with_training_mining(with_rights(_jpeg(photo)))
    html = {"Content-Type": "text/html; charset=utf-8"}
    jpeg = {"Content-Type": "image/jpeg"}
    site = RightsSite({
        "/robots.txt": ({"Content-Type": "text/plain"}, ROBOTS),
        "/.well-known/tdmrep.json": ({"Content-Type": "application/json"}, json.dumps(TDMREP).encode()),
        "/index.html": (html, INDEX.encode()),
        "/gallery/a.html": (html, GALLERY.encode()),
        # The header speaks for the page before its meta tag does.
        "/blog/b.html": ({**html, "tdm-reservation": "1", "tdm-policy": "https://blog.example/tdm-policy.json",
                          "X-Robots-Tag": "noimageai"}, BLOG.encode()),
        "/shop/c.html": (html, SHOP.encode()),
        # Re-encoded by the copier: every embedded field and the manifest are gone.
        "/img/stripped.jpg": (jpeg, _jpeg(demo_site.recompressed(photo))),
        "/img/kept.jpg": (jpeg, work),  # the registered file itself, metadata and manifest intact
        # The page says nothing; the image's own response does.
        "/img/shop.jpg": ({**jpeg, "tdm-reservation": "1", "X-Robots-Tag": "noai"},
                          _jpeg(demo_site.captioned(photo))),
    })
    thread = threading.Thread(target=site.httpd.serve_forever, daemon=True)
    thread.start()
    settings = config.Settings().with_embedder("none")
    settings = replace(settings, crawl=replace(settings.crawl, download_delay=0.0, autothrottle=False, timeout=10.0))
    ws, _ = create_workspace(tmp / "ws", settings)
    store = Store(ws.db_path)
    (tmp / "astronaut.jpg").write_bytes(work)
    [outcome] = register_files(ws, store, settings, None, [tmp / "astronaut.jpg"], WorkInfo("alice"))
    assert outcome.status == "registered", outcome
    store.update_owner(store.asset(outcome.asset_id)["owner_id"], **PROFILE)
    scan_id = store.start_scan({"test": "rights"})
    target = config.Target(name="site", start_urls=(f"{site.base}/index.html",), allow_private=True)
    summary = crawl(ws.home, scan_id, [target])
    assert summary["errors"] == [], summary["errors"]
    Detector(ws, store, settings, None).run()
    yield ws, store, settings, site, {m["page_url"][len(site.base):]: m for m in store.matches()}
    site.httpd.shutdown()
    site.httpd.server_close()
    store.close()


@pytest.mark.slow
def test_the_crawl_stores_each_pages_declarations_and_reads_tdmrep_json_once(crawled):
    _, store, _, site, _ = crawled
    rows = {row["page_url"][len(site.base):]: row for row in store.candidates()}
    assert set(rows) == {"/gallery/a.html", "/blog/b.html", "/shop/c.html"}
    assert site.hits["/.well-known/tdmrep.json"] == 1 and site.hits["/robots.txt"] == 1
    gallery = rows["/gallery/a.html"]["site_rights"]
    assert gallery["tdmrep"] == {"status": "found", "location": "/gallery/*", "reservation": "1",
                                 "policy": "https://rights.example/tdm-policy.json"}
    assert gallery["meta"] == {"robots": "index, noai, noimageai"}
    assert gallery["robots_txt"] == {"status": "read", "disallowed": ["GPTBot", "CCBot", "Google-Extended"]}
    blog = rows["/blog/b.html"]["site_rights"]
    assert blog["headers"] == {"tdm-reservation": "1", "tdm-policy": "https://blog.example/tdm-policy.json",
                               "x-robots-tag": "noimageai"}
    assert blog["meta"] == {"tdm-reservation": "0"} and blog["tdmrep"] == {"status": "no_rule"}
    assert blog["robots_txt"] == {"status": "read", "disallowed": ["GPTBot"]}
    # The image's own declarations are kept with its response headers.
    shop = rows["/shop/c.html"]
    assert shop["headers"]["tdm-reservation"] == "1" and shop["headers"]["X-Robots-Tag"] == "noai"


def test_each_matchs_signals_carry_the_works_rights_and_the_sites_declarations(crawled):
    matches = crawled[4]
    assert set(matches) == {"/gallery/a.html", "/blog/b.html", "/shop/c.html"}
    gallery = matches["/gallery/a.html"]["signals"]
    assert gallery["site_rights"] == {
        "tdm": "reserved", "tdm_source": "tdmrep", "tdm_policy": "https://rights.example/tdm-policy.json",
        "ai_directives": ["noai", "noimageai"], "robots_ai_disallowed": ["GPTBot", "CCBot", "Google-Extended"],
        "tdmrep_file": "found"}
    assert gallery["rights_metadata"]["removed"] == ["creator", "copyright", "credit", "rights_url", "licensor",
                                                     "data_mining"]
    assert gallery["rights_metadata"]["work"]["data_mining"] == "DMI-PROHIBITED-AIMLTRAINING"
    assert gallery["rights_metadata"]["work_training_mining"]["ai_training"] == "notAllowed"
    assert gallery["content_credentials"]["verdict"] == "removed"
    blog = matches["/blog/b.html"]["signals"]
    assert (blog["site_rights"]["tdm"], blog["site_rights"]["tdm_source"]) == ("reserved", "header")
    assert blog["site_rights"]["ai_directives"] == ["noimageai"]
    assert blog["rights_metadata"]["removed"] == [] and blog["rights_metadata"]["altered"] == []
    shop = matches["/shop/c.html"]["signals"]
    assert (shop["site_rights"]["tdm"], shop["site_rights"]["tdm_source"]) == ("reserved", "image")
    assert shop["site_rights"]["ai_directives"] == ["noai"]


def test_the_report_and_the_notice_say_what_the_work_carried_what_the_copy_lost_and_what_the_site_declares(crawled):
    ws, store, settings, _, matches = crawled
    loaded = case.load_case(ws, store, matches["/gallery/a.html"]["id"])
    built = report.build(loaded, settings)
    assert built.rights_carried[0].startswith(
        "The registered file carries this rights information in its metadata: the author's name (\u201cAlice "
        "Example\u201d); the copyright notice (\u201c\u00a9 2025 Alice Example\u201d); the credit line "
        "(\u201cAlice Example / Studio A\u201d); the web address of the licensing terms "
        "(\u201chttps://alice.example/licensing\u201d); the licensor's name (\u201cStudio A Licensing\u201d); the "
        "data-mining statement (\u201cDMI-PROHIBITED-AIMLTRAINING: it prohibits its use for training AI or "
        "machine-learning models\u201d).")
    assert built.rights_carried[1].startswith("Its Content Credentials declare that training AI models is not allowed")
    lost = ("The data-mining statement embedded in the registered file (\u201cDMI-PROHIBITED-AIMLTRAINING: it prohibits "
            "its use for training AI or machine-learning models\u201d) was removed from the copy.")
    assert lost in built.cmi_removed
    declared = [
        ("The site reserves text-and-data-mining rights (TDMRep, in its /.well-known/tdmrep.json file); its policy "
        "is at https://rights.example/tdm-policy.json."),
        "The site asks that its content not be used for AI (noai and noimageai robots directives).",
        "Its robots.txt disallows these AI crawlers from the page: GPTBot, CCBot, Google-Extended."]
    assert built.site_declared == declared
    html = " ".join(report.render_html(built).split())
    for line in [lost, *declared]:
        assert line.replace("'", "&#39;") in html
    assert "17 U.S.C. 1202(b)" in html and "What the copy's site declares" in html

    notice = " ".join(notices.render_notice(loaded, settings, "dmca", "2026-01-05").split())
    assert lost in notice and "17 U.S.C. 1202(b)" in notice
    assert "What the site declared about text-and-data mining and AI use when the copy was captured:" in notice
    for line in declared:
        assert line in notice
    assert "The registered file carries this rights information in its metadata: the author's name" in notice

    kept = report.build(case.load_case(ws, store, matches["/blog/b.html"]["id"]), settings)
    assert kept.cmi_removed == [] and kept.rights_carried[-1] == "The copy keeps all of it."
    assert kept.site_declared[0] == ("The site reserves text-and-data-mining rights (TDMRep, in the page's "
                                     "tdm-reservation HTTP header); its policy is at "
                                     "https://blog.example/tdm-policy.json.")


def test_the_match_page_shows_the_rights_metadata_and_the_sites_declarations(crawled):
    ws, store, settings, _, matches = crawled
    token = tokens.create_token(store, "alice")[1]
    with serving(create_app(ws, settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        signin = client.get("/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', signin.text).group(1)
        assert client.post("/signin", data={"token": token, "csrf": csrf, "next": "/"}).status_code == 303
        gallery = client.get(f"/matches/{matches['/gallery/a.html']['id']}").text
        blog = client.get(f"/matches/{matches['/blog/b.html']['id']}").text
    assert re.search(r'<td id="rights-metadata">(.*?)</td>', gallery).group(1) == (
        "removed from the copy: creator, copyright, credit, rights_url, licensor, data_mining")
    assert re.search(r'<td id="site-rights">(.*?)</td>', gallery).group(1) == (
        "text and data mining: reserved (tdmrep); noai, noimageai; robots.txt disallows GPTBot, CCBot, Google-Extended")
    assert re.search(r'<td id="rights-metadata">(.*?)</td>', blog).group(1) == "kept by the copy"
