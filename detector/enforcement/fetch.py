"""Bounded HTTP reads for the recipient lookups of one site (RDAP, security.txt, contact pages).

Every request has an overall deadline (recipients.timeout: connecting, each redirect and the whole
body together, so a server trickling one byte at a time cannot stretch it), and all the requests of
one site's lookup share a budget (recipients.site_timeout), so one slow site cannot stall an
`enforce` run. Bodies stop at 1 MB. Redirects are followed only where asked (RDAP services redirect
to the registry that holds the record), at most five, and never to a host at a non-public address
unless recipients.allow_private is set.
"""

from __future__ import annotations

import time
from typing import Self
from urllib.parse import urlsplit

import httpx

from detector.bounded_get import Late, Refused, get
from detector.hosts import first_non_public

MAX_BYTES = 1_000_000

__all__ = ["MAX_BYTES", "Fetcher", "Refused", "private_reason"]


def private_reason(host: str) -> str | None:
    """None when every address of `host` is public, else why not (or why it cannot be resolved)."""
    try:
        ip = first_non_public(host)
    except OSError as e:
        return f"{host} does not resolve ({e})"
    return None if ip is None else f"{host} resolves to {ip}, which is not a public address (recipients.allow_private)"


class Fetcher:
    """GETs for one site: each within `timeout` seconds in all, every one within `site_timeout` of the first."""

    def __init__(self, timeout: float, site_timeout: float, allow_private: bool, headers: dict[str, str]):
        self.timeout, self.site_timeout, self.allow_private = timeout, site_timeout, allow_private
        self.until = time.monotonic() + site_timeout
        self.client = httpx.Client(follow_redirects=False, headers=headers)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

    def get(self, url: str, follow: bool = False) -> tuple[int, bytes]:
        """Status and body of a GET of `url` (following redirects when `follow`); Refused says why not."""
        deadline = min(time.monotonic() + self.timeout, self.until)
        refuse = None if self.allow_private else (lambda target: private_reason(urlsplit(target).hostname or ""))
        try:
            answer = get(self.client, url, max_bytes=MAX_BYTES, follow=follow, refuse=refuse, deadline=deadline)
        except Late as e:
            raise Refused(self._late(e.url, deadline)) from None
        return answer.status, answer.body

    def _late(self, url: str, deadline: float) -> str:
        if deadline >= self.until:
            return (f"{url} not read: this site's lookups took the {self.site_timeout:g} s they may take in all "
                    "(recipients.site_timeout)")
        return f"{url} did not answer in full within {self.timeout:g} s (recipients.timeout)"
