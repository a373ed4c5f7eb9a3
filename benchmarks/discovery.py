"""Discovery: what `copyhound watch bluesky` keeps up with, and its memory when it cannot.

    python -m benchmarks.discovery [--rates 20,2] [--seconds 120] [--memory-rate 200] [--memory-seconds 300]
                                   [--batch 100] [--photos DIR] [--seed 7]

A loopback Jetstream relay publishes image posts live at each of `--rates` posts/s (one image each, `time_us` the
moment it is sent, a cursor replayed as Jetstream does); a loopback CDN serves the images (photos of the
photo folder at 640 px, each post's bytes made unique by a JPEG comment, so nothing is served from a cache
or detected twice) and a loopback AppView answers getProfiles. One post in `--copy-every` is a transformed
copy of a registered work. The real watcher (`copyhound watch bluesky`, a subprocess, 2 detection workers,
embedder none, crawl and detection as in production) reads it until the relay has published for
`--seconds`, then until it has caught up (or `--drain` seconds more).

Measured: posts analysed per second over the run, the backlog left when publishing stopped, the lag
from a post's time to its image detected (every post) and to its match (the copies), p50/p95 (1 s
resolution: the store's timestamps); then, in a second run at `--memory-rate`, the watcher's RSS sampled
every 5 s (its own process, and with its children: the crawler and detection processes of each batch).
Nothing asserts anything: it measures and reports, with the machine's load average (the 2 cores are shared).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from PIL import Image
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from benchmarks import discovery_yield
from benchmarks.dataset import REPO, photos_dir
from benchmarks.machine import describe
from detector import config, demo_site
from detector.register import WorkInfo, register_files
from detector.workspace import create_workspace
from detector.workspace.store import open_store

DID = "did:plc:benchmark"
TRANSFORMS = [demo_site.recompressed, demo_site.cropped, demo_site.captioned, demo_site.resized, demo_site.mirrored]
SIDE = 640  # Bluesky's feed_fullsize images are at most 2000 px; most phone photos arrive smaller
WORKS = 12


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _unique(jpeg: bytes, n: int) -> bytes:
    """The same picture with a JPEG comment naming post `n`: other bytes, so another content to detect."""
    comment = f"post {n}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


class Stream:
    """Posts published live at `rate` per second for `seconds`: post i at t0 + i / rate."""

    def __init__(self, rate: float, seconds: float, copy_every: int, pool: list[bytes], copies: list[bytes]):
        self.rate, self.total, self.copy_every = rate, int(rate * seconds), copy_every
        self.pool, self.copies = pool, copies
        self.t0_us = 0  # set when the watcher first subscribes: publishing starts then
        self.lock = threading.Lock()

    def publish_end(self) -> float | None:
        return self.time_us(self.total) / 1e6 if self.t0_us else None

    def time_us(self, i: int) -> int:
        return self.t0_us + int(i * 1e6 / self.rate)

    def index_at(self, time_us: int) -> int:
        return max(0, math.ceil((time_us - self.t0_us) * self.rate / 1_000_000))

    def is_copy(self, i: int) -> bool:
        return i % self.copy_every == self.copy_every // 2

    def image(self, i: int) -> bytes:
        if self.is_copy(i):
            return _unique(self.copies[(i // self.copy_every) % len(self.copies)], i)
        return _unique(self.pool[i % len(self.pool)], i)

    def event(self, i: int) -> str:
        image = {"alt": "", "image": {"$type": "blob", "ref": {"$link": f"bafk{i}"}, "mimeType": "image/jpeg",
                                      "size": 1}}
        record = {"$type": "app.bsky.feed.post", "text": f"post {i}", "createdAt": "2026-03-01T00:00:00Z",
                  "embed": {"$type": "app.bsky.embed.images", "images": [image]}}
        return json.dumps({"did": DID, "time_us": self.time_us(i), "kind": "commit",
                           "commit": {"rev": "r", "operation": "create", "collection": "app.bsky.feed.post",
                                      "rkey": f"rk{i}", "record": record, "cid": "c"}})

    def subscriber(self, socket) -> None:
        cursor = parse_qs(urlsplit(socket.request.path).query).get("cursor", [None])[0]
        with self.lock:
            self.t0_us = self.t0_us or int(time.time() * 1e6)
        i = self.index_at(int(cursor)) if cursor else 0
        try:
            while i < self.total:
                wait = self.time_us(i) / 1e6 - time.time()
                if wait > 0:
                    time.sleep(wait)
                socket.send(self.event(i))
                i += 1
            socket.recv(timeout=3600)  # quiet until the watcher leaves
        except (ConnectionClosed, TimeoutError):
            pass


def _cdn(stream: Stream) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = urlsplit(self.path).path
            if path.endswith("app.bsky.actor.getProfiles"):
                body, kind = json.dumps({"profiles": [{"did": DID, "handle": "bench.test"}]}).encode(), "application/json"
            elif match := re.search(r"/bafk(\d+)@jpeg$", path):
                body, kind = stream.image(int(match.group(1))), "image/jpeg"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def build(home: Path, photos: Path, seed: int) -> tuple[list[bytes], list[bytes]]:
    """A workspace (embedder none, 2 detection workers) with WORKS photos registered; returns the CDN's pool of
    other photos and the copies of the works."""
    rng = random.Random(seed)
    files = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng.shuffle(files)
    settings = config.Settings().with_embedder("none")
    settings = replace(settings, detect=replace(settings.detect, workers=2),
                       report=replace(settings.report, screenshots="none"))
    ws, _ = create_workspace(home, settings)
    originals = home.parent / "originals"
    originals.mkdir(exist_ok=True)
    pictures = []
    for path in files:
        image = Image.open(path).convert("RGB")
        image.thumbnail((SIDE, SIDE))
        pictures.append((path.stem, image))
    for stem, image in pictures[:WORKS]:
        image.save(originals / f"{stem}.jpg", "JPEG", quality=92)
    store = open_store(ws)
    try:
        register_files(ws, store, ws.settings(), None, sorted(originals.iterdir()), WorkInfo("bench"), workers=1)
    finally:
        store.close()
    copies = [_jpeg(TRANSFORMS[i % len(TRANSFORMS)](image)) for i, (_, image) in enumerate(pictures[:WORKS])]
    return [_jpeg(image) for _, image in pictures[WORKS:]], copies


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="utf-8") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found + [g for c in found for g in _children(c)]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` and of its children it has waited for."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of the watcher and everything it started: the children gone (waited for) and those alive."""
    return _cpu_s(pid) + sum(_cpu_s(c) for c in _children(pid))


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def watch(home: Path, stream: Stream, batch: int, drain: float, sample_rss: bool) -> dict:
    """Run the watcher against `stream` until it caught up (or `drain` s after publishing ended); what it did."""
    cdn = _cdn(stream)
    relay = serve(stream.subscriber, "127.0.0.1", 0)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{cdn.server_address[1]}"
    command = [sys.executable, "-c", "from detector.cli import main; main()", "watch", "bluesky",
               "--jetstream", f"ws://127.0.0.1:{relay.socket.getsockname()[1]}", "--cdn", base, "--appview", base,
               "--allow-private", "--batch", str(batch), "--idle", "3", "--home", str(home)]
    log = open(home.parent / "watch.log", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    # Its own process group: the watcher, its crawler and its detection processes are all stopped at the end.
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)},
                             cwd=REPO, start_new_session=True)
    started = time.time()
    samples = []
    db = home / "copyhound.db"
    backlog_at_end = None
    cpu_s = 0.0
    try:
        while child.poll() is None:
            now = time.time()
            if sample_rss:
                own = _rss_kb(child.pid)
                tree = own + sum(_rss_kb(c) for c in _children(child.pid))
                samples.append({"t": round(now - started, 1), "rss_mb": round(own / 1024, 1),
                                "tree_mb": round(tree / 1024, 1), "scans_finished": _count(db, FINISHED_SCANS)})
            done, publish_end = _count(db, DETECTED), stream.publish_end()
            if publish_end is not None and now >= publish_end:
                if backlog_at_end is None:
                    backlog_at_end = stream.total - done
                if done >= stream.total or now >= publish_end + drain:
                    break
            cpu_s = max(cpu_s, _tree_cpu_s(child.pid))
            time.sleep(5 if sample_rss else 1)
    finally:
        cpu_s = max(cpu_s, _tree_cpu_s(child.pid))
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        try:
            os.killpg(child.pid, signal.SIGKILL)  # what outlived the watcher (a detection process mid-image)
        except ProcessLookupError:
            pass
        log.close()
        relay.shutdown()
        cdn.shutdown()
    lags = _lags(db, stream)
    return {**lags, "cpu_s": round(cpu_s, 1),
            "cpu_ms_per_post": round(1000 * cpu_s / lags["analysed"]) if lags["analysed"] else None,
            "published": stream.total, "backlog_when_publishing_ended": backlog_at_end,
            "rss_samples": samples, "wall_s": round(time.time() - started, 1), **stages(db)}


def stages(db: Path) -> dict:
    """Where the finished batches' time went: seconds per scan step and per detection stage (summed over the
    workers), and the cascade's exits."""
    steps, detect, exits = {}, {}, {}
    with sqlite3.connect(db, timeout=30) as conn:
        for (text,) in conn.execute("SELECT summary FROM scans WHERE status = 'finished' AND summary IS NOT NULL"):
            summary = json.loads(text)
            for into, values in ((steps, summary.get("seconds") or {}),
                                 (detect, (summary.get("detect") or {}).get("seconds") or {}),
                                 (exits, (summary.get("detect") or {}).get("cascade_exits") or {})):
                for key, value in values.items():
                    into[key] = round(into.get(key, 0) + value, 1)
    return {"step_seconds": steps, "detect_stage_seconds": detect, "cascade_exits": exits}


FINISHED_SCANS = "SELECT count(*) FROM scans WHERE status = 'finished'"
DETECTED = "SELECT count(*) FROM candidates WHERE state = 'detected'"


def _count(db: Path, query: str) -> int:
    """One count from the watcher's store while it writes (0 while the file is not readable yet)."""
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute(query).fetchone()[0]
    except sqlite3.Error:
        return 0


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _lags(db: Path, stream: Stream) -> dict:
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute("SELECT image_url, detected_at FROM candidates WHERE state = 'detected'").fetchall()
        matched = {url for (url,) in conn.execute("SELECT image_url FROM matches")}
    lags, match_lags, detected_times = [], [], []
    thirds: list[list[float]] = [[], [], []]
    for url, detected_at in rows:
        i = int(re.search(r"/bafk(\d+)@jpeg$", url).group(1))
        lag = _seconds(detected_at) - stream.time_us(i) / 1e6
        lags.append(lag)
        thirds[min(2, 3 * i // stream.total)].append(lag)
        detected_times.append(_seconds(detected_at))
        if url in matched:
            match_lags.append(lag)
    copies = sum(1 for i in range(stream.total) if stream.is_copy(i))
    span = (max(detected_times) - stream.t0_us / 1e6) if detected_times else 0
    return {"analysed": len(rows), "analysed_per_s": round(len(rows) / span, 2) if span > 0 else 0.0,
            "copies_posted": copies, "copies_matched": len(match_lags),
            "false_matches": len(matched) - len(match_lags),
            "lag_s": {"p50": _percentile(lags, 0.5), "p95": _percentile(lags, 0.95), "max": _percentile(lags, 1.0)},
            # A watcher that keeps up has the same lag at the end of the run as at its start; one that falls
            # behind, a lag that grows with every batch.
            "lag_p95_by_third_s": [_percentile(third, 0.95) for third in thirds],
            "match_lag_s": {"p50": _percentile(match_lags, 0.5), "p95": _percentile(match_lags, 0.95)}}


def run(photos: Path, workdir: Path, rates: list[float], seconds: float, memory_rate: float, memory_seconds: float,
        batch: int, copy_every: int, drain: float, seed: int) -> dict:
    part = {"machine": describe(), "seed": seed, "rates": rates, "seconds": seconds, "batch": batch,
            "copy_every": copy_every, "works": WORKS, "workers": 2, "embedder": "none", "keep_up": [],
            "yield": discovery_yield.run(workdir / "yield", sites=24, pages=10)}
    for rate in rates:
        home = workdir / f"keep-up-{rate:g}" / "home"
        load = os.getloadavg()[0]
        pool, copies = build(home, photos, seed)
        row = watch(home, Stream(rate, seconds, copy_every, pool, copies), batch, drain, sample_rss=False)
        part["keep_up"].append({"rate": rate, **row, "load_before": load, "load_after": os.getloadavg()[0]})
    if memory_seconds > 0:
        build(workdir / "memory" / "home", photos, seed)
        memory = watch(workdir / "memory" / "home", Stream(memory_rate, memory_seconds, copy_every, pool, copies),
                       batch, 0, sample_rss=True)
        samples = memory["rss_samples"]
        rss = [s["rss_mb"] for s in samples]
        # Warm-up: the imports, and the first batch's finish, whose first collectability assessment grows the RSS by
        # some 10 MB of native buffers, once (it stays flat when called again). Settled: after the first fifth and
        # the first finished batch.
        settled = [s["rss_mb"] for s in samples[len(samples) // 5:] if s.get("scans_finished", 1) >= 1] or rss
        memory.update(rate=memory_rate, seconds=memory_seconds, rss_mb_first=settled[0] if settled else None,
                      rss_mb_last=settled[-1] if settled else None, rss_mb_max=max(rss) if rss else None,
                      tree_mb_max=max((s["tree_mb"] for s in memory["rss_samples"]), default=None),
                      rss_growth=round(settled[-1] / settled[0] - 1, 3) if settled else None,
                      rss_settled_samples=len(settled))
        part["memory"] = memory
        part["load_after_memory"] = os.getloadavg()[0]
    return part


def render(part: dict) -> list[str]:
    """The part's section of RESULTS.md."""
    m = part["machine"]
    lines = ["## Discovery: `watch bluesky` on a live stream", "",
             (f"`{part.get('command', 'python -m benchmarks.discovery')}`, {part['date']} (UTC), seed {part['seed']}, "
              f"{m['cpu']}, {m['cores']} cores, shared (the load average is in each row). A loopback Jetstream relay "
              f"publishes image posts live for {part['seconds']:g} s at each offered rate (one post in "
              f"{part['copy_every']} a copy of one of {part['works']} registered works, each image's bytes unique); "
              f"the real watcher reads it in batches of {part['batch']}, crawls the images from a loopback CDN and "
              f"detects them with {part['workers']} workers, embedder {part['embedder']}. Lags are from the post's "
              "time to its image detected, of the posts analysed by the end (1 s resolution); a watcher that keeps "
              "up has the same lag in the last third of the posts as in the first. Analysed/s counts from the first "
              "post to the last image detected, so the last batch's lag is in it. CPU per analysed "
              "post: the user and system seconds of the watcher and every process it started (crawls, detection "
              "workers), start-up included, over the posts analysed: on shared cores, fairer than posts/s."), "",
             ("| offered posts/s | published | analysed | analysed/s | backlog when publishing ended | lag p50 / p95 "
              "/ max (s) | lag p95 of the first / middle / last third of the posts (s) | match lag p50 / p95 (s) | "
              "copies matched | false matches | CPU per analysed post (ms) | load average before / after |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in part["keep_up"]:
        lines.append(f"| {row['rate']:g} | {row['published']} | {row['analysed']} | {row['analysed_per_s']} | "
                     f"{row['backlog_when_publishing_ended']} | {row['lag_s']['p50']} / {row['lag_s']['p95']} / "
                     f"{row['lag_s']['max']} | {' / '.join(str(v) for v in row.get('lag_p95_by_third_s', ['-']))} | "
                     f"{row['match_lag_s']['p50']} / {row['match_lag_s']['p95']} | "
                     f"{row['copies_matched']} of {row['copies_posted']} | {row['false_matches']} | "
                     f"{row.get('cpu_ms_per_post', '-')} | {row['load_before']:.1f} / {row['load_after']:.1f} |")
    lines.append("")
    if part.get("yield"):
        lines += discovery_yield.render(part["yield"])
    for row in [*part["keep_up"], *([part["memory"]] if part.get("memory") else [])]:
        if row.get("detect_stage_seconds"):
            stages_ = ", ".join(f"{k} {v:g}" for k, v in sorted(row["detect_stage_seconds"].items(),
                                                               key=lambda kv: -kv[1]) if v >= 1)
            lines += [(f"Where the time of the finished batches at {row['rate']:g} posts/s went: scan steps "
                       f"{', '.join(f'{k} {v:g} s' for k, v in row['step_seconds'].items())}; detection stages "
                       f"(s, summed over the workers) {stages_}; cascade exits "
                       f"{', '.join(f'{k} {v}' for k, v in row['cascade_exits'].items())}."), ""]
    memory = part.get("memory")
    if memory:
        lines += [(f"Memory at {memory['rate']:g} posts/s offered for {memory['seconds']:g} s (the watcher falls "
                   f"behind and reads at its own pace; {memory['analysed']} analysed, the rest waits at the relay): "
                   f"the watcher's RSS {memory['rss_mb_first']} MB after the first fifth of the run and its first "
                   "finished batch (the warm-up), "
                   f"{memory['rss_mb_last']} MB at the end ({memory['rss_growth']:+.1%}, over "
                   f"{memory.get('rss_settled_samples', '?')} samples 5 s apart), at most "
                   f"{memory['rss_mb_max']} MB; with its crawler and detection processes at most "
                   f"{memory['tree_mb_max']} MB. Load average at the end: {part['load_after_memory']:.1f}."), ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="20,2", help="Offered posts/s, one keep-up run each (comma-separated).")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--memory-rate", type=float, default=200.0)
    parser.add_argument("--memory-seconds", type=float, default=300.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--copy-every", type=int, default=50)
    parser.add_argument("--drain", type=float, default=60.0, help="Seconds waited for the backlog after publishing.")
    parser.add_argument("--photos")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="Where the workspaces go (required unless --render).")
    parser.add_argument("--out", type=Path, help="Write the part's JSON here too (e.g. benchmarks/DISCOVERY.json).")
    parser.add_argument("--render", type=Path, help="Print the RESULTS.md section of this saved JSON and stop.")
    args = parser.parse_args(argv)
    if args.render:
        print("\n".join(render(json.loads(args.render.read_text(encoding="utf-8")))))
        return
    if args.workdir is None:
        parser.error("--workdir is required")
    part = run(photos_dir(args.photos), args.workdir, [float(r) for r in args.rates.split(",")], args.seconds, args.memory_rate, args.memory_seconds,
               args.batch, args.copy_every, args.drain, args.seed)
    part["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    part["command"] = " ".join(["python -m benchmarks.discovery", *(argv if argv is not None else sys.argv[1:])])
    text = json.dumps(part, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
