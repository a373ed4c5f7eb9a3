"""A real test website on 127.0.0.1 (ephemeral port), served from a thread, for crawls to walk.

It holds every way a page can reference an image, relative and absolute URLs, a redirect
chain, a 404, a 500 that succeeds when retried, a robots.txt disallow, an oversized image, an
HTML page named .jpg, an endless calendar, an off-site link and a sitemap. Responses carry
Last-Modified and ETag and honour If-None-Match, like a static file server, and pages are
gzipped when the client accepts it. Every request is counted, so tests can tell what was
fetched from the network and what came from the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from detector.config import Settings
from detector.workspace import create_workspace

ASSETS = Path(__file__).resolve().parents[2] / "detector" / "demo_assets"
LAST_MODIFIED = "Mon, 06 Jan 2020 10:00:00 GMT"
MAX_IMAGE_BYTES = 120_000  # baboon.jpg (138 kB) is over it; every other photo is under


def _asset(name: str) -> bytes:
    for folder in ("works", "others"):
        path = ASSETS / folder / name
        if path.exists():
            return path.read_bytes()
    raise FileNotFoundError(name)


def _webp(name: str) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(_asset(name))).save(out, "WEBP", quality=80)
    return out.getvalue()


IMAGES = {
    "/img/astronaut.jpg": "astronaut.jpg",
    "/img/portrait.jpg": "astronaut.jpg",  # the same bytes under another URL
    "/img/chelsea.jpg": "chelsea.jpg",
    "/img/chelsea-small.jpg": "chelsea.jpg",
    "/img/coffee.jpg": "coffee.jpg",
    "/img/rocket.jpg": "rocket.jpg",
    "/img/building.jpg": "building.jpg",
    "/img/building-small.jpg": "building.jpg",
    "/img/basketball-a.jpg": "basketball-court1-a.jpg",
    "/img/basketball-b.jpg": "basketball-court1-b.jpg",
    "/img/motorcycle.jpg": "motorcycle_left.jpg",
    "/img/fruits.jpg": "fruits.jpg",
    "/img/mural.jpg": "berkeley-mural.jpg",
    "/img/castle.jpg": "castle.jpg",
    "/assets/castle-copy.jpg": "castle.jpg",
    "/img/flaky.jpg": "rocket.jpg",
    "/img/lake.jpg": "lake.jpg",
    "/img/village.jpg": "village.jpg",
    "/img/huge.jpg": "baboon.jpg",
    "/private/secret.jpg": "castle.jpg",
}

INDEX = """<!doctype html>
<html><head><title>Gallery home</title>
<meta property="og:image" content="{base}/img/motorcycle.jpg">
<meta property="og:image:width" content="640"><meta property="og:image:height" content="480">
<meta name="twitter:image" content="/img/motorcycle.jpg">
<link rel="image_src" href="/img/fruits.jpg">
<script type="application/ld+json">
{{"@context": "https://schema.org", "@type": "Article",
  "image": [{{"@type": "ImageObject", "url": "/img/castle.jpg", "width": 800, "height": "600",
              "caption": "Castle at dusk"}},
            "{base}/img/fruits.jpg"],
  "author": {{"@type": "Person", "name": "A. Painter", "image": {{"url": "/img/portrait.jpg"}}}}}}
</script>
</head><body>
<figure><img src="/img/astronaut.jpg" alt="Astronaut on the moon" width="300" height="200">
<figcaption>An astronaut, 1969</figcaption></figure>
<img src="img/astronaut.jpg" alt="The same picture again">
<img src="/img/chelsea-small.jpg" srcset="/img/chelsea-small.jpg 300w, /img/chelsea.jpg 800w" alt="Chelsea the cat">
<picture><source srcset="/img/coffee.webp" type="image/webp"><img src="/img/coffee.jpg" alt="Coffee"></picture>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/img/rocket.jpg" alt="Rocket">
<img data-srcset="/img/building-small.jpg 400w, /img/building.jpg 1200w" alt="Building">
<img data-lazy-src="/img/basketball-a.jpg">
<img class="lazy" data-original="/img/basketball-b.jpg">
<div style="color: #333; background-image: url('/img/mural.jpg')">Mural</div>
<img src="/img/missing.jpg"> <img src="/img/flaky.jpg"> <img src="/img/redirect1.jpg">
<img src="/private/secret.jpg"> <img src="/img/huge.jpg"> <img src="/img/fake.jpg">
<a href="page2.html">next</a> <a href="/based.html">based</a> <a href="/calendar?month=1">calendar</a>
<a href="/private/page.html">members</a> <a href="http://example.invalid/elsewhere.html">elsewhere</a>
</body></html>
"""

PAGE2 = """<html><head><title>Second page</title></head><body>
<div class="wp-caption"><img src="/img/astronaut.jpg" alt="Reused astronaut">
<p class="wp-caption-text">Used again here</p></div>
<img src="/img/missing.jpg"><a href="index.html">home</a>
</body></html>
"""

BASED = """<html><head><title>Based</title><base href="/assets/"></head><body>
<img src="castle-copy.jpg" alt="Castle copy"></body></html>
"""

ORPHAN = """<html><head><title>Only in the sitemap</title></head><body>
<img src="/img/village.jpg" alt="Village"></body></html>
"""

CALENDAR = """<html><head><title>Calendar {month}</title></head><body>
<a href="/calendar?month={next}">next month</a></body></html>
"""

# /sitemap.xml is an index: its child on the site is read, the one on another host is not.
SITEMAP_INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{base}/sitemap-pages.xml</loc></sitemap><sitemap><loc>http://elsewhere.test/sitemap.xml</loc></sitemap>
</sitemapindex>
"""

SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>{base}/index.html</loc></url><url><loc>{base}/orphan.html</loc></url>
</urlset>
"""


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A crawler hanging up mid-response (size cap, SIGKILL) is expected; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SiteServer:
    """The running site: `base` URL, `hits` [(path, status)], `arrivals` [(monotonic time a request
    was read, path)], and a per-request `delay`."""

    def __init__(self):
        self.hits: list[tuple[str, int]] = []
        self.arrivals: list[tuple[float, str]] = []
        self.delay = 0.0
        self.robots_status = 200  # 503 or 429: robots.txt answers that, as a failing or busy server does
        self.lock = threading.Lock()
        self.images = {path: _asset(name) for path, name in IMAGES.items()}
        self.images["/img/coffee.webp"] = _webp("coffee.jpg")
        self._flaky_hits = 0
        self.httpd = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()
            self.arrivals.clear()
            self._flaky_hits = 0
        self.delay = 0.0
        self.robots_status = 200

    def full_fetches(self, path: str) -> int:
        """How many times `path` was answered with its whole body (status 200)."""
        with self.lock:
            return sum(1 for p, status in self.hits if p == path and status == 200)

    def respond(self, path: str, headers) -> tuple[int, dict, bytes]:
        base = self.base
        pages = {
            "/index.html": INDEX.format(base=base),
            "/page2.html": PAGE2,
            "/based.html": BASED,
            "/orphan.html": ORPHAN,
            "/private/page.html": "<html><body>members only</body></html>",
            "/img/fake.jpg": "<!doctype html><html><body>Not found, but said nicely</body></html>",
        }
        parts = urlsplit(path)
        if parts.path == "/robots.txt" and self.robots_status != 200:
            return self.robots_status, {"Content-Type": "text/html"}, b"<html><body>Service unavailable</body></html>"
        if parts.path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n"
        if parts.path == "/sitemap.xml":
            return 200, {"Content-Type": "application/xml"}, SITEMAP_INDEX.format(base=base).encode()
        if parts.path == "/sitemap-pages.xml":
            return 200, {"Content-Type": "application/xml"}, SITEMAP.format(base=base).encode()
        if parts.path == "/calendar":
            month = int(parts.query.partition("=")[2] or 1)
            return 200, {"Content-Type": "text/html"}, CALENDAR.format(month=month, next=month + 1).encode()
        if parts.path == "/img/redirect1.jpg":
            return 301, {"Location": "/img/redirect2.jpg"}, b""
        if parts.path == "/img/redirect2.jpg":
            return 302, {"Location": f"{base}/img/lake.jpg"}, b""
        if parts.path == "/go-local":  # asked through the proxy for a public host
            return 302, {"Location": f"{base}/img/lake.jpg"}, b""
        if parts.path == "/img/flaky.jpg":
            with self.lock:
                self._flaky_hits += 1
                if self._flaky_hits % 2 == 1:
                    return 500, {"Content-Type": "text/plain"}, b"try again"
        if parts.path in pages:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, pages[parts.path].encode()
        if parts.path in self.images:
            return 200, {"Content-Type": "image/jpeg"}, self.images[parts.path]
        return 404, {"Content-Type": "text/html"}, b"<html><body>404</body></html>"


def _handler(site: SiteServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            with site.lock:
                site.arrivals.append((time.monotonic(), self.path))
            if site.delay:
                time.sleep(site.delay)
            status, headers, body = site.respond(self.path, self.headers)
            if status == 200:
                etag = '"' + hashlib.sha1(body).hexdigest() + '"'
                headers.update({"ETag": etag, "Last-Modified": LAST_MODIFIED})
                if self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""
                elif headers.get("Content-Type", "").startswith("text/html") and "gzip" in self.headers.get(
                    "Accept-Encoding", ""
                ):
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
            parts = urlsplit(self.path)  # an absolute URL when asked as a proxy
            with site.lock:
                site.hits.append((parts.path + (f"?{parts.query}" if parts.query else ""), status))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the crawler hung up (it refuses oversized bodies mid-way)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture(scope="session")
def site():
    server = SiteServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture(scope="session")
def make_workspace(tmp_path_factory):
    """Makes fresh workspaces whose crawl settings are fast and small: no delays, tiny size cap."""

    def make(**crawl):
        defaults = {
            "download_delay": 0.0,
            "autothrottle": False,
            "max_depth": 2,
            "max_pages": 50,
            "max_image_bytes": MAX_IMAGE_BYTES,
            "timeout": 10.0,
            "retries": 2,
            "retry_backoff": 0.05,
            "concurrency_per_domain": 4,
        }
        settings = Settings()
        settings = replace(settings, crawl=replace(settings.crawl, **{**defaults, **crawl}))
        ws, _ = create_workspace(tmp_path_factory.mktemp("ws"), settings)
        return ws

    return make
