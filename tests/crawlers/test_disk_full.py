"""A full disk: the crawl stops cleanly with `disk_full`, the scan says so and how to go on, and
`--resume` completes once there is space; a half-written HTTP cache entry is never served.

The disk is a real tmpfs mounted (as root) over the workspace's warc/ folder, so the other
folders keep working while WARC writes fail with ENOSPC.
"""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest
from scrapy.http import Request, Response
from scrapy.settings import Settings
from scrapy.spiders import Spider
from scrapy.utils.request import RequestFingerprinter
from support import invoke_cli

from crawlers import configure
from crawlers.httpcache import WholeEntryCacheStorage
from crawlers.warc import pointer_problem
from detector.config import Target
from detector.crawl import crawl
from detector.workspace.store import Store


@pytest.fixture
def tiny_disk():
    """mount(path, size) puts a tmpfs of `size` at `path`; remount(path, size) resizes it, keeping its files."""
    mounted = []

    def mount(path, size: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                check=False, capture_output=True, text=True)
        assert result.returncode == 0, f"these tests mount a small tmpfs and need root: {result.stderr}"
        mounted.append(path)

    def remount(path, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)

    mount.remount = remount
    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.slow
def test_a_full_disk_stops_the_scan_cleanly_and_resume_completes_it(site, make_workspace, tiny_disk):
    site.reset()
    reference = make_workspace()
    store = Store(reference.db_path)
    whole = crawl(reference.home, store.start_scan({}), [Target(name="site", start_urls=(f"{site.base}/index.html",),
                                                                allow_private=True)])
    expected = store.candidates()
    store.close()

    ws = make_workspace()
    ws.config_path.write_text(ws.config_path.read_text().replace('spec = "clip:', 'spec = "none" # "clip:', 1))
    assert ws.settings().embedder.spec == "none"
    Store(ws.db_path).close()
    tiny_disk(ws.warc_dir, "160k")
    first = invoke_cli("scan", "--site", f"{site.base}/index.html", "--allow-private", "--json", home=ws.home)

    assert first.returncode == 1
    said = " ".join(first.stderr.split())
    assert f"The disk holding {ws.home} is full (the crawl of " in said
    assert "Free space, then run `copyhound scan --resume`." in said
    assert "Traceback" not in first.stderr
    store = Store(ws.db_path)
    (scan,) = store.scans()
    assert scan["status"] == "interrupted"
    assert "disk_full" in {e["reason"] for e in store.crawl_events(scan["id"])}
    kept = len(store.candidates())
    assert kept < len(expected)

    tiny_disk.remount(ws.warc_dir, "50m")
    resumed = invoke_cli("scan", "--resume", "--json", home=ws.home)

    assert resumed.returncode in (0, 1), resumed.stderr  # 1: the site's own refusals (404s, robots)
    assert "Traceback" not in resumed.stderr
    (scan,) = store.scans()
    assert scan["status"] == "finished" and scan["summary"]["crawl"]["complete"] is True
    rows = store.candidates()
    assert sorted((r["page_url"], r["image_url"], r["sha256"]) for r in rows) == \
        sorted((r["page_url"], r["image_url"], r["sha256"]) for r in expected)
    assert whole["candidates_added"] == len(rows)
    for row in rows:  # every pointer, those written before the disk filled included, names its own record
        assert pointer_problem(ws.home / row["warc_file"], row["warc_offset"], row["final_url"], row["sha256"]) is None
    store.close()


def _storage(cachedir) -> tuple[WholeEntryCacheStorage, Spider]:
    storage = WholeEntryCacheStorage(Settings({"HTTPCACHE_DIR": str(cachedir), "HTTPCACHE_EXPIRATION_SECS": 0}))
    spider = Spider("cache-test")
    spider.crawler = SimpleNamespace(request_fingerprinter=RequestFingerprinter())  # all the storage asks of it
    storage.open_spider(spider)
    return storage, spider


def test_a_cache_entry_whose_write_failed_or_was_cut_short_is_not_served(tmp_path, tiny_disk, works_dir):
    photo = (works_dir / "coffee.jpg").read_bytes()
    request = Request("https://example.com/coffee.jpg")
    response = Response(request.url, status=200, body=photo,
                        headers={"Content-Type": "image/jpeg", "Content-Length": str(len(photo))})

    storage, spider = _storage(tmp_path / "cache")
    storage.store_response(spider, request, response)
    assert storage.retrieve_response(spider, request).body == photo
    body_file = next((tmp_path / "cache").rglob("response_body"))
    body_file.write_bytes(b"")  # what a full disk or a kill leaves behind
    assert storage.retrieve_response(spider, request) is None

    tiny_disk(tmp_path / "small", "64k")
    full, spider = _storage(tmp_path / "small" / "cache")
    with pytest.raises(OSError):
        full.store_response(spider, request, response)
    assert full.retrieve_response(spider, request) is None


def test_an_empty_clean_close_marker_means_start_afresh_and_markers_are_written_whole(make_workspace):
    ws = make_workspace()
    target = Target(name="site", start_urls=("http://127.0.0.1/",), allow_private=True)
    folder = configure.job_dir(ws, target)
    folder.mkdir(parents=True)
    (folder / "closed.json").write_bytes(b"")  # what a full disk left behind
    (folder / "requests.seen").write_text("stale")
    assert configure.prepare_job(ws, 7, target, resume=True) is False
    assert list(folder.iterdir()) == []
    configure.mark_job_closed(ws, 7, target, "finished")
    assert [p.name for p in folder.iterdir()] == ["closed.json"]
    assert configure.prepare_job(ws, 7, target, resume=True) is True
