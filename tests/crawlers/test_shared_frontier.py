"""Crawler processes sharing one scan's frontier in a real redis-server (crawlers/frontier.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from dataclasses import replace
from itertools import pairwise

import pytest
import redis
from scrapy import Request, Spider
from scrapy.utils.test import get_crawler
from support import invoke_cli
from test_crawl import EXPECTED, _record_at, captured, events, new_scan, site_target

from crawlers.frontier import FrontierKeys, FrontierQueue, finish
from crawlers.memory import SharedMemory
from crawlers.site_rights import TDMREP_PATH
from detector.config import render_toml
from detector.crawl import CrawlFailed, crawl, crawl_command, crawl_shared, log_path
from detector.workspace.blobs import BlobStore

ROBOTS = "/robots.txt"  # fetched and obeyed by each process (Scrapy's robots middleware), so once per process


def shared(ws, redis_url: str, lease_s: float = 15.0):
    """Point the workspace at the test's Redis (the [distributed] section of config.toml)."""
    settings = ws.settings()
    settings = replace(settings, distributed=replace(settings.distributed, redis_url=redis_url, crawler_lease_s=lease_s))
    ws.config_path.write_text(render_toml(settings), encoding="utf-8")
    return ws


def frontier(store, scan_id: int) -> str:
    """The prefix of the Redis keys of target 'site' in the scan."""
    return f"copyhound:scan:{scan_id}@{store.scan(scan_id)['started_at']}:site"


@pytest.fixture(autouse=True)
def empty_redis(redis_url):
    """Each test starts from an empty Redis (the workspaces of these tests all number their scans from 1)."""
    redis.Redis.from_url(redis_url).flushdb()


def start_crawler(ws, scan_id: int, target, redis_url: str, folder, name: str) -> subprocess.Popen:
    """One `python -m crawlers` process joining the scan's frontier as `name`; its summary goes to folder/name.json."""
    command = crawl_command(ws.home, scan_id, [target], resume=False, summary_out=folder / f"{name}.json",
                            workdir=folder) + ["--redis-url", redis_url, "--worker", name]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fetches(hits) -> Counter:
    """Requests per path that the server answered (any status), robots.txt and the TDMRep file aside (each
    crawler process reads them once for itself)."""
    return Counter(path for path, _ in hits if path not in (ROBOTS, TDMREP_PATH))


def crawler_logs(ws, scan_id: int) -> str:
    """The ends of the crawler processes' logs, for a failure's message (a robots.txt that failed to download, say)."""
    logs = sorted(log_path(ws.home, scan_id).parent.glob(f"scan-{scan_id}.crawler-*.log"))
    return "\n".join(f"{log.name}:\n{log.read_text(encoding='utf-8', errors='replace')[-3000:]}" for log in logs)


@pytest.fixture(scope="module")
def single(site, make_workspace):
    """The same site crawled by one process, as today: what a shared crawl must equal."""
    site.reset()
    ws = make_workspace()
    store, scan_id = new_scan(ws)
    summary = crawl(ws.home, scan_id, [site_target(site)])
    yield store, scan_id, summary, list(site.hits)
    store.close()


@pytest.mark.slow
def test_two_crawlers_fetch_every_url_once_and_capture_what_one_crawler_does(site, make_workspace, redis_url,
                                                                             single):
    one_store, one_scan, one_summary, one_hits = single
    site.reset()
    ws = shared(make_workspace(), redis_url)
    store, scan_id = new_scan(ws)
    summary = crawl_shared(ws.home, scan_id, [site_target(site)], redis_url, processes=2)

    hits = list(site.hits)
    assert fetches(hits) == fetches(one_hits), crawler_logs(ws, scan_id)
    once = {path for path, n in fetches(hits).items() if n == 1}
    assert once == set(fetches(hits)) - {"/img/flaky.jpg"}  # a 500, then its one retry
    assert 1 <= Counter(path for path, _ in hits)[ROBOTS] <= 2
    assert 1 <= Counter(path for path, _ in hits)[TDMREP_PATH] <= 2
    assert captured(site, store, scan_id) == EXPECTED == captured(site, one_store, one_scan)
    assert events(site, store, scan_id) == events(site, one_store, one_scan)
    rows = store.candidates("scan_id = ?", [scan_id])
    assert summary["candidates_added"] == len(rows) == one_summary["candidates_added"]
    for key in ("pages_fetched", "images_fetched", "refusals"):
        assert summary[key] == one_summary[key], key
    assert summary["complete"] and summary["errors"] == []
    for row in rows:  # each process wrote its own WARC file; every pointer reads back the stored bytes
        _, body = _record_at(ws.home / row["warc_file"], row["warc_offset"])
        assert len(body) == row["byte_size"]
    assert len({row["warc_file"] for row in rows}) >= 1
    assert all(row["warc_file"].startswith(f"warc/scan-{scan_id}-site-") for row in rows)

    # The frontier is gone once the crawl is over; a crawler joining late fetches nothing again.
    keys = redis.Redis.from_url(redis_url).keys("copyhound:scan:*")
    assert keys == [f"{frontier(store, scan_id)}:finished".encode()]
    site.reset()
    late = crawl_shared(ws.home, scan_id, [site_target(site)], redis_url, processes=1)
    assert site.hits == [] and late["pages_fetched"] == late["images_fetched"] == 0
    store.close()


@pytest.mark.slow
def test_a_crawler_killed_mid_crawl_loses_nothing_and_duplicates_nothing(site, make_workspace, redis_url,
                                                                         single, tmp_path):
    one_store, one_scan, _, _ = single
    site.reset()
    site.delay = 0.15  # slow enough to kill one crawler half-way
    ws = shared(make_workspace(concurrency_per_domain=2), redis_url, lease_s=2.0)
    store, scan_id = new_scan(ws)
    target = site_target(site)
    crawlers = {"doomed": start_crawler(ws, scan_id, target, redis_url, tmp_path, "doomed")}
    server = redis.Redis.from_url(redis_url)
    doomed_in_flight = f"{frontier(store, scan_id)}:in-flight:doomed"
    deadline = time.monotonic() + 60
    while not (len(store.candidates("scan_id = ?", [scan_id])) >= 3 and server.hlen(doomed_in_flight)):
        assert time.monotonic() < deadline, "the doomed crawler never held a request after 3 captures"
        time.sleep(0.02)
    crawlers["survivor"] = start_crawler(ws, scan_id, target, redis_url, tmp_path, "survivor")
    crawlers["doomed"].send_signal(signal.SIGKILL)
    crawlers["doomed"].wait()
    site.delay = 0.0
    assert server.hlen(doomed_in_flight) >= 1  # taken from the queue, never finished: these must not be lost

    assert crawlers["survivor"].wait(timeout=120) == 0
    assert captured(site, store, scan_id) == EXPECTED == captured(site, one_store, one_scan)
    rows = store.candidates("scan_id = ?", [scan_id])
    assert len(rows) == len({(r["page_url"], r["image_url"]) for r in rows}) == sum(map(len, EXPECTED.values()))
    survivor = json.loads((tmp_path / "survivor.json").read_text())
    assert survivor["complete"]
    assert not (tmp_path / "doomed.json").exists()
    assert server.keys(f"{frontier(store, scan_id)}:in-flight:*") == []
    for row in rows:  # the records the killed crawler wrote before it died still read back
        _, body = _record_at(ws.home / row["warc_file"], row["warc_offset"])
        assert len(body) == row["byte_size"]
    store.close()


DELAY = 0.5
# Seconds. The turn is granted just before the crawler sends the request; the request then reaches
# the server after a connection, a thread switch, and whatever else the crawler's event loop was
# doing (parsing a page, committing a capture): up to ~0.2 s on a loaded 2-core machine (measured).
# Two processes that each kept only their own delay would send requests within milliseconds.
TOLERANCE = 0.25


@pytest.mark.slow
def test_two_crawlers_keep_the_download_delay_between_them(site, make_workspace, redis_url, tmp_path):
    site.reset()
    ws = shared(make_workspace(download_delay=DELAY), redis_url)
    store, scan_id = new_scan(ws)
    assert min(arrival_gaps(site, ws, scan_id, redis_url, tmp_path)) >= DELAY - TOLERANCE
    store.close()


@pytest.mark.slow
def test_two_crawlers_keep_to_the_concurrency_per_domain_between_them(site, make_workspace, redis_url, tmp_path):
    site.reset()
    # Each answer takes this long. With one place, the next request is sent only once the answer has
    # come back, so it arrives at least this much later; one sent while another was answered, sooner.
    site.delay = 0.3
    ws = shared(make_workspace(concurrency_per_domain=1), redis_url)
    store, scan_id = new_scan(ws)
    gaps = arrival_gaps(site, ws, scan_id, redis_url, tmp_path)
    site.delay = 0.0
    assert min(gaps) >= 0.3
    store.close()


def arrival_gaps(site, ws, scan_id: int, redis_url: str, folder) -> list[float]:
    """Crawl with two processes, the second joining once the first is under way (so both take work
    at once); returns the seconds between consecutive requests reaching the server."""
    first = start_crawler(ws, scan_id, site_target(site), redis_url, folder, "first")
    deadline = time.monotonic() + 60
    while len(site.arrivals) < 4:
        assert time.monotonic() < deadline and first.poll() is None, "the first crawler did not get going"
        time.sleep(0.02)
    second = start_crawler(ws, scan_id, site_target(site), redis_url, folder, "second")
    assert (first.wait(timeout=180), second.wait(timeout=180)) == (0, 0)
    shares = [json.loads((folder / f"{name}.json").read_text()) for name in ("first", "second")]
    assert all(s["pages_fetched"] + s["images_fetched"] > 0 for s in shares), shares  # both crawled, so both kept the rule
    times = sorted(t for t, _ in site.arrivals)
    assert len(times) > 20
    return [later - earlier for earlier, later in pairwise(times)]


@pytest.mark.slow
def test_the_ssrf_guard_still_refuses_private_addresses_in_a_shared_crawl(site, make_workspace, redis_url):
    site.reset()
    ws = shared(make_workspace(), redis_url)
    store, scan_id = new_scan(ws)
    summary = crawl_shared(ws.home, scan_id, [site_target(site, allow_private=False)], redis_url, processes=2)
    assert site.hits == []
    assert store.candidates() == []
    assert [(e["reason"], e["url"]) for e in store.crawl_events(scan_id)] == [
        ("private_address", f"{site.base}/index.html")]
    assert summary["refusals"] == {"private_address": 1}
    store.close()


def test_a_process_arriving_as_the_crawl_finishes_starts_nothing_again(redis_url, tmp_path):
    """`finish` deletes the pages admitted and the seen-set: a process that checked for the finished marker just
    before must still neither admit a start page nor queue a request, or it would crawl the target again."""
    server = redis.Redis.from_url(redis_url)
    keys = FrontierKeys("1@2026-12-06T00:00:00Z", "site")
    memory = SharedMemory(server, keys, BlobStore(tmp_path))
    crawler = get_crawler(Spider, {"COPYHOUND_FRONTIER_SCAN": keys.scan, "COPYHOUND_TARGET": keys.target,
                                  "COPYHOUND_WORKER": "late"})
    spider = Spider.from_crawler(crawler, name="site")
    queue = FrontierQueue(server, spider, keys.requests)
    assert memory.admit_page("http://127.0.0.1/a.html", float("inf"))
    assert queue.push(Request("http://127.0.0.1/a.html"), fingerprint="a")
    server.zpopmin(keys.requests)
    finish(server, keys)
    assert not memory.admit_page("http://127.0.0.1/a.html", float("inf"))
    assert not queue.push(Request("http://127.0.0.1/a.html"), fingerprint="a")
    assert not queue.push(Request("http://127.0.0.1/b.html", dont_filter=True))
    assert server.zcard(keys.requests) == 0


def test_an_unreachable_redis_is_one_clear_error(site, make_workspace):
    ws = make_workspace()
    store, scan_id = new_scan(ws)
    with pytest.raises(CrawlFailed) as caught:
        crawl_shared(ws.home, scan_id, [site_target(site)], "redis://127.0.0.1:1/0", processes=1)
    assert caught.value.exit_code == 3
    assert "Cannot reach Redis at redis://127.0.0.1:1/0" in str(caught.value)
    assert "fix [distributed] redis_url" in str(caught.value)
    store.close()


@pytest.mark.slow
def test_the_crawler_command_joins_the_running_scan(site, make_workspace, redis_url):
    site.reset()
    ws = make_workspace()
    store, earlier = new_scan(ws)
    store.finish_scan(earlier, "finished", {})
    refused = invoke_cli("crawler", home=ws.home)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [(
        "error: No Redis to share a crawl through: set [distributed] redis_url in config.toml (copyhound config set "
        "distributed.redis_url redis://HOST:6379/0).")]
    shared(ws, redis_url)
    idle = invoke_cli("crawler", home=ws.home)
    assert idle.returncode == 2 and "No scan is running to join" in idle.stderr

    scan_id = store.start_scan({"crawl": True, "targets": [
        {"name": "site", "start_urls": [f"{site.base}/index.html"], "allow_private": True}]})
    result = invoke_cli("crawler", "--processes", "2", "--format", "json", home=ws.home)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["scan_id"] == scan_id
    assert captured(site, store, scan_id) == EXPECTED
    assert summary["candidates_added"] == sum(map(len, EXPECTED.values()))
    store.close()
