"""The site spider: walks one target's pages, finds the images they use and fetches each once.

Run by `python -m crawlers` (one crawler per target), or by hand:

    scrapy crawl site -a home=DIR -a start_url=https://example.com/ [-a allow_private=true]
    scrapy crawl site -a home=DIR -a urls_file=urls.txt

Without `scan_id` the spider opens a scan of its own and closes it with the crawl's summary.

Each image URL is fetched once per crawl however many pages use it; every page that uses it
still becomes its own candidate (a separate use of the work). What is known about each URL
(fetched, refused, or waiting for its response) lives in `self.memory` (`crawlers.memory`): in
`self.state`, which Scrapy keeps in the job folder across a clean stop and resume, or, when several
processes share the scan's frontier in Redis, in Redis beside it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import CloseSpider
from scrapy.http import HtmlResponse, Request, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.linkextractors import LinkExtractor
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap

from crawlers import configure
from crawlers.discover import find_images, page_title
from crawlers.items import CrawlEvent, Fetched, ImageCapture, Refusal, Sighting
from crawlers.limits import in_domains, limits
from crawlers.memory import open_memory
from crawlers.middlewares import evidence_of
from crawlers.refusals import DISK_FULL, asked_url, classify
from crawlers.site_rights import TDMREP_MAX_BYTES, page_declarations, robots_ai, tdmrep_for, tdmrep_rules, tdmrep_url
from crawlers.summary import combine, target_summary
from detector.config import Target, from_dict
from detector.config.targets import check_target, target_from_site, targets_from_urls_file
from detector.errors import UsageError, WorkspaceMissing
from detector.sniff import IMAGE_FORMATS, describe, sniff
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore, sha256_hex
from detector.workspace.store import is_disk_full, open_store, utc_now

# The last three: what the image's own response declares of AI use and data mining (crawlers.site_rights).
KEPT_HEADERS = ("Date", "Last-Modified", "ETag", "Server", "Content-Type", "Content-Length", "X-Robots-Tag",
                "tdm-reservation", "tdm-policy")
_IMAGE_PRIORITY = 10  # fetch a page's images before walking on, so captures arrive steadily


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class SiteSpider(scrapy.Spider):
    name = "site"

    def __init__(
        self,
        home: str | Path,
        target: Target | str | None = None,
        start_url: str | None = None,
        urls_file: str | None = None,
        scan_id: int | str | None = None,
        allow_private: bool | str = False,
        resume: bool | str = False,
        redis_url: str | None = None,
        worker: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.ws = Workspace(Path(home).expanduser().resolve())
        if not self.ws.exists():
            raise WorkspaceMissing(self.ws.home)
        self.target = self._target(target, start_url, urls_file, _flag(allow_private))
        check_target(self.target)
        self.crawl_settings = self.ws.settings().crawl
        self.limits = limits(self.target, self.crawl_settings)
        self.scan_id = int(scan_id) if scan_id not in (None, "") else None
        self.owns_scan = self.scan_id is None
        self.resume = _flag(resume)
        self.redis_url = redis_url or None  # set: this process shares the scan's frontier in Redis
        self.worker = worker
        self.errors: list[str] = []
        self.state: dict = {}
        # Per site, for the rights signals of its pages: robots.txt as the robots middleware parsed it,
        # and the origin's tdmrep.json (fetched once per process, by the first page that needs it).
        self.robots_parsers: dict = {}
        self.tdmrep_files: dict[str, asyncio.Future] = {}

    @staticmethod
    def _target(target, start_url, urls_file, allow_private) -> Target:
        if isinstance(target, Target):
            return target
        if isinstance(target, str):
            return from_dict({"targets": [json.loads(target)]}).targets[0]
        if start_url:
            return target_from_site(start_url, allow_private)
        if urls_file:
            return targets_from_urls_file(Path(urls_file), allow_private)
        raise UsageError(
            "The site spider needs something to crawl: -a start_url=URL, -a urls_file=FILE, "
            "or (from python -m crawlers) a target."
        )

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.owns_scan:
            # `scrapy crawl site` on its own; `python -m crawlers` holds this lock for its targets.
            spider.target_lock = configure.hold_target(spider.ws, spider.target)
            store = open_store(spider.ws)
            try:
                # The same options `copyhound scan` records, so `copyhound scan --resume` can continue it.
                spider.scan_id = store.start_scan(
                    {"command": "scrapy crawl site", "crawl": True, "targets": [asdict(spider.target)]}
                )
            finally:
                store.close()
        settings = configure.scrapy_settings(spider.ws, spider.scan_id, spider.target, spider.crawl_settings)
        if spider.redis_url:
            store = open_store(spider.ws)
            try:
                scan = store.scan(spider.scan_id)
            finally:
                store.close()
            settings.update(configure.shared_settings(
                spider.ws, scan, spider.target, spider.crawl_settings, spider.redis_url, spider.worker,
                spider.ws.settings().distributed.crawler_lease_s))
        else:
            configure.prepare_job(spider.ws, spider.scan_id, spider.target, spider.resume)
            crawler.signals.connect(spider._opened, signal=signals.spider_opened)
        crawler.settings.setdict(settings, priority="spider")
        crawler.signals.connect(spider._spider_error, signal=signals.spider_error)
        crawler.signals.connect(spider._robots_parsed, signal=signals.robots_parsed)
        crawler.signals.connect(spider._item_error, signal=signals.item_error)
        return spider

    # -- lifecycle ---------------------------------------------------------------------------

    def _opened(self, spider) -> None:
        # Connected here, after Scrapy's SpiderState extension, so the clean-close marker is
        # written only once the job folder (queue, seen set, state) has been saved.
        self.crawler.signals.connect(self._mark_clean, signal=signals.spider_closed)

    def _mark_clean(self, spider, reason: str) -> None:
        # A crawl stopped by a full disk lost the request that failed: its job is not resumed as
        # it stands, the crawl walks again (the HTTP cache answers what was fetched).
        if reason != DISK_FULL:
            configure.mark_job_closed(self.ws, self.scan_id, self.target, reason)

    def closed(self, reason: str) -> None:
        stats = self.crawler.stats
        stats.set_value("copyhound/errors", list(self.errors))
        if self.owns_scan:
            summary = combine({self.target.name: target_summary(dict(stats.get_stats(), finish_reason=reason))})
            store = open_store(self.ws)
            try:
                status = "finished" if reason == "finished" else "interrupted"
                store.finish_scan(self.scan_id, status, {"scan_id": self.scan_id, "crawl": summary})
            finally:
                store.close()

    def _robots_parsed(self, robotparser, request) -> None:
        self.robots_parsers[urlsplit(request.url).netloc] = robotparser

    def _spider_error(self, failure, response, spider) -> None:
        self.errors.append(f"{response.url}: {failure.getErrorMessage()}")

    def _item_error(self, item, response, spider, failure) -> None:
        self.errors.append(f"storing a capture from {getattr(response, 'url', '?')}: {failure.getErrorMessage()}")
        if is_disk_full(failure.value):
            self._stop_for_full_disk()

    def _stop_for_full_disk(self) -> None:
        self.logger.error("The disk is full; stopping the crawl (free space, then resume the scan).")
        self.crawler.stats.set_value("copyhound/disk_full", True)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=DISK_FULL))

    # -- start -------------------------------------------------------------------------------

    async def start(self):
        # SpiderState has restored (or emptied) self.state by now; callbacks all run after this.
        self.memory = open_memory(self.state, self.crawler.settings, BlobStore(self.ws.blobs_dir))
        if self.memory.finished():
            self.logger.info("The shared crawl of this target for scan %s is over; nothing to do.", self.scan_id)
            return
        for event in self._robots_notice():
            yield event
        for url in self.target.start_urls:
            if not self.memory.known_page(url) and self.memory.admit_page(url, float("inf")):
                yield self._page_request(url, depth=0, lead_url=url)
        if self.target.follow_links:
            # Each origin's sitemap counts as found through the first start URL on that origin.
            origins = {}
            for url in self.target.start_urls:
                parts = urlsplit(url)
                origins.setdefault(f"{parts.scheme}://{parts.netloc}", url)
            for origin, lead_url in origins.items():
                yield Request(
                    f"{origin}/sitemap.xml",
                    callback=self.parse_page,
                    errback=self.sitemap_missing,
                    meta={"page_depth": 0, "sitemap_probe": True, "lead_url": lead_url},
                )

    def _robots_notice(self):
        if configure.robots_obeyed(self.target, self.crawl_settings):
            return
        why = (
            f"ignore_robots = true on this target: {self.target.robots_reason}"
            if self.target.ignore_robots
            else "crawl.obey_robots = false in config.toml"
        )
        yield self._event(self.target.start_urls[0], "robots_ignored", f"robots.txt not consulted ({why}).")

    def _page_request(self, url: str, depth: int, lead_url: str | None) -> Request:
        # max-age=0 makes the HTTP cache revalidate pages (a cheap 304 when unchanged) instead of
        # trusting them for weeks, so new images on a known page are still found.
        return Request(
            url,
            callback=self.parse_page,
            errback=self.page_failed,
            headers={"Cache-Control": "max-age=0"},
            meta={"page_depth": depth, "lead_url": lead_url},
        )

    # -- pages -------------------------------------------------------------------------------

    async def parse_page(self, response: Response):
        depth = response.meta.get("page_depth", 0)
        body = response.body
        if sniff(body) is not None:
            site = await self._site_rights(response)
            for item in self._direct_image(response, site):
                yield item
            return
        sitemap = _sitemap_xml(body, self.crawl_settings.max_image_bytes)
        if sitemap is not None:
            for item in self._sitemap(response.url, sitemap, response.meta.get("lead_url")):
                yield item
            return
        if response.meta.get("sitemap_probe"):
            return  # a soft 404 page where a sitemap would be: nothing to read
        if not isinstance(response, HtmlResponse):
            yield self._event(
                response.url,
                "unsupported_page",
                f"{response.url} is {describe(body)}; only HTML pages, sitemaps and images are read.",
            )
            return
        self._count("pages_fetched", response)
        title = page_title(response)
        warc_file, warc_offset, _ = evidence_of(response)
        site = await self._site_rights(response)
        now = utc_now()
        for ref in find_images(response):
            for item in self._sighted(
                Sighting(
                    page_url=response.url,
                    image_url=ref.url,
                    page_title=title,
                    alt_text=ref.alt,
                    caption=ref.caption,
                    declared_width=ref.width,
                    declared_height=ref.height,
                    discovered_at=now,
                    page_warc_file=warc_file,
                    page_warc_offset=warc_offset,
                    lead_url=response.meta.get("lead_url"),
                    site_rights=site,
                )
            ):
                yield item
        if self.target.follow_links:
            links = [link.url for link in LinkExtractor(unique=True).extract_links(response)]
            for item in self._follow(response.url, links, depth, response.meta.get("lead_url")):
                yield item

    # -- the site's rights declarations --------------------------------------------------------

    async def _site_rights(self, response: Response) -> dict:
        """What the page's site declares of data mining and AI use (crawlers.site_rights)."""
        return {**page_declarations(response),
                "tdmrep": tdmrep_for(await self._tdmrep_file(response.url), response.url),
                "robots_txt": robots_ai(self.robots_parsers.get(urlsplit(response.url).netloc), response.url)}

    def _tdmrep_file(self, page_url: str) -> asyncio.Future:
        url = tdmrep_url(page_url)
        if url not in self.tdmrep_files:
            self.tdmrep_files[url] = asyncio.ensure_future(self._fetch_tdmrep(url))
        return self.tdmrep_files[url]

    async def _fetch_tdmrep(self, url: str) -> dict:
        # Straight to the downloader (its middlewares: the address guard, robots.txt, the HTTP cache and
        # the WARC record all apply), so the page's sightings wait for it and carry its answer.
        request = Request(url, callback=NO_CALLBACK, meta={"download_maxsize": TDMREP_MAX_BYTES})
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as e:  # noqa: BLE001 (any failure to fetch it leaves the file unread, said so)
            return {"status": "unreadable", "why": f"not fetched: {type(e).__name__}"}
        return tdmrep_rules(response.status, response.body)

    def _follow(self, from_url: str, urls: list[str], depth: int, lead_url: str | None):
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https"):
                continue
            host = parts.hostname
            if not in_domains(host, self.limits.allowed_domains):
                if self.memory.first_notice("offsite", host):
                    yield self._event(
                        url,
                        "offsite",
                        f"{url} not followed: {host} is outside this target's allowed domains "
                        f"({', '.join(self.limits.allowed_domains)}); add it to allowed_domains to crawl it.",
                        page_url=from_url,
                    )
                continue
            if self.memory.known_page(url):
                continue
            if depth >= self.limits.max_depth:
                yield from self._cap(
                    "max_depth",
                    from_url,
                    f"max_depth {self.limits.max_depth} reached at {from_url}: links from pages that deep "
                    "are not followed; raise max_depth on the target (or crawl.max_depth) to go deeper.",
                )
                continue
            if not self.memory.admit_page(url, self.limits.max_pages):
                yield from self._cap(
                    "max_pages",
                    url,
                    f"max_pages {self.limits.max_pages} reached: {url} and later pages are not fetched; "
                    "raise max_pages on the target (or crawl.max_pages) to fetch more.",
                )
                continue
            yield self._page_request(url, depth + 1, lead_url)

    def _cap(self, cap: str, url: str, detail: str):
        if self.memory.first_notice("caps", cap):
            self.crawler.stats.set_value(f"copyhound/caps/{cap}", 1)
            yield self._event(url, "cap_reached", detail)

    def _sitemap(self, url: str, xml: bytes, lead_url: str | None):
        sitemap = Sitemap(xml)
        locations = [entry["loc"] for entry in sitemap if entry.get("loc")]
        if sitemap.type == "sitemapindex":
            for child in locations:
                if in_domains(urlsplit(child).hostname, self.limits.allowed_domains):
                    yield Request(child, callback=self.parse_page, errback=self.sitemap_missing,
                                  meta={"page_depth": 0, "sitemap_probe": True, "lead_url": lead_url})
        else:
            # Pages a sitemap lists count as one step from the start, like links on a start page.
            yield from self._follow(url, locations, depth=0, lead_url=lead_url)

    def page_failed(self, failure):
        reason, detail = classify(failure, self.crawl_settings.max_image_bytes)
        yield self._event(asked_url(failure.request), reason, detail)
        if reason == DISK_FULL:
            raise CloseSpider(DISK_FULL)

    def sitemap_missing(self, failure):
        self.logger.debug("No sitemap at %s: %s", failure.request.url, failure.getErrorMessage())

    # -- images ------------------------------------------------------------------------------

    def _sighted(self, sighting: Sighting):
        url = sighting.image_url
        known = self.memory.outcome(url)
        request_it = False
        if known is None:
            request_it, known = self.memory.wait_for(url, sighting)
        if isinstance(known, Fetched):
            yield ImageCapture(self.target.name, sighting, known)
        elif isinstance(known, Refusal):
            yield self._event(url, known.reason, known.detail, page_url=sighting.page_url)
        elif request_it:
            yield Request(
                url,
                callback=self.parse_image,
                errback=self.image_failed,
                priority=_IMAGE_PRIORITY,
                meta={"image_url": url, "download_maxsize": self.crawl_settings.max_image_bytes},
            )

    def parse_image(self, response: Response):
        yield from self._settle(response.meta["image_url"], response, [])

    def image_failed(self, failure):
        url = failure.request.meta["image_url"]
        reason, detail = classify(failure, self.crawl_settings.max_image_bytes)
        yield from self._refuse(url, Refusal(reason, detail), [])
        if reason == DISK_FULL:
            raise CloseSpider(DISK_FULL)

    def _direct_image(self, response: Response, site: dict):
        """A listed URL that is an image itself: its own page, as far as provenance goes."""
        url = response.meta.get("redirect_urls", [response.url])[0]
        warc_file, warc_offset, _ = evidence_of(response)
        sighting = Sighting(
            page_url=url, image_url=url, page_title=None, alt_text=None, caption=None,
            declared_width=None, declared_height=None, discovered_at=utc_now(),
            page_warc_file=warc_file, page_warc_offset=warc_offset, lead_url=response.meta.get("lead_url", url),
            site_rights=site,
        )
        yield from self._settle(url, response, [sighting])

    def _settle(self, url: str, response: Response, sightings: list[Sighting]):
        """Decide what an image response is and emit a capture (or a refusal) for `sightings` and
        for each sighting that waited for it."""
        self._count("images_fetched", response)
        body = response.body
        kind = sniff(body)
        content_type = response.headers.get("Content-Type", b"").decode("latin-1") or "none"
        if kind is None:
            refusal = Refusal(
                "not_image",
                f"{url} is {describe(body)}, not an image (its Content-Type said {content_type}).",
            )
        elif kind not in IMAGE_FORMATS:
            refusal = Refusal(
                "unsupported_format",
                f"{url} is a {kind.upper()} image; only {', '.join(sorted(IMAGE_FORMATS))} images are fingerprinted.",
            )
        elif len(body) > self.crawl_settings.max_image_bytes:
            refusal = Refusal(
                "too_large",
                f"{url} is {len(body)} bytes, over the {self.crawl_settings.max_image_bytes}-byte limit; "
                "raise crawl.max_image_bytes in config.toml to keep files this big.",
            )
        else:
            warc_file, warc_offset, fetched_at = evidence_of(response)
            fetched = Fetched(
                final_url=response.url,
                http_status=response.status,
                headers={
                    name: response.headers[name].decode("latin-1")
                    for name in KEPT_HEADERS
                    if response.headers.get(name) is not None
                },
                fetched_at=fetched_at or utc_now(),
                sha256=sha256_hex(body),
                byte_size=len(body),
                sniffed_format=kind,
                warc_file=warc_file,
                warc_offset=warc_offset,
            )
            sightings = sightings + self.memory.settle(url, fetched, body)
            for index, sighting in enumerate(sightings):
                yield ImageCapture(self.target.name, sighting, fetched, body if index == 0 else None)
            return
        yield from self._refuse(url, refusal, sightings)

    def _refuse(self, url: str, refusal: Refusal, sightings: list[Sighting]):
        for sighting in sightings + self.memory.settle(url, refusal):
            yield self._event(url, refusal.reason, refusal.detail, page_url=sighting.page_url)

    # -- bookkeeping -------------------------------------------------------------------------

    def _count(self, what: str, response: Response) -> None:
        self.crawler.stats.inc_value(f"copyhound/{what}")
        if "cached" in response.flags:
            self.crawler.stats.inc_value("copyhound/from_cache")

    def _event(self, url: str, reason: str, detail: str, page_url: str | None = None) -> CrawlEvent:
        if reason not in ("cap_reached", "robots_ignored"):
            self.crawler.stats.inc_value(f"copyhound/refusals/{reason}")
        return CrawlEvent(self.target.name, url, reason, detail, page_url)


def _sitemap_xml(body: bytes, max_size: int) -> bytes | None:
    """The sitemap XML in `body` (gunzipped for sitemap.xml.gz), or None when it is no sitemap."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = gunzip(body, max_size=max_size)
        except (OSError, ValueError):
            return None
    head = body[:2048]
    return body if b"<urlset" in head or b"<sitemapindex" in head else None
