"""Signing in to the portal's pages over plain HTTP, as a browser would (cookie, CSRF field)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@contextmanager
def signed_in(portal, who: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.url, timeout=60) as client:
        page = client.get("/signin")
        r = client.post("/signin", data={"token": portal.tokens[who], "csrf": csrf(page.text), "next": "/matches"})
        assert r.status_code == 303 and r.headers["location"] == "/matches"
        yield client
