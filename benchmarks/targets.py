"""Issue 12's targets against this run's numbers: one table saying, target by target, what was
measured and whether it was met. Nothing is measured here; a target whose part did not run says so."""

from __future__ import annotations

import json
from pathlib import Path

BASELINE = Path(__file__).with_name("BASELINE-0.1.json")
SMALL_FAMILIES = ("hard/screenshot", "small_embedded")


def _yes(met: bool | None) -> str:
    return "n/a" if met is None else ("**yes**" if met else "**no**")


def _detection_rows(r: dict) -> list[list]:
    rows = (r.get("shortlist") or {}).get("detection") or []
    out = []
    for embedder in dict.fromkeys(row["embedder"] for row in rows):
        mine = sorted((row for row in rows if row["embedder"] == embedder), key=lambda row: row["works"])
        small, large = mine[0], mine[-1]
        ratio = large["cpu_ms"] / small["cpu_ms"]
        out.append([(f"detection at {large['works']:,} works at most 2x its cost at {small['works']:,} "
                    f"(CPU per candidate, embedder {embedder})"),
                    f"{ratio:.2f}x ({small['cpu_ms']:.0f} -> {large['cpu_ms']:.0f} ms)", _yes(ratio <= 2)])
        out.append([f"at most 600 ms CPU per candidate at {large['works']:,} works (embedder {embedder})",
                    f"{large['cpu_ms']:.0f} ms ({large['wall_ms']:.0f} ms wall)", _yes(large["cpu_ms"] <= 600)])
    return out


def _memory_row(r: dict) -> list[list]:
    rows = [row for row in (r.get("shortlist") or {}).get("rows", []) if "fast-scan" in row["method"]]
    if not rows:
        return []
    largest = max(rows, key=lambda row: row["works"])
    return [[f"shortlist RAM at most 8 KB per work ({largest['works']:,} works)",
             f"{largest['bytes_per_work']:,.0f} bytes", _yes(largest["bytes_per_work"] <= 8192)]]


def _workers_rows(r: dict) -> list[list]:
    rows = {(row["stage"], row["path"]): row for row in r.get("throughput", {}).get("rows", [])}
    out = []
    scan = rows.get(("scan (images)", "--workers 2"))
    if scan:
        out.append(["`scan --workers 2` at least 1.7x the images/s of `--workers 1`",
                    f"{scan['speedup']:.2f}x ({scan['per_s']:.2f} images/s)", _yes(scan["speedup"] >= 1.7)])
    register = [row for (stage, _), row in rows.items() if stage == "register (works)"]
    if register:
        best = max(register, key=lambda row: row["per_s"])
        out.append(["`register` at least 15 works/s", f"{best['per_s']:.1f} works/s ({best['path']})",
                    _yes(best["per_s"] >= 15)])
    return out


def _quality_rows(r: dict) -> list[list]:
    q = r.get("quality", {}).get("copyhound")
    if not q:
        return []
    recall = q["family_recall"]
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    losses = {name: baseline["family_recall"][name] - value for name, value in recall.items()
              if name in baseline["family_recall"]}
    worst = max(losses, key=losses.get)
    out = [[("no transform family loses more than 0.01 recall at `match` against the 0.1 pipeline "
            f"(its full run, {baseline['works']} works)"),
            f"largest loss {losses[worst]:+.3f} ({worst}: {baseline['family_recall'][worst]:.3f} -> {recall[worst]:.3f})",
            _yes(losses[worst] <= 0.01)]]
    for name in SMALL_FAMILIES:
        if name in recall:
            out.append([f"{name} recall at least 0.95", f"{recall[name]:.3f}", _yes(recall[name] >= 0.95)])
    out.append(["0 false matches on the negatives", f"{q['negatives_hit']} of {q['negative_queries']}",
                _yes(q["negatives_hit"] == 0)])
    return out


def section(r: dict) -> list[str]:
    rows = _detection_rows(r) + _memory_row(r) + _workers_rows(r) + _quality_rows(r)
    if not rows:
        return []
    out = ["## Issue 12's targets", "",
           "Each target against this run's own numbers (the sections below say how each was measured).", "",
           "| target | measured | met |", "|---|---|---|"]
    out += [f"| {target} | {measured} | {met} |" for target, measured, met in rows]
    out.append("")
    return out
