"""Commands that look for copies: scan, scans and the bundled demo."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from detector import config
from detector.cli.common import (
    Format,
    Home,
    app,
    check_format,
    console,
    embedder_of,
    err,
    open_parts,
    progress_bar,
    stage_progress,
)
from detector.errors import UsageError
from detector.output import render
from detector.workspace.store import Store


def _scan_targets(settings: config.Settings, sites: list[str], urls: Path | None, allow_private: bool):
    """Targets named on the command line replace the configured ones for this scan."""
    from detector.config.targets import target_from_site, targets_from_urls_file

    if not sites and urls is None:
        if allow_private:
            return [replace(t, allow_private=True) for t in settings.targets]
        return list(settings.targets)
    targets = [target_from_site(site, allow_private) for site in sites]
    if urls is not None:
        if not urls.is_file():
            raise UsageError(f"--urls {urls}: no such file. Give a text file with one page or image URL per line.")
        targets.append(targets_from_urls_file(urls, allow_private))
    return targets


def _print_scan_summary(summary: dict) -> None:
    from detector.scan import POLICY_REASONS

    crawl = summary.get("crawl", {})
    detect = summary.get("detect", {})
    rows = [
        {"what": "pages fetched", "count": crawl.get("pages_fetched")},
        {"what": "images fetched", "count": crawl.get("images_fetched")},
        {"what": "new candidates", "count": crawl.get("candidates_added")},
        {"what": "images analysed", "count": detect.get("images")},
        {"what": "matches new", "count": detect.get("matches_new")},
        {"what": "matches seen again", "count": detect.get("matches_updated")},
    ]
    rows += [{"what": f"error: {kind}", "count": n} for kind, n in sorted(summary.get("errors", {}).items())]
    rows += [{"what": f"policy: {kind}", "count": n} for kind, n in sorted(crawl.get("refusals", {}).items())
             if kind in POLICY_REASONS]
    rows += [{"what": f"cap reached: {target}", "count": ", ".join(caps)}
             for target, caps in sorted(crawl.get("caps_hit", {}).items())]
    seconds = dict(summary.get("seconds", {}))
    seconds.update({f"detect/{stage}": s for stage, s in detect.get("seconds", {}).items()})
    rows += [{"what": f"seconds: {stage}", "count": s} for stage, s in seconds.items()]
    render(rows, ["what", "count"], "table", console, title=f"Scan {summary['scan_id']}")
    if detect.get("shortlist_sources") and "clip" not in detect["shortlist_sources"]:
        console.print("No embedder configured: works were shortlisted by hashes and local features only.")


@app.command()
def scan(
    site: Annotated[list[str] | None, typer.Option("--site", help="Crawl this site (repeatable).")] = None,
    urls: Annotated[Path | None, typer.Option("--urls", help="File of page or image URLs, one per line.")] = None,
    allow_private: Annotated[bool, typer.Option("--allow-private",
                                                help="Allow loopback/private addresses (tests, intranets).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the last interrupted scan.")] = False,
    no_crawl: Annotated[bool, typer.Option("--no-crawl", help="Only detect on candidates already collected.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                help="Detection processes (default: [detect] workers; 0 there "
                                                     "means one per core).")] = None,
    home: Home = None,
) -> None:
    """Crawl the targets and detect copies of registered works (run it nightly from cron)."""
    from detector.scan import run_scan

    ws, settings, store = open_parts(home)
    targets = [] if no_crawl else _scan_targets(settings, site or [], urls, allow_private)
    embedder = embedder_of(settings)
    with progress_bar() as bar:
        progress = stage_progress(bar)
        summary = run_scan(ws, store, settings, embedder, targets, resume=resume, crawl=not no_crawl,
                           progress=progress, workers=workers)
    if as_json:
        console.out(json.dumps(summary, indent=2, sort_keys=True), highlight=False)
    else:
        _print_scan_summary(summary)
        _print_scan_problems(store, summary["scan_id"])
    if summary.get("errors"):
        raise typer.Exit(1)


def _print_scan_problems(store: Store, scan_id: int, most: int = 20) -> None:
    """Each failed fetch and undecodable image of the scan, with its reason, on stderr."""
    from detector.scan import POLICY_REASONS

    problems = [(e["url"], e["reason"], e["detail"]) for e in store.crawl_events(scan_id)
                if e["reason"] not in POLICY_REASONS]
    problems += [(c["image_url"], c["refusal_reason"], c["refusal_detail"])
                 for c in store.candidates("scan_id = ? AND state = 'refused'", [scan_id])]
    for url, reason, detail in problems[:most]:
        err.print(f"{reason}: {url}: {detail}", highlight=False, markup=False, soft_wrap=True)
    if len(problems) > most:
        err.print(f"... and {len(problems) - most} more (table crawl_events and refused candidates of scan {scan_id}).")


@app.command()
def scans(limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
          fmt: Format = "table", home: Home = None) -> None:
    """List scans with their status and summary."""
    check_format(fmt)
    _, _, store = open_parts(home)
    rows = store.scans(limit=limit)
    for row in rows:
        detect = row["summary"].get("detect", {})
        row["matches_new"] = detect.get("matches_new")
        row["errors"] = sum(row["summary"].get("errors", {}).values())
    render(rows, ["id", "started_at", "finished_at", "status", "matches_new", "errors"], fmt, console, title="Scans")


@app.command()
def demo(home: Annotated[Path | None, typer.Option(
        "--home", help="Workspace for the demo (default: a new temporary folder).")] = None) -> None:
    """Run the whole job on the bundled example: register works, crawl a demo site, show the matches."""
    import tempfile

    from detector.demo import run_demo

    home = home or Path(tempfile.mkdtemp(prefix="copyhound-demo-"))
    console.print(f"Demo workspace: {home}")
    with progress_bar() as bar:
        progress = stage_progress(bar)
        result = run_demo(home, progress)
    if result.embedder_note:
        console.print(result.embedder_note, highlight=False)
    _print_scan_summary(result.summary)
    store = Store(result.workspace.db_path)
    render(store.matches(), ["id", "asset_filename", "image_url", "page_url", "score", "decision"], "table",
           console, title="Matches found on the demo site")
    total = len(result.found) + len(result.missed)
    console.print(f"{len(result.found)} of {total} copies found; {len(result.wrong)} wrong matches.")
    for line in result.missed:
        console.print(f"missed: {line}", highlight=False)
    for line in result.wrong:
        console.print(f"wrong: {line}", highlight=False)
    for path in result.evidence:
        console.print(f"wrote {path}", highlight=False)
    console.print(f"Explore it: copyhound matches --home {home}", highlight=False)
    if result.missed or result.wrong:
        raise typer.Exit(1)
