"""Distributed detection: images/s with 1, 2 and 4 `copyhound worker` processes on a loopback redis-server
(in one run, so the ratios compare like with like), and the queue's overhead per candidate: detecting the
same candidates with one worker against detecting them in process (`Detector.run`, one process).

    python -m benchmarks.distributed [--works 12] [--candidates 48] [--photos DIR] [--seed 7]

Works are real photos; candidates are transformed copies of half of them and as many other photos. Each
configuration runs on its own copy of one workspace, its workers started and their indexes loaded before
the clock starts; the clock covers sending the tasks and waiting until the store shows every candidate
detected. Every configuration must find the in-process matches, each recorded once (else it raises).
`benchmarks/run.py` runs it as its "distributed" part; alone it prints one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import redis
from PIL import Image

from benchmarks.dataset import photos_dir
from benchmarks.machine import describe
from detector import config, demo_site
from detector.config.edit import set_value
from detector.detect import Detector
from detector.distributed import broker
from detector.distributed.scheduler import Dispatcher
from detector.register import WorkInfo, register_files
from detector.workspace import create_workspace, open_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, open_store, utc_now

WORKERS = (1, 2, 4)
TRANSFORMS = [demo_site.recompressed, demo_site.cropped, demo_site.captioned, demo_site.resized, demo_site.mirrored]
#: Long side of the photos used, so a run takes minutes, not hours, on a small machine.
SIDE = 800


def _small(path: Path) -> Image.Image:
    image = Image.open(path).convert("RGB")
    image.thumbnail((SIDE, SIDE))
    return image


def build(home: Path, photos: Path, works: int, candidates: int, seed: int) -> Path:
    """A workspace (embedder none) with `works` photos registered and `candidates` candidates waiting."""
    rng = random.Random(seed)
    files = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng.shuffle(files)
    registered, others = files[:works], files[works:]
    ws, _ = create_workspace(home, config.Settings().with_embedder("none"))
    originals = home.parent / "originals"
    originals.mkdir(exist_ok=True)
    paths = []
    for path in registered:
        _small(path).save(originals / f"{path.stem}.jpg", "JPEG", quality=92)
        paths.append(originals / f"{path.stem}.jpg")
    store = open_store(ws)
    register_files(ws, store, ws.settings(), None, paths, WorkInfo("bench"), workers=1)
    blobs = BlobStore(ws.blobs_dir)
    scan_id = store.start_scan({"targets": [], "crawl": False})
    store.finish_scan(scan_id, "finished", {})
    for i in range(candidates):
        if i % 2 == 0:
            image = rng.choice(TRANSFORMS)(_small(registered[(i // 2) % len(registered)]))
        else:
            image = _small(others[(i // 2) % len(others)])
        out = io.BytesIO()
        image.save(out, "JPEG", quality=rng.randint(75, 92))
        page = f"https://site{i}.example.com/post"
        store.add_candidate({"scan_id": scan_id, "target": "bench", "page_url": page, "image_url": f"{page}/{i}.jpg",
                             "discovered_at": utc_now(), "sha256": blobs.put(out.getvalue()), "byte_size": out.tell()})
    store.close()
    return ws.home


@contextmanager
def redis_server(folder: Path):
    """A redis-server on a free loopback port, no persistence; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _matches(store: Store) -> set[tuple]:
    return {(m["asset_id"], m["image_url"], m["score"], m["decision"]) for m in store.matches()}


def in_process(template: Path, home: Path) -> tuple[float, set[tuple]]:
    shutil.copytree(template, home)
    ws = open_workspace(home)
    store = open_store(ws)
    detector = Detector(ws, store, ws.settings(), None)
    clock = time.perf_counter()
    detector.run(workers=1)
    seconds = time.perf_counter() - clock
    found = _matches(store)
    store.close()
    return seconds, found


def distributed(template: Path, home: Path, url: str, workers: int, logs: Path) -> tuple[float, set[tuple]]:
    shutil.copytree(template, home)
    ws = open_workspace(home)
    set_value(ws.config_path, "distributed.redis_url", url)
    set_value(ws.config_path, "distributed.heartbeat", "1")
    redis.Redis.from_url(url).flushall()
    settings = ws.settings()
    processes = [subprocess.Popen([sys.executable, "-c", "from detector.cli import main; main()", "worker",
                                   "--home", str(home)], stdout=(logs / f"{workers}-{n}.log").open("w"),
                                  stderr=subprocess.STDOUT) for n in range(workers)]
    try:
        client = broker.connect(url)
        while len(broker.live_workers(client, settings.distributed)) < workers:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a worker died while starting; see {logs}")
            time.sleep(0.1)
        store = open_store(ws)
        dispatcher = Dispatcher(home, store, settings)
        clock = time.perf_counter()
        dispatcher.send_new()
        dispatcher.wait()
        seconds = time.perf_counter() - clock
        found = _matches(store)
        match_entries = sum(1 for e in store.ledger_rows() if e["kind"] == "match")
        if match_entries != len(found):
            raise RuntimeError(f"{workers} workers: {match_entries} ledger entries for {len(found)} matches")
        store.close()
    finally:
        for p in processes:
            p.send_signal(signal.SIGTERM)
        for p in processes:
            p.wait(timeout=120)
    return seconds, found


def run(photos: Path, works: int, candidates: int, seed: int, workdir: Path) -> dict:
    started = time.perf_counter()
    template = build(workdir / "template" / "ws", photos, works, candidates, seed)
    seconds, expected = in_process(template, workdir / "in-process" / "ws")
    rows = [{"mode": "in process", "workers": 1, "seconds": round(seconds, 2),
             "images_per_s": round(candidates / seconds, 3)}]
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    with redis_server(workdir) as url:
        for n in WORKERS:
            seconds, found = distributed(template, workdir / f"workers-{n}" / "ws", url, n, logs)
            if found != expected:
                raise RuntimeError(f"{n} workers found other matches than detecting in process")
            rows.append({"mode": "distributed", "workers": n, "seconds": round(seconds, 2),
                         "images_per_s": round(candidates / seconds, 3)})
    one = next(r for r in rows if r["mode"] == "distributed" and r["workers"] == 1)
    for row in rows[1:]:
        row["speedup_vs_1_worker"] = round(one["seconds"] / row["seconds"], 2)
    overhead_ms = (one["seconds"] - rows[0]["seconds"]) / candidates * 1000
    return {"works": works, "candidates": candidates, "matches": len(expected), "seed": seed, "rows": rows,
            "queue_overhead_ms_per_candidate": round(overhead_ms, 1), "seconds": round(time.perf_counter() - started),
            "machine": describe()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=12, help="Photos registered as works.")
    parser.add_argument("--candidates", type=int, default=48, help="Candidates detected in each configuration.")
    parser.add_argument("--photos", help="Folder of real photos (default: $COPYHOUND_PHOTOS or ../shared/photos).")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="copyhound-distributed-") as tmp:
        result = run(photos_dir(args.photos), args.works, args.candidates, args.seed, Path(tmp))
    result["command"] = " ".join(["python -m benchmarks.distributed"] + (argv if argv is not None else sys.argv[1:]))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
