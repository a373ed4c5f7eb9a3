"""Hostile or broken answers are each recorded under the URL that was asked for, with a reason a
person can act on: a gzip bomb, a redirect chain over the limit, a redirect loop; and an IPv6
loopback target crawls when private addresses are allowed."""

from __future__ import annotations

import gzip
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from detector.config import Target
from detector.crawl import crawl
from detector.workspace.store import Store

BOMB = gzip.compress(b"\0" * 3_000_000, compresslevel=9)  # a few kB that expand to 3 MB
PHOTO_PATH = "/photo.jpg"


def _handler(photo: bytes):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path
            if path == "/robots.txt":
                return self._send(404, b"", "text/plain")
            if path == "/":
                return self._send(200, (b'<html><body><img src="/bomb.jpg"><img src="' + PHOTO_PATH.encode()
                                        + b'"><a href="/chain/0">far</a><a href="/loop-a">round</a></body></html>'),
                                  "text/html")
            if path == "/bomb.jpg":
                return self._send(200, BOMB, "image/jpeg", {"Content-Encoding": "gzip"})
            if path == PHOTO_PATH:
                return self._send(200, photo, "image/jpeg")
            if path.startswith("/chain/"):
                return self._redirect(f"/chain/{int(path.rsplit('/', 1)[1]) + 1}")
            if path in ("/loop-a", "/loop-b"):
                return self._redirect("/loop-b" if path == "/loop-a" else "/loop-a")
            return self._send(404, b"", "text/plain")

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, status: int, body: bytes, kind: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _serve(server_class, host: str, photo: bytes):
    server = server_class((host, 0), _handler(photo))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def hostile_site(works_dir):
    server = _serve(ThreadingHTTPServer, "127.0.0.1", (works_dir / "coffee.jpg").read_bytes())
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_bomb_chain_and_loop_are_recorded_under_the_url_asked_for(hostile_site, make_workspace):
    ws = make_workspace(max_image_bytes=1_000_000, max_redirects=3)
    store = Store(ws.db_path)
    scan_id = store.start_scan({"test": True})
    crawl(ws.home, scan_id, [Target(name="hostile", start_urls=(f"{hostile_site}/",), allow_private=True)])
    events = {e["url"].removeprefix(hostile_site): (e["reason"], e["detail"]) for e in store.crawl_events(scan_id)}
    store.close()

    reason, detail = events["/bomb.jpg"]
    assert reason == "too_large"
    assert "decompresses to more than the 1000000-byte limit" in detail
    reason, detail = events["/chain/0"]
    assert reason == "too_many_redirects"
    assert detail.endswith(f"redirected more times than crawl.max_redirects allows (last hop: {hostile_site}/chain/3).")
    reason, detail = events["/loop-a"]
    assert reason == "redirect_loop"
    assert f"({hostile_site}/loop-a -> {hostile_site}/loop-b -> {hostile_site}/loop-a" in detail
    assert not any(url.startswith(("/chain/1", "/chain/2", "/chain/3", "/loop-b")) for url in events)


def test_an_ipv6_loopback_target_is_crawled_when_private_addresses_are_allowed(make_workspace, works_dir):
    try:
        server = _serve(_V6Server, "::1", (works_dir / "coffee.jpg").read_bytes())
    except OSError:
        pytest.fail("this machine has no IPv6 loopback to test against")
    base = f"http://[::1]:{server.server_address[1]}"
    ws = make_workspace()
    store = Store(ws.db_path)
    scan_id = store.start_scan({"test": True})
    try:
        crawl(ws.home, scan_id, [Target(name="v6", start_urls=(f"{base}/",), allow_private=True)])
    finally:
        server.shutdown()
    captured = [c["image_url"] for c in store.candidates("scan_id = ?", [scan_id])]
    reasons = {e["reason"] for e in store.crawl_events(scan_id)}
    store.close()
    assert captured == [f"{base}{PHOTO_PATH}"]
    assert "dns_error" not in reasons
