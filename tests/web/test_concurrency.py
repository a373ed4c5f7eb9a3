"""Concurrent writers: portal clients reviewing and listing, the CLI reviewing, and a scan detecting,
all at once on one workspace. Before writes took the lock up front, SQLite refused some of them
at once ("database is locked") and the scan died with a traceback."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from PIL import Image
from support import run_cli

from detector import config, demo_site, tokens
from detector.detect import Detector
from detector.provenance import ledger
from detector.register import WorkInfo, register_files
from detector.web import create_app
from detector.workspace import create_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

pytestmark = pytest.mark.slow  # a long end-to-end test: `make test-fast` leaves it out

WORKS = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"]
TRANSFORMS = [demo_site.recompressed, demo_site.cropped, demo_site.captioned, demo_site.resized]


def _add_copies(ws, store, scan_id: int, start: int, count: int) -> None:
    blobs = BlobStore(ws.blobs_dir)
    for i in range(start, start + count):
        work = Image.open(demo_site.WORKS_DIR / WORKS[i % len(WORKS)]).convert("RGB")
        image = TRANSFORMS[(i // len(WORKS)) % len(TRANSFORMS)](work)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80 + i % 15)
        data = out.getvalue()
        page = f"https://copies{i}.example.com/page"
        store.add_candidate({
            "scan_id": scan_id, "target": "test", "page_url": page, "image_url": f"{page}/{i}.jpg",
            "discovered_at": utc_now(), "fetched_at": utc_now(), "http_status": 200,
            "sha256": blobs.put(data), "byte_size": len(data), "sniffed_format": "jpeg",
        })


@pytest.fixture
def busy_portal(tmp_path):
    """A workspace with matches to review and 6 more candidates waiting for a scan, served on loopback."""
    ws, _ = create_workspace(tmp_path / "ws", config.Settings().with_embedder("none"))
    settings = ws.settings()
    store = Store(ws.db_path)
    register_files(ws, store, settings, None, [demo_site.WORKS_DIR / n for n in WORKS], WorkInfo("alice"))
    scan_id = store.start_scan({"targets": ["test"], "crawl": False})
    _add_copies(ws, store, scan_id, 0, 4)
    Detector(ws, store, settings, None).run()
    store.finish_scan(scan_id, "finished", {})
    _add_copies(ws, store, store.start_scan({"targets": ["test"], "crawl": False}), 4, 6)
    match_ids = [m["id"] for m in store.matches()]
    token = tokens.create_token(store, "alice")[1]
    store.close()
    assert len(match_ids) >= 3

    server = uvicorn.Server(uvicorn.Config(create_app(ws), host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield ws, url, token, match_ids
    server.should_exit = True
    thread.join(timeout=10)


def _client_load(url: str, token: str, match_ids: list[int], stop: threading.Event, worker: int) -> list[str]:
    """Alternate review POSTs and list GETs until `stop`; return every failed request."""
    failures, i = [], 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        while not stop.is_set() or i < 6:
            match_id = match_ids[(worker + i) % len(match_ids)]
            if i % 2 == 0:
                status = ("confirmed", "rejected")[(i // 2) % 2]
                response = client.post(f"/api/matches/{match_id}/review", json={"status": status, "note": f"w{worker}"})
            else:
                response = client.get("/api/matches", params={"limit": 50})
            if response.status_code != 200:
                failures.append(f"{response.request.method} {response.request.url}: {response.status_code} "
                                f"{response.text[:200]}")
            i += 1
    return failures


def test_portal_clients_cli_reviews_and_a_scan_all_succeed_together(busy_portal):
    ws, url, token, match_ids = busy_portal
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=5) as pool:
        clients = [pool.submit(_client_load, url, token, match_ids, stop, w) for w in range(4)]
        cli_reviews = pool.submit(lambda: [run_cli("review", str(match_ids[n % len(match_ids)]), "--confirm",
                                                   home=ws.home) for n in range(3)])
        scan = run_cli("scan", "--no-crawl", "--json", home=ws.home)
        stop.set()
        failures = [f for c in clients for f in c.result()]
        reviews = cli_reviews.result()

    assert scan.returncode == 0, scan.stderr[-2000:]
    assert failures == []
    assert [r.returncode for r in reviews] == [0, 0, 0], [r.stderr[-500:] for r in reviews]
    store = Store(ws.db_path)
    try:
        assert store.candidates("state = 'new'") == []  # the scan detected every candidate
        assert ledger.verify(store) == []  # and every writer appended to one unbroken chain
    finally:
        store.close()
