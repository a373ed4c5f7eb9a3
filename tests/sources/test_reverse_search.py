"""Reverse image search end to end: the real google-cloud-vision and serpapi clients (and httpx for TinEye) talk to a loopback
server that speaks their documented JSON, with the noise real answers carry (a 429, irrelevant and dead
results, a duplicate across providers, malformed and oversized bodies, a refused key); the crawler and
detection are real."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from support import invoke_cli, registered_home, run_cli

from detector import config, demo_site
from detector.workspace import open_workspace
from detector.workspace.store import Store

VISION_KEY, TINEYE_KEY, SERP_KEY = "sekret-VISION-123", "sekret-TINEYE-456", "sekret-SERP-789"


class Providers:
    def __init__(self, base: str, works_dir: Path):
        self.base = base
        self.works = {p.read_bytes(): p.name for p in works_dir.iterdir() if p.suffix in (".jpg", ".png")}
        self.vision_calls: list[str] = []
        self.tineye_calls: list[str] = []
        self.lens_calls: list[str] = []
        self.throttled = False

    def vision(self, body: bytes, headers) -> tuple[int, bytes]:
        if headers.get("x-goog-api-key") != VISION_KEY:
            return 403, json.dumps({"error": {"code": 403, "message": "API key not valid", "status":
                                              "PERMISSION_DENIED"}}).encode()
        content = base64.b64decode(json.loads(body)["requests"][0]["image"]["content"])
        work = self.works.get(content, "?")
        self.vision_calls.append(work)
        if work == "astronaut.jpg" and not self.throttled:
            self.throttled = True
            return 429, json.dumps({"error": {"code": 429, "message": "Quota exceeded per minute",
                                              "status": "RESOURCE_EXHAUSTED"}}).encode()
        if work == "chelsea.jpg":
            return 200, b"<html>upstream proxy error</html>"
        found = {}
        if work == "astronaut.jpg":
            found = {"pagesWithMatchingImages": [
                {"url": f"{self.base}recompressed.html", "pageTitle": "Blog post",
                 "fullMatchingImages": [{"url": f"{self.base}img/recompressed.jpg"}]},
                {"url": f"{self.base}index.html", "pageTitle": "Irrelevant"},
                {"url": f"{self.base}gone.html", "pageTitle": "Dead link"}]}
        return 200, json.dumps({"responses": [{"webDetection": found}]}).encode()

    def lens(self, query: dict) -> tuple[int, bytes]:
        if query.get("api_key") != [SERP_KEY] or query.get("engine") != ["google_lens"]:
            return 401, json.dumps({"error": "Invalid API key."}).encode()
        work = query["url"][0].rsplit("/", 1)[1]
        self.lens_calls.append(work)
        if work == "motorcycle_left.jpg":
            return 500, b"<html>Internal Server Error</html>"  # its message names the URL, key and all
        if work == "rocket.jpg":
            return 200, json.dumps({"search_metadata": {"status": "Success"}, "visual_matches": [
                {"position": 1, "title": "Launch", "link": f"{self.base}captioned.html",
                 "image": f"{self.base}img/captioned.jpg", "source": "blog"},
                {"position": 2, "title": "Coffee", "link": f"{self.base}cropped.html", "source": "blog"},
                {"position": 3, "title": "No link"}]}).encode()
        return 200, json.dumps({"error": "Google Lens hasn't returned any results for this query."}).encode()

    def tineye(self, body: bytes, headers) -> tuple[int, bytes]:
        if headers.get("x-api-key") != TINEYE_KEY:
            return 401, json.dumps({"code": 401, "messages": ["Invalid API key"], "results": {}}).encode()
        work = next((name for data, name in self.works.items() if data in body), "?")
        self.tineye_calls.append(work)
        if work == "rocket.jpg":
            return 200, b"{" + b" " * 3_000_000  # oversized and cut off
        matches = []
        if work == "coffee.jpg":
            matches = [{"image_url": f"{self.base}img/cropped.jpg", "domain": "127.0.0.1", "score": 90.1,
                        "backlinks": [{"url": f"{self.base}img/cropped.jpg", "backlink": f"{self.base}cropped.html",
                                       "crawl_date": "2026-01-01"}]},
                       {"image_url": f"{self.base}img/recompressed.jpg", "domain": "127.0.0.1", "score": 50.0,
                        "backlinks": [{"url": f"{self.base}img/recompressed.jpg",
                                       "backlink": f"{self.base}recompressed.html", "crawl_date": "2026-01-01"}]}]
        return 200, json.dumps({"code": 200, "messages": [], "stats": {}, "results": {"matches": matches}}).encode()


@pytest.fixture
def providers(tmp_path, works_dir):
    site = demo_site.build_site(tmp_path / "site")
    site_server, base = demo_site.serve(site)
    state = Providers(base, works_dir)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            parts = urlsplit(self.path)
            status, out = state.lens(parse_qs(parts.query)) if parts.path == "/search" else (404, b"{}")
            self._send(status, out)

        def _send(self, status: int, out: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.startswith("/v1/images:annotate"):
                status, out = state.vision(body, self.headers)
            elif self.path.startswith("/rest/search"):
                status, out = state.tineye(body, self.headers)
            else:
                status, out = 404, b"{}"
            self._send(status, out)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    site_server.shutdown()


@pytest.fixture
def home(tmp_path, providers, registered_template):
    _, endpoint = providers
    common = {"allow_private": True, "cadence_days": 30.0, "monthly_budget": 100}
    sources = (config.SourceConfig(name="vision", type="vision", endpoint=endpoint, api_key=VISION_KEY, **common),
               config.SourceConfig(name="tineye", type="tineye", endpoint=f"{endpoint}/rest/", **common),
               config.SourceConfig(name="tineye-bad", type="tineye", endpoint=f"{endpoint}/rest/",
                                   api_key="wrong-key", **common),
               config.SourceConfig(name="lens", type="serpapi_lens", endpoint=endpoint, api_key=SERP_KEY,
                                   work_url=f"{endpoint}/works/{{filename}}", **common))
    return registered_home(tmp_path / "ws", registered_template, sources)


@pytest.mark.slow  # a long end-to-end test (real scans): `make test-fast` leaves it out
def test_reverse_search_finds_copies_through_both_providers_and_keeps_keys_secret(home, providers):
    state, _ = providers
    env = {"TINEYE_API_KEY": TINEYE_KEY}
    # In a process of its own: whatever it prints, logging included, is searched for the keys below.
    done = run_cli("scan", "--format", "json", home=home, env=env)
    assert done.returncode in (0, 1), done.stderr
    summary = json.loads(done.stdout)
    vision, tineye, bad = (summary["sources"][n] for n in ("vision", "tineye", "tineye-bad"))
    assert vision["status"] == "finished" and vision["leads"] == 3  # 3 pages; their images are in the provenance
    assert any("work" in p and "answer was not usable" in p for p in vision["problems"])  # chelsea: malformed
    assert tineye["leads"] == 1  # cropped.html; recompressed.html was Vision's already
    assert any("answer was not usable" in p for p in tineye["problems"])  # rocket: oversized, cut off
    assert bad["status"] == "failed" and "refused the query" in bad["problems"][0]
    lens = summary["sources"]["lens"]
    assert lens["leads"] == 1  # captioned.html; cropped.html was TinEye's already, a match with no link is none
    assert any("answer was not usable" in p and "***" in p for p in lens["problems"])  # the 500, key scrubbed
    assert state.vision_calls.count("astronaut.jpg") == 2  # asked again after the 429
    store = Store(open_workspace(home).db_path)
    found = {Path(m["image_url"]).name for m in store.matches()}
    assert {"recompressed.jpg", "cropped.jpg", "captioned.jpg"} <= found
    match = next(m for m in store.matches() if m["image_url"].endswith("/cropped.jpg"))
    lead = store.lead(store.candidate(match["candidate_id"])["lead_id"])
    assert lead["found_by"] == "TinEye" and "query for work" in lead["why"] and "coffee.jpg" in lead["why"]
    events = {e["url"] for e in store.crawl_events(summary["scan_id"])}
    assert any(url.endswith("/gone.html") for url in events)  # the dead result is a recorded refusal
    store.close()
    for secret in (VISION_KEY, TINEYE_KEY, SERP_KEY):
        assert secret not in done.stdout + done.stderr
        database = sqlite3.connect(open_workspace(home).db_path)
        rows = database.execute("SELECT detail, cursor FROM source_runs").fetchall()
        database.close()
        assert secret not in json.dumps(rows)

    # Within the cadence only the work whose answer was unusable is asked again.
    state.vision_calls.clear()
    again = json.loads(invoke_cli("scan", "--source", "vision", "--format", "json", home=home, env=env).stdout)
    assert state.vision_calls == ["chelsea.jpg"] and again["sources"]["vision"]["leads"] == 0


def test_sources_test_estimates_the_next_run_and_names_a_missing_key(home, providers):
    state, _ = providers
    dry = invoke_cli("sources", "test", "vision", "--dry-run", home=home)
    assert dry.returncode == 0, dry.stderr
    assert "next run:" in dry.stdout and "100 left this month" in dry.stdout and state.vision_calls == []
    done = invoke_cli("sources", "test", "vision", home=home)
    assert done.returncode == 0, done.stderr
    assert "one query for work" in done.stdout and "next run:" in done.stdout and "99 left this month" in done.stdout
    missing = invoke_cli("sources", "test", "tineye", home=home, env={"TINEYE_API_KEY": ""})
    assert missing.returncode == 1 and "no API key" in missing.stdout and "TINEYE_API_KEY" in missing.stdout
