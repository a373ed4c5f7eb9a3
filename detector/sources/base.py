"""The sources protocol: a Lead, the Budget a run spends, and what every source offers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from detector.config import SourceConfig, Target
from detector.config.targets import safe_name
from detector.errors import CopyhoundError

KINDS = ("page", "image")


class SourceError(CopyhoundError):
    """A source could not run (its endpoint is down, its key is refused); the scan goes on without it."""


@dataclass(frozen=True)
class Lead:
    """A page or image URL worth fetching, with who found it and why.

    `found_by` names the finder ("feed https://example.com/rss.xml"), `why` says what it saw ("new item
    'Spring' of 2026-03-01"), `provenance` keeps the source's own record (item id, capture time, rank).
    """

    url: str
    kind: str
    found_by: str
    why: str
    provenance: dict = field(default_factory=dict)

    def problem(self) -> str | None:
        """Why this lead cannot be fetched, or None."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"{self.url!r} is not an http(s) URL"
        if self.kind not in KINDS:
            return f"kind {self.kind!r} is none of {', '.join(KINDS)}"
        return None


class Budget:
    """The requests a run may still make: the source's monthly cap less what this month's runs spent."""

    def __init__(self, left: int | None):
        self.left = left  # None: no cap
        self.used = 0

    def spend(self, requests: int = 1) -> bool:
        """Count `requests` about to be made; False (and nothing counted) when they would pass the cap."""
        if self.left is not None and self.used + requests > self.left:
            return False
        self.used += requests
        return True


class Source(Protocol):
    """What the scan asks of every source."""

    config: SourceConfig
    #: True: every run leads to the same URLs again (a site crawled on each scan); False: a run hands on
    #: only leads this source never gave before (a feed's new items).
    repeat: bool

    @property
    def name(self) -> str: ...

    def leads(self, cursor: dict, budget: Budget) -> Iterator[Lead]:
        """The leads of one run, from `cursor` (the dict the last run left, updated in place as it goes)."""

    def check(self, budget: Budget) -> list[str]:
        """A dry run: reach the endpoint, use the credentials, make one query; lines saying what it found.
        Raises SourceError saying what is wrong."""

    def targets(self, leads: list[Lead]) -> list[Target]:
        """What the crawler visits for `leads`."""


def fetch_target(name: str, leads: list[Lead], allow_private: bool) -> Target:
    """A target fetching exactly the leads' URLs (no links followed: the source already chose the pages)."""
    urls = tuple(dict.fromkeys(lead.url for lead in leads))
    return Target(name=safe_name(f"source-{name}"), start_urls=urls,
                  allowed_domains=tuple(dict.fromkeys(urlsplit(u).hostname for u in urls)),
                  allow_private=allow_private, follow_links=False)
