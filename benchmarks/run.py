"""Run every benchmark (or, with --only scale, just the index-scale part) and write benchmarks/RESULTS.md.

    python -m benchmarks.run [--quick] [--only scale|shortlist|distributed|hard|crawl_mix|discovery] [--works N]
                             [--shortlist-sizes N,N] [--photos DIR] [--seed N] [--workdir DIR] [--out FILE]

`--only scale` re-measures the indexes alone and merges them into the existing RESULTS.json beside
--out (the other parts keep their numbers, and the scale part records its own command and date);
`--only shortlist`, `--only hard` (small embedded copies and low-texture works), `--only crawl_mix` (the cost
of unrelated images, with the quality set's recall; benchmarks/crawl_mix.py) and `--only discovery` (`watch
bluesky` on a live loopback stream: posts/s kept up with, lag, memory at 10x; benchmarks/discovery.py) do the same.

`make bench` (1k and 10k works in the shortlist part; the crawl mix at issue 23's size: 5,000 images against
a 100k-work shortlist index, whose build alone takes 15-40 minutes), `make bench-scale` (the same run with 100k
works in the shortlist part too: one report with every number) and `make bench-quick` (a few minutes; the
crawl mix at 300 images and the registered works alone) call this. Each part's numbers are
kept in RESULTS.partial.json beside --out as soon as it ends, so a run that dies late loses only its
last part.
Nothing here asserts anything: it measures and reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import (
    concurrency,
    crawl_mix,
    detection_scale,
    discovery,
    distributed,
    hard_copies,
    machine,
    quality,
    report,
    scale,
    shortlist_scale,
    throughput,
)
from benchmarks.dataset import REPO, build, photos_dir
from detector.catalogue import set_threads
from detector.config import EmbedderSettings, IndexSettings

PLANS = {
    # sizes, factories per size, recall queries, timed single queries per size
    # factories per size map to the search parameters tried on one build ("" = VectorIndex's defaults)
    False: {"vector_sizes": [10_000, 100_000, 1_000_000],
            "factories": {10_000: {"HNSW32,Flat": ["efSearch=16", ""], "IVF256,Flat": ["nprobe=1", ""]},
                          100_000: {"HNSW32,Flat": ["efSearch=16", "efSearch=128", "", "efSearch=512"],
                                    "IVF1024,Flat": ["nprobe=1", "nprobe=16", "", "nprobe=64"]},
                          1_000_000: {"IVF1024,Flat": ["nprobe=1", "", "nprobe=64", "nprobe=128"]}},
            "timed": {1_000_000: 50}, "binary_sizes": [10_000, 100_000, 1_000_000], "per_family": 4,
            "catalogue": 1_000, "common": 12,
            "stage_images": 60, "embed_images": 48, "window_images": 6,
            "distributed_works": 20, "distributed_candidates": 80,
            "workers_works": 60, "workers_candidates": 40, "screenshot_pages": 12,
            "portal_clients": 10, "portal_candidates": 60,
            "crawl_mix": {"mix": 5000, "throughput": 400, "catalogue": 100_000},
            "discovery": {"rates": [20, 2], "seconds": 120, "memory_rate": 200, "memory_seconds": 1800},
            "skipped": "HNSW32,Flat at 1M works: its build time grows super-linearly (see the 100k row) and "
                       "would take well over ten minutes on 2 cores; IVF4096 at 1M for the same reason (k-means training)."},
    True: {"vector_sizes": [10_000, 100_000],
           "factories": {10_000: {"HNSW32,Flat": ["efSearch=16", ""], "IVF256,Flat": ["nprobe=1", ""]},
                         100_000: {"IVF1024,Flat": ["nprobe=1", ""]}},
           "timed": {100_000: 50}, "binary_sizes": [10_000, 100_000], "per_family": 2,
           "catalogue": 300, "common": 6,
           "stage_images": 20, "embed_images": 16, "window_images": 2,
           "distributed_works": 8, "distributed_candidates": 24,
           "workers_works": 20, "workers_candidates": 16, "screenshot_pages": 4,
           "portal_clients": 4, "portal_candidates": 16,
           "crawl_mix": {"mix": 300, "throughput": 60, "catalogue": 0},
           "discovery": {"rates": [20], "seconds": 60, "memory_rate": 200, "memory_seconds": 60},
           "skipped": "quick run: 1M works and HNSW at 100k are left to the full run (`make bench`)."},
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="A smaller set and sizes (a few minutes).")
    parser.add_argument("--photos", help="Folder of real photos (default: $COPYHOUND_PHOTOS or ../shared/photos).")
    parser.add_argument("--seed", type=int, default=7, help="Seed of the split, the transforms and the vectors.")
    parser.add_argument("--workdir", type=Path, help="Keep the dataset and workspace here (default: a temp dir).")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md", help="Report file.")
    parser.add_argument("--only", choices=["scale", "shortlist", "distributed", "hard", "crawl_mix", "discovery"],
                        help="Run this part alone and merge it into the RESULTS.json beside --out.")
    parser.add_argument("--works", type=int,
                        help="Registered works in the quality set, generated works filling up after the photos "
                             "(default 1000; 300 with --quick).")
    parser.add_argument("--shortlist-sizes", default="1000,10000",
                        help="Catalogue sizes of the shortlist part (comma-separated works; `make bench-scale` "
                             "adds 100000).")
    args = parser.parse_args(argv)
    command = " ".join(["python -m benchmarks.run"] + (argv if argv is not None else sys.argv[1:]))
    plan = PLANS[args.quick]
    if args.only:
        _part_only(args, plan, command)
        return
    photos = photos_dir(args.photos)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="copyhound-bench-"))
    if workdir.exists() and args.workdir:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def step(name: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {name}", flush=True)

    step("building the dataset")
    dataset = build(photos, workdir / "data", args.seed, quick=args.quick, per_family=plan["per_family"],
                    catalogue=args.works or plan["catalogue"], common=plan["common"])
    results: dict = {"seed": args.seed, "quick": args.quick, "photos": str(photos), "command": command,
                     "date": _now(), "machine": machine.describe()}
    step("quality: copyhound end to end, then the peers")
    results["quality"] = quality.run(dataset, workdir, EmbedderSettings().spec)

    step("throughput per stage")
    copies = [dataset.queries_dir / q.name for q in dataset.queries]
    stride = max(1, len(copies) // plan["stage_images"])
    sample = copies[::stride][: plan["stage_images"]]
    rows = throughput.decode_rows(sample, big=10)
    rows += throughput.detector_rows(workdir / "home", sample)
    step("embedders: torch eager vs ONNX fp32 / int8")
    embed_rows, info = throughput.embedder_rows(workdir, sample[: plan["embed_images"]], plan["window_images"])
    step("register and scan with --workers 1 and 2; page screenshots")
    files = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rows += throughput.workers_rows(files, plan["workers_works"], plan["workers_candidates"], workdir / "workers")
    rows += throughput.screenshot_rows(files, plan["screenshot_pages"], workdir / "screenshots")
    results["throughput"] = {"rows": rows + embed_rows, "embedder_info": info}
    _checkpoint(args.out, results)

    parts = [("scale", "index scale", lambda: _measure_scale(plan, args.seed)),
             ("shortlist", "local-feature shortlist and whole detections at catalogue scale",
              lambda: _measure_shortlist(args, photos, workdir, command)),
             ("distributed", "distributed detection: 1, 2 and 4 workers on loopback Redis",
              lambda: _measure_distributed(args, plan, photos, workdir, command)),
             ("hard", "small embedded copies and low-texture works, before and after",
              lambda: _measure_hard(args, photos, workdir, command)),
             ("crawl_mix", "the crawl mix: cost of unrelated images, with the quality set's recall",
              lambda: _measure_crawl_mix(args, plan, photos, workdir, command)),
             ("discovery", "discovery: watch bluesky on a live loopback stream",
              lambda: _measure_discovery(args, plan, photos, workdir, command)),
             ("concurrency", "the portal under load during a scan",
              lambda: concurrency.run(plan["portal_clients"], plan["portal_candidates"], args.seed))]
    for name, title, measure in parts:
        step(title)
        results[name] = measure()
        _checkpoint(args.out, results)
    results["seconds"] = time.perf_counter() - started
    summary = {"works": len(dataset.works), "negatives": len(dataset.negatives), "queries": len(dataset.queries),
               "generated": dataset.generated,
               "families": [q.family for q in dataset.queries]}
    _write(args.out, results, summary)
    step(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _measure_scale(plan: dict, seed: int) -> dict:
    # FAISS runs with the thread count a workspace gives it (index.threads), so builds and
    # latencies are the product's, not those of an idle machine's every core.
    threads = IndexSettings().threads
    set_threads(threads)
    return {"vectors": scale.vector_rows(plan["vector_sizes"], plan["factories"], 500, seed, plan["timed"]),
            "binary": scale.binary_rows(plan["binary_sizes"], 500, seed),
            "skipped": plan["skipped"], "faiss_threads": threads}


def _measure_shortlist(args, photos: Path, workdir: Path, command: str) -> dict:
    sizes = [int(n) for n in args.shortlist_sizes.split(",")]
    if args.quick:  # a few minutes: the smallest catalogue only
        sizes = [n for n in sizes if n <= 1_000] or sizes[:1]
    started = time.perf_counter()
    queries_per_work = shortlist_scale.QUERIES_PER_WORK
    candidates = shortlist_scale.candidates_dir(shortlist_scale.cache_path(workdir, args.seed, queries_per_work))
    onnx = throughput.export_random_vit(workdir, "int8")
    detections = detection_scale.Workspaces(candidates, workdir, onnx, args.seed)
    part = shortlist_scale.run(photos, sizes, shortlist_scale.methods_for(sizes), args.seed, queries_per_work,
                               workdir, detections.rows)
    part.update(command=command, date=_now(), seed=args.seed, seconds=time.perf_counter() - started,
                machine=machine.describe())
    return part


def _measure_distributed(args, plan: dict, photos: Path, workdir: Path, command: str) -> dict:
    folder = workdir / "distributed"
    folder.mkdir(parents=True, exist_ok=True)
    part = distributed.run(photos, plan["distributed_works"], plan["distributed_candidates"], args.seed, folder)
    part.update(command=command, date=_now())
    return part


def _measure_hard(args, photos: Path, workdir: Path, command: str) -> dict:
    started = time.perf_counter()
    part = hard_copies.run(photos, workdir, args.seed)
    part.update(command=command, date=_now(), seconds=time.perf_counter() - started, machine=machine.describe())
    return part


def _measure_crawl_mix(args, plan: dict, photos: Path, workdir: Path, command: str) -> dict:
    """The crawl mix and the quality set (its own copy, registered in process) in one run: cost and recall."""
    started = time.perf_counter()
    folder = workdir / "crawl-mix"
    folder.mkdir(parents=True, exist_ok=True)
    sizes = plan["crawl_mix"]
    part = crawl_mix.run(photos, folder, crawl_mix.DEFAULT_DEBS, sizes["mix"], args.works or plan["catalogue"],
                         plan["per_family"], sizes["throughput"], args.seed, catalogue=sizes["catalogue"])
    part.update(command=command, seconds=time.perf_counter() - started)
    return part


def _measure_discovery(args, plan: dict, photos: Path, workdir: Path, command: str) -> dict:
    started = time.perf_counter()
    folder = workdir / "discovery"
    folder.mkdir(parents=True, exist_ok=True)
    sizes = plan["discovery"]
    part = discovery.run(photos, folder, sizes["rates"], sizes["seconds"], sizes["memory_rate"],
                         sizes["memory_seconds"], batch=100, copy_every=50, drain=60, seed=args.seed)
    part.update(command=command, date=_now(), seconds_total=time.perf_counter() - started)
    return part


def _part_only(args, plan: dict, command: str) -> None:
    raw = args.out.with_suffix(".json")
    if not raw.exists():
        sys.exit(f"--only {args.only} merges into {raw}, which does not exist; run the whole benchmark once "
                 "(make bench) or point --out at a report that has its RESULTS.json beside it")
    saved = json.loads(raw.read_text(encoding="utf-8"))
    started = time.perf_counter()
    if args.only == "scale":
        part = _measure_scale(plan, args.seed)
        part.update(command=command, date=_now(), seed=args.seed, quick=args.quick,
                    seconds=time.perf_counter() - started, machine=machine.describe())
    elif args.only in ("distributed", "crawl_mix", "discovery"):
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="copyhound-bench-"))
        measure = {"distributed": _measure_distributed, "crawl_mix": _measure_crawl_mix,
                   "discovery": _measure_discovery}[args.only]
        part = measure(args, plan, photos_dir(args.photos), workdir, command)
    else:
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="copyhound-bench-"))
        measure = _measure_shortlist if args.only == "shortlist" else _measure_hard
        part = measure(args, photos_dir(args.photos), workdir, command)
    saved["results"][args.only] = part
    _write(args.out, saved["results"], saved["dataset"])
    print(f"merged the {args.only} part into {raw} and rewrote {args.out}", flush=True)


def _checkpoint(out: Path, results: dict) -> None:
    """The parts measured so far, so a run that dies late keeps its numbers."""
    out.with_suffix(".partial.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


def _write(out: Path, results: dict, summary: dict) -> None:
    # The raw numbers beside the report (written first, so a report that fails to render loses nothing),
    # so tables can be re-read or re-rendered without a re-run.
    out.with_suffix(".json").write_text(json.dumps({"results": results, "dataset": summary}, indent=1, default=str),
                                        encoding="utf-8")
    out.write_text(report.render(results, summary), encoding="utf-8")
    out.with_suffix(".partial.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
