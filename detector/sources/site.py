"""The two oldest sources: a site crawled from its start URLs (`[[targets]]`, `--site`) and a list of
URLs fetched as they are (`--urls FILE`). Both lead to the same URLs on every scan."""

from __future__ import annotations

from collections.abc import Iterator

from detector.config import SourceConfig, Target
from detector.sources.base import Budget, Lead


class TargetSource:
    """A crawl target seen as a source: its start URLs are its leads, the target itself what is crawled."""

    repeat = True

    def __init__(self, target: Target):
        self.target = target
        kind = "site" if target.follow_links else "urls"
        self.config = SourceConfig(name=target.name, type=kind, urls=target.start_urls, cadence_days=0,
                                   allow_private=target.allow_private)

    @property
    def name(self) -> str:
        return self.target.name

    def leads(self, cursor: dict, budget: Budget) -> Iterator[Lead]:
        for url in self.target.start_urls:
            if self.target.follow_links:
                yield Lead(url, "page", f"site crawl {self.target.name}",
                           "a start URL of the site crawl; the copy was on a page linked from it")
            else:
                yield Lead(url, "page", f"URL list {self.target.name}", "listed in the URL file given to the scan")

    def check(self, budget: Budget) -> list[str]:
        return [f"{len(self.target.start_urls)} start URL(s); the crawler reaches them on the next scan"]

    def targets(self, leads: list[Lead]) -> list[Target]:
        return [self.target]
