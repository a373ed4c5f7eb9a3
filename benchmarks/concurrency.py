"""Portal load during a scan: N clients (half review POSTs, half list GETs) against the real portal
on 127.0.0.1 while `copyhound scan --no-crawl` detects, all on one workspace.

    python -m benchmarks.concurrency [--clients 10] [--candidates 60] [--seed 7]

Builds a workspace from the bundled demo works (embedder none), detects a first batch of copies
so there are matches to review, queues `--candidates` more copies for the scan, then counts every
request that did not answer 200 and whether the scan detected every candidate. Prints one JSON
object (requests, errors, latency percentiles, scan exit code and seconds, the machine).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from PIL import Image

from benchmarks.machine import describe
from detector import config, demo_site, tokens
from detector.detect import Detector
from detector.register import WorkInfo, register_files
from detector.web import create_app
from detector.workspace import create_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, open_store, utc_now

TRANSFORMS = [demo_site.recompressed, demo_site.cropped, demo_site.captioned, demo_site.resized,
              demo_site.in_banner, demo_site.mirrored]


def _copies(ws, store: Store, rng: random.Random, scan_id: int, count: int, start: int) -> None:
    works = sorted(demo_site.WORKS_DIR.glob("*.jpg"))
    blobs = BlobStore(ws.blobs_dir)
    for i in range(start, start + count):
        image = rng.choice(TRANSFORMS)(Image.open(rng.choice(works)).convert("RGB"))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=rng.randint(70, 95))
        page = f"https://site{i}.example.com/post"
        store.add_candidate({"scan_id": scan_id, "target": "bench", "page_url": page, "image_url": f"{page}/{i}.jpg",
                             "discovered_at": utc_now(), "fetched_at": utc_now(), "http_status": 200,
                             "sha256": blobs.put(out.getvalue()), "byte_size": out.tell(), "sniffed_format": "jpeg"})


def build(home: Path, candidates: int, seed: int) -> tuple[object, list[int], str]:
    rng = random.Random(seed)
    ws, _ = create_workspace(home, config.Settings().with_embedder("none"))
    settings = ws.settings()
    store = open_store(ws)
    register_files(ws, store, settings, None, sorted(demo_site.WORKS_DIR.glob("*.jpg")), WorkInfo("alice"))
    scan_id = store.start_scan({"targets": ["bench"], "crawl": False})
    _copies(ws, store, rng, scan_id, 8, 0)
    Detector(ws, store, settings, None).run()
    store.finish_scan(scan_id, "finished", {})
    _copies(ws, store, rng, store.start_scan({"targets": ["bench"], "crawl": False}), candidates, 8)
    match_ids = [m["id"] for m in store.matches()]
    token = tokens.create_token(store, "alice")[1]
    store.close()
    return ws, match_ids, token


def client(url: str, token: str, match_ids: list[int], stop: threading.Event, seed: int, out: list) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        while not stop.is_set():
            clock = time.perf_counter()
            review = rng.random() < 0.5
            try:
                if review:
                    response = http.post(f"/api/matches/{rng.choice(match_ids)}/review",
                                         json={"status": rng.choice(["confirmed", "rejected"]), "note": "bench"})
                else:
                    response = http.get("/api/matches", params={"limit": 50})
                status, text = response.status_code, response.text[:200]
            except httpx.TransportError as e:  # a connection the server dropped counts as an error too
                status, text = type(e).__name__, str(e)
            out.append(("POST" if review else "GET", status, time.perf_counter() - clock,
                        None if status == 200 else f"{status} {text}"))


def run(clients: int, candidates: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="copyhound-concurrency-") as tmp:
        ws, match_ids, token = build(Path(tmp) / "ws", candidates, seed)
        server = uvicorn.Server(uvicorn.Config(create_app(ws), host="127.0.0.1", port=0, log_level="warning",
                                               lifespan="off"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        stop, results = threading.Event(), []
        threads = [threading.Thread(target=client, args=(url, token, match_ids, stop, seed + n, results))
                   for n in range(clients)]
        for thread in threads:
            thread.start()
        clock = time.perf_counter()
        scan = subprocess.run([sys.executable, "-c", "from detector.cli import main; main()", "scan", "--no-crawl",
                               "--json", "--home", str(ws.home)], capture_output=True, text=True, check=False)
        scan_seconds = time.perf_counter() - clock
        stop.set()
        for thread in threads:
            thread.join()
        server.should_exit = True
        store = open_store(ws)
        left = len(store.candidates("state = 'new'"))
        store.close()
    latencies = sorted(seconds for _, _, seconds, _ in results)
    return {
        "command": f"python -m benchmarks.concurrency --clients {clients} --candidates {candidates} --seed {seed}",
        "clients": clients, "candidates": candidates,
        "requests": len(results), "review_posts": sum(m == "POST" for m, *_ in results),
        "list_gets": sum(m == "GET" for m, *_ in results),
        "errors": sum(status != 200 for _, status, *_ in results),
        "first_errors": [problem for *_, problem in results if problem][:5],
        "latency_ms": {"p50": round(1000 * statistics.median(latencies), 1),
                       "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
                       "max": round(1000 * latencies[-1], 1)} if latencies else None,
        "scan_exit_code": scan.returncode, "scan_seconds": round(scan_seconds, 1),
        "candidates_left_undetected": left, "scan_stderr_tail": scan.stderr[-500:] if scan.returncode else "",
        "machine": describe(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args.clients, args.candidates, args.seed), indent=2))


if __name__ == "__main__":
    main()
