"""Workspace files on a folder several machines share: writers in separate processes, racing.

A blob written by two processes at once ends as one intact file and no leftovers; a WARC file that a
second crawler process of the same scan wants is never shared: that writer gets a file of its own,
and every record of both files reads back whole.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from scrapy.http import Request, Response
from warcio.archiveiterator import ArchiveIterator

from crawlers.warc import WarcLog
from detector.workspace.blobs import BlobStore

ROOT = Path(__file__).resolve().parents[1]

_BLOB_WRITER = """
import sys
from pathlib import Path
from detector.workspace.blobs import BlobStore
blobs, data = BlobStore(Path(sys.argv[1])), Path(sys.argv[2]).read_bytes()
sys.stdin.readline()  # start together
for _ in range(int(sys.argv[3])):
    # Remove it each time, so that both processes keep writing the same blob over each other.
    blobs.path(blobs.put(data)).unlink(missing_ok=True)
blobs.put(data)
"""


def test_two_processes_writing_one_blob_leave_one_intact_file(tmp_path):
    photo = Path("/work/shared/photos")
    data = max(photo.glob("*.jpg"), key=lambda p: p.stat().st_size).read_bytes() if photo.is_dir() else os.urandom(1 << 22)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    blobs = tmp_path / "blobs"
    writers = [subprocess.Popen([sys.executable, "-c", _BLOB_WRITER, str(blobs), str(source), "40"], cwd=ROOT,
                                stdin=subprocess.PIPE, text=True) for _ in range(2)]
    for writer in writers:
        writer.stdin.write("go\n")
        writer.stdin.close()
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    digest = hashlib.sha256(data).hexdigest()
    assert BlobStore(blobs).get(digest) == data
    assert [p.name for p in (blobs / digest[:2]).iterdir()] == [digest]  # no temporary file left behind


_WARC_WRITER = """
import io, sys
from pathlib import Path
from scrapy.http import Request, Response
from crawlers.warc import WarcLog
log = WarcLog(Path(sys.argv[1]), {"software": "test"})
for i in range(int(sys.argv[3])):
    url = f"http://{sys.argv[2]}.example/{i}.jpg"
    request = Request(url)
    log.write_exchange(request, Response(url, body=b"\\xff\\xd8\\xff" + bytes(2000) + str(i).encode(),
                                         request=request), "2024-01-01T00:00:00Z")
    if i == 0:
        print(log.path, flush=True)
        sys.stdin.readline()
log.close()
"""


def _records(path: Path) -> list[tuple[str, str | None]]:
    with open(path, "rb") as handle:
        return [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for r in ArchiveIterator(handle)]


def test_a_second_writer_of_a_scans_warc_file_writes_its_own(tmp_path):
    path = tmp_path / "warc" / "scan-1-shop.warc.gz"
    first = subprocess.Popen([sys.executable, "-c", _WARC_WRITER, str(path), "first", "30"], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == str(path)  # holds the file now, mid-crawl
    second = subprocess.Popen([sys.executable, "-c", _WARC_WRITER, str(path), "second", "30"], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    own = Path(second.stdout.readline().strip())
    for writer in (first, second):
        writer.stdin.write("go\n")
        writer.stdin.close()
    assert [first.wait(timeout=120), second.wait(timeout=120)] == [0, 0]
    assert own.parent == path.parent and own != path and own.name.startswith("scan-1-shop.")
    for name, written in (("first", path), ("second", own)):
        responses = [url for kind, url in _records(written) if kind == "response"]
        assert responses == [f"http://{name}.example/{i}.jpg" for i in range(30)]

    # Once the first writer is done, the scan's own file is free again (a resumed crawl appends to it).
    log = WarcLog(path, {"software": "test"})
    request = Request("http://third.example/x.jpg")
    log.write_exchange(request, Response(request.url, body=b"x", request=request),
                       "2024-01-01T00:00:00Z")
    log.close()
    assert log.path == path and _records(path)[-2][1] == "http://third.example/x.jpg"
