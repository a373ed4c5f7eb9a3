"""`python -m crawlers.archive`: read WARC and WAT files a user already has into a scan's candidates, offline.

Nothing is fetched: each HTML page captured in the files is read with the spider's own rules
(`crawlers.discover`), and each image it uses becomes a candidate when the files hold that image's
capture too; an image captured with no page that uses it is its own page, as a listed image URL is in a
crawl. A WAT file (Common Crawl's metadata of each capture, JSON in WARC `metadata` records) names the
images a captured page used (its `IMG@/src` links and `og:image`) without their bytes: given with the
WARC files holding those images, its pages lead to them as an HTML page would; alone, each image is
refused as not in the archive, with its page. The capture is the provenance: the candidate points at the record in the user's file (by
absolute path and offset), and every page or image read is a lead of the `warc-files` source.

A record that cannot be read (a broken gzip member, a truncated body, a digest that does not match) is
refused with its reason in the scan's crawl events, and reading goes on at the next record.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

from scrapy.http import HtmlResponse
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from crawlers.discover import find_images, page_title
from crawlers.spiders.site import KEPT_HEADERS
from detector.sniff import IMAGE_FORMATS, describe, sniff
from detector.workspace import open_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, open_store, utc_now
from detector.workspace.store.sources import ARCHIVE_SOURCE

SOURCE = ARCHIVE_SOURCE
TARGET = "warc"
_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_MAGIC = b"WARC/1."
_READ_ERRORS = (ArchiveLoadFailed, OSError, EOFError, ValueError)


@dataclass(frozen=True)
class Capture:
    """Where one HTTP response is in the files, and what it said it was."""

    path: Path
    offset: int
    uri: str
    date: str
    status: int
    content_type: str


@dataclass(frozen=True)
class WatPage:
    """A captured HTML page as a WAT file describes it: the images it used, with their alt text."""

    path: Path
    offset: int
    uri: str
    date: str
    title: str | None
    images: tuple[tuple[str, str | None], ...]


#: WAT link paths of an image's address (ia-web-commons writes the tag and attribute as TAG@/attr).
_WAT_IMAGE_PATHS = ("IMG@/src", "IMG@/data-src", "IMG@/data-lazy-src", "IMG@/data-original")
_MAX_WAT_RECORD = 5_000_000


def wat_page(path: Path, offset: int, body: bytes) -> WatPage | None:
    """The page a WAT metadata record describes, when it describes a 200 HTML response; None otherwise."""
    if len(body) > _MAX_WAT_RECORD:
        return None
    try:
        envelope = json.loads(body).get("Envelope") or {}
        warc = envelope.get("WARC-Header-Metadata") or {}
        http = (envelope.get("Payload-Metadata") or {}).get("HTTP-Response-Metadata") or {}
        html = http.get("HTML-Metadata") or {}
        status = int(((http.get("Response-Message") or {}).get("Status")) or 0)
    except (ValueError, AttributeError, TypeError):
        return None
    uri = warc.get("WARC-Target-URI")
    if warc.get("WARC-Type") != "response" or not isinstance(uri, str) or not 200 <= status < 300 or not html:
        return None
    head = html.get("Head") or {}
    base = urljoin(uri, head.get("Base")) if isinstance(head.get("Base"), str) else uri
    found: dict[str, str | None] = {}
    for link in html.get("Links") or []:
        if isinstance(link, dict) and link.get("path") in _WAT_IMAGE_PATHS and isinstance(link.get("url"), str):
            found.setdefault(urldefrag(urljoin(base, link["url"].strip()))[0], link.get("alt") or None)
    for meta in head.get("Metas") or []:
        if isinstance(meta, dict) and meta.get("property") in ("og:image", "og:image:url") and \
                isinstance(meta.get("content"), str):
            found.setdefault(urldefrag(urljoin(base, meta["content"].strip()))[0], None)
    images = tuple((url, alt) for url, alt in found.items() if urlsplit(url).scheme in ("http", "https"))
    title = head.get("Title") if isinstance(head.get("Title"), str) else None
    return WatPage(path, offset, uri, warc.get("WARC-Date") or "", title, images)


def records(path: Path, refuse) -> Iterator[Capture | WatPage]:
    """The response records of `path` whose bodies read whole; a record that cannot be read is handed to
    `refuse(offset, why)` and reading resumes at the next record (the next gzip member or WARC header)."""
    with open(path, "rb") as handle:
        gzipped = handle.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC
    yield from (_gzip_records if gzipped else _plain_records)(path, refuse)


def _gzip_records(path: Path, refuse) -> Iterator[Capture | WatPage]:
    """A .warc.gz holds one record per gzip member. Each member is decompressed whole, its CRC checked, before
    warcio parses it: warcio itself, meeting a member it cannot decompress past its first block, prints the zlib
    error and reads on with nothing, so a broken member was lost without a reason, or took the records after
    it along (which of the two depended on where the damage fell)."""
    size = path.stat().st_size
    start = 0
    with open(path, "rb") as handle:
        while start < size:
            try:
                raw, end = _member(handle, start)
            except zlib.error as e:
                handle.seek(start)
                if not handle.read().strip():  # only blank bytes after the last record
                    return
                refuse(start, f"a broken gzip member ({e})")
                start = _next_record(path, start + 1)
                continue
            if end is None:
                refuse(start, f"the file ends in the middle of a record (cut short); its last {size - start} bytes "
                              "are not read")
                return
            try:
                yield from _member_captures(path, start, raw)
            except _READ_ERRORS as e:
                refuse(start, f"{type(e).__name__}: {str(e)[:200]}")
            start = end


def _member(handle, start: int) -> tuple[bytes, int | None]:
    """The decompressed gzip member at `start` and where the next one begins (None: the file ends inside it);
    zlib.error when it is not gzip or does not decompress whole."""
    handle.seek(start)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out, read = [], 0
    while not inflater.eof:
        chunk = handle.read(1 << 16)
        if not chunk:
            return b"".join(out), None
        out.append(inflater.decompress(chunk))
        read += len(chunk)
    return b"".join(out), start + read - len(inflater.unused_data)


def _member_captures(path: Path, offset: int, raw: bytes) -> Iterator[Capture | WatPage]:
    iterator = ArchiveIterator(io.BytesIO(raw), check_digests="raise")
    for record in iterator:
        body = record.content_stream().read()  # reads (and digest-checks) the body: a bad one raises here
        if (item := _item(path, offset, record, body)) is not None:
            yield item


def _item(path: Path, offset: int, record, body: bytes) -> Capture | WatPage | None:
    """What a record at `offset` gives: a WAT page (a metadata record), a capture (a response), or nothing."""
    if record.rec_type == "metadata":
        return wat_page(path, offset, body)
    if record.rec_type == "response" and record.http_headers is not None:
        return _capture(path, offset, record)
    return None


def _capture(path: Path, offset: int, record) -> Capture:
    return Capture(path, offset, record.rec_headers.get_header("WARC-Target-URI") or "",
                   record.rec_headers.get_header("WARC-Date") or "", int(record.http_headers.get_statuscode() or 0),
                   record.http_headers.get_header("Content-Type") or "")


def _plain_records(path: Path, refuse) -> Iterator[Capture | WatPage]:
    start, size = 0, path.stat().st_size
    with open(path, "rb") as handle:
        while start < size:
            handle.seek(start)
            iterator = ArchiveIterator(handle, check_digests="raise")
            last_good = None
            try:
                for record in iterator:
                    # The body first (read and digest-checked: a bad one raises here), then the offset (absolute: the
                    # iterator starts at the handle's position), which reads to the record's end before it is known.
                    body = record.content_stream().read()
                    offset = iterator.get_record_offset()
                    if (item := _item(path, offset, record, body)) is not None:
                        yield item
                    last_good = offset
                # The iterator stops quietly at a record cut short at the end of the file: say so.
                end = getattr(iterator, "offset", size)
                handle.seek(end)
                if handle.read(4096).strip():
                    refuse(end, f"the file ends in the middle of a record (cut short); its last {size - end} bytes "
                                "are not read")
                return
            except _READ_ERRORS as e:
                if last_good is not None:
                    # Trouble after a good record: start afresh where the next record begins, so the bad
                    # one fails on its own and is refused at its own offset.
                    start = _next_record(path, last_good + 1)
                    continue
                refuse(start, f"{type(e).__name__}: {str(e)[:200]}")
                start = _next_record(path, start + 1)


def _next_record(path: Path, after: int) -> int:
    """Where the next record may start after a broken one: the next gzip member or WARC header."""
    with open(path, "rb") as handle:
        handle.seek(after)
        data = handle.read()
    found = [i for i in (data.find(_GZIP_MAGIC), data.find(b"\r\n" + _WARC_MAGIC)) if i >= 0]
    if not found:
        return path.stat().st_size
    hit = min(found)
    return after + hit + (2 if data[hit:hit + 2] == b"\r\n" else 0)


def body_of(capture: Capture) -> tuple[bytes, dict]:
    """The decoded body of a captured response and its HTTP headers (raises on a broken record)."""
    with open(capture.path, "rb") as handle:
        handle.seek(capture.offset)
        record = next(iter(ArchiveIterator(handle, check_digests="raise")))
        headers = dict(record.http_headers.headers)
        return record.content_stream().read(), headers


class ArchiveReader:
    def __init__(self, store: Store, blobs: BlobStore, scan_id: int, max_image_bytes: int):
        self.store, self.blobs, self.scan_id, self.max_bytes = store, blobs, scan_id, max_image_bytes
        self.counts: Counter = Counter()
        self.refusals: Counter = Counter()
        self.run_id = store.start_source_run(SOURCE, "warc", scan_id)

    def refuse(self, url: str, reason: str, detail: str, page_url: str | None = None) -> None:
        self.refusals[reason] += 1
        self.store.add_crawl_event(self.scan_id, TARGET, url, reason, detail, page_url)

    def read(self, paths: list[Path]) -> dict:
        captures: dict[str, Capture] = {}
        described: dict[str, WatPage] = {}
        for path in paths:
            for capture in records(path, lambda offset, why, p=path: self.refuse(
                    str(p), "corrupt_record", f"{p} at byte {offset}: {why}; the record is skipped")):
                if isinstance(capture, WatPage):
                    described.setdefault(capture.uri, capture)
                elif 200 <= capture.status < 300:
                    captures.setdefault(capture.uri, capture)
        used: set[str] = set()
        for capture in captures.values():
            if "html" in capture.content_type.lower():
                used |= self._page(capture, captures)
        for page in described.values():
            if page.uri not in captures:  # a page whose HTML is given too was read above
                used |= self._wat_page(page, captures)
        for uri, capture in captures.items():
            if uri not in used and capture.content_type.lower().startswith("image/"):
                lead_id = self._lead(capture, "image")
                self._image(capture, {"page_url": uri, "image_url": uri, "lead_url": uri, "lead_id": lead_id,
                                      "page_warc_file": str(capture.path), "page_warc_offset": capture.offset})
        summary = {"pages_fetched": self.counts["pages"], "images_fetched": self.counts["images"], "from_cache": 0,
                   "candidates_added": self.counts["candidates"], "refusals": dict(self.refusals), "caps_hit": {},
                   "errors": [], "complete": True, "targets": {}}
        # The run keeps which files it read and what it found: a scan whose files were read by several workers
        # (one task per file) adds these up, and a file's task delivered twice sees it was read.
        self.store.finish_source_run(self.run_id, "finished", leads=self.counts["leads"], budget_used=0,
                                     cursor={"files": [str(p) for p in paths], "summary": summary}, detail=None)
        return summary

    def _lead(self, capture: Capture | WatPage, kind: str) -> int:
        self.counts["leads"] += 1
        wat = isinstance(capture, WatPage)
        return self.store.add_lead(self.run_id, SOURCE, {
            "url": capture.uri, "kind": kind, "found_by": f"{'WAT' if wat else 'WARC'} file {capture.path.name}",
            "why": f"captured at {capture.date}" + (" (the images it used, as its WAT metadata lists them)" if wat
                                                     else ""),
            "provenance": {"warc_file": str(capture.path), "offset": capture.offset, "date": capture.date}})

    def _wat_page(self, page: WatPage, captures: dict[str, Capture]) -> set[str]:
        self.counts["pages"] += 1
        lead_id = self._lead(page, "page")
        used = set()
        for url, alt in page.images:
            image = captures.get(url)
            if image is None:
                self.refuse(url, "not_in_archive", f"{url} (used by {page.uri}, per the WAT file {page.path.name}) is "
                            "not captured in the WARC files given; scan its page live to fetch it", page_url=page.uri)
                continue
            used.add(url)
            self._image(image, {"page_url": page.uri, "image_url": url, "page_title": page.title, "alt_text": alt,
                                "page_warc_file": str(page.path), "page_warc_offset": page.offset,
                                "lead_url": page.uri, "lead_id": lead_id})
        return used

    def _page(self, capture: Capture, captures: dict[str, Capture]) -> set[str]:
        try:
            body, headers = body_of(capture)
        except _READ_ERRORS as e:
            self.refuse(capture.uri, "corrupt_record", f"{capture.path} at byte {capture.offset}: {e}")
            return set()
        self.counts["pages"] += 1
        page = HtmlResponse(url=capture.uri, body=body, headers=headers)
        lead_id = self._lead(capture, "page")
        title, used = page_title(page), set()
        for ref in find_images(page):
            image = captures.get(ref.url)
            if image is None:
                self.refuse(ref.url, "not_in_archive", f"{ref.url} (used by {capture.uri}) is not captured in the "
                            "WARC files given; scan its page live to fetch it", page_url=capture.uri)
                continue
            used.add(ref.url)
            self._image(image, {"page_url": capture.uri, "image_url": ref.url, "page_title": title, "alt_text": ref.alt,
                                "caption": ref.caption, "declared_width": ref.width, "declared_height": ref.height,
                                "page_warc_file": str(capture.path), "page_warc_offset": capture.offset,
                                "lead_url": capture.uri, "lead_id": lead_id})
        return used

    def _image(self, capture: Capture, sighting: dict) -> None:
        url = capture.uri
        try:
            body, headers = body_of(capture)
        except _READ_ERRORS as e:
            self.refuse(url, "corrupt_record", f"{capture.path} at byte {capture.offset}: {e}", sighting["page_url"])
            return
        self.counts["images"] += 1
        kind = sniff(body)
        if kind is None or kind not in IMAGE_FORMATS:
            self.refuse(url, "not_image" if kind is None else "unsupported_format",
                        f"{url} is {describe(body)} in the archive, not a fingerprintable image", sighting["page_url"])
            return
        if len(body) > self.max_bytes:
            self.refuse(url, "too_large", f"{url} is {len(body)} bytes, over crawl.max_image_bytes", sighting["page_url"])
            return
        row = {"scan_id": self.scan_id, "target": TARGET, "discovered_at": utc_now(), "final_url": url,
               "fetched_at": capture.date, "http_status": capture.status,
               "headers": {k: v for k, v in headers.items() if k in KEPT_HEADERS}, "sha256": self.blobs.put(body),
               "byte_size": len(body), "sniffed_format": kind, "warc_file": str(capture.path),
               "warc_offset": capture.offset, **sighting}
        if self.store.add_candidate(row) is not None:
            self.counts["candidates"] += 1


def page_images(paths: list[Path]) -> dict[str, list[list]]:
    """The images each HTML page captured in `paths` uses, by the spider's rules: {page URI: [[url, alt], ...]}.
    Records that cannot be read are left out (the caller read them whole before)."""
    found: dict[str, list[list]] = {}
    for path in paths:
        for capture in records(path, lambda offset, why: None):
            if isinstance(capture, Capture) and "html" in capture.content_type.lower() and capture.uri not in found:
                try:
                    body, headers = body_of(capture)
                except _READ_ERRORS:
                    continue
                page = HtmlResponse(url=capture.uri, body=body, headers=headers)
                found[capture.uri] = [[ref.url, ref.alt] for ref in find_images(page)]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawlers.archive", description=__doc__.splitlines()[0])
    parser.add_argument("--home")
    parser.add_argument("--scan-id", type=int)
    parser.add_argument("--summary-out", type=Path)
    parser.add_argument("--images-of", action="store_true",
                        help="Only print, as JSON, the images each captured HTML page uses (the Common Crawl source).")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.images_of:
        print(json.dumps(page_images(args.files)))
        return 0
    if not args.home or args.scan_id is None:
        parser.error("--home and --scan-id are required to read files into a scan")
    ws = open_workspace(args.home)
    store = open_store(ws)
    try:
        reader = ArchiveReader(store, BlobStore(ws.blobs_dir), args.scan_id, ws.settings().crawl.max_image_bytes)
        summary = reader.read([path.resolve() for path in args.files])
    finally:
        store.close()
    text = json.dumps(summary, indent=2, sort_keys=True)
    if args.summary_out:
        args.summary_out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
