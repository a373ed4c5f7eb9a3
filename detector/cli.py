"""The `copyhound` command line: one group, verbs as commands.

Exit codes: 0 ok; 1 finished, but some inputs failed (each is listed with its reason);
2 usage or configuration error; 3 locked by another run, or an external dependency
(model weights) unavailable. Core code raises small named exceptions; `main` turns each into
one line on stderr.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from detector import config, indexes
from detector.embedding import load_embedder, parse_spec
from detector.errors import CopyhoundError, UsageError
from detector.output import FORMATS, render
from detector.store import Store
from detector.workspace import create_workspace, open_workspace

app = typer.Typer(
    help="copyhound: find unauthorized copies of your images on the web and act on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

Home = Annotated[
    Optional[Path],
    typer.Option("--home", help="Workspace folder (default: $COPYHOUND_HOME, else ./copyhound-data)."),
]
Format = Annotated[str, typer.Option("--format", help="Output format: table, json or csv.")]


def main() -> None:
    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit raised by a command
    except CopyhoundError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(2)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not known; use one of: {', '.join(FORMATS)}.")
    return fmt


def _open(home: Path | None):
    ws = open_workspace(home)
    return ws, ws.settings(), Store(ws.db_path)


def _embedder(settings: config.Settings):
    e = settings.embedder
    return load_embedder(e.spec, e.batch_size, e.torch_threads)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def stage_progress(bar: Progress):
    """A `progress(stage, done, total)` callback that keeps one bar per stage (crawl, detect)."""
    tasks: dict[str, int] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return progress


@app.command()
def init(
    home: Home = None,
    embedder: Annotated[str, typer.Option(help="Embedder spec: clip:MODEL/TAG, clip:MODEL@PATH or none.")] = (
        config.EmbedderSettings().spec
    ),
) -> None:
    """Create a workspace: database, blob store, index folder, keys and config.toml."""
    parse_spec(embedder)  # refuse a malformed spec before anything is written
    ws, created = create_workspace(home, config.Settings().with_embedder(embedder))
    Store(ws.db_path).close()
    from detector.signing import ensure_keypair

    ensure_keypair(ws)
    verb = "Created" if created else "Workspace already exists at"
    console.print(f"{verb} {ws.home}")
    console.print(f"Configuration: {ws.config_path} (embedder: {ws.settings().embedder.spec})")


@app.command()
def register(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    owner: Annotated[str, typer.Option(help="Rights holder the works belong to.")] = "default",
    title: Annotated[Optional[str], typer.Option(help="Title (default: the file name).")] = None,
    creator: Annotated[Optional[str], typer.Option(help="Creator (default: from the file's metadata).")] = None,
    license_url: Annotated[Optional[str], typer.Option(help="Licence or rights URL.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    home: Home = None,
) -> None:
    """Register image files as works: fingerprint them and add them to the index."""
    from detector.register import WorkInfo, image_paths, register_files

    ws, settings, store = _open(home)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"No such file or folder: {', '.join(missing)}. Check the path(s).")
    files = image_paths(paths, recursive)
    embedder = _embedder(settings)
    with progress_bar() as bar:
        task = bar.add_task("registering", total=len(files))
        outcomes = register_files(ws, store, settings, embedder, files,
                                  WorkInfo(owner, title, creator, license_url),
                                  progress=lambda _: bar.advance(task))
    counts = {s: sum(o.status == s for o in outcomes) for s in ("registered", "already", "refused")}
    for o in outcomes:
        if o.status == "already":
            console.print(f"{o.path}: {o.detail}", highlight=False)
        elif o.status == "refused":
            err.print(f"refused {o.path} ({o.reason}): {o.detail}", highlight=False, markup=False)
    console.print(f"{counts['registered']} registered, {counts['already']} already registered, "
                  f"{counts['refused']} refused (of {len(files)} files).")
    if counts["refused"]:
        raise typer.Exit(1)


@app.command()
def assets(owner: Annotated[Optional[str], typer.Option(help="Only this owner's works.")] = None,
           fmt: Format = "table", home: Home = None) -> None:
    """List registered works."""
    _check_format(fmt)
    _, _, store = _open(home)
    rows = store.assets("owners.name = ?", [owner]) if owner else store.assets()
    render(rows, ["id", "owner", "filename", "title", "creator", "width", "height", "sha256"], fmt, console,
           title="Registered works")


@app.command()
def reindex(home: Home = None) -> None:
    """Re-embed every work with the configured embedder and rebuild the index files."""
    from detector.reindex import reembed

    ws, settings, store = _open(home)
    embedder = _embedder(settings)
    with progress_bar() as bar:
        task = bar.add_task("re-embedding", total=len(store.assets()))
        reembed(ws, store, settings, embedder, progress=lambda n: bar.advance(task, n))
    rebuilt = indexes.rebuild(ws, store, embedder, settings.index)
    console.print(f"Rebuilt {', '.join(rebuilt.rebuilt)} for {len(store.assets())} works "
                  f"(embedder: {embedder.id if embedder else 'none'}).")


# -- scanning and matches --------------------------------------------------------------------


def _scan_targets(settings: config.Settings, sites: list[str], urls: Path | None, allow_private: bool):
    """Targets named on the command line replace the configured ones for this scan."""
    from crawlers.targets import target_from_site, targets_from_urls_file

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
    site: Annotated[Optional[list[str]], typer.Option("--site", help="Crawl this site (repeatable).")] = None,
    urls: Annotated[Optional[Path], typer.Option("--urls", help="File of page or image URLs, one per line.")] = None,
    allow_private: Annotated[bool, typer.Option("--allow-private",
                                                help="Allow loopback/private addresses (tests, intranets).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the last interrupted scan.")] = False,
    no_crawl: Annotated[bool, typer.Option("--no-crawl", help="Only detect on candidates already collected.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    home: Home = None,
) -> None:
    """Crawl the targets and detect copies of registered works (run it nightly from cron)."""
    from detector.scan import run_scan

    ws, settings, store = _open(home)
    targets = [] if no_crawl else _scan_targets(settings, site or [], urls, allow_private)
    embedder = _embedder(settings)
    with progress_bar() as bar:
        progress = stage_progress(bar)
        summary = run_scan(ws, store, settings, embedder, targets, resume=resume, crawl=not no_crawl,
                           progress=progress)
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
    _check_format(fmt)
    _, _, store = _open(home)
    rows = store.scans(limit=limit)
    for row in rows:
        detect = row["summary"].get("detect", {})
        row["matches_new"] = detect.get("matches_new")
        row["errors"] = sum(row["summary"].get("errors", {}).values())
    render(rows, ["id", "started_at", "finished_at", "status", "matches_new", "errors"], fmt, console, title="Scans")


@app.command()
def matches(
    owner: Annotated[Optional[str], typer.Option(help="Only this owner's matches.")] = None,
    asset: Annotated[Optional[int], typer.Option(help="Only matches of this asset id.")] = None,
    status: Annotated[Optional[str], typer.Option(help="new, confirmed, rejected or authorized.")] = None,
    decision: Annotated[Optional[str], typer.Option(help="match or review.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Seen on or after this date (YYYY-MM-DD).")] = None,
    min_score: Annotated[Optional[float], typer.Option(help="Lowest score, 0 to 1.")] = None,
    domain: Annotated[Optional[str], typer.Option(help="Only pages on this domain (and its sub-domains).")] = None,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """List matches, filtered; JSON and CSV carry every signal."""
    from detector.store import MatchFilter

    _check_format(fmt)
    _, _, store = _open(home)
    rows, _ = store.find_matches(MatchFilter(owner=owner, asset=asset, status=status, decision=decision,
                                             since=since, min_score=min_score, domain=domain))
    render(rows, ["id", "asset_id", "asset_filename", "owner", "score", "decision", "status", "page_url",
                  "image_url", "sightings", "last_seen"], fmt, console, title="Matches")


@app.command()
def review(
    match_id: Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")],
    confirm: Annotated[bool, typer.Option("--confirm", help="It is an unauthorized copy.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="It is not a copy of the work.")] = False,
    authorized: Annotated[bool, typer.Option("--authorized", help="It is a licensed use.")] = False,
    note: Annotated[Optional[str], typer.Option(help="Why; kept with the match and in the ledger.")] = None,
    home: Home = None,
) -> None:
    """Record a reviewer's decision on a match."""
    from detector.review import review_match

    chosen = [name for name, flag in (("confirmed", confirm), ("rejected", reject), ("authorized", authorized)) if flag]
    if len(chosen) != 1:
        raise UsageError("Give exactly one of --confirm, --reject or --authorized.")
    _, _, store = _open(home)
    row = review_match(store, match_id, chosen[0], note)
    console.print(f"Match {row['id']} ({row['asset_filename']} on {row['page_url']}) is now {row['status']}.",
                  highlight=False)


@app.command()
def authorize(
    pattern: Annotated[str, typer.Argument(help="A domain (example.com, sub-domains included) or a URL prefix.")],
    owner: Annotated[str, typer.Option(help="The owner who licensed this use.")] = "default",
    note: Annotated[Optional[str], typer.Option(help="Licence reference.")] = None,
    home: Home = None,
) -> None:
    """Declare a licensed use: matches on it are recorded as 'authorized' and never get notices or offers."""
    from detector.detect import authorized as is_authorized
    from detector.review import review_match
    from detector.store import MatchFilter

    _, _, store = _open(home)
    row = store.owner_by_name(owner)
    store.add_authorized_use(row["id"], pattern, note)
    # Matches already found there and not yet reviewed are licensed uses too.
    pending, _ = store.find_matches(MatchFilter(owner_id=row["id"], status="new"))
    covered = [m for m in pending if is_authorized(m["page_url"], m["image_url"], [pattern])]
    for match in covered:
        review_match(store, match["id"], "authorized", f"declared licensed use: {pattern}" + (f" ({note})" if note else ""))
    console.print(f"Uses on {pattern} are authorized for {owner}; {len(covered)} unreviewed match(es) there are now "
                  "marked authorized, and matches found there later will be too.", highlight=False)


@app.command()
def demo(home: Annotated[Optional[Path], typer.Option(
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


# -- evidence commands ---------------------------------------------------------------------------

OutDir = Annotated[Optional[Path], typer.Option("--out", help="Folder to write to (default: under the workspace's output/).")]


@app.command()
def report(
    match_id: Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")],
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write a PDF.")] = False,
    out: OutDir = None,
    home: Home = None,
) -> None:
    """Write the evidence report of a match: self-contained HTML (and PDF)."""
    from detector.report import write_report

    ws, settings, store = _open(home)
    for path in write_report(ws, store, settings, match_id, pdf=pdf, out_dir=out):
        console.print(f"Wrote {path}", highlight=False, soft_wrap=True)


@app.command()
def notice(
    match_id: Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")],
    kind: Annotated[str, typer.Option("--kind", help="dmca (17 U.S.C. 512(c)(3)) or dsa (EU DSA Article 16).")],
    out: OutDir = None,
    home: Home = None,
) -> None:
    """Draft a takedown notice for a match, record it and enter it in the ledger."""
    from detector.notices import make_notice

    ws, settings, store = _open(home)
    made = make_notice(ws, store, settings, match_id, kind, out_dir=out)
    console.print(f"Wrote {kind.upper()} notice {made.id} for match {match_id}: {made.path}", highlight=False, soft_wrap=True)


@app.command()
def offer(
    match_id: Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")],
    licence: Annotated[Optional[str], typer.Option(help="Licence type priced in pricing.base_fees (default: pricing.default_licence).")] = None,
    commercial: Annotated[bool, typer.Option("--commercial", help="Price it as commercial use.")] = False,
    out: OutDir = None,
    home: Home = None,
) -> None:
    """Price a licensing offer for a match from the pricing rules in config.toml and write the letter (draft)."""
    from detector.offers import make_offer

    ws, settings, store = _open(home)
    made = make_offer(ws, store, settings, match_id, licence=licence, commercial=commercial, out_dir=out)
    r = made.record
    console.print(f"Offer {r['id']} for match {match_id}: {r['currency']} {r['amount']} ({r['currency']} "
                  f"{r['early_amount']} until {r['discount_until'][:10]}), expires {r['expires_at'][:10]}. "
                  f"Letter: {made.path}", highlight=False, soft_wrap=True)


@app.command("offer-status")
def offer_status(
    offer_id: Annotated[int, typer.Argument(metavar="OFFER", help="Offer id.")],
    status: Annotated[str, typer.Argument(help="sent, accepted, declined or expired.")],
    home: Home = None,
) -> None:
    """Record what happened to an offer (draft -> sent -> accepted | declined | expired)."""
    from detector.offers import amount_due, set_offer_status

    _, _, store = _open(home)
    row = set_offer_status(store, offer_id, status)
    due = amount_due(row)
    console.print(f"Offer {offer_id} is now {row['status']}" + (f"; due: {row['currency']} {due}" if due else "") + ".",
                  highlight=False, soft_wrap=True)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="The bundle file to write (.zip).")],
    match: Annotated[Optional[list[int]], typer.Option("--match", help="Match id (repeatable).")] = None,
    asset: Annotated[Optional[int], typer.Option(help="Every match of this asset (not rejected/authorized).")] = None,
    status: Annotated[Optional[str], typer.Option(help="Every match with this status, e.g. confirmed.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only matches seen on or after this date (YYYY-MM-DD).")] = None,
    home: Home = None,
) -> None:
    """Export a signed evidence bundle (zip) of matches, with captures, WARC records, reports, notices, offers."""
    from detector.bundle import export_bundle, select_matches

    ws, settings, store = _open(home)
    ids = select_matches(store, match_ids=match, asset_id=asset, status=status, since=since)
    path = export_bundle(ws, store, settings, ids, out)
    console.print(f"Wrote a signed bundle of {len(ids)} match(es) to {path}", highlight=False, soft_wrap=True)


@app.command("verify-bundle")
def verify_bundle(
    path: Annotated[Path, typer.Argument(metavar="FILE.zip", help="The bundle to check.")],
    key: Annotated[Optional[Path], typer.Option(help="Trusted public key (PEM) the bundle must be signed with.")] = None,
) -> None:
    """Check a bundle's signature and every file's hash; name whatever was tampered with (exit 1)."""
    from detector.bundle import verify_bundle as check_bundle

    check = check_bundle(path, trusted_public_key=key.read_bytes() if key else None)
    for problem in check.problems:
        err.print(f"{problem.code}: {problem.message}", highlight=False, markup=False)
    if not check.ok:
        raise typer.Exit(1)
    console.print(f"{path}: intact, signed by key {check.public_key_sha256} "
                  "(compare it with the fingerprint the rights holder publishes).", highlight=False, soft_wrap=True)


ledger_app = typer.Typer(help="The provenance ledger (an append-only hash chain).", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("verify")
def ledger_verify(home: Home = None) -> None:
    """Check the chain; name every edited, reordered or deleted entry (exit 1)."""
    from detector import ledger

    _, _, store = _open(home)
    problems = ledger.verify(store)
    for problem in problems:
        err.print(f"{problem.code}: {problem.message}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)
    head = store.ledger_head()
    console.print(f"Ledger intact: {head['seq'] if head else 0} entries"
                  + (f", head {head['hash']}" if head else "") + ".", highlight=False, soft_wrap=True)


owner_app = typer.Typer(help="Rights holders' profiles (used by notices and offers).", no_args_is_help=True)
app.add_typer(owner_app, name="owner")


@owner_app.command("set")
def owner_set(
    name: Annotated[str, typer.Argument(help="Owner name (as given to register --owner).")],
    legal_name: Annotated[Optional[str], typer.Option(help="Full legal name of the rights holder.")] = None,
    address: Annotated[Optional[str], typer.Option(help="Postal address (may span lines).")] = None,
    email: Annotated[Optional[str], typer.Option(help="Contact email address.")] = None,
    phone: Annotated[Optional[str], typer.Option(help="Telephone number.")] = None,
    signature: Annotated[Optional[str], typer.Option(help="Signature block, e.g. '/s/ Jane Doe'.")] = None,
    jurisdiction: Annotated[Optional[str], typer.Option(help="Default jurisdiction, e.g. Germany.")] = None,
    home: Home = None,
) -> None:
    """Set profile fields of an owner (an empty value clears a field)."""
    from detector.notices import PROFILE_FIELDS, set_profile

    _, _, store = _open(home)
    row = set_profile(store, name, legal_name=legal_name, address=address, email=email, phone=phone,
                      signature=signature, jurisdiction=jurisdiction)
    render([{"field": f, "value": row.get(f) or ""} for f in PROFILE_FIELDS], ["field", "value"], "table",
           console, title=f"Owner {name}")


# -- portal commands --

@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    home: Home = None,
) -> None:
    """Serve the rights-holder portal: web pages and the JSON API (OpenAPI at /openapi.json)."""
    import uvicorn

    from detector.web import create_app

    ws, settings, store = _open(home)
    if not store.api_tokens():
        err.print("No API tokens yet: make one with `copyhound tokens create --owner NAME` (or --admin) "
                  "to sign in.", highlight=False, markup=False)
    store.close()
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"Listening on {host}: put a TLS-terminating proxy in front, tokens travel in every request.",
                  highlight=False, markup=False)
    console.print(f"Portal for {ws.home} on http://{host}:{port}/ (API under /api). Ctrl-C stops it.",
                  highlight=False, soft_wrap=True)
    uvicorn.run(create_app(ws, settings), host=host, port=port, log_level="info")


tokens_app = typer.Typer(help="API tokens of the portal (stored hashed, shown once).", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
_TOKEN_COLUMNS = ["id", "owner", "label", "created_at", "revoked_at"]


@tokens_app.command("create")
def tokens_create(
    owner: Annotated[Optional[str], typer.Option(help="Owner the token sees (as given to register --owner).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="A token that sees every owner.")] = False,
    label: Annotated[Optional[str], typer.Option(help="What the token is for, shown by `tokens list`.")] = None,
    home: Home = None,
) -> None:
    """Make a token and print it once on stdout (only its SHA-256 is kept)."""
    from detector.tokens import create_token

    if admin == (owner is not None):
        raise UsageError("Give exactly one of --owner NAME (a token for one rights holder) or --admin "
                         "(a token that sees every owner).")
    _, _, store = _open(home)
    row, token = create_token(store, owner, label)
    err.print(f"Token {row['id']} for {owner or 'admin (every owner)'}; it is shown only now, so store it "
              f"safely. Revoke it with `copyhound tokens revoke {row['id']}`.", highlight=False, markup=False)
    console.out(token, highlight=False)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="Token id (see `tokens list`).")],
                  home: Home = None) -> None:
    """Revoke a token: API calls and web sessions made with it stop working at once."""
    _, _, store = _open(home)
    row = store.revoke_api_token(token_id)
    console.print(f"Token {row['id']} ({row['owner'] or 'admin'}) revoked at {row['revoked_at']}.", highlight=False)


@tokens_app.command("list")
def tokens_list(fmt: Format = "table", home: Home = None) -> None:
    """List tokens (never the tokens themselves)."""
    _check_format(fmt)
    _, _, store = _open(home)
    rows = [dict({k: r[k] for k in _TOKEN_COLUMNS}, owner=r["owner"] or "(admin)") for r in store.api_tokens()]
    render(rows, _TOKEN_COLUMNS, fmt, console, title="API tokens")


# -- models commands --
models_app = typer.Typer(help="Embedding models: export the configured one for a faster runtime.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("export-onnx")
def models_export_onnx(
    out: Annotated[Optional[Path], typer.Option(
        help="Model file to write (default: WORKSPACE/models/clip-image[-int8].onnx); its sidecar is OUT.json.")] = None,
    int8: Annotated[bool, typer.Option("--int8", help="Quantise weights to int8 (smaller, usually faster).")] = False,
    home: Home = None,
) -> None:
    """Export the configured open_clip image tower to ONNX, to run it with embedder onnx:PATH."""
    from detector.onnx_export import export_spec

    ws, settings, _ = _open(home)
    out = out or ws.home / "models" / f"clip-image{'-int8' if int8 else ''}.onnx"
    prep = export_spec(settings.embedder.spec, out, int8=int8)
    console.print(f"Wrote {out} ({prep.dim}-d, {prep.size[1]}x{prep.size[0]} input"
                  f"{', int8 weights' if int8 else ''}) and {out}.json.", highlight=False, soft_wrap=True)
    console.print(f"To use it, set spec = \"onnx:{out}\" under [embedder] in {ws.config_path}, then run "
                  "`copyhound reindex` (vectors of different models are never mixed).", highlight=False, soft_wrap=True)
