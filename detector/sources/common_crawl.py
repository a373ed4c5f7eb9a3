"""Common Crawl: images of pages matching URL patterns the owner names, as the crawl archived those pages.

Each run asks the CDX API (pywb's, as index.commoncrawl.org serves it) of each configured collection for
captured HTML pages matching each pattern, one index page at a time, and reads each capture's WARC record
with a range request on the archive (the index gives filename, offset and length). Only a record that is
whole (CRC and digests checked, the response of the URL it claims) is used: its archived HTML is read with the
spider's own rules (crawlers.discover, in a `python -m crawlers.archive --images-of` process: detection
never imports the crawlers), and each image it uses is an image lead, fetched live by the
crawler (SSRF guard, politeness, WARC capture). So a copy is found where the page showed it when it was
captured, even if the page has changed or gone since; the lead keeps the capture (collection, time, WARC
file, offset) and the page as provenance, and the match's page is the captured page.

Plain httpx, not cdx-toolkit. cdx-toolkit first reads `collinfo.json` from its mirror and refuses one
listing fewer than 60 collections; it waits 3 s between requests to a host it does not know; and it
retries a 429 or 5xx with backoff up to 60 s *without limit* (a dead endpoint up to 100 times a minute
apart). Against a loopback index that answers 429 once in a while, as the tests' does, it never returns,
where a scan must record the failure and go on to the next collection.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from detector.config import SourceConfig, Target
from detector.crawl import CrawlFailed, archived_page_images
from detector.sources.base import Budget, Lead, SourceError, fetch_target
from detector.sources.fetching import get

INDEX = "https://index.commoncrawl.org"
ARCHIVE = "https://data.commoncrawl.org"
MAX_INDEX_BYTES = 20_000_000
MAX_RECORD_BYTES = 10_000_000
MAX_INFLATED_BYTES = 50_000_000
#: Images led to from one captured page (a gallery page past this is cut, with a note).
MAX_IMAGES_PER_PAGE = 200
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
                            yield from self._leads(client, collection,
                                                   self._index_page(client, collection, pattern, page), budget)
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
                if int(capture["offset"]) < 0 or int(capture["length"]) <= 0 or not all(
                        isinstance(capture[k], str) for k in ("filename", "url")):
                    raise ValueError("not a capture")
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            captures.append(capture)
        if bad:
            self.problems.append(f"{url}: {bad} index line(s) were not CDX JSON and were skipped")
        return captures

    def _leads(self, client: httpx.Client, collection: str, captures: list[dict], budget: Budget) -> list[Lead]:
        """The image leads of captures: each record read whole by a range request, the images of all the pages
        then read at once (the spider's rules, in a crawler process); a capture whose record cannot be read
        leads nowhere (a problem noted)."""
        read = [(capture, record) for capture in captures
                if (record := self._record(client, capture, budget)) is not None]
        if not read:
            return []
        try:
            images = archived_page_images([record for _, record in read])
        except CrawlFailed as e:
            raise SourceError(str(e)) from e
        leads = []
        for capture, _ in read:
            page, when = capture["url"], capture.get("timestamp", "?")
            used = images.get(page, [])
            if not used:
                self.problems.append(f"{page}: the capture of {when} uses no image")
            elif len(used) > MAX_IMAGES_PER_PAGE:
                self.problems.append(f"{page}: the capture uses {len(used)} images; the first {MAX_IMAGES_PER_PAGE} "
                                     "are led to")
            record = {"collection": collection, "timestamp": capture.get("timestamp"), "filename": capture["filename"],
                      "offset": int(capture["offset"]), "length": int(capture["length"]),
                      "digest": capture.get("digest"), "page_url": page}
            leads += [Lead(url, "image", f"Common Crawl {collection}", f"image on {page} as captured at {when}",
                           {**record, "alt": (alt or "")[:500]}) for url, alt in used[:MAX_IMAGES_PER_PAGE]]
        return leads

    def _record(self, client: httpx.Client, capture: dict, budget: Budget) -> bytes | None:
        """The bytes of a capture's response record, checked whole; None (a problem noted) otherwise."""
        offset, length, filename, page = int(capture["offset"]), int(capture["length"]), capture["filename"], \
            capture["url"]
        where = f"{filename} bytes {offset}+{length}"
        if length > MAX_RECORD_BYTES:
            self.problems.append(f"{page}: its record ({where}) is over {MAX_RECORD_BYTES} bytes; skipped")
            return None
        if not budget.spend():
            self.problems.append(f"{page}: not read, the monthly budget is spent")
            return None
        try:
            answer = get(client, f"{self.archive}/{filename}", allow_private=self.config.allow_private,
                         max_bytes=length + 1024, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
            if answer.status != 206:
                raise SourceError(f"HTTP {answer.status} for the range {where}")
            check_record(answer.body, page)
        except SourceError as e:
            self.problems.append(f"{page}: capture not used, {e}")
            return None
        return answer.body

    def check(self, budget: Budget) -> list[str]:
        with httpx.Client(timeout=_TIMEOUT) as client:
            collection, pattern = self.config.collections[0], self.config.urls[0]
            captures = self._index_page(client, collection, pattern, 0) if self._num_pages(
                client, collection, pattern) else []
            lines = [f"{collection} {pattern}: {len(captures)} capture(s) on the first index page"]
            if captures:
                problems = len(self.problems)
                leads = self._leads(client, collection, captures[:1], budget)
                lines.append(f"first capture: {len(leads)} image(s)" if len(self.problems) == problems else
                             f"first capture: {self.problems[-1]}")
        return lines

    def targets(self, leads: list[Lead]) -> list[Target]:
        return [fetch_target(self.name, leads, self.config.allow_private)]


def inflated(member: bytes) -> bytes:
    """The gzip member of one record inflated whole, its CRC checked, at most MAX_INFLATED_BYTES.

    warcio's reader stops at the record's end and never reads the member's trailer, so a damaged member could
    parse as a record that lost its headers; and a member from the web may inflate a thousandfold."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    data = inflater.decompress(member, MAX_INFLATED_BYTES)
    if inflater.unconsumed_tail:
        raise SourceError(f"its WARC record inflates past {MAX_INFLATED_BYTES:,} bytes")
    if not inflater.eof:
        raise SourceError("its WARC record cannot be read (the gzip member ends early)")
    return data


def check_record(data: bytes, url: str) -> None:
    """SourceError saying why the bytes of a range request are not the whole response record of `url`."""
    try:
        if data[:2] == b"\x1f\x8b":
            data = inflated(data)
        record = next(iter(ArchiveIterator(io.BytesIO(data), check_digests="raise")), None)
        if record is None:
            raise SourceError("the range holds no WARC record")
        target = record.rec_headers.get_header("WARC-Target-URI")
        if record.rec_type != "response" or target != url:
            raise SourceError(f"the range holds the {record.rec_type} record of {target}, not the response of {url}")
        body = record.content_stream().read()
    except (ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error) as e:
        raise SourceError(f"its WARC record cannot be read ({type(e).__name__}: {str(e)[:200]})") from e
    if not body:
        raise SourceError(f"the record of {url} has an empty body")
