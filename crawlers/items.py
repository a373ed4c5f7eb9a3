"""What the spider hands to the pipeline: image captures and crawl events.

`Sighting` and `Fetched` name their fields after the `candidates` columns they fill, so a
capture becomes a row without a mapping table. Both are kept in the spider's resumable state,
so they hold only plain values (no bytes, no responses).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sighting:
    """One image referenced by one page, as the page presented it."""

    page_url: str
    image_url: str
    page_title: str | None
    alt_text: str | None
    caption: str | None
    declared_width: int | None
    declared_height: int | None
    discovered_at: str
    page_warc_file: str | None
    page_warc_offset: int | None
    # The start URL (a source's lead) this page was reached from, so the candidate keeps how it was found.
    lead_url: str | None = None
    # What the page's site declares of data mining and AI use (crawlers.site_rights), or None when not read.
    site_rights: dict | None = None


@dataclass(frozen=True)
class Fetched:
    """What fetching one image URL gave: the same for every page that uses that URL."""

    final_url: str
    http_status: int
    headers: dict
    fetched_at: str | None
    sha256: str
    byte_size: int
    sniffed_format: str
    warc_file: str | None
    warc_offset: int | None


@dataclass(frozen=True)
class Refusal:
    """Why an image or page was not captured. `reason` is a short stable code."""

    reason: str
    detail: str


@dataclass
class ImageCapture:
    """A candidate: one sighting of a fetched image. `body` travels with the first capture of
    those bytes in a crawl only; later captures of the same URL find the blob already stored."""

    target: str
    sighting: Sighting
    fetched: Fetched
    body: bytes | None = field(default=None, repr=False)


@dataclass
class CrawlEvent:
    """Something refused or not fetched, or a limit that shaped the crawl, with its reason."""

    target: str
    url: str
    reason: str
    detail: str
    page_url: str | None = None
