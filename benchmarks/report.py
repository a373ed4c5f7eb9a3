"""RESULTS.md from one run's results: every table the issue asks for, with the machine and command."""

from __future__ import annotations

from collections import Counter

from benchmarks import hard_copies


def _f(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _point(point) -> str:
    return "none reaches it" if not point else f"{point[1]:.3f} (at score >= {point[0]:.4g})"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(_f(c) for c in row) + " |" for row in rows]


def quality_section(r: dict, dataset: dict) -> list[str]:
    q = r["quality"]
    run = q["copyhound_run"]
    families = Counter(f for f in dataset["families"])
    out = ["## Quality", "",
           (f"Set: {dataset['works']} registered works, {dataset['negatives']} unregistered photos; "
           f"{dataset['queries']} queries ({', '.join(f'{k}: {v}' for k, v in sorted(families.items()))}). "
           f"Photos are split by seed {r['seed']} into a tune half and a holdout half; thresholds are "
           "chosen on tune queries and confirmed on holdout ones. `basketball-court1-a` is registered and "
           "`basketball-court1-b` (another photo of the same court) is a negative."), "",
           ("copyhound ran end to end through its CLI: `init --embedder none` (no model weights can be "
           "downloaded here), `register`, the queries served as a website on 127.0.0.1, `scan --site "
           "--allow-private`, `matches --format json`. Only recorded pairs (score >= the review threshold "
           f"{run['review_threshold']}) are predictions. Peers score every (query, work) pair; each peer's "
           "threshold is the lowest reaching precision 0.99 on the tune half."), ""]
    methods = [("copyhound (embedder none)", q["copyhound"]), ("pHash alone", q["phash"]), ("PDQ alone", q["pdq"])]
    if isinstance(q["clip"], dict):
        methods.append(("CLIP NN alone", q["clip"]))
    rows = []
    for label, m in methods:
        rows.append([label, m["all"]["micro_ap"], _point(m["all"]["recall_at_p0.99"]),
                     _point(m["all"]["recall_at_p0.999"]), m["holdout"]["micro_ap"],
                     f"{m['negatives_hit']} of {m['negative_queries']}"])
    out += _table(["method", "micro-AP (all)", "recall @ P>=0.99", "recall @ P>=0.999", "micro-AP (holdout)",
                   "negatives hit at its threshold"], rows)
    if isinstance(q["clip"], str):
        out += ["", f"CLIP nearest neighbour alone: {q['clip']}."]
    out += ["", "### Recall per family at each method's operating threshold", "",
            ("copyhound: its own `match` decision (score >= match_threshold "
            f"{run['match_threshold']}); peers: their tune-chosen threshold (shown)."), ""]
    names = sorted(q["copyhound"]["family_recall"], key=lambda k: ("/" in k, k))
    header = ["family / transform"] + [f"{label} (>= {m['threshold']:.4g})" for label, m in methods]
    out += _table(header, [[name] + [m["family_recall"][name] for _, m in methods] for name in names])
    c = q["copyhound"]
    out += ["", "### False positives", "",
            (f"- copyhound: {c['negatives_hit']} of {c['negative_queries']} negative queries matched a work at "
            f"`match`; {run['review_only']} recorded pairs in all were `review` only. Holdout at "
            f"{run['match_threshold']}: {c['holdout_at_threshold']['false_pos']} false of "
            f"{c['holdout_at_threshold']['kept']} kept."),
            "- Same scene, different photo (basketball-court1-b against the registered court1-a): "
            + ("; ".join(f"{label}: {', '.join(m['same_scene_hits']) or 'no hit'}" for label, m in methods)) + ".",
            ""]
    cal = q["copyhound_calibration"]
    out += ["### Calibration of copyhound's score", ""]
    if cal.get("tune_point"):
        t, recall = cal["tune_point"]
        h = cal["holdout"]
        out += [(f"On the tune half the most recall any threshold reaches at precision >= {cal['target_precision']} "
                f"is {recall:.3f}; the highest threshold that still reaches it is **{t:.4g}** (lower thresholds "
                f"down to the next recorded score give the same). On the holdout half that threshold keeps "
                f"{h['kept']} pairs: precision {h['precision']:.4f}, recall {h['recall']:.3f}, "
                f"{h['false_pos']} false positives.")]
    else:
        out += [f"No threshold reaches precision >= {cal['target_precision']} on the tune half."]
    out += ["", (f"End-to-end cost of the scan (crawl + detect, {dataset['queries']} images, one process): "
            f"{run['scan_cost']['wall_s']:.1f} s wall, {run['scan_cost']['cpu_s']:.1f} s CPU "
            f"({1000 * run['scan_cost']['cpu_s'] / dataset['queries']:.0f} ms CPU per image), peak RSS "
            f"{run['scan_cost']['peak_rss_mb']:.0f} MB. Register of {dataset['works']} works: "
            f"{run['register_cost']['wall_s']:.1f} s wall, peak RSS {run['register_cost']['peak_rss_mb']:.0f} MB. "
            f"Scan's own stage clocks (s): {run['scan']['detect']['seconds']}."), ""]
    return out


def throughput_section(r: dict) -> list[str]:
    t = r["throughput"]
    out = ["## Throughput and cost per stage", "",
           ("One process, 2 threads where a library uses threads. ms and CPU ms are per image; CPU time counts "
           "all threads. Stage rows come from `Detector.analyse`'s own clocks on the quality run's workspace "
           "(hash and feature stages work on the image and its mirror); their CPU share is apportioned from "
           "the whole call."), ""]
    out += _table(["stage", "path", "images", "images/s", "ms", "CPU ms", "note"],
                  [[row["stage"], row["path"], row["images"], row["per_s"], row["ms_per_image"],
                    row["cpu_ms_per_image"], row["note"]] for row in t["rows"]])
    e = t["embedder_info"]
    out += ["", "### ONNX embedder against torch eager (ViT-B-32, random weights)", "",
            ("No CLIP weights can be downloaded here; speed does not depend on weight values, so the real "
            "ViT-B-32 architecture ran with random weights. Agreement is the cosine between torch and ONNX "
            "embeddings of the same images, measured on those random weights "
            f"(for scale: two different photos have mean cosine {e['torch_pairwise_cosine_mean']:.3f} under "
            "these weights)."), ""]
    out += _table(["export", "file MB", "export s", "cosine to torch: min", "mean", "images"],
                  [[label, e[f"size_{label}_mb"], e[f"export_{label}_s"], f"{e[f'agreement_onnx {label}']['min']:.6f}",
                    f"{e[f'agreement_onnx {label}']['mean']:.6f}", e[f"agreement_onnx {label}"]["images"]]
                   for label in ("fp32", "int8")])
    out.append("")
    return out


def scale_section(r: dict) -> list[str]:
    s = r["scale"]
    out = ["## Index scale", ""]
    if "command" in s:  # re-measured on its own (--only scale) after the run above
        m = s["machine"]
        out += [(f"Measured separately: `{s['command']}` on {s['date']} (UTC), seed {s['seed']}, {s['seconds']:.0f} s, "
                f"{m['cpu']}, {m['cores']} cores, faiss-cpu {m['libraries'].get('faiss-cpu')}."), ""]
    threads = s.get("faiss_threads")
    out += ["Synthetic unit vectors, dim 512, isotropic random directions (the hardest case for approximate "
            "indexes); each query is a stored vector plus noise (cosine to its source about 0.86). Latency: "
            "one query at a time, k = 10" + (f", FAISS limited to {threads} thread(s) as `index.threads` "
                                            "limits a workspace" if threads else "") + ". recall@1 and "
            "recall@10 are against exact (Flat) search of the same queries; the exact nearest neighbour is the "
            "query's source, so recall@1 is how often the copy's work comes back first, while the 2nd..10th exact "
            "neighbours are near-ties of random vectors and recall@10 mostly measures how finely those are "
            "ordered. Search parameters marked (default) are VectorIndex's own when `index.search_params` is "
            "empty; the others are set on the same build for comparison (FAISS's own defaults are efSearch=16 "
            "and nprobe=1).", ""]
    out += _table(["works", "factory", "search params", "build s", "bytes/work", "p50 ms", "p99 ms", "recall@1",
                   "recall@10", "source in top 10"],
                  [[row["works"], row["factory"], _params(row), row["build_s"], row["bytes_per_work"], row["p50_ms"],
                    row["p99_ms"], row.get("recall_at_1", "-"), row["recall_at_10"], row["source_in_top10"]]
                   for row in s["vectors"]])
    out += ["", f"Skipped: {s['skipped']}", "", "### PDQ (256-bit) Hamming range search, radius 31", "",
            "Random codes; queries are stored codes with 0-40 bits flipped. Recall is against the exact index."]
    out += [""] + _table(["works", "index", "build s", "bytes/work", "p50 ms", "p99 ms", "recall",
                          "queries with a hit"],
                         [[row["works"], row["index"], row["build_s"], row["bytes_per_work"], row["p50_ms"],
                           row["p99_ms"], row["recall"], row["queries_with_hits"]] for row in s["binary"]])
    out.append("")
    return out


def shortlist_section(r: dict) -> list[str]:
    s = r.get("shortlist")
    if not s:
        return []
    m = s["machine"]
    out = ["## Local-feature shortlist at catalogue scale", "",
           (f"Measured by `{s['command']}` on {s['date']} (UTC), seed {s['seed']}, "
            + (f"{s['seconds']:.0f} s, " if s.get("seconds") else "") + f"{m['cpu']}, "
            f"{m['cores']} cores, FAISS on 1 thread. {s['true_works']} true works (real RootSIFT, {s['per_work']} "
            f"descriptors each) and {s['queries']} of their transformed copies; distractor works up to each size are "
            f"{s['per_work']} real descriptors each, drawn from the other photos and their variants "
            f"({s['pool_descriptors']} descriptors) and moved by Gaussian noise (sigma {s['noise']}). Recall: the true "
            "work is on the shortlist (top 5 by votes, image or mirror, at least 6 votes). Cost: the votes of one "
            "candidate (image and mirror). The exhaustive methods ran on every 4th candidate; 'recall, same subset' "
            "compares every method on those."), ""]
    out += _table(["works", "method", "lists", "recall", "recall, same subset", "CPU ms", "wall ms", "p99 wall ms",
                   "bytes/work", "build s"],
                  [[row["works"], row["method"], row["lists"], row["recall"], row["recall_subset"], row["cpu_ms"],
                    row["wall_ms"], row["p99_wall_ms"], round(row["bytes_per_work"]), row["build_s"]]
                   for row in s["rows"]])
    detailed = [row for row in s["rows"] if row.get("recall_per_transform")]
    transforms = sorted({t for row in detailed for t in row["recall_per_transform"]})
    if detailed:
        out += ["", "Recall per transform:", ""]
        out += _table(["works", "method"] + transforms,
                      [[row["works"], row["method"]] + [row["recall_per_transform"].get(t) for t in transforms]
                       for row in detailed])
    out.append("")
    return out


def _params(row: dict) -> str:
    if "search_params" not in row:
        return "FAISS defaults"
    text = row["search_params"] or "none (exact)"
    return f"{text} (default)" if row["default_params"] and row["search_params"] else text


def render(r: dict, dataset: dict) -> str:
    m = r["machine"]
    lines = ["# copyhound benchmark results", "",
             ("Generated by `benchmarks/run.py`; do not edit by hand. See docs/benchmarks.md for what each "
             "number means and how to reproduce it."), "",
             f"- Command: `{r['command']}` ({'quick' if r['quick'] else 'full'} run)",
             f"- Date (UTC): {r['date']}; seed {r['seed']}; total {r['seconds']:.0f} s",
             f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, {m['os']}, Python {m['python']}",
             "- Libraries: " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()),
             f"- Photos: {r['photos']}", ""]
    lines += quality_section(r, dataset) + throughput_section(r) + scale_section(r) + shortlist_section(r)
    if "hard" in r:  # reports written before this part existed have none
        lines += hard_copies.render(r["hard"])
    return "\n".join(lines) + "\n"
