"""One crawl per target at a time, dying with the scan that started it, and writing only candidates
whose WARC pointer names their own record."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scrapy.http import Request, Response

from crawlers import configure
from crawlers.items import Fetched, ImageCapture, Sighting
from crawlers.pipelines import StorePipeline
from crawlers.warc import WarcLog
from detector.config import Target
from detector.config.targets import target_from_site
from detector.crawl import crawl_command
from detector.workspace.store import Store, utc_now


def _target(site) -> Target:
    return Target(name="site", start_urls=(f"{site.base}/index.html",), allow_private=True)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie nobody reaped yet counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.slow
def test_the_crawl_dies_when_the_scan_that_started_it_is_killed(site, make_workspace):
    site.reset()
    site.delay = 2.0  # a crawl of over ten rounds of 2 s, so only the kill can end it within the wait below
    ws = make_workspace()
    store = Store(ws.db_path)
    scan_id = store.start_scan({"test": True})
    code = ("import sys, json; from detector.crawl import crawl; from detector.config import Target; "
            f"crawl({str(ws.home)!r}, {scan_id}, [Target(**json.loads(sys.argv[1]))])")
    target = {"name": "site", "start_urls": [f"{site.base}/index.html"], "allow_private": True}
    scan = subprocess.Popen([sys.executable, "-c", code, json.dumps(target)])
    try:
        _wait_for(lambda: _children(scan.pid))
        [child] = _children(scan.pid)
        _wait_for(lambda: site.hits)  # crawling
        scan.kill()
        scan.wait()
        _wait_for(lambda: not _alive(child), seconds=10)
    finally:
        site.delay = 0.0
        scan.kill()
    store.close()


@pytest.mark.slow
def test_a_second_crawl_of_the_same_target_is_refused_while_the_first_runs(site, make_workspace, tmp_path):
    site.reset()
    site.delay = 1.5  # slow answers: the first crawl outlives the second one's start, even on a loaded machine
    ws = make_workspace()
    store = Store(ws.db_path)
    scan_id = store.start_scan({"test": True})
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    first = subprocess.Popen(crawl_command(ws.home, scan_id, [_target(site)], resume=False,
                                           summary_out=first_dir / "s.json", workdir=first_dir),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: site.hits)
        second = subprocess.run(crawl_command(ws.home, scan_id, [_target(site)], resume=True,
                                              summary_out=second_dir / "s.json", workdir=second_dir),
                                check=False, capture_output=True, text=True, timeout=60)
    finally:
        site.delay = 0.0
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert second.returncode == 3
    assert (f"Target 'site' is still being crawled by crawl of target site pid {first.pid} "
            "(its job folder and WARC file are in use)") in second.stderr
    assert not (second_dir / "s.json").exists()
    store.close()


def _exchange(log: WarcLog, url: str, body: bytes) -> int:
    request = Request(url)
    response = Response(url, status=200, body=body, headers={"Content-Type": "image/jpeg"}, request=request)
    return log.write_exchange(request, response, utc_now())


def _capture(url: str, body: bytes, warc_file: str, offset: int) -> ImageCapture:
    sighting = Sighting(page_url="https://example.com/", image_url=url, page_title=None, alt_text=None,
                        caption=None, declared_width=None, declared_height=None, discovered_at=utc_now(),
                        page_warc_file=None, page_warc_offset=None)
    fetched = Fetched(final_url=url, http_status=200, headers={}, fetched_at=utc_now(),
                      sha256=hashlib.sha256(body).hexdigest(), byte_size=len(body), sniffed_format="jpeg",
                      warc_file=warc_file, warc_offset=offset)
    return ImageCapture("site", sighting, fetched, body)


class _Stats:
    def inc_value(self, key: str) -> None:
        pass


def test_a_capture_whose_warc_pointer_names_another_record_is_not_stored(make_workspace, works_dir):
    ws = make_workspace()
    store = Store(ws.db_path)
    scan_id = store.start_scan({"test": True})
    store.close()
    log = WarcLog(ws.warc_dir / "test.warc.gz", {"software": "test"})
    coffee, rocket = (works_dir / "coffee.jpg").read_bytes(), (works_dir / "rocket.jpg").read_bytes()
    coffee_at = _exchange(log, "https://example.com/coffee.jpg", coffee)
    rocket_at = _exchange(log, "https://example.com/rocket.jpg", rocket)
    log.close()
    pipeline = StorePipeline(ws.home, scan_id, _Stats())
    pipeline.open_spider()
    try:
        pipeline.process_item(_capture("https://example.com/coffee.jpg", coffee, "warc/test.warc.gz", coffee_at))
        with pytest.raises(ValueError) as wrong_record:
            pipeline.process_item(_capture("https://example.com/rocket.jpg", rocket, "warc/test.warc.gz", coffee_at))
        with pytest.raises(ValueError) as wrong_body:  # the right URL, but not the bytes it claims
            pipeline.process_item(_capture("https://example.com/rocket.jpg", coffee, "warc/test.warc.gz", rocket_at))
        rows = pipeline.store.candidates("scan_id = ?", [scan_id])
    finally:
        pipeline.close_spider()
    assert [r["image_url"] for r in rows] == ["https://example.com/coffee.jpg"]
    assert (f"https://example.com/rocket.jpg: not stored, its WARC evidence is wrong: the record at "
            f"test.warc.gz:{coffee_at} is the response for https://example.com/coffee.jpg, not the response for "
            "https://example.com/rocket.jpg") in str(wrong_record.value)
    assert f"the record at test.warc.gz:{rocket_at} holds a body with SHA-256" in str(wrong_body.value)


def test_a_plain_scrapy_crawl_of_a_target_being_crawled_is_refused(site, make_workspace):
    ws = make_workspace()
    Store(ws.db_path).close()
    start = f"{site.base}/orphan.html"
    held = configure.hold_target(ws, target_from_site(start, True))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"home={ws.home}", "-a", f"start_url={start}",
             "-a", "allow_private=true"],
            check=False, cwd=Path(__file__).resolve().parents[2] / "crawlers", capture_output=True, text=True,
            timeout=120,
        )
    finally:
        held.close()
    assert "is still being crawled by crawl of target" in result.stderr
    store = Store(ws.db_path)
    assert store.scans() == []  # refused before it opened a scan
    store.close()
