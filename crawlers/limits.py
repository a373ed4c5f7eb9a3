"""What a crawl of one target may do: its caps, its delay and the domains it stays within."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from detector.config import CrawlSettings, Target


@dataclass(frozen=True)
class Limits:
    """The caps and delay that apply to one target: its own overrides, else the [crawl] defaults."""

    max_depth: int
    max_pages: int
    download_delay: float
    #: Where AutoThrottle starts. A delay the target names itself (a source that knows its host, such as the
    #: watcher's CDN) is taken as it is; the crawl-wide delay starts at a second at least, until the site's
    #: latency is known. Each crawl process starts over: a start at one second cost the watcher two seconds of
    #: every batch's crawl.
    throttle_start: float
    allowed_domains: tuple[str, ...]


def limits(target: Target, crawl: CrawlSettings) -> Limits:
    domains = target.allowed_domains or tuple(
        dict.fromkeys(urlsplit(u).hostname for u in target.start_urls)
    )
    own_delay = target.download_delay >= 0
    return Limits(
        max_depth=target.max_depth if target.max_depth > 0 else crawl.max_depth,
        max_pages=target.max_pages if target.max_pages > 0 else crawl.max_pages,
        download_delay=target.download_delay if own_delay else crawl.download_delay,
        throttle_start=target.download_delay if own_delay else max(crawl.download_delay, 1.0),
        allowed_domains=tuple(d.lower().lstrip(".") for d in domains if d),
    )


def in_domains(host: str | None, domains: tuple[str, ...]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one."""
    host = (host or "").lower()
    return any(host == d or host.endswith("." + d) for d in domains)
