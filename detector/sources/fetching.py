"""HTTP for sources: one bounded GET (detector.bounded_get) that refuses private addresses (unless allowed)
on every hop, the first included.

Whatever a feed or an index answers is hostile: bodies are read up to a cap, redirects are followed
by hand so each hop's address is checked, and a failure is one SourceError naming the URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from detector import bounded_get
from detector.bounded_get import Answer
from detector.hosts import first_non_public
from detector.sources.base import SourceError

__all__ = ["Answer", "get", "refused_address"]


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
    if urlsplit(url).scheme not in ("http", "https"):
        raise SourceError(f"{url}: not an http(s) URL")
    if not allow_private and (why := refused_address(url)):
        raise SourceError(f"{url}: not fetched, {why}")
    try:
        return bounded_get.get(client, url, max_bytes=max_bytes, headers=headers,
                               refuse=None if allow_private else refused_address)
    except bounded_get.Refused as e:
        raise SourceError(str(e)) from e
