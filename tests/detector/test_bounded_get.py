"""detector.bounded_get against a real HTTP server on 127.0.0.1 that answers the way hostile sites do."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from detector.bounded_get import Late, Refused, get


class _Hostile(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ok":
            self._answer(200, b"hello")
        elif self.path == "/big":
            self._answer(200, b"x" * 5000)
        elif self.path == "/to-ok":
            self._answer(302, b"", location="/ok")
        elif self.path == "/to-file":
            self._answer(302, b"", location="file:///etc/passwd")
        elif self.path == "/loop":
            self._answer(302, b"", location="/loop")
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self._answer(404, b"")

    def _answer(self, status: int, body: bytes, location: str | None = None) -> None:
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with httpx.Client(timeout=10) as client:
        yield client, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_answer_comes_back_with_its_status_whatever_it_is(site):
    client, base = site
    answer = get(client, f"{base}/ok", max_bytes=100)
    assert (answer.status, answer.body, answer.url) == (200, b"hello", f"{base}/ok")
    assert get(client, f"{base}/missing", max_bytes=100).status == 404


def test_a_body_over_the_cap_is_refused(site):
    client, base = site
    with pytest.raises(Refused, match=r"/big sent more than 1000 bytes"):
        get(client, f"{base}/big", max_bytes=1000)


def test_redirects_are_followed_only_when_asked_and_each_hop_may_be_refused(site):
    client, base = site
    assert get(client, f"{base}/to-ok", max_bytes=100).body == b"hello"
    assert get(client, f"{base}/to-ok", max_bytes=100, follow=False).status == 302
    with pytest.raises(Refused, match=r"redirects to .*/ok, not followed: a private host"):
        get(client, f"{base}/to-ok", max_bytes=100, refuse=lambda target: "a private host")
    with pytest.raises(Refused, match=r"redirects to 'file:///etc/passwd', which is not an http\(s\) URL"):
        get(client, f"{base}/to-file", max_bytes=100)
    with pytest.raises(Refused, match=r"more than 5 redirects"):
        get(client, f"{base}/loop", max_bytes=100)


def test_the_deadline_covers_the_whole_body_of_a_trickling_server(site):
    client, base = site
    started = time.monotonic()
    with pytest.raises(Late) as late:
        get(client, f"{base}/trickle", max_bytes=100, deadline=time.monotonic() + 0.5)
    assert late.value.url == f"{base}/trickle" and time.monotonic() - started < 1.5  # not the 2 s it trickles
    with pytest.raises(Late):
        get(client, f"{base}/ok", max_bytes=100, deadline=time.monotonic() - 1)


def test_a_transport_failure_is_refused_naming_the_url():
    with httpx.Client(timeout=5) as client, pytest.raises(Refused, match=r"http://127.0.0.1:9/x: ConnectError"):
        get(client, "http://127.0.0.1:9/x", max_bytes=100)
