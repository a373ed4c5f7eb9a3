"""`copyhound scan --warc`: WARC files a user already has are scanned offline; pages and images inside
become candidates with the capture as provenance; broken records are refused with a reason and the rest
is read."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from support import invoke_cli, registered_home
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawlers.archive import records
from detector import demo_site
from detector.workspace import open_workspace
from detector.workspace.store import Store

SITE = "https://blog.example/"


def _response(writer: WARCWriter, url: str, body: bytes, content_type: str, record_id: str | None = None) -> None:
    headers = StatusAndHeaders("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                               protocol="HTTP/1.1")
    fixed = {"WARC-Record-ID": f"<urn:uuid:{record_id}>", "WARC-Date": "2026-01-02T03:04:05Z"} if record_id else None
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers,
                                                  warc_headers_dict=fixed))


def _damage(path: Path, span: tuple[int, int]) -> None:
    """Flip bits all through one record's bytes (past its gzip header)."""
    data = bytearray(path.read_bytes())
    for i in range(span[0] + 40, span[1] - 20, 7):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def _write(path: Path, root: Path, pages: list[str], images: list[str], gzip: bool) -> dict[str, tuple[int, int]]:
    """Write `pages` (demo pages) and `images` (files under img/) as response records; returns where each
    record lies (start, end). Record ids and dates are random, so the damage below falls on different bytes
    each time."""
    spans = {}
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=gzip)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for slug in pages:
            start = handle.tell()
            _response(writer, f"{SITE}{slug}.html", (root / f"{slug}.html").read_bytes(), "text/html; charset=utf-8")
            spans[slug] = (start, handle.tell())
        for name in images:
            start = handle.tell()
            _response(writer, f"{SITE}img/{name}", (root / "img" / name).read_bytes(), "image/jpeg")
            spans[name] = (start, handle.tell())
    return spans


@pytest.fixture
def warcs(tmp_path):
    root = demo_site.build_site(tmp_path / "site")
    gz = tmp_path / "capture.warc.gz"
    # The unrelated photos the pages also use are left out: they are refused as not in the archive.
    spans = _write(gz, root, ["recompressed", "resized", "cropped", "mirrored", "banner"],
                   ["recompressed.jpg", "resized.jpg", "cropped.jpg", "mirrored.jpg", "banner.jpg", "grayscale.jpg"],
                   gzip=True)
    _damage(gz, spans["banner"])  # the banner page's gzip member is garbage now
    data = gz.read_bytes()
    gz.write_bytes(data + data[spans["cropped.jpg"][0]:spans["cropped.jpg"][0] + 300])  # and the file ends mid-record
    plain = tmp_path / "more.warc"
    _write(plain, root, ["captioned"], ["captioned.jpg"], gzip=False)
    return gz, plain


@pytest.fixture
def home(tmp_path, registered_template):
    return registered_home(tmp_path / "ws", registered_template)


@pytest.mark.slow  # a long end-to-end test (real scans): `make test-fast` leaves it out
def test_warc_files_are_scanned_offline_with_their_captures_as_provenance(home, warcs):
    gz, plain = warcs
    done = invoke_cli("scan", "--warc", str(gz), "--warc", str(plain), "--format", "json", home=home)
    assert done.returncode == 1, done.stderr  # 1: some records were refused, each with its reason
    summary = json.loads(done.stdout)
    assert summary["crawl"]["pages_fetched"] == 5  # the banner page's record is broken
    assert summary["crawl"]["refusals"]["corrupt_record"] >= 2  # the broken member and the cut-off end
    assert summary["crawl"]["refusals"]["not_in_archive"] == 5  # each page's unrelated photo
    store = Store(open_workspace(home).db_path)
    found = {Path(m["image_url"]).name: m for m in store.matches()}
    # grayscale.jpg and banner.jpg are captured with no (readable) page using them: their own pages.
    assert set(found) == {f"{s}.jpg" for s in ("recompressed", "resized", "cropped", "mirrored", "banner",
                                               "grayscale", "captioned")}
    copy = store.candidate(found["captioned.jpg"]["candidate_id"])
    assert copy["page_url"] == f"{SITE}captioned.html" and copy["warc_file"] == str(plain.resolve())
    assert copy["page_title"] == "Blog post: captioned" and copy["fetched_at"].startswith("20")
    with open(plain, "rb") as handle:  # the pointer is the capture itself
        handle.seek(copy["warc_offset"])
        assert f"WARC-Target-URI: {SITE}img/captioned.jpg".encode() in handle.read(2000)
    lead = store.lead(copy["lead_id"])
    assert lead["found_by"] == "WARC file more.warc" and lead["url"] == f"{SITE}captioned.html"
    assert store.lead(store.candidate(found["grayscale.jpg"]["candidate_id"])["lead_id"])["kind"] == "image"
    events = [e for e in store.crawl_events(summary["scan_id"]) if e["reason"] == "corrupt_record"]
    assert all(str(gz) in e["detail"] and "at byte" in e["detail"] for e in events)
    store.close()


@pytest.mark.parametrize("run", [191, 199, 291])
def test_a_broken_gzip_member_is_refused_on_its_own_wherever_the_damage_falls(tmp_path, run):
    """warcio reads on past a member it cannot decompress (it prints the zlib error): with these record ids the
    damage fell where the broken page was then skipped without a refusal; elsewhere it took the next record
    along. Each member is checked whole now, so the outcome no longer depends on where the damage falls."""
    root = demo_site.build_site(tmp_path / "site")
    path = tmp_path / "capture.warc.gz"
    spans = {}
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for i, (name, content_type) in enumerate([("mirrored.html", "text/html"), ("banner.html", "text/html"),
                                                  ("img/recompressed.jpg", "image/jpeg"),
                                                  ("img/resized.jpg", "image/jpeg")]):
            start = handle.tell()
            _response(writer, SITE + name, (root / name).read_bytes(), content_type,
                      record_id=f"{run:08d}-0000-4000-8000-00000000000{i}")
            spans[name] = (start, handle.tell())
    _damage(path, spans["banner.html"])
    refused = []
    read = [capture.uri for capture in records(path, lambda offset, why: refused.append((offset, why)))]
    assert read == [SITE + "mirrored.html", SITE + "img/recompressed.jpg", SITE + "img/resized.jpg"]
    assert [offset for offset, _ in refused] == [spans["banner.html"][0]]
    assert "a broken gzip member" in refused[0][1]


def test_a_missing_warc_file_is_one_line(home, tmp_path):
    done = invoke_cli("scan", "--warc", str(tmp_path / "nope.warc.gz"), home=home)
    assert done.returncode == 2 and "no such file" in done.stderr and "Traceback" not in done.stderr


def _wat(writer: WARCWriter, envelope: dict | bytes, url: str) -> None:
    body = envelope if isinstance(envelope, bytes) else json.dumps({"Container": {}, "Envelope": envelope}).encode()
    writer.write_record(writer.create_warc_record(url, "metadata", payload=io.BytesIO(body),
                                                  warc_content_type="application/json"))


def _described(url: str, status: str, links: list[dict], kind: str = "response") -> dict:
    return {"WARC-Header-Metadata": {"WARC-Type": kind, "WARC-Target-URI": url, "WARC-Date": "2026-02-01T00:00:00Z"},
            "Payload-Metadata": {"HTTP-Response-Metadata": {
                "Response-Message": {"Status": status},
                "HTML-Metadata": {"Head": {"Title": "Grey", "Metas": [{"property": "og:image",
                                                                        "content": "/img/grayscale.jpg"}]},
                                  "Links": links}}}}


def test_a_wat_file_leads_its_pages_to_the_images_captured_in_the_warc_files(home, tmp_path):
    """Common Crawl's WAT metadata names the images a captured page used; the images' bytes come from a WARC file
    given with it. Records that are no WAT JSON, describe a request or a 404 are passed over."""
    root = demo_site.build_site(tmp_path / "site")
    images = tmp_path / "images.warc.gz"
    _write(images, root, [], ["grayscale.jpg"], gzip=True)
    wat = tmp_path / "capture.warc.wat.gz"
    with open(wat, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        _wat(writer, b"{not json", f"{SITE}broken.html")
        _wat(writer, _described(f"{SITE}request.html", "200", [], kind="request"), f"{SITE}request.html")
        _wat(writer, _described(f"{SITE}gone.html", "404", [{"path": "IMG@/src", "url": "img/grayscale.jpg"}]),
             f"{SITE}gone.html")
        _wat(writer, _described(f"{SITE}grayscale.html", "200", [
            {"path": "A@/href", "url": "index.html"}, {"path": "IMG@/src", "url": "img/grayscale.jpg", "alt": "grey"},
            {"path": "IMG@/src", "url": "img/baboon.jpg"}, {"path": "IMG@/src", "url": "javascript:x()"}]),
             f"{SITE}grayscale.html")
    done = invoke_cli("scan", "--warc", str(images), "--warc", str(wat), "--format", "json", home=home)
    summary = json.loads(done.stdout)
    assert summary["crawl"]["pages_fetched"] == 1 and summary["crawl"]["refusals"] == {"not_in_archive": 1}
    store = Store(open_workspace(home).db_path)
    (match,) = store.matches()
    copy = store.candidate(match["candidate_id"])
    assert (copy["page_url"], copy["image_url"]) == (f"{SITE}grayscale.html", f"{SITE}img/grayscale.jpg")
    assert copy["alt_text"] == "grey" and copy["page_title"] == "Grey" and copy["warc_file"] == str(images.resolve())
    lead = store.lead(copy["lead_id"])
    assert lead["found_by"] == "WAT file capture.warc.wat.gz" and "WAT metadata" in lead["why"]
    (refused,) = store.crawl_events(summary["scan_id"])
    assert refused["url"] == f"{SITE}img/baboon.jpg" and "per the WAT file" in refused["detail"]
    store.close()
