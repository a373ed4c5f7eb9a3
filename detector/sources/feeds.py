"""Feeds: RSS/Atom feeds and (image) sitemaps of named sites, read as a cheap daily delta.

Each run asks every URL with the validators the last run saved (ETag, Last-Modified), so an unchanged
feed costs one 304; a changed one is parsed (feedparser for RSS/Atom, lxml for sitemaps) and only
items this source never led to before become leads. A sitemap index leads to its child sitemaps on the
same host (each asked with its own validators, at most MAX_CHILD_SITEMAPS of them; an index inside a
child is not followed). A feed that fails is one recorded problem; the others are still read.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import feedparser
import httpx
from lxml import etree

from detector.config import SourceConfig, Target
from detector.sources.base import Budget, Lead, SourceError, fetch_target
from detector.sources.fetching import Answer, get

MAX_FEED_BYTES = 10_000_000
#: Child sitemaps read from one sitemap index (the protocol allows 50,000; each costs a request).
MAX_CHILD_SITEMAPS = 1000
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
        # An unchanged index (304) may still have changed children: the last run's list is asked again.
        indexes = cursor.setdefault("children", {})
        with httpx.Client(timeout=_TIMEOUT, headers={"User-Agent": "copyhound feeds"}) as client:
            for url in self.config.urls:
                children = yield from self._read(client, url, validators, budget)
                if children is None:
                    children = indexes.get(url, [])
                elif children:
                    indexes[url] = children
                for child in children:
                    yield from self._read(client, child, validators, budget, index=url)

    def _read(self, client: httpx.Client, url: str, validators: dict, budget: Budget,
              index: str | None = None) -> Iterator[Lead]:
        """Yield the leads of one feed or sitemap; return the child sitemaps it lists when it is a sitemap index
        (none for a child: an index is not nested), None when it did not change since the last run (304)."""
        if not budget.spend():
            self.problems.append(f"{url}: not read, the monthly budget of {self.config.monthly_budget} "
                                 "requests is spent")
            return []
        try:
            answer = self._fetch(client, url, validators.get(url, {}))
        except SourceError as e:
            self.problems.append(str(e) + (f" (a child of the sitemap index {index})" if index else ""))
            return []
        if answer is None:
            return None  # 304: nothing new since the last run
        try:
            if is_sitemap_index(answer.body):
                children = [] if index else self._children(url, answer.body)
                if index:
                    self.problems.append(f"{url}: a sitemap index inside the sitemap index {index}; not followed")
            else:
                children = []
                yield from list(items(url, answer.body, answer.headers.get("content-type", "")))
        except SourceError as e:
            self.problems.append(str(e))
            return []
        validators[url] = {k: answer.headers[h] for k, h in (("etag", "etag"), ("modified", "last-modified"))
                           if h in answer.headers}
        return children

    def _children(self, url: str, body: bytes) -> list[str]:
        """The child sitemaps a sitemap index lists on its own host (the protocol allows no others)."""
        host, children, refused = urlsplit(url).hostname, [], []
        for loc in _xml(url, body).iter(f"{_SITEMAP_NS}loc"):
            child = (loc.text or "").strip()
            if urlsplit(child).scheme in ("http", "https") and urlsplit(child).hostname == host:
                children.append(child)
            elif child:
                refused.append(child)
        if refused:
            self.problems.append(f"{url}: {len(refused)} child sitemap(s) not on {host} were not read "
                                 f"({', '.join(repr(c[:200]) for c in refused[:3])})")
        if len(children) > MAX_CHILD_SITEMAPS:
            self.problems.append(f"{url}: lists {len(children)} child sitemaps; the first {MAX_CHILD_SITEMAPS} "
                                 "were read")
        return list(dict.fromkeys(children))[:MAX_CHILD_SITEMAPS]

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
                if is_sitemap_index(answer.body):
                    lines.append(f"{url}: a sitemap index of {len(self._children(url, answer.body))} child sitemap(s)")
                    continue
                found = list(items(url, answer.body, answer.headers.get("content-type", "")))
                lines.append(f"{url}: {len(found)} item(s) readable")
        return lines

    def targets(self, leads: list[Lead]) -> list[Target]:
        return [fetch_target(self.name, leads, self.config.allow_private)]


def items(url: str, body: bytes, content_type: str) -> Iterator[Lead]:
    """The leads in one feed or sitemap document (raises SourceError when it is neither)."""
    if b"<urlset" in body[:4096]:
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


def is_sitemap_index(body: bytes) -> bool:
    return b"<sitemapindex" in body[:4096]


def _xml(url: str, body: bytes):
    """The root of a sitemap; entities are not expanded and nothing is fetched (the body is hostile)."""
    try:
        return etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    except etree.XMLSyntaxError as e:
        raise SourceError(f"{url}: the sitemap is not well-formed XML ({e})") from e


def _sitemap(url: str, body: bytes) -> Iterator[Lead]:
    for entry in _xml(url, body).iter(f"{_SITEMAP_NS}url"):
        page = (entry.findtext(f"{_SITEMAP_NS}loc") or "").strip()
        if not page:
            continue
        images = [(img.findtext(f"{_IMAGE_NS}loc") or "").strip() for img in entry.iter(f"{_IMAGE_NS}image")]
        lastmod = (entry.findtext(f"{_SITEMAP_NS}lastmod") or "").strip()
        record = {"sitemap": url, "lastmod": lastmod, "images": [i for i in images if i]}
        yield Lead(page, "page", f"sitemap {url}", "new page in the sitemap" + (f", modified {lastmod}" if lastmod else ""),
                   record)
