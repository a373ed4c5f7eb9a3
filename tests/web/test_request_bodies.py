"""Request bodies are bounded as they stream, with or without Content-Length, and read only after
the token was checked; validation errors quote only a little of what they refuse."""

from __future__ import annotations

import socket

import httpx

BOUNDARY = "copyhound-test-boundary"
CHUNK = 64 * 1024


class Sent:
    """A chunked request body of `total` bytes that counts how much of it the server took."""

    def __init__(self, head: bytes, total: int):
        self.head, self.total, self.sent = head, total, 0

    def __iter__(self):
        yield self.head
        self.sent = len(self.head)
        while self.sent < self.total:
            yield b"\0" * CHUNK
            self.sent += CHUNK


def _multipart(total: int) -> Sent:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8\xff"
    return Sent(head, total)


def _post(portal, path: str, body: Sent, content_type: str, token: str | None) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {portal.tokens[token]}"
    with httpx.Client(base_url=portal.url, timeout=60) as client:
        request = client.build_request("POST", path, content=iter(body), headers=headers)
        assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
        return client.send(request)


def test_a_chunked_upload_without_a_token_is_refused_before_its_body_is_read(portal):
    body = _multipart(64 * 1024 * 1024)
    response = _post(portal, "/api/assets", body, f"multipart/form-data; boundary={BOUNDARY}", None)
    assert response.status_code == 401
    assert "No API token" in response.json()["error"]
    assert body.sent < body.total // 4  # the client was stopped long before it sent it all


def test_a_chunked_upload_with_a_token_is_cut_off_at_the_limit(portal):
    body = _multipart(64 * 1024 * 1024)
    response = _post(portal, "/api/assets", body, f"multipart/form-data; boundary={BOUNDARY}", "alice")
    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"
    assert f"passed {portal.max_bytes + 64 * 1024} bytes" in response.json()["error"]
    assert body.sent < body.total // 4


def test_a_chunked_json_body_to_a_review_route_is_cut_off_at_the_small_limit(portal):
    match_id = portal.matches["alice"][0]
    body = Sent(b'{"status": "confirmed", "note": "', 64 * 1024 * 1024)
    response = _post(portal, f"/api/matches/{match_id}/review", body, "application/json", "alice")
    assert response.status_code == 413
    assert f"passed {64 * 1024} bytes" in response.json()["error"]
    assert body.sent < body.total // 4


def test_a_chunked_json_body_without_a_token_gets_401_unread(portal):
    match_id = portal.matches["alice"][0]
    body = Sent(b'{"status": "confirmed", "note": "', 64 * 1024 * 1024)
    response = _post(portal, f"/api/matches/{match_id}/review", body, "application/json", None)
    assert response.status_code == 401
    assert body.sent < body.total // 4


def test_a_too_long_note_is_refused_without_echoing_it(portal):
    match_id = portal.matches["alice"][0]
    note = "n" * 50_000
    with portal.client("alice") as client:
        response = client.post(f"/api/matches/{match_id}/review", json={"status": "confirmed", "note": note})
    assert response.status_code == 422
    assert "note: String should have at most 2000 characters" in response.json()["error"]
    assert "50002 characters" in response.json()["error"]
    assert len(response.content) < 1000


def _raw_get(url: str, header: bytes) -> bytes:
    """A GET sent byte for byte (httpx refuses the trailing space a careless client sends)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"GET /api/matches HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n")
        return b"".join(iter(lambda: conn.recv(65536), b""))


def test_an_empty_bearer_token_is_called_missing(portal):
    for header in (b"Authorization: Bearer ", b"Authorization: Bearer"):
        answer = _raw_get(portal.url, header)
        assert answer.startswith(b"HTTP/1.1 401")
        assert b"says 'Bearer' but the token is missing" in answer
    with httpx.Client(base_url=portal.url, timeout=30) as client:
        response = client.post("/api/matches/1/review", json={}, headers={"Authorization": "Bearer"})
    assert response.status_code == 401 and "the token is missing" in response.json()["error"]


def test_a_chunked_multipart_body_to_a_route_that_takes_no_upload_gets_the_small_limit(portal):
    body = _multipart(64 * 1024 * 1024)
    response = _post(portal, "/signin", body, f"multipart/form-data; boundary={BOUNDARY}", None)
    assert response.status_code == 413
    assert f"passed {64 * 1024} bytes" in response.json()["error"]
    assert body.sent < body.total // 4
