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
    Limit,
    Offset,
    Wide,
    app,
    check_format,
    console,
    embedder_of,
    err,
    open_parts,
    page_title,
    progress_bar,
    row_limit,
    stage_progress,
)
from detector.errors import UsageError
from detector.output import render
from detector.suggest import runnable
from detector.workspace.store import Store, open_store


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


def _scan_sources(ws, store: Store, settings: config.Settings, names: list[str] | None, named_targets: bool):
    """The sources a scan runs: those named with --source, else (unless --site or --urls chose what to crawl)
    the configured ones that are due."""
    from datetime import UTC, datetime

    from detector.sources import configured
    from detector.sources.run import due

    if names:
        return configured(settings.sources, names, ws)
    if named_targets:
        return []
    now = datetime.now(UTC)
    return [s for s in configured(settings.sources, ws=ws) if due(store, s, now)]


def _print_scan_summary(summary: dict, verbose: bool = False) -> None:
    """What a photographer needs (pages, images, copies found, problems); `verbose` adds the pipeline's
    own counts and each stage's time."""
    from detector.scan import POLICY_REASONS

    crawl = summary.get("crawl", {})
    detect = summary.get("detect", {})
    rows = [
        {"what": "pages visited", "count": crawl.get("pages_fetched")},
        {"what": "images checked", "count": detect.get("images")},
        {"what": "images known to copy nothing (not decoded again)", "count": detect.get("reused")},
        {"what": "copies found (new)", "count": detect.get("matches_new")},
        {"what": "copies seen again", "count": detect.get("matches_updated")},
    ]
    if verbose:
        rows[1:1] = [{"what": "images fetched", "count": crawl.get("images_fetched")},
                     {"what": "new candidates", "count": crawl.get("candidates_added")}]
    presence = summary.get("followup", {}).get("presence", {})
    rows += [{"what": f"copies {state}", "count": presence[state]}
             for state in ("up", "changed", "removed", "unreachable") if state in presence]
    if summary.get("followup", {}).get("removed_now"):
        rows.append({"what": "copies taken down since the last scan", "count": len(summary["followup"]["removed_now"])})
    if "bounced" in summary:
        rows.append({"what": "e-mails newly bounced", "count": summary["bounced"]})
    rows += [{"what": f"leads from {name}", "count": part["leads"]} for name, part in
             sorted(summary.get("sources", {}).items())]
    rows += [{"what": f"source problem: {name}", "count": len(part["problems"])} for name, part in
             sorted(summary.get("sources", {}).items()) if part["problems"]]
    rows += [{"what": f"error: {kind}", "count": n} for kind, n in sorted(summary.get("errors", {}).items())]
    rows += [{"what": f"policy: {kind}", "count": n} for kind, n in sorted(crawl.get("refusals", {}).items())
             if kind in POLICY_REASONS]
    rows += [{"what": f"cap reached: {target}", "count": ", ".join(caps)}
             for target, caps in sorted(crawl.get("caps_hit", {}).items())]
    if verbose:
        seconds = dict(summary.get("seconds", {}))
        seconds.update({f"detect/{stage}": s for stage, s in detect.get("seconds", {}).items()})
        rows += [{"what": f"seconds: {stage}", "count": s} for stage, s in seconds.items()]
    render(rows, ["what", "count"], "table", console, title=f"Scan {summary['scan_id']}")
    if detect.get("shortlist_sources") and "clip" not in detect["shortlist_sources"]:
        console.print("No embedder configured: works were shortlisted by hashes and local features only.")


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also the pipeline's own counts and each stage's time.")]


@app.command()
def scan(
    site: Annotated[list[str] | None, typer.Option("--site", help="Crawl this site (repeatable).")] = None,
    urls: Annotated[Path | None, typer.Option("--urls", help="File of page or image URLs, one per line.")] = None,
    source: Annotated[list[str] | None, typer.Option(
        "--source", help="Run this [[sources]] entry of config.toml now, due or not (repeatable). With --site, "
                         "--urls or --source only what they name runs; without, the [[targets]] and the due "
                         "[[sources]].")] = None,
    warc: Annotated[list[Path] | None, typer.Option(
        "--warc", help="Scan these WARC or WAT files (repeatable) instead of crawling: offline, each page and "
                       "image captured in them is a candidate with its capture as provenance; with --distributed, "
                       "one task per file on the workers.")] = None,
    allow_private: Annotated[bool, typer.Option("--allow-private",
                                                help="Allow loopback/private addresses (tests, intranets).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the last interrupted scan.")] = False,
    no_crawl: Annotated[bool, typer.Option("--no-crawl", help="Only detect on candidates already collected.")] = False,
    fmt: Format = "table",
    as_json: Annotated[bool, typer.Option("--json", hidden=True, help="Same as --format json.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                help="Detection processes (default: the detect.workers setting; 0 there "
                                                     "means one per core).")] = None,
    distributed: Annotated[bool, typer.Option(
        "--distributed", help="Detect in `copyhound worker` processes (any machines) through the workspace's Redis "
                              "queue, instead of in this one, and crawl on the Redis frontier that "
                              "`copyhound crawler` processes on other machines may join.")] = False,
    crawlers: Annotated[int, typer.Option("--crawlers", min=1,
                                          help="With --distributed: crawler processes this machine runs on the "
                                               "shared frontier.")] = 1,
    reanalyse: Annotated[bool, typer.Option(
        "--reanalyse", help="Analyse every image afresh, even one an earlier scan found copying nothing with the "
                            "same works, settings and software (those are otherwise recorded from that analysis, "
                            "without decoding).")] = False,
    verbose: Verbose = False,
    home: Home = None,
) -> None:
    """Crawl the targets and detect copies of registered works (run it nightly from cron)."""
    from detector.scan import run_scan

    fmt = "json" if as_json else check_format(fmt)
    if fmt == "csv":
        raise UsageError("--format csv does not fit a scan summary (nested counts); use table or json.")
    if crawlers > 1 and not distributed:
        raise UsageError("--crawlers shares a scan's crawl among processes through Redis; add --distributed "
                         "(and set [distributed] redis_url with `copyhound init --redis URL`).")
    ws, settings, store = open_parts(home)
    if warc and (site or urls or source or no_crawl):
        raise UsageError("--warc reads files instead of crawling; give it without --site, --urls, --source or "
                         "--no-crawl.")
    targets = [] if no_crawl or warc or (source and not site and urls is None) else _scan_targets(
        settings, site or [], urls, allow_private)
    sources = [] if no_crawl or warc else _scan_sources(ws, store, settings, source, bool(site or urls))
    embedder = embedder_of(settings)
    with progress_bar() as bar:
        progress = stage_progress(bar)
        summary = run_scan(ws, store, settings, embedder, targets, resume=resume, crawl=not no_crawl,
                           progress=progress, workers=workers, distributed=distributed,
                           crawlers=crawlers, sources=sources, warcs=warc or [], reanalyse=reanalyse)
    if settings.smtp.bounce_maildir:
        from detector.enforcement import bounces

        summary = dict(summary, bounced=len(bounces.check(ws, store, settings.smtp)))
    steps = None
    if settings.enforcement.run_after_scan:
        from datetime import UTC, datetime

        from detector.enforcement.run import enforce
        from detector.errors import WorkspaceLocked

        try:
            steps = enforce(ws, store, settings, datetime.now(UTC), dry_run=False)
        except WorkspaceLocked as e:  # the scan is done and kept; the running enforce covers its matches
            summary = dict(summary, enforcement_skipped=str(e))
            err.print(f"Enforcement skipped: {e}", highlight=False)
    if fmt == "json":
        if steps is not None:
            summary = dict(summary, enforcement=[s.as_dict() for s in steps])
        console.out(json.dumps(summary, indent=2, sort_keys=True), highlight=False)
    else:
        _print_scan_summary(summary, verbose)
        for name, part in sorted(summary.get("sources", {}).items()):
            for problem in part["problems"]:
                err.print(f"source {name}: {problem}", highlight=False, markup=False, soft_wrap=True)
        _print_scan_problems(store, summary["scan_id"], set(summary.get("followup", {}).get("explained_events", [])))
        if steps is not None:
            from detector.cli.enforcement import print_steps

            print_steps(steps, "table", dry_run=False)
    if settings.provenance.checkpoint_after_scan:
        from detector.cli.provenance import checkpoint_if_due

        checkpoint_if_due(ws, settings, store)
    if summary.get("errors"):
        raise typer.Exit(1)


def _print_scan_problems(store: Store, scan_id: int, removals: set[int], most: int = 20) -> None:
    """Each failed fetch and undecodable image of the scan, with its reason, on stderr; fetch
    failures that show a copy was taken down (`removals`, event ids) are not problems."""
    from detector.scan import POLICY_REASONS

    problems = [(e["url"], e["reason"], e["detail"]) for e in store.crawl_events(scan_id)
                if e["reason"] not in POLICY_REASONS and e["id"] not in removals]
    problems += [(c["image_url"], c["refusal_reason"], c["refusal_detail"])
                 for c in store.candidates("scan_id = ? AND state IN ('refused', 'failed')", [scan_id])]
    for url, reason, detail in problems[:most]:
        err.print(f"{reason}: {url}: {detail}", highlight=False, markup=False, soft_wrap=True)
    if len(problems) > most:
        err.print(f"... and {len(problems) - most} more.", highlight=False)
    if store.crawl_events(scan_id) or problems:
        err.print(f"Every refused URL with its reason, policy refusals included: copyhound refused {scan_id}",
                  highlight=False)


@app.command()
def scans(limit: Limit = None, offset: Offset = 0, wide: Wide = False,
          fmt: Format = "table", home: Home = None) -> None:
    """List scans, newest first, with their status and summary."""
    check_format(fmt)
    _, _, store = open_parts(home)
    rows = store.scans_page(row_limit(limit, fmt), offset)
    for row in rows:
        detect = row["summary"].get("detect", {})
        row["matches_new"] = detect.get("matches_new")
        row["errors"] = sum(row["summary"].get("errors", {}).values())
    render(rows, ["id", "started_at", "finished_at", "status", "matches_new", "errors"], fmt, console,
           title=page_title("Scans", rows, store.count_scans(), offset), wide=wide)


@app.command()
def demo(home: Annotated[Path | None, typer.Option(
        "--home", help="Workspace for the demo (default: a new temporary folder).")] = None,
        distributed: Annotated[bool, typer.Option(
            "--distributed", help="Crawl on the workspace's Redis frontier and detect in its `copyhound worker` "
                                  "processes (make the workspace first with `init --redis`; docs/scale.md).")] = False,
        crawlers: Annotated[int, typer.Option("--crawlers", min=1,
                                              help="With --distributed: crawler processes sharing the frontier.")] = 1,
        verbose: Verbose = False,
) -> None:
    """Run the whole job on the bundled example: register works, crawl a demo site, show the matches."""
    import tempfile

    from detector.demo import run_demo

    home = home or Path(tempfile.mkdtemp(prefix="copyhound-demo-"))
    console.print(f"Demo workspace: {home}")
    with progress_bar() as bar:
        progress = stage_progress(bar)
        result = run_demo(home, progress, distributed=distributed, crawlers=crawlers)
    if result.embedder_note:
        console.print(result.embedder_note, highlight=False)
    _print_scan_summary(result.summary, verbose)
    store = open_store(result.workspace)
    render(store.matches(), ["id", "asset_filename", "image_url", "page_url", "score", "decision"], "table",
           console, title="Copies found on the demo site", short=["id", "asset_filename", "image_url", "score",
                                                                   "decision"])
    total = len(result.found) + len(result.missed)
    console.print(f"{len(result.found)} of {total} copies found; {len(result.wrong)} wrong matches.")
    for line in result.missed:
        console.print(f"missed: {line}", highlight=False)
    for line in result.wrong:
        console.print(f"wrong: {line}", highlight=False)
    for name, why in sorted(result.held.items()):
        console.print(f"{name}: {why}", highlight=False)
    for name in result.unheld:
        console.print(f"not held: {name} credits a licence, but the licence check did not hold it", highlight=False)
    for path in result.evidence:
        console.print(f"wrote {path}", highlight=False)
    console.print(f"\nNext, the portal in three steps:\n"
                  f"  1. {runnable('serve', '--home', home)}\n"
                  f"  2. open http://127.0.0.1:8000/ and sign in with this token:\n"
                  f"     {result.token}\n"
                  f"  3. look at the matches, their reports and the offer; the offer as its recipient sees it:",
                  highlight=False, soft_wrap=True)
    if result.offer_page:
        console.print(f"offer page: {result.offer_page}", highlight=False, soft_wrap=True)
    console.print(f"In this terminal: {runnable('matches', '--home', home)} (and `--help` for every command).",
                  highlight=False, soft_wrap=True)
    if result.missed or result.wrong or result.unheld:
        raise typer.Exit(1)
