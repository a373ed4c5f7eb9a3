"""The page as it was seen: real headless Chromium (Debian's, driven by Playwright) shooting a real
page served on 127.0.0.1, the WARC records read back with warcio, the report showing the shot."""

import contextlib
import io
import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from evidence_case import build_env, copy_jpeg, work_jpeg
from PIL import Image
from warcio.archiveiterator import ArchiveIterator

from crawlers.screenshot import AddressGuard, Capture, Page, ScreenshotRefused, Shot, take_all
from detector.config import ReportSettings, Target
from detector.demo_site import serve
from detector.evidence import case, report
from detector.provenance import ledger
from detector.screenshots import after_scan, shoot
from detector.workspace.blobs import BlobStore

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")

BACKGROUND = (20, 160, 90)
PAGE = """<!doctype html><html><head><title>Shop</title>
<style>body { margin: 0; background: rgb(20, 160, 90); } img { position: absolute; left: 40px; top: 40px; }</style></head>
<body><img src="mug.jpg" width="400" height="300"></body></html>"""


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "mug.html").write_text(PAGE, encoding="utf-8")
    server, base = serve(root)
    yield root, base
    server.shutdown()


def env_on(tmp_path, base: str):
    """The evidence case with its match moved to a page of the loopback site showing the copy."""
    env = build_env(tmp_path)
    (tmp_path / "site" / "mug.jpg").write_bytes(copy_jpeg(work_jpeg()))
    env.store.db["matches"].update(env.match_id, {"page_url": base + "mug.html"})
    return env


def records(path: Path) -> list:
    with path.open("rb") as f:
        return [(r.rec_type, r.rec_headers, r.content_stream().read()) for r in ArchiveIterator(f)]


def test_a_screenshot_is_stored_as_a_warc_resource_with_viewport_agent_and_time_and_shown_in_the_report(
        tmp_path, site):
    env = env_on(tmp_path, site[1])
    settings = env.settings.report
    [row] = shoot(env.ws.home, env.store, [env.match_id], {env.match_id}, settings.screenshot_timeout)
    assert (row["match_id"], row["status"]) == (env.match_id, "taken")
    shot = env.store.latest_screenshot(env.match_id)
    assert (shot["viewport_width"], shot["viewport_height"]) == tuple(settings.viewport)
    entry = ledger.entries(env.store, [ledger.match_subject(env.match_id)])[-1]
    payload = json.loads(entry["payload"])
    assert (entry["kind"], payload["sha256"], payload["warc_digest"]) == (
        "screenshot", shot["sha256"], shot["warc_digest"])
    assert shot["user_agent"] == env.settings.crawl.user_agent and shot["browser"].startswith("Chromium ")
    png = BlobStore(env.ws.blobs_dir).get(shot["sha256"])
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (shot["width"], shot["height"]) and image.width == settings.viewport[0]
    assert image.getpixel((image.width - 5, image.height - 5)) == BACKGROUND  # the page's own colours
    # the copy is on the page where the page puts it, as the browser drew it
    box = np.asarray(image)[40:340, 40:440].astype(int)
    served = np.asarray(Image.open(site[0] / "mug.jpg").convert("RGB")).astype(int)
    assert np.abs(box - served).mean() < np.abs(box - np.array(BACKGROUND)).mean() / 10
    # WARC: warcinfo, the PNG as a resource record, then its metadata record pointing at it
    warc = env.ws.home / shot["warc_file"]
    kinds = records(warc)
    assert [k for k, _, _ in kinds] == ["warcinfo", "resource", "metadata"]
    _, resource, payload = kinds[1]
    assert payload == png and resource.get_header("Content-Type") == "image/png"
    assert resource.get_header("WARC-Target-URI") == f"urn:view:{site[1]}mug.html"
    assert resource.get_header("WARC-Block-Digest") == shot["warc_digest"]
    assert resource.get_header("WARC-Date") == shot["taken_at"]
    with warc.open("rb") as f:
        f.seek(shot["warc_offset"])
        assert next(iter(ArchiveIterator(f))).rec_headers.get_header("WARC-Record-ID") == shot["warc_record_id"]
    _, metadata, fields = kinds[2]
    assert metadata.get_header("WARC-Concurrent-To") == shot["warc_record_id"]
    text = fields.decode("utf-8")
    assert "viewport: 1280x800\r\n" in text and f"user-agent: {shot['user_agent']}\r\n" in text
    assert f"taken-at: {shot['taken_at']}\r\n" in text
    # the report shows it with what it records
    built = report.build(case.load_case(env.ws, env.store, env.match_id), env.settings)
    html = report.render_html(built)
    assert "The page as it was seen" in html and built.screenshot.data_uri in html
    for expected in (shot["taken_at"], "1280 x 800 CSS px", shot["sha256"], shot["warc_record_id"].replace("<", "&lt;").replace(">", "&gt;")):
        assert expected in html, expected


def test_matches_on_one_page_share_one_shot_of_it(tmp_path, site):
    env = env_on(tmp_path, site[1])
    first = env.store.asset(env.asset_id)
    other = env.store.add_asset({"owner_id": first["owner_id"], "sha256": "f" * 64, "filename": "second.jpg",
                                 **{k: first[k] for k in ("width", "height", "format", "frames", "byte_size")}},
                                features={}, embedding=None)
    second, _ = env.store.record_match(asset=env.store.asset(other), candidate=env.store.candidate(env.candidate_id),
                                       score=0.9, decision="match", signals={})
    env.store.db["matches"].update(second, {"page_url": site[1] + "mug.html"})
    rows = shoot(env.ws.home, env.store, [env.match_id, second], {env.match_id, second}, 30.0)
    assert [(row["match_id"], row["status"]) for row in rows] == [(env.match_id, "taken"), (second, "taken")]
    shots = [env.store.latest_screenshot(match_id) for match_id in (env.match_id, second)]
    assert shots[0]["id"] != shots[1]["id"]
    for field in ("warc_file", "warc_offset", "warc_record_id", "sha256", "taken_at"):
        assert shots[0][field] == shots[1][field], field
    # one capture: one resource record (and its metadata) in the WARC, and a ledger entry for each match
    assert [k for k, _, _ in records(env.ws.home / shots[0]["warc_file"])] == ["warcinfo", "resource", "metadata"]
    for match_id in (env.match_id, second):
        assert ledger.entries(env.store, [ledger.match_subject(match_id)])[-1]["kind"] == "screenshot"


def test_a_page_on_a_private_address_is_refused_unless_its_target_allows_it(tmp_path, site):
    env = env_on(tmp_path, site[1])
    [row] = shoot(env.ws.home, env.store, [env.match_id], set(), 30.0)
    assert row["status"] == "refused"
    assert row["detail"].startswith(f"private_address: {site[1]}mug.html: host 127.0.0.1 is or resolves to "
                                    "127.0.0.1, a loopback address; no screenshot taken.")
    assert env.store.latest_screenshot(env.match_id) is None
    assert not list(env.ws.warc_dir.glob("screenshots-*"))


def test_the_guard_refuses_every_request_to_a_non_public_host_and_non_http_schemes():
    guard = AddressGuard(allow_private=False)
    for url in ("http://10.1.2.3/x.png", "http://192.168.0.1/", "http://[::1]:8080/", "https://localhost/a.js",
                "http://169.254.169.254/latest/meta-data/"):
        assert "address" in guard.refusal(url), url
    assert guard.refusal("file:///etc/passwd").endswith("not an http(s) URL")
    assert guard.refusal("data:image/png;base64,AAAA") is None
    assert AddressGuard(allow_private=True).refusal("http://10.1.2.3/x.png") is None


def test_a_scan_shoots_the_matches_its_setting_asks_for_once(tmp_path, site):
    env = env_on(tmp_path, site[1])
    scan_id = env.store.candidate(env.candidate_id)["scan_id"]
    allowed = [Target(name="shop", start_urls=(site[1],), allow_private=True)]
    none = replace(env.settings, report=ReportSettings(screenshots="none"))
    assert after_scan(env.ws.home, env.store, none, scan_id, allowed) == {}
    env.store.db["matches"].update(env.match_id, {"decision": "review"})
    assert after_scan(env.ws.home, env.store, env.settings, scan_id, allowed) == {}  # 'matches' skips review
    every = replace(env.settings, report=ReportSettings(screenshots="all"))
    assert after_scan(env.ws.home, env.store, every, scan_id, allowed) == {"taken": 1}
    assert after_scan(env.ws.home, env.store, every, scan_id, allowed) == {}  # already has one
    assert env.store.latest_screenshot(env.match_id)["status"] == "taken"


class _Pages(BaseHTTPRequestHandler):
    """Pages that each set a cookie; /hang never answers in time. Records the cookies it is sent."""

    cookies_seen: ClassVar[list] = []

    def do_GET(self):
        if self.path != "/favicon.ico":
            type(self).cookies_seen.append(self.headers.get("Cookie"))
        if self.path == "/hang":
            time.sleep(8)
        body = f"<!doctype html><title>{self.path}</title><p>{self.path}</p>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Set-Cookie", f"visited={self.path.strip('/')}; Path=/")
        self.send_header("Content-Length", str(len(body)))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the browser gave up on /hang
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_one_browser_shoots_every_page_each_in_a_fresh_context_and_a_hanging_page_fails_alone():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    _Pages.cookies_seen = []
    urls = [base + "a", base + "hang", base + "b", base + "c", base + "d"]
    results: dict = {}
    capture = Capture(viewport=(400, 300), user_agent="copyhound-test", timeout=2.0, max_height=2000, concurrency=2)
    try:
        launches = take_all([Page(url, allow_private=True) for url in urls], capture, results.__setitem__)
    finally:
        server.shutdown()
    assert launches == 1
    assert sorted(results) == list(range(len(urls)))
    hung = results.pop(1)
    assert isinstance(hung, ScreenshotRefused) and hung.reason == "load_failed" and "/hang" in str(hung)
    assert all(isinstance(shot, Shot) for shot in results.values())
    assert [shot.final_url for _, shot in sorted(results.items())] == [base + p for p in "abcd"]
    # every page set a cookie, and no page was sent another's: each had a context of its own
    assert len(_Pages.cookies_seen) == len(urls) and set(_Pages.cookies_seen) == {None}
