"""Downloader middlewares: the SSRF guard, robots refusals with a reason, loop-safe redirects, retry
backoff, WARC capture.

Their places in the chain (see settings.py) matter:
- the SSRF guard runs first on every request, including each hop of a redirect (Scrapy sends a
  redirected request back through the scheduler and this whole chain) and robots.txt fetches;
- WARC capture sits below the HTTP cache, next to the downloader, so it sees exactly what came
  off the network and nothing served from the cache. It stamps each response with where its
  record lies; the cache stores that stamp, so a response later served from the cache still
  points at the record of the fetch that produced it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from pathlib import Path

from scrapy import signals
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import (
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotConfigured,
    ResponseDataLossError,
)
from scrapy.http import Request, Response
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import ConnectionLost

from crawlers.addresses import non_public_kind
from crawlers.refusals import Refused
from crawlers.warc import WarcLog, warcinfo
from detector.workspace.store import utc_now

WARC_HEADER = "X-Copyhound-Warc"
FETCHED_AT_HEADER = "X-Copyhound-Fetched-At"


def evidence_of(response: Response) -> tuple[str | None, int | None, str | None]:
    """(WARC file relative to the workspace, record offset, fetch time) stamped on `response`."""
    stamp = response.headers.get(WARC_HEADER)
    fetched = response.headers.get(FETCHED_AT_HEADER)
    fetched_at = fetched.decode("ascii") if fetched else None
    if not stamp:
        return None, None, fetched_at
    name, _, offset = stamp.decode("utf-8").rpartition(" ")
    return name, int(offset), fetched_at


class PrivateAddressGuard:
    """Refuse requests whose host is, or resolves to, a non-public address (SSRF protection).

    Every address a name resolves to must be public: one private answer among public ones is
    enough to refuse. Disabled for targets with allow_private. The check resolves the name
    itself; Scrapy resolves it again to connect, so a DNS server that changes its answer in
    between (DNS rebinding) is not caught here.
    """

    def __init__(self, target: str):
        self.target = target
        self._answers: dict[tuple[str, int], list[str] | None] = {}

    @classmethod
    def from_crawler(cls, crawler):
        if crawler.settings.getbool("COPYHOUND_ALLOW_PRIVATE"):
            raise NotConfigured("target allows private addresses")
        return cls(crawler.settings.get("COPYHOUND_TARGET", ""))

    async def process_request(self, request: Request) -> None:
        parts = urlparse_cached(request)
        host = parts.hostname
        if not host:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        for address in await self._resolve(host, port) or ():
            kind = non_public_kind(address)
            if kind:
                raise Refused("private_address", self._explain(request, host, address, kind))
        return

    async def _resolve(self, host: str, port: int) -> list[str] | None:
        key = (host, port)
        if key not in self._answers:
            try:
                self._answers[key] = [str(ipaddress.ip_address(host))]
            except ValueError:
                self._answers[key] = await _lookup(host, port)
        return self._answers[key]

    def _explain(self, request: Request, host: str, address: str, kind: str) -> str:
        via = request.meta.get("redirect_urls") or []
        origin = f" (reached by a redirect from {via[0]})" if via else ""
        resolved = "is" if host == address else f"resolves to {address}, which is"
        return (
            f"{request.url}{origin}: host {host} {resolved} a {kind} address; refused to keep the "
            f"crawler away from internal services. If target {self.target!r} is yours, set "
            "allow_private = true on it in config.toml, or pass --allow-private."
        )


async def _lookup(host: str, port: int) -> list[str] | None:
    """Every address `host` resolves to; None when it does not resolve (the download then fails
    with a DNS error of its own, recorded as dns_error)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None
    return sorted({info[4][0] for info in infos})


class RobotsDisallowed(Refused):
    def __init__(self, url: str):
        super().__init__(
            "robots_disallowed",
            f"{url} is disallowed by the site's robots.txt. To crawl it anyway, set ignore_robots = true "
            "on the target with a robots_reason (for example the owner's written permission).",
        )


class RobotsUnavailable(Refused):
    def __init__(self, url: str, why: str):
        super().__init__(
            "robots_unavailable",
            f"{url} was not fetched: the site's robots.txt {why}, and a site whose rules cannot be read is not "
            "crawled. Scan again later; to crawl it anyway, set ignore_robots = true on the target with a "
            "robots_reason.",
        )


class RecordedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, raising a refusal that carries its reason code, and failing closed.

    Scrapy reads the body of a robots.txt that answered 5xx or 429 as rules (usually none) and allows every
    URL of a site whose robots.txt could not be downloaded. A server that is failing, too slow or too busy to
    answer for its rules has not said what it allows, so, as search engines do, nothing of that site is crawled: each
    request is refused as `robots_unavailable`. A host that does not resolve or refuses connections keeps
    Scrapy's way: its pages fail on their own, under that reason.
    """

    #: Download failures of robots.txt, after retries, that refuse the site's requests (Scrapy wraps
    #: a response that never came in DownloadFailedError).
    UNAVAILABLE = (DownloadTimeoutError, DownloadFailedError, ResponseDataLossError, ConnectionLost)

    def __init__(self, crawler):
        super().__init__(crawler)
        self._unavailable: dict[str, str] = {}  # netloc -> why its robots.txt could not be read

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500 or response.status == 429:  # 429: the site asks us to come back later
            self._unavailable[netloc] = f"answered HTTP {response.status}"
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if isinstance(exc, self.UNAVAILABLE):
            self._unavailable[netloc] = f"could not be downloaded ({type(exc).__name__}: {exc})"
        super()._robots_error(exc, netloc)

    def process_request_2(self, rp, request: Request) -> None:
        why = self._unavailable.get(urlparse_cached(request).netloc)
        if why is not None:
            raise RobotsUnavailable(request.url, why)
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest:
            raise RobotsDisallowed(request.url) from None


class LoopSafeRedirect(RedirectMiddleware):
    """Scrapy's redirects, with every hop let past the duplicate filter.

    A hop back to a URL already requested (a loop) would otherwise be dropped by the scheduler's
    duplicate filter without any error, and the URL asked for would vanish from the record. Let
    through, a loop runs into crawl.max_redirects and is recorded as `redirect_loop`; a hop to a
    page fetched before costs one more answer from the HTTP cache, and the store ignores the
    repeated sighting.
    """

    def process_response(self, request, response, spider=None):
        result = super().process_response(request, response, spider)
        if isinstance(result, Request) and result is not request and not result.dont_filter:
            result = result.replace(dont_filter=True)
        return result


class RetryBackoff:
    """Delay each retry: `COPYHOUND_RETRY_BACKOFF` seconds before the first, doubling after.

    Scrapy's RetryMiddleware re-sends at once; a struggling server deserves a pause. The
    retried request carries `retry_times`, set by RetryMiddleware.
    """

    def __init__(self, base: float):
        self.base = base

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getfloat("COPYHOUND_RETRY_BACKOFF", 1.0))

    async def process_request(self, request: Request) -> None:
        attempt = request.meta.get("retry_times", 0)
        if attempt and self.base > 0:
            await asyncio.sleep(self.base * 2 ** (attempt - 1))


class WarcCapture:
    """Write every exchange with the network to the scan's WARC file and stamp the response."""

    def __init__(self, path: Path, home: Path, info: dict[str, str]):
        self.log = WarcLog(path, info)
        self.home = home

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        middleware = cls(
            Path(settings["COPYHOUND_WARC_FILE"]),
            Path(settings["COPYHOUND_HOME"]),
            warcinfo(settings["COPYHOUND_TARGET"], settings.getint("COPYHOUND_SCAN_ID"), settings["USER_AGENT"]),
        )
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_closed(self) -> None:
        self.log.close()

    def process_response(self, request: Request, response: Response) -> Response:
        if "cached" in response.flags:
            return response
        when = utc_now()
        offset = self.log.write_exchange(request, response, when)
        # A 304 has no body to point at; the cache keeps the stamp of the full response it confirms.
        if response.status != 304:
            # The log's path, read after the write: a second writer of the scan's file gets its own.
            response.headers[WARC_HEADER] = f"{self.log.path.relative_to(self.home).as_posix()} {offset}"
            response.headers[FETCHED_AT_HEADER] = when
        return response
