"""Common Crawl: pages of URL patterns the owner names, found in the crawl's CDX index.

Each run asks the CDX API (pywb's, as index.commoncrawl.org serves it) of each configured collection for
captured HTML pages matching each pattern, one index page at a time, and reads each capture's WARC record
with a range request on the archive, so only captures that are whole (digest checked, the URL they claim)
lead anywhere. The page is then fetched live by the crawler, which finds its images with the spider's
rules; the lead keeps the capture (collection, time, WARC file, offset) as provenance.

Plain httpx, not cdx-toolkit: cdx-toolkit waits 3 s between requests to any host it does not know and
retries a dead endpoint for up to 100 minutes, where a scan must record the failure and go on.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from detector.config import SourceConfig, Target
from detector.sources.base import Budget, Lead, SourceError, fetch_target
from detector.sources.fetching import get

INDEX = "https://index.commoncrawl.org"
ARCHIVE = "https://data.commoncrawl.org"
MAX_INDEX_BYTES = 20_000_000
MAX_RECORD_BYTES = 10_000_000
_TIMEOUT = 60.0


class CommonCrawlSource:
    repeat = False

    def __init__(self, config: SourceConfig):
        if not config.urls or not config.collections:
            raise SourceError(f"[[sources]] {config.name!r}: type 'common_crawl' needs urls = [\"example.com/*\"] and "
                              "collections = [\"CC-MAIN-2026-05\"]")
        self.config = config
        self.index = (config.endpoint or INDEX).rstrip("/")
        self.archive = (config.archive_endpoint or ARCHIVE).rstrip("/")
        self.problems: list[str] = []

    @property
    def name(self) -> str:
        return self.config.name

    def leads(self, cursor: dict, budget: Budget) -> Iterator[Lead]:
        # A collection never changes once published: the cursor keeps, per collection and pattern, how many
        # index pages there are and the last one read, so a finished one costs nothing on later runs.
        pages_total, pages_done = cursor.setdefault("pages", {}), cursor.setdefault("pages_done", {})
        with httpx.Client(timeout=_TIMEOUT, headers={"User-Agent": "copyhound common_crawl"}) as client:
            for collection in self.config.collections:
                for pattern in self.config.urls:
                    key = f"{collection} {pattern}"
                    try:
                        if key not in pages_total:
                            self._spend(budget, key)
                            pages_total[key] = self._num_pages(client, collection, pattern)
                        for page in range(pages_done.get(key, -1) + 1, pages_total[key]):
                            self._spend(budget, key)
                            for capture in self._index_page(client, collection, pattern, page):
                                lead = self._lead(client, collection, capture, budget)
                                if lead is not None:
                                    yield lead
                            pages_done[key] = page
                    except SourceError as e:
                        self.problems.append(str(e))

    def _spend(self, budget: Budget, key: str) -> None:
        if not budget.spend():
            raise SourceError(f"{key}: stopped, the monthly budget of {self.config.monthly_budget} requests is "
                              "spent; the rest is read next month")

    def _query(self, collection: str, pattern: str, *extra: tuple[str, str]) -> str:
        query = urlencode([("url", pattern), ("output", "json"), ("filter", "status:200"), ("filter", "mime:text/html"),
                           *extra])
        return f"{self.index}/{collection}-index?{query}"

    def _ask(self, client: httpx.Client, url: str, max_bytes: int) -> bytes | None:
        """The body of a 200 answer; None for a 404 (no captures); SourceError for anything else."""
        answer = get(client, url, allow_private=self.config.allow_private, max_bytes=max_bytes)
        if answer.status == 404:
            return None
        if answer.status == 429:
            raise SourceError(f"{url}: HTTP 429, the index asks to slow down; the rest is read on the next run")
        if answer.status != 200:
            raise SourceError(f"{url}: HTTP {answer.status}")
        return answer.body

    def _num_pages(self, client: httpx.Client, collection: str, pattern: str) -> int:
        url = self._query(collection, pattern, ("showNumPages", "true"))
        body = self._ask(client, url, 10_000)
        if body is None:
            return 0
        try:
            return max(0, int(json.loads(body)["pages"]))
        except (ValueError, KeyError, TypeError) as e:
            raise SourceError(f"{url}: not a CDX page count ({body[:80]!r})") from e

    def _index_page(self, client: httpx.Client, collection: str, pattern: str, page: int) -> list[dict]:
        url = self._query(collection, pattern, ("page", str(page)))
        body = self._ask(client, url, MAX_INDEX_BYTES) or b""
        captures, bad = [], 0
        for line in body.splitlines():
            try:
                capture = json.loads(line)
                int(capture["offset"]), int(capture["length"]), capture["filename"], capture["url"]
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            captures.append(capture)
        if bad:
            self.problems.append(f"{url}: {bad} index line(s) were not CDX JSON and were skipped")
        return captures

    def _lead(self, client: httpx.Client, collection: str, capture: dict, budget: Budget) -> Lead | None:
        """The lead of one capture, once its WARC record is read whole; None (a problem noted) otherwise."""
        offset, length, filename = int(capture["offset"]), int(capture["length"]), capture["filename"]
        where = f"{filename} bytes {offset}+{length}"
        if length > MAX_RECORD_BYTES:
            self.problems.append(f"{capture['url']}: its record ({where}) is over {MAX_RECORD_BYTES} bytes; skipped")
            return None
        if not budget.spend():
            self.problems.append(f"{capture['url']}: not read, the monthly budget is spent")
            return None
        try:
            answer = get(client, f"{self.archive}/{filename}", allow_private=self.config.allow_private,
                         max_bytes=length + 1024, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
            if answer.status != 206:
                raise SourceError(f"HTTP {answer.status} for the range {where}")
            problem = record_problem(answer.body, capture["url"])
        except SourceError as e:
            problem = str(e)
        if problem:
            self.problems.append(f"{capture['url']}: capture not used, {problem}")
            return None
        return Lead(capture["url"], "page", f"Common Crawl {collection}",
                    f"capture of {capture['url']} at {capture.get('timestamp', '?')}",
                    {"collection": collection, "timestamp": capture.get("timestamp"), "filename": filename,
                     "offset": offset, "length": length, "digest": capture.get("digest")})

    def check(self, budget: Budget) -> list[str]:
        with httpx.Client(timeout=_TIMEOUT) as client:
            collection, pattern = self.config.collections[0], self.config.urls[0]
            captures = self._index_page(client, collection, pattern, 0) if self._num_pages(
                client, collection, pattern) else []
            lines = [f"{collection} {pattern}: {len(captures)} capture(s) on the first index page"]
            if captures:
                lead = self._lead(client, collection, captures[0], budget)
                lines.append(f"first capture readable: {'yes' if lead else 'no: ' + self.problems[-1]}")
        return lines

    def targets(self, leads: list[Lead]) -> list[Target]:
        return [fetch_target(self.name, leads, self.config.allow_private)]


def record_problem(data: bytes, url: str) -> str | None:
    """Why the bytes of a range request are not the whole response record for `url`, or None."""
    try:
        record = next(iter(ArchiveIterator(io.BytesIO(data), check_digests="raise")), None)
        if record is None:
            return "the range holds no WARC record"
        target = record.rec_headers.get_header("WARC-Target-URI")
        if record.rec_type != "response" or target != url:
            return f"the range holds the {record.rec_type} record of {target}, not the response of {url}"
        body = record.content_stream().read()
    except (ArchiveLoadFailed, OSError, EOFError, ValueError) as e:
        return f"its WARC record cannot be read ({type(e).__name__}: {str(e)[:200]})"
    return None if body else f"the record of {url} has an empty body"
