"""HTTP for sources: one bounded GET that refuses private addresses (unless allowed) on every hop.

Whatever a feed or an index answers is hostile: bodies are read up to a cap, redirects are followed
by hand so each hop's address is checked, and a failure is one SourceError naming the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from detector.hosts import first_non_public
from detector.sources.base import SourceError

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Answer:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes


def refused_address(url: str) -> str | None:
    """Why `url`'s host may not be reached without allow_private ("loopback", ...), or None."""
    host = urlsplit(url).hostname or ""
    try:
        ip = first_non_public(host)
    except OSError as e:
        return f"its host {host!r} does not resolve ({e.strerror or e})"
    if ip is None:
        return None
    return f"its host {host!r} is a non-public address ({ip}); set allow_private only for hosts you own"


def get(client: httpx.Client, url: str, *, allow_private: bool, max_bytes: int,
        headers: dict | None = None) -> Answer:
    """GET `url` following redirects; raises SourceError for a refused address, a transport failure or a
    body over `max_bytes`. Any status comes back (the caller says what a 404 or 429 means to it)."""
    for _ in range(MAX_REDIRECTS + 1):
        if urlsplit(url).scheme not in ("http", "https"):
            raise SourceError(f"{url}: not an http(s) URL")
        if not allow_private and (why := refused_address(url)):
            raise SourceError(f"{url}: not fetched, {why}")
        try:
            with client.stream("GET", url, headers=headers, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise SourceError(f"{url}: the answer is over {max_bytes} bytes; not read")
                return Answer(str(response.url), response.status_code, response.headers, bytes(body))
        except httpx.HTTPError as e:
            raise SourceError(f"{url}: {type(e).__name__}: {e}") from e
    raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")
