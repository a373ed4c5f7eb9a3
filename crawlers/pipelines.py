"""Hand what the crawl captured to the workspace: blobs by SHA-256, candidate rows, crawl events.

Each item is committed on its own as it arrives, so a crawl killed at any point keeps
everything captured before. A capture's WARC pointer is checked against the record it points at
(target URI and body digest) before the candidate is written. The store ignores a sighting this scan already holds, which makes
a resumed crawl safe to repeat work.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from crawlers.items import CrawlEvent, ImageCapture
from crawlers.warc import pointer_problem
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, open_store


class StorePipeline:
    def __init__(self, home: Path, scan_id: int, stats):
        self.workspace = Workspace(home)
        self.scan_id = scan_id
        self.stats = stats
        self.store: Store | None = None
        self.blobs = BlobStore(self.workspace.blobs_dir)

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        return cls(Path(settings["COPYHOUND_HOME"]), settings.getint("COPYHOUND_SCAN_ID"), crawler.stats)

    def open_spider(self) -> None:
        self.store = open_store(self.workspace)

    def close_spider(self) -> None:
        if self.store is not None:
            self.store.close()

    def process_item(self, item):
        assert self.store is not None
        if isinstance(item, ImageCapture):
            self._capture(item)
        elif isinstance(item, CrawlEvent):
            self.store.add_crawl_event(
                self.scan_id, item.target, item.url, item.reason, item.detail, item.page_url
            )
        return item

    def _capture(self, item: ImageCapture) -> None:
        digest = item.fetched.sha256
        if item.body is not None:
            stored = self.blobs.put(item.body)
            if stored != digest:
                raise ValueError(f"{item.sighting.image_url}: body hashes to {stored}, item says {digest}")
        elif digest not in self.blobs:
            raise ValueError(
                f"{item.sighting.image_url}: no bytes came with this capture and blob {digest} is not stored"
            )
        fetched = item.fetched
        if fetched.warc_file is not None and fetched.warc_offset is not None:
            problem = pointer_problem(self.workspace.home / fetched.warc_file, fetched.warc_offset,
                                      fetched.final_url, digest)
            if problem is not None:
                raise ValueError(f"{item.sighting.image_url}: not stored, its WARC evidence is wrong: {problem}")
        row = {"scan_id": self.scan_id, "target": item.target, **asdict(item.sighting), **asdict(item.fetched)}
        if self.store.add_candidate(row) is not None:
            self.stats.inc_value("copyhound/candidates_added")
