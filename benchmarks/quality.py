"""Quality: copyhound end to end through its CLI, and the peers, on the same set in the same run.

copyhound runs as a user runs it: `init` (offline: embedder 'none'), `register` the works,
serve the queries as a website on 127.0.0.1, `scan --site`, then `matches --format json`.
Only pairs copyhound records (score >= review threshold) are predictions; everything it
drops counts as not found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import metrics
from benchmarks.dataset import Dataset, write_site
from benchmarks.peers import clip_peer, hash_peer, load_images
from detector import config
from detector.demo_site import serve

CLI = [str(Path(sys.executable).parent / "copyhound")]
PRECISIONS = (0.99, 0.999)


def _cli(args: list[str]) -> str:
    """Run one copyhound command and return its stdout; a failure stops the benchmark with stderr."""
    done = subprocess.run(CLI + args, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks: `copyhound {' '.join(args)}` failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _usage_of(args: list[str]) -> tuple[str, dict]:
    """_cli measured with wait4, so the CPU time and peak RSS are this command's alone."""
    clock = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=errors, text=True)
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise SystemExit(f"benchmarks: `copyhound {' '.join(args)}` failed: {errors.read()[-2000:]}")
    return stdout, {"wall_s": time.perf_counter() - clock, "cpu_s": usage.ru_utime + usage.ru_stime,
                    "peak_rss_mb": usage.ru_maxrss / 1024}


def run_copyhound(dataset: Dataset, workdir: Path) -> dict:
    """Register, scan and read matches; returns predictions, decisions and the scan's costs."""
    home = workdir / "home"
    _cli(["init", "--home", str(home), "--embedder", "none"])
    config_path = home / "config.toml"
    settings = config.load(config_path)
    # A loopback benchmark site: no politeness delay, no cache, room for every page.
    crawl = replace(settings.crawl, download_delay=0.0, autothrottle=False, concurrency_per_domain=8,
                    http_cache=False, max_pages=len(dataset.queries) + 100)
    config_path.write_text(config.render_toml(replace(settings, crawl=crawl)), encoding="utf-8")
    _, register_cost = _usage_of(["register", str(dataset.works_dir), "--owner", "bench", "--home", str(home)])
    server, url = serve(write_site(dataset))
    try:
        scan_out, scan_cost = _usage_of(["scan", "--site", url, "--allow-private", "--home", str(home), "--json"])
    finally:
        server.shutdown()
    rows = json.loads(_cli(["matches", "--format", "json", "--home", str(home)]))
    predictions, decisions = [], {}
    for row in rows:
        query = Path(urlsplit(row["image_url"]).path).name
        work = Path(row["asset_filename"]).stem
        predictions.append((query, work, float(row["score"])))
        decisions[(query, work)] = row["decision"]
    return {"predictions": predictions, "decisions": decisions, "scan": json.loads(scan_out),
            "register_cost": register_cost, "scan_cost": scan_cost,
            "match_threshold": settings.match.match_threshold, "review_threshold": settings.match.review_threshold}


def _split(predictions, names: set[str]):
    return [p for p in predictions if p[0] in names]


def evaluate(dataset: Dataset, predictions: list, tune_precision: float = 0.99,
             fixed_threshold: float | None = None) -> dict:
    """Metrics of one method: overall, on the tune and holdout halves, per family, on negatives.

    The operating threshold is `fixed_threshold` (the product's own) or else the lowest threshold
    reaching `tune_precision` on the tune half (a peer's best threshold, chosen without the holdout).
    """
    truth = {(q.name, q.work) for q in dataset.queries if q.work}
    sides = {side: {q.name for q in dataset.queries if q.split == side} for side in ("tune", "holdout")}
    negatives = {q.name for q in dataset.queries if q.work is None}
    out = {}
    for label, names in (("all", None), ("tune", sides["tune"]), ("holdout", sides["holdout"])):
        preds = predictions if names is None else _split(predictions, names)
        side_truth = truth if names is None else {t for t in truth if t[0] in names}
        c = metrics.curve(preds, side_truth)
        out[label] = {"micro_ap": metrics.micro_ap(c),
                      **{f"recall_at_p{p}": metrics.operating_point(c, p) for p in PRECISIONS}}
    threshold = fixed_threshold
    if threshold is None:
        tune_truth = {t for t in truth if t[0] in sides["tune"]}
        point = metrics.operating_point(metrics.curve(_split(predictions, sides["tune"]), tune_truth), tune_precision)
        threshold = point[0] if point else float("inf")
    families = {}
    for q in dataset.queries:
        if q.work:
            families.setdefault(q.family, set()).add((q.name, q.work))
            families.setdefault(f"{q.family}/{q.transform}", set()).add((q.name, q.work))
    out["threshold"] = threshold
    out["family_recall"] = metrics.family_recall(predictions, families, threshold)
    out["holdout_at_threshold"] = metrics.at_threshold(
        _split(predictions, sides["holdout"]), {t for t in truth if t[0] in sides["holdout"]}, threshold)
    out["negative_queries"] = len(negatives)
    out["negatives_hit"] = metrics.negative_hits(predictions, negatives, threshold)
    out["same_scene_hits"] = sorted({f"{q} -> {w} ({s})" for q, w, s in predictions
                                     if "basketball-court1-b" in q and s >= threshold})
    return out


def calibrate(dataset: Dataset, predictions: list, target: float = 0.999) -> dict:
    """The score threshold reaching precision >= target on the tune half, checked on the holdout half."""
    truth = {(q.name, q.work) for q in dataset.queries if q.work}
    result = {"target_precision": target}
    tune = {q.name for q in dataset.queries if q.split == "tune"}
    holdout = {q.name for q in dataset.queries if q.split == "holdout"}
    point = metrics.operating_point(metrics.curve(_split(predictions, tune), {t for t in truth if t[0] in tune}), target)
    result["tune_point"] = point
    if point:
        result["holdout"] = metrics.at_threshold(_split(predictions, holdout),
                                                 {t for t in truth if t[0] in holdout}, point[0])
    return result


def run(dataset: Dataset, workdir: Path, clip_spec: str) -> dict:
    clock = time.perf_counter()
    product = run_copyhound(dataset, workdir)
    product_seconds = time.perf_counter() - clock
    results = {"copyhound": evaluate(dataset, product["predictions"], fixed_threshold=product["match_threshold"])}
    results["copyhound_calibration"] = calibrate(dataset, product["predictions"])
    results["copyhound_run"] = {k: product[k] for k in ("scan", "register_cost", "scan_cost", "match_threshold",
                                                       "review_threshold")}
    results["copyhound_run"]["seconds"] = product_seconds
    results["copyhound_run"]["review_only"] = sum(d == "review" for d in product["decisions"].values())

    works = load_images(dataset.works_dir, [f"{w}.jpg" for w in dataset.works])
    works = {Path(name).stem: im for name, im in works.items()}
    queries = load_images(dataset.queries_dir, [q.name for q in dataset.queries])
    for name in ("phash", "pdq"):
        results[name] = evaluate(dataset, hash_peer(name, works, queries))
    clip = clip_peer(clip_spec, works, queries)
    results["clip"] = clip if isinstance(clip, str) else evaluate(dataset, clip)
    return results
