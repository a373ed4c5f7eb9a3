"""WARC evidence (ISO 28500): every HTTP exchange the crawl makes, written as it happens.

One gzipped WARC file per scan and target, held under an exclusive flock while written; a second
crawler process of the same scan and target (the shared frontier) writes its own file beside it,
named after its host and pid, so two writers never share a file. Each record is its own gzip member, so a record's
offset is where a reader seeks to read exactly that record, and a writer killed mid-record
leaves only that last member incomplete: reopening the file cuts it off before appending.

Bodies are recorded as they came off the wire (still compressed when the server compressed
them), with their Content-Encoding header, so warcio's `content_stream()` gives back exactly
the bytes the crawl stored. Twisted has already removed chunked transfer coding by the time
Scrapy sees a body, so a Transfer-Encoding header would describe bytes that are not there: it
is dropped and noted in `X-Copyhound-Removed-Transfer-Encoding`.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import socket
import zlib
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Request, Response
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

REMOVED_TE_HEADER = "X-Copyhound-Removed-Transfer-Encoding"


def complete_length(path: Path) -> int:
    """How many leading bytes of `path` are whole gzip members (whole records)."""
    good = consumed = 0
    decoder = zlib.decompressobj(wbits=31)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            while chunk:
                try:
                    decoder.decompress(chunk)
                except zlib.error:
                    return good  # the half-written member is garbage from here on
                if not decoder.eof:
                    consumed += len(chunk)
                    break
                used = len(chunk) - len(decoder.unused_data)
                consumed += used
                good = consumed
                chunk = decoder.unused_data
                decoder = zlib.decompressobj(wbits=31)
    return good


def pointer_problem(path: Path, offset: int, url: str, sha256: str) -> str | None:
    """Why the record at `offset` of `path` is not the response for `url` whose body is `sha256`, or None.

    A candidate's WARC pointer is evidence: checking it against the record's own target URI and
    digest when the candidate is written catches a pointer into another capture (a second writer,
    a rewritten file) before anything is built on it.
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            record = next(iter(ArchiveIterator(handle)), None)
            if record is None:
                return f"{path.name} has no record at offset {offset}"
            target = record.rec_headers.get_header("WARC-Target-URI")
            if record.rec_type != "response" or target != url:
                return f"the record at {path.name}:{offset} is the {record.rec_type} for {target}, not the response for {url}"
            digest = hashlib.sha256(record.content_stream().read()).hexdigest()
    except (OSError, ValueError, EOFError) as e:
        return f"the record at {path.name}:{offset} cannot be read ({e})"
    if digest != sha256:
        return f"the record at {path.name}:{offset} holds a body with SHA-256 {digest}, not {sha256}"
    return None


class WarcLog:
    """Appends request/response record pairs to one WARC file; opened on the first write."""

    def __init__(self, path: Path, info: dict[str, str]):
        self.path = Path(path)
        self._info = info
        self._handle = None
        self._writer: WARCWriter | None = None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = _locked(self.path)
        if handle is None:
            # Another crawler process (on this machine or another sharing the folder) writes this
            # scan's file: write one of this process's own beside it, never into the same file.
            self.path = self.path.with_name(self.path.name.removesuffix(".warc.gz")
                                            + f".{socket.gethostname()}-{os.getpid()}.warc.gz")
            handle = _locked(self.path)
            if handle is None:
                raise OSError(f"{self.path} is locked by another writer")
        fresh = self.path.stat().st_size == 0
        if not fresh:
            keep = complete_length(self.path)
            if keep < self.path.stat().st_size:
                handle.truncate(keep)
                handle.seek(0, os.SEEK_END)  # where the next append lands (tell() gives record offsets)
        self._handle = handle
        self._writer = WARCWriter(self._handle, gzip=True)
        if fresh:
            self._writer.write_record(self._writer.create_warcinfo_record(self.path.name, self._info))
            self._handle.flush()

    def write_exchange(self, request: Request, response: Response, when: str) -> int:
        """Write the response record, then the request record; return the response's offset.

        Both are flushed before returning, so anything that stores the offset (a candidate row,
        the HTTP cache) points at a record already on disk.
        """
        if self._writer is None:
            self._open()
        assert self._writer is not None and self._handle is not None
        response_record = self._writer.create_warc_record(
            response.url,
            "response",
            payload=io.BytesIO(response.body),
            http_headers=_response_head(response),
            warc_headers_dict=_warc_headers(when, response),
        )
        offset = self._handle.tell()
        self._writer.write_record(response_record)
        request_record = self._writer.create_warc_record(
            request.url,
            "request",
            payload=io.BytesIO(request.body or b""),
            http_headers=_request_head(request),
            warc_headers_dict={
                "WARC-Date": when,
                "WARC-Concurrent-To": response_record.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        self._writer.write_record(request_record)
        self._handle.flush()
        return offset

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = self._writer = None


def _locked(path: Path):
    """`path` opened for appending under an exclusive lock held until it is closed, or None when another
    process holds it. flock is honoured across NFS clients (Linux maps it onto NFS byte-range locks)."""
    handle = open(path, "ab")  # noqa: SIM115 (held open for the whole crawl; closed by WarcLog.close())
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def warcinfo(target: str, scan_id: int, user_agent: str) -> dict[str, str]:
    return {
        "software": f"copyhound crawlers on Scrapy {scrapy.__version__} with warcio",
        "format": "WARC File Format 1.0",  # warcio writes WARC/1.0 records
        "isPartOf": f"copyhound scan {scan_id}, target {target}",
        "http-header-user-agent": user_agent,
    }


def _warc_headers(when: str, response: Response) -> dict[str, str]:
    headers = {"WARC-Date": when}
    if response.ip_address is not None:
        headers["WARC-IP-Address"] = str(response.ip_address)
    return headers


def _decoded(headers) -> list[tuple[str, str]]:
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, values in headers.items()
        for value in values
    ]


def _response_head(response: Response) -> StatusAndHeaders:
    headers = []
    for name, value in _decoded(response.headers):
        if name.lower() == "transfer-encoding":
            headers.append((REMOVED_TE_HEADER, value))
        else:
            headers.append((name, value))
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = ""
    protocol = response.protocol or "HTTP/1.1"
    return StatusAndHeaders(f"{response.status} {phrase}".strip(), headers, protocol=protocol)


def _request_head(request: Request) -> StatusAndHeaders:
    parts = urlsplit(request.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = _decoded(request.headers)
    if not any(name.lower() == "host" for name, _ in headers):
        headers.insert(0, ("Host", parts.netloc))
    return StatusAndHeaders(f"{request.method} {target} HTTP/1.1", headers, is_http_request=True)
