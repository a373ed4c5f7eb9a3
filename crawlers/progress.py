"""The crawl's own view of its progress, for the scan that started it (another process).

Captures and refusals reach the workspace database as they happen, but what is still to be
fetched lives only in Scrapy's scheduler. Four times a second, and once more at the close, this extension
writes the queue length, the requests in flight and the responses so far to the target's progress
file (`Workspace.crawl_progress_path`), replacing it whole so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task


class CrawlProgress:
    def __init__(self, crawler, path: Path, interval: float):
        self.crawler = crawler
        self.path = path
        self.interval = interval
        self._loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler):
        path = crawler.settings.get("COPYHOUND_PROGRESS_FILE")
        if not path:
            raise NotConfigured("no COPYHOUND_PROGRESS_FILE: nobody is watching this crawl")
        extension = cls(crawler, Path(path), crawler.settings.getfloat("COPYHOUND_PROGRESS_INTERVAL", 0.25))
        crawler.signals.connect(extension.opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.closed, signal=signals.spider_closed)
        return extension

    def opened(self, spider) -> None:
        self._loop = task.LoopingCall(self.write)
        self._loop.start(self.interval, now=True)

    def closed(self, spider, reason) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.write(finished=reason)

    def write(self, finished: str | None = None) -> None:
        engine = self.crawler.engine
        scheduler = engine.scheduler if engine is not None else None
        stats = self.crawler.stats
        state = {
            "queued": len(scheduler) if scheduler is not None and hasattr(scheduler, "__len__") else 0,
            "in_flight": len(engine.downloader.active) if engine is not None else 0,
            "responses": stats.get_value("response_received_count", 0),
            "finished": finished,
        }
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(state), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError:
            pass  # progress is for show; a full disk is reported by the captures themselves
