"""Run every benchmark and write benchmarks/RESULTS.md.

    python -m benchmarks.run [--quick] [--photos DIR] [--seed N] [--workdir DIR] [--out FILE]

`make bench` (under 30 minutes on 2 cores) and `make bench-quick` (a few minutes) call this.
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

from benchmarks import machine, quality, report, scale, throughput
from benchmarks.dataset import REPO, build, photos_dir
from detector.config import EmbedderSettings

PLANS = {
    # sizes, factories per size, recall queries, timed single queries per size
    False: {"vector_sizes": [10_000, 100_000, 1_000_000],
            "factories": {10_000: ["HNSW32,Flat", "IVF256,Flat"], 100_000: ["HNSW32,Flat", "IVF1024,Flat"],
                          1_000_000: ["IVF1024,Flat"]},
            "timed": {1_000_000: 50}, "binary_sizes": [10_000, 100_000, 1_000_000], "per_family": 4,
            "stage_images": 60, "embed_images": 48, "window_images": 6,
            "skipped": "HNSW32,Flat at 1M works: its build time grows super-linearly (see the 100k row) and "
                       "would take well over ten minutes on 2 cores; IVF4096 at 1M for the same reason (k-means training)."},
    True: {"vector_sizes": [10_000, 100_000],
           "factories": {10_000: ["HNSW32,Flat", "IVF256,Flat"], 100_000: ["IVF1024,Flat"]},
           "timed": {100_000: 50}, "binary_sizes": [10_000, 100_000], "per_family": 2,
           "stage_images": 20, "embed_images": 16, "window_images": 2,
           "skipped": "quick run: 1M works and HNSW at 100k are left to the full run (`make bench`)."},
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="A smaller set and sizes (a few minutes).")
    parser.add_argument("--photos", help="Folder of real photos (default: $COPYHOUND_PHOTOS or ../shared/photos).")
    parser.add_argument("--seed", type=int, default=7, help="Seed of the split, the transforms and the vectors.")
    parser.add_argument("--workdir", type=Path, help="Keep the dataset and workspace here (default: a temp dir).")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md", help="Report file.")
    args = parser.parse_args(argv)
    photos = photos_dir(args.photos)
    plan = PLANS[args.quick]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="copyhound-bench-"))
    if workdir.exists() and args.workdir:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def step(name: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {name}", flush=True)

    step("building the dataset")
    dataset = build(photos, workdir / "data", args.seed, quick=args.quick, per_family=plan["per_family"])
    results: dict = {"seed": args.seed, "quick": args.quick, "photos": str(photos),
                     "command": " ".join(["python -m benchmarks.run"] + (argv if argv is not None else sys.argv[1:])),
                     "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
                     "machine": machine.describe()}
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
    results["throughput"] = {"rows": rows + embed_rows, "embedder_info": info}

    step("index scale")
    results["scale"] = {
        "vectors": scale.vector_rows(plan["vector_sizes"], plan["factories"], 500, args.seed, plan["timed"]),
        "binary": scale.binary_rows(plan["binary_sizes"], 500, args.seed),
        "skipped": plan["skipped"],
    }
    results["seconds"] = time.perf_counter() - started
    summary = {"works": len(dataset.works), "negatives": len(dataset.negatives), "queries": len(dataset.queries),
               "families": [q.family for q in dataset.queries]}
    args.out.write_text(report.render(results, summary), encoding="utf-8")
    # The raw numbers beside the report, so tables can be re-read or re-rendered without a re-run.
    raw = args.out.with_suffix(".json")
    raw.write_text(json.dumps({"results": results, "dataset": summary}, indent=1, default=str), encoding="utf-8")
    step(f"wrote {args.out} and {raw}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
