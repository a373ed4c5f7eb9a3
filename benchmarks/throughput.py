"""Throughput and cost per stage, fast path against naive path, on the benchmark's query images.

- decode: the product's `decode_image` (JPEG draft mode: libjpeg decodes at 1/2..1/8 scale when
  the picture is larger than the working size) against a naive full decode then resize, on the
  set's queries and on 12-megapixel JPEGs made from them (where draft mode matters);
- hashes, local features, search, verification: `Detector.analyse` on the workspace the quality
  run registered (its own per-stage clocks);
- embedding: the real ViT-B-32 architecture with random weights (no weights can be downloaded
  here; speed does not depend on weight values) run by torch eager (`clip:ViT-B-32@file`) and by
  onnxruntime from `copyhound models export-onnx` output (fp32 and int8), on whole images and on
  the 10 query windows the product embeds per candidate; agreement = cosine between the torch
  and ONNX embeddings of the same images (on random weights).
"""

from __future__ import annotations

import io
import resource
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from detector.config import IntakeSettings
from detector.intake import decode_image


class Clock:
    """Wall and CPU seconds (this process, all threads) over a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu() - self.cpu


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _row(stage: str, path: str, n: int, clock: Clock, note: str = "") -> dict:
    return {"stage": stage, "path": path, "images": n, "per_s": n / clock.wall if clock.wall else float("inf"),
            "ms_per_image": 1000 * clock.wall / n, "cpu_ms_per_image": 1000 * clock.cpu / n, "note": note}


def _naive_decode(data: bytes, side: int) -> Image.Image:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.thumbnail((side, side), Image.LANCZOS)
    return image


def decode_rows(files: list[Path], big: int) -> list[dict]:
    settings = IntakeSettings()
    blobs = [f.read_bytes() for f in files]
    big_blobs = []
    for data in blobs[:big]:
        image = Image.open(io.BytesIO(data)).convert("RGB").resize((4000, 3000), Image.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        big_blobs.append(buffer.getvalue())
    rows = []
    for label, batch in (("set's queries (<= 1280 px)", blobs), ("12 MP JPEGs (4000x3000)", big_blobs)):
        with Clock() as c:
            for i, data in enumerate(batch):
                decode_image(data, f"q{i}", settings)
        rows.append(_row("decode", "copyhound (draft mode)", len(batch), c, label))
        with Clock() as c:
            for data in batch:
                _naive_decode(data, settings.work_side)
        rows.append(_row("decode", "naive (full decode + resize)", len(batch), c, label))
    return rows


def detector_rows(home: Path, files: list[Path]) -> list[dict]:
    """Per-stage cost of `Detector.analyse` (embedder as configured in the workspace: none)."""
    from detector.detect import Detector
    from detector.workspace import open_workspace
    from detector.workspace.store import open_store

    ws = open_workspace(home)
    settings = ws.settings()
    detector = Detector(ws, open_store(ws), settings, None)
    decoded = [decode_image(f.read_bytes(), f.name, settings.intake) for f in files]
    seconds: Counter = Counter()
    with Clock() as total:
        for i, d in enumerate(decoded):
            detector.analyse(f"{i:064x}", d, seconds)
    rows = []
    notes = {"hash": "image + mirror", "features": "image + mirror, full resolution (past the screen)",
             "regions": "up to 3 photographic regions", "coarse_features": "image + mirror at 512 px (the screen)",
             "screen_search": "the screen's shortlist"}
    for stage in ("hash", "regions", "coarse_features", "screen_search", "features", "search", "verify", "common"):
        share = Clock()
        share.wall = seconds[stage]
        share.cpu = total.cpu * seconds[stage] / max(1e-9, total.wall)
        rows.append(_row(stage, "copyhound", len(files), share, notes.get(stage, "")))
    rows.append(_row("analyse (all of the above)", "copyhound", len(files), total,
                     f"{len(detector.assets)} registered works"))
    return rows


def random_vit():
    """open_clip's ViT-B-32 with seeded random weights: the real architecture's cost, no trained weights
    (they cannot be downloaded here), so its numbers say nothing about quality."""
    import open_clip
    import torch

    torch.manual_seed(0)
    return open_clip.create_model("ViT-B-32").eval()


def export_random_vit(workdir: Path, label: str, model=None) -> Path:
    """`workdir/vit-b-32-random-{label}.onnx` (label fp32 or int8), exported unless it is there."""
    from detector.embedders.onnx_export import export_model

    out = workdir / f"vit-b-32-random-{label}.onnx"
    if not out.exists():
        export_model(model or random_vit(), out, source="ViT-B-32 (random weights)", int8=label == "int8")
    return out


def embedder_rows(workdir: Path, files: list[Path], windows_images: int) -> tuple[list[dict], dict]:
    """torch eager vs ONNX fp32/int8 on ViT-B-32 with random weights; rows and agreement stats."""
    import torch

    from detector.embedders import load_embedder
    from detector.fingerprint import query_windows

    model = random_vit()
    checkpoint = workdir / "vit-b-32-random.pt"
    torch.save(model.state_dict(), checkpoint)
    info: dict = {}
    paths = {}
    for label in ("fp32", "int8"):
        with Clock() as c:
            paths[label] = export_random_vit(workdir, label, model)
        info[f"export_{label}_s"] = c.wall
        info[f"size_{label}_mb"] = paths[label].stat().st_size / 1e6
    del model
    embedders = {
        "torch eager": load_embedder(f"clip:ViT-B-32@{checkpoint}"),
        "onnx fp32": load_embedder(f"onnx:{paths['fp32']}"),
        "onnx int8": load_embedder(f"onnx:{paths['int8']}"),
    }
    images = [Image.open(f).convert("RGB") for f in files]
    windows = [im.crop(box) for im in images[:windows_images] for box in query_windows(im)]
    rows, vectors = [], {}
    for label, embedder in embedders.items():
        embedder.embed(images[:2])  # warm-up: first-call allocations and thread pools
        with Clock() as c:
            vectors[label] = embedder.embed(images)
        rows.append(_row("embedding", label, len(images), c, "whole images, batch 16"))
        with Clock() as c:
            embedder.embed(windows)
        rows.append(_row("embedding", label, windows_images, c, "per candidate: whole + 9 windows"))
    for label in ("onnx fp32", "onnx int8"):
        cosines = (vectors["torch eager"] * vectors[label]).sum(axis=1)
        info[f"agreement_{label}"] = {"min": float(cosines.min()), "mean": float(cosines.mean()),
                                      "images": len(cosines)}
    # Random weights still map different photos apart; this shows the agreement is not trivial.
    spread = vectors["torch eager"] @ vectors["torch eager"].T
    info["torch_pairwise_cosine_mean"] = float(spread[~np.eye(len(spread), dtype=bool)].mean())
    checkpoint.unlink()
    return rows, info


def screenshot_rows(photos: list[Path], pages: int, workdir: Path) -> list[dict]:
    """Page screenshots of `pages` local pages (each showing one real photo): one browser per page,
    as before, against one browser for them all at concurrency 1 and 4."""
    from crawlers.screenshot import Capture, Page, Shot, take_all
    from detector.demo_site import serve

    site = workdir / "screenshot-site"
    site.mkdir(parents=True, exist_ok=True)
    for i in range(pages):
        photo = photos[i % len(photos)]
        (site / f"p{i}.jpg").write_bytes(photo.read_bytes())
        (site / f"p{i}.html").write_text(f"<!doctype html><title>page {i}</title><h1>Page {i}</h1>"
                                         f"<img src='p{i}.jpg' width=800><p>{'text ' * 400}</p>", encoding="utf-8")
    server, base = serve(site)
    urls = [Page(f"{base}p{i}.html", allow_private=True) for i in range(pages)]
    rows = []
    try:
        for label, concurrency, batches in (("one browser per page (before)", 1, [[u] for u in urls]),
                                            ("one browser, 1 page at a time", 1, [urls]),
                                            ("one browser, 4 pages at a time", 4, [urls])):
            capture = Capture(viewport=(1280, 800), user_agent="copyhound-bench", timeout=30.0, max_height=8000,
                              concurrency=concurrency)
            results: list = []
            with Clock() as c:
                launches = sum(take_all(batch, capture, lambda _, result, into=results: into.append(result))
                               for batch in batches)
            taken = sum(isinstance(result, Shot) for result in results)
            rows.append(_row("page screenshots", label, pages, c, f"{taken} taken, {launches} browser launch(es)"))
    finally:
        server.shutdown()
    return rows


class ProcessClock(Clock):
    """Wall seconds, and CPU seconds of this process and of its waited-for children (the workers)."""

    def __enter__(self):
        self.children = _children_cpu()
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.children = _children_cpu() - self.children


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _workers_row(stage: str, workers: int, n: int, clock: ProcessClock, baseline: float | None) -> dict:
    row = _row(stage, f"--workers {workers}", n, clock)
    cpu = clock.cpu + clock.children
    row.update(cpu_ms_per_image=1000 * cpu / n, parent_cpu_s=clock.cpu, workers_cpu_s=clock.children,
               speedup=(row["per_s"] / baseline) if baseline else 1.0,
               note=f"parent CPU {clock.cpu:.1f} s, workers' CPU {clock.children:.1f} s")
    return row


def _fresh_workspace(home: Path):
    from detector.config import Settings
    from detector.workspace import create_workspace
    from detector.workspace.store import open_store

    ws, _ = create_workspace(home, Settings().with_embedder("none"))
    return ws, open_store(ws)


def _copies(photos: list[Path], folder: Path) -> list[Path]:
    """A candidate set: each photo re-encoded at JPEG quality 60, and cropped to its central 70%."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, path in enumerate(photos):
        image = Image.open(path).convert("RGB")
        w, h = image.size
        for label, copy in (("q60", image), ("crop", image.crop((w * 15 // 100, h * 15 // 100, w * 85 // 100, h * 85 // 100)))):
            target = folder / f"{i:03d}-{label}.jpg"
            copy.save(target, "JPEG", quality=60)
            out.append(target)
    return out


def workers_rows(photos: list[Path], works: int, candidates: int, workdir: Path,
                 worker_counts: tuple[int, ...] = (1, 2)) -> list[dict]:
    """`register` works/s and `scan` (detection) images/s at each of `worker_counts`, on the same
    files: `works` photos registered into a fresh workspace each time, then `candidates` images
    (copies of registered photos, and photos never registered) detected against them."""
    import shutil

    from detector.detect import Detector
    from detector.register import WorkInfo, register_files
    from detector.workspace import open_workspace
    from detector.workspace.blobs import BlobStore
    from detector.workspace.store import open_store, utc_now

    registered, unregistered = photos[:works], photos[works:]
    queries = _copies(registered[: candidates // 3], workdir / "copies") + unregistered
    queries = queries[:candidates]
    rows: list[dict] = []
    baseline = None
    for workers in worker_counts:
        home = workdir / f"register-{workers}"
        shutil.rmtree(home, ignore_errors=True)
        ws, store = _fresh_workspace(home)
        with ProcessClock() as clock:
            outcomes = register_files(ws, store, ws.settings(), None, registered, WorkInfo("bench"), workers=workers)
        done = sum(o.status == "registered" for o in outcomes)
        rows.append(_workers_row("register (works)", workers, done, clock, baseline))
        baseline = baseline or rows[-1]["per_s"]
        store.close()
    baseline = None
    source = workdir / f"register-{worker_counts[0]}"
    for workers in worker_counts:
        home = workdir / f"scan-{workers}"
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(source, home)
        ws = open_workspace(home)
        store = open_store(ws)
        blobs, scan_id = BlobStore(ws.blobs_dir), store.start_scan({})
        for i, path in enumerate(queries):
            data = path.read_bytes()
            store.add_candidate({"scan_id": scan_id, "target": "bench", "page_url": f"https://b.example/{i}.html",
                                 "image_url": f"https://b.example/img/{i}-{path.name}", "discovered_at": utc_now(),
                                 "sha256": blobs.put(data), "byte_size": len(data)})
        detector = Detector(ws, store, ws.settings(), None)
        with ProcessClock() as clock:
            summary = detector.run(workers=workers)
        row = _workers_row("scan (images)", workers, summary.images, clock, baseline)
        row["note"] += f"; {len(store.matches())} matches, {len(detector.assets)} works"
        rows.append(row)
        baseline = baseline or row["per_s"]
        store.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.throughput`: the worker and screenshot parts alone, printed as a table."""
    import argparse
    import json
    import os
    import tempfile

    from benchmarks.dataset import photos_dir

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--works", type=int, default=60, help="Photos registered (register and scan parts).")
    parser.add_argument("--candidates", type=int, default=40, help="Images the scan part detects.")
    parser.add_argument("--pages", type=int, default=12, help="Pages the screenshot part shoots (0: skip it).")
    parser.add_argument("--photos", help="Folder of real photos (default: $COPYHOUND_PHOTOS or ../shared/photos).")
    args = parser.parse_args(argv)
    photos = sorted(p for p in photos_dir(args.photos).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    with tempfile.TemporaryDirectory() as tmp:
        rows = workers_rows(photos, args.works, args.candidates, Path(tmp))
        if args.pages:
            rows += screenshot_rows(photos, args.pages, Path(tmp))
    print(f"cores: {len(os.sched_getaffinity(0))}, load average at the end: {os.getloadavg()}")
    print("| stage | path | n | per s | CPU ms per item (all processes) | note |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['path']} | {r['images']} | {r['per_s']:.2f} | {r['cpu_ms_per_image']:.0f} | {r['note']} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
