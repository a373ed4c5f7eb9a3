"""Feeds: RSS/Atom feeds and (image) sitemaps of named sites, read as a cheap daily delta.

Each run asks every URL with the validators the last run saved (ETag, Last-Modified), so an unchanged
feed costs one 304; a changed one is parsed (feedparser for RSS/Atom, lxml for sitemaps) and only
items this source never led to before become leads. A feed that fails is one recorded problem; the
others are still read.
"""

from __future__ import annotations

from collections.abc import Iterator

import feedparser
import httpx
from lxml import etree

from detector.config import SourceConfig, Target
from detector.sources.base import Budget, Lead, SourceError, fetch_target
from detector.sources.fetching import Answer, get

MAX_FEED_BYTES = 10_000_000
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_IMAGE_NS = "{http://www.google.com/schemas/sitemap-image/1.1}"
_TIMEOUT = 30.0


class FeedSource:
    repeat = False

    def __init__(self, config: SourceConfig):
        if not config.urls:
            raise SourceError(f"[[sources]] {config.name!r}: type 'feed' needs urls = [\"https://site/feed.xml\", ...]")
        self.config = config
        self.problems: list[str] = []

    @property
    def name(self) -> str:
        return self.config.name

    def leads(self, cursor: dict, budget: Budget) -> Iterator[Lead]:
        validators = cursor.setdefault("validators", {})
        with httpx.Client(timeout=_TIMEOUT, headers={"User-Agent": "copyhound feeds"}) as client:
            for url in self.config.urls:
                if not budget.spend():
                    self.problems.append(f"{url}: not read, the monthly budget of {self.config.monthly_budget} "
                                         "requests is spent")
                    continue
                try:
                    answer = self._fetch(client, url, validators.get(url, {}))
                except SourceError as e:
                    self.problems.append(str(e))
                    continue
                if answer is None:
                    continue  # 304: nothing new since the last run
                try:
                    found = list(items(url, answer.body, answer.headers.get("content-type", "")))
                except SourceError as e:
                    self.problems.append(str(e))
                    continue
                validators[url] = {k: answer.headers[h] for k, h in (("etag", "etag"), ("modified", "last-modified"))
                                   if h in answer.headers}
                yield from found

    def _fetch(self, client: httpx.Client, url: str, saved: dict) -> Answer | None:
        headers = {}
        if saved.get("etag"):
            headers["If-None-Match"] = saved["etag"]
        if saved.get("modified"):
            headers["If-Modified-Since"] = saved["modified"]
        answer = get(client, url, allow_private=self.config.allow_private, max_bytes=MAX_FEED_BYTES, headers=headers)
        if answer.status == 304:
            return None
        if answer.status != 200:
            raise SourceError(f"{url}: HTTP {answer.status}; the feed was not read")
        return answer

    def check(self, budget: Budget) -> list[str]:
        lines = []
        with httpx.Client(timeout=_TIMEOUT) as client:
            for url in self.config.urls[:1]:
                answer = self._fetch(client, url, {})
                found = list(items(url, answer.body, answer.headers.get("content-type", "")))
                lines.append(f"{url}: {len(found)} item(s) readable")
        return lines

    def targets(self, leads: list[Lead]) -> list[Target]:
        return [fetch_target(self.name, leads, self.config.allow_private)]


def items(url: str, body: bytes, content_type: str) -> Iterator[Lead]:
    """The leads in one feed or sitemap document (raises SourceError when it is neither)."""
    head = body[:4096].lstrip()
    if b"<urlset" in head or b"<sitemapindex" in head:
        yield from _sitemap(url, body)
        return
    parsed = feedparser.parse(body, response_headers={"content-location": url, "content-type": content_type})
    if not parsed.entries:
        why = parsed.get("bozo_exception") or "it holds no items"
        raise SourceError(f"{url}: not a readable RSS/Atom feed or sitemap ({why})")
    for entry in parsed.entries:
        images = _entry_images(entry)
        title = (entry.get("title") or "").strip()[:200]
        when = entry.get("published") or entry.get("updated") or ""
        record = {"feed": url, "entry_id": entry.get("id") or entry.get("link"), "title": title,
                  "published": when, "images": images}
        why = f"new item {title!r}" + (f" of {when}" if when else "")
        if entry.get("link"):
            yield Lead(entry["link"], "page", f"feed {url}", why, record)
        else:  # an item without a page of its own: its images are the leads
            for image in images:
                yield Lead(image, "image", f"feed {url}", why, record)


def _entry_images(entry) -> list[str]:
    found = [m.get("url") for m in entry.get("media_content", []) if m.get("medium", "image") == "image"]
    found += [m.get("url") for m in entry.get("media_thumbnail", [])]
    found += [e.get("href") for e in entry.get("enclosures", []) if str(e.get("type", "")).startswith("image/")]
    return list(dict.fromkeys(u for u in found if u))


def _sitemap(url: str, body: bytes) -> Iterator[Lead]:
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    except etree.XMLSyntaxError as e:
        raise SourceError(f"{url}: the sitemap is not well-formed XML ({e})") from e
    for entry in root.iter(f"{_SITEMAP_NS}url"):
        page = (entry.findtext(f"{_SITEMAP_NS}loc") or "").strip()
        if not page:
            continue
        images = [(img.findtext(f"{_IMAGE_NS}loc") or "").strip() for img in entry.iter(f"{_IMAGE_NS}image")]
        lastmod = (entry.findtext(f"{_SITEMAP_NS}lastmod") or "").strip()
        record = {"sitemap": url, "lastmod": lastmod, "images": [i for i in images if i]}
        yield Lead(page, "page", f"sitemap {url}", "new page in the sitemap" + (f", modified {lastmod}" if lastmod else ""),
                   record)
