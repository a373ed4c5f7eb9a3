"""One HTTP GET of a hostile URL, bounded: the body stops at a cap, redirects are followed by hand (at most
five, http(s) only) so the caller can refuse each hop's host, and an optional deadline covers connecting,
every redirect and the whole body together (a server trickling one byte at a time cannot stretch it).

Enforcement's recipient lookups and discovery's sources both read the web through it; each says which
hosts it refuses and in what words, and turns `Refused` into its own error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class Refused(Exception):
    """A GET that gave no answer to read: the message says why, naming the URL."""


class Late(Refused):
    """The deadline passed before `url` was read in full (the caller words it: it knows which budget ran out)."""

    def __init__(self, url: str):
        super().__init__(f"{url} did not answer in time")
        self.url = url


@dataclass(frozen=True)
class Answer:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes


def get(client: httpx.Client, url: str, *, max_bytes: int, follow: bool = True,
        refuse: Callable[[str], str | None] | None = None, deadline: float | None = None,
        headers: dict | None = None) -> Answer:
    """GET `url` with `client` (which must not follow redirects itself). Any status comes back; a redirect is
    followed when `follow`, unless `refuse(target)` names a reason. The first URL is the caller's to vouch for.
    `deadline` is a time.monotonic() value; without one the client's timeouts apply. Raises Refused."""
    for _ in range(MAX_REDIRECTS + 1):
        answer = _one(client, url, max_bytes, deadline, headers)
        location = answer.headers.get("location")
        if not (follow and answer.status in _REDIRECTS and location):
            return answer
        target = urljoin(url, location)
        if urlsplit(target).scheme not in ("http", "https"):
            raise Refused(f"{url} redirects to {target!r}, which is not an http(s) URL")
        if refuse is not None and (why := refuse(target)):
            raise Refused(f"{url} redirects to {target}, not followed: {why}")
        url = target
    raise Refused(f"{url}: more than {MAX_REDIRECTS} redirects")


def _one(client: httpx.Client, url: str, max_bytes: int, deadline: float | None, headers: dict | None) -> Answer:
    timeout = httpx.USE_CLIENT_DEFAULT
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Late(url)
        timeout = httpx.Timeout(left)
    try:
        with client.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=False) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise Refused(f"{url} sent more than {max_bytes} bytes; not read")
                if deadline is not None and time.monotonic() > deadline:
                    raise Late(url)
            return Answer(str(response.url), response.status_code, response.headers, bytes(body))
    except httpx.TimeoutException as e:
        if deadline is not None:
            raise Late(url) from None
        raise Refused(f"{url}: {type(e).__name__}: {e}") from e
    except httpx.HTTPError as e:
        raise Refused(f"{url}: {type(e).__name__}: {e}") from e
