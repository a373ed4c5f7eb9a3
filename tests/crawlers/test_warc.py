"""The WARC log survives a writer killed mid-record."""

from __future__ import annotations

from scrapy.http import Request, Response
from warcio.archiveiterator import ArchiveIterator

from crawlers.warc import REMOVED_TE_HEADER, WarcLog, complete_length


def exchange(url: str, body: bytes, headers: dict | None = None):
    request = Request(url, headers={"User-Agent": "test"})
    return request, Response(url, status=200, headers=headers or {"Content-Type": "image/jpeg"}, body=body, request=request)


def test_a_partial_last_record_is_cut_off_before_appending(tmp_path):
    path = tmp_path / "scan-1-t.warc.gz"
    log = WarcLog(path, {"software": "test"})
    first = log.write_exchange(*exchange("http://a.example/1.jpg", b"\xff\xd8\xff one"), "2024-01-01T00:00:00Z")
    log.write_exchange(*exchange("http://a.example/2.jpg", b"\xff\xd8\xff two"), "2024-01-01T00:00:01Z")
    log.close()
    whole = path.stat().st_size
    with open(path, "r+b") as handle:  # as if killed while writing a third record
        handle.seek(0, 2)
        handle.write(b"\x1f\x8b\x08\x00half a record")
    assert complete_length(path) == whole

    log = WarcLog(path, {"software": "test"})
    third = log.write_exchange(
        *exchange("http://a.example/3.jpg", b"\xff\xd8\xff three", {"Transfer-Encoding": "chunked"}),
        "2024-01-01T00:00:02Z",
    )
    log.close()
    assert third == whole
    with open(path, "rb") as handle:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read(),
                    r.http_headers.get_header(REMOVED_TE_HEADER) if r.http_headers else None)
                   for r in ArchiveIterator(handle)]
    assert [r[:2] for r in records] == [
        ("warcinfo", None),
        ("response", "http://a.example/1.jpg"), ("request", "http://a.example/1.jpg"),
        ("response", "http://a.example/2.jpg"), ("request", "http://a.example/2.jpg"),
        ("response", "http://a.example/3.jpg"), ("request", "http://a.example/3.jpg"),
    ]
    assert records[5][2:] == (b"\xff\xd8\xff three", "chunked")
    with open(path, "rb") as handle:
        handle.seek(first)
        assert next(iter(ArchiveIterator(handle))).content_stream().read() == b"\xff\xd8\xff one"
