"""Commands on the workspace and its registered works: init, register, assets, reindex."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from detector import config
from detector.cli.common import (
    AllowPartial,
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
from detector.config.edit import set_value
from detector.embedders import SPEC_HELP, parse_spec
from detector.errors import UsageError
from detector.output import render
from detector.workspace import create_workspace
from detector.workspace.postgres import is_postgres_url, redacted
from detector.workspace.store import SCHEMA_VERSION, Store, open_store


@app.command()
def init(
    home: Home = None,
    embedder: Annotated[str, typer.Option(help=f"Embedder spec: {SPEC_HELP}.")] = (
        config.EmbedderSettings().spec
    ),
    redis: Annotated[str | None, typer.Option(
        "--redis", help="Redis for distributed detection (redis://HOST:PORT/DB): written as distributed.redis_url; "
                        "refused if it does not answer.")] = None,
    database: Annotated[str | None, typer.Option(
        "--database", help="Keep the database on this PostgreSQL server, postgresql://USER@HOST:PORT/DB "
                           "(written to [store] url; default: the SQLite file in the workspace).")] = None,
) -> None:
    """Create a workspace: database, blob store, index folder, keys and config.toml."""
    parse_spec(embedder)  # refuse a malformed spec before anything is written
    if redis is not None:
        from detector.distributed.broker import connect

        connect(redis)  # refuse a Redis that does not answer before anything is written
    if database is not None:
        if not is_postgres_url(database):
            raise UsageError(f"--database {database!r} is not a PostgreSQL URL; give one like "
                             "postgresql://copyhound@db.example:5432/copyhound.")
        Store(database).close()  # reachable and migrated before the workspace is pointed at it
    settings = config.Settings().with_embedder(embedder)
    if database is not None:
        settings = replace(settings, store=config.StoreSettings(url=database))
    ws, created = create_workspace(home, settings)
    # An existing workspace keeps its config.toml, with only these settings changed.
    if database is not None and ws.settings().store.url != database:
        set_value(ws.config_path, "store.url", database)
    if redis is not None:
        set_value(ws.config_path, "distributed.redis_url", redis)
    open_store(ws).close()
    from detector.provenance.signing import ensure_keypair

    ensure_keypair(ws)
    verb = "Created" if created else "Workspace already exists at"
    console.print(f"{verb} {ws.home}")
    console.print(f"Configuration: {ws.config_path} (embedder: {ws.settings().embedder.spec})")
    if database is not None:
        console.print(f"Database: {redacted(database)} (schema version {SCHEMA_VERSION})", highlight=False)


@app.command()
def register(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    owner: Annotated[str, typer.Option(help="Rights holder the works belong to.")] = "default",
    title: Annotated[str | None, typer.Option(help="Title (default: the file name).")] = None,
    creator: Annotated[str | None, typer.Option(help="Creator (default: from the file's metadata).")] = None,
    license_url: Annotated[str | None, typer.Option(help="Licence or rights URL.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    contributor: Annotated[list[str] | None, typer.Option(
        "--contributor", help='A contributor and share, NAME=SHARE (repeatable): --contributor "Ann Lee=60".')] = None,
    allow_partial: AllowPartial = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                help="Processes that fingerprint the files (default: the detect.workers "
                                                     "setting; 0 there means one per core).")] = None,
    home: Home = None,
) -> None:
    """Register image files as works: fingerprint them and add them to the index."""
    from detector.licensing.contributors import check_total, parse_shares, set_contributors
    from detector.parallel import default_workers
    from detector.register import WorkInfo, find_images, printable, register_files

    if contributor:
        check_total(parse_shares(contributor), allow_partial)  # refuse bad shares before any work is done
    ws, settings, store = open_parts(home)
    missing = [printable(str(p)) for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        raise UsageError(f"No such file or folder: {', '.join(missing)}. Check the path(s).")
    files, skipped = find_images(paths, recursive)
    embedder = embedder_of(settings)
    with progress_bar() as bar:
        task = bar.add_task("registering", total=len(files))
        outcomes = skipped + register_files(ws, store, settings, embedder, files,
                                            WorkInfo(owner, title, creator, license_url),
                                            progress=lambda _: bar.advance(task), index_progress=stage_progress(bar),
                                            workers=workers or settings.detect.workers or default_workers())
    counts = {s: sum(o.status == s for o in outcomes) for s in ("registered", "already", "refused", "skipped")}
    for o in outcomes:
        if contributor and o.status == "registered":
            set_contributors(store, o.asset_id, contributor)
    for o in outcomes:
        if o.status == "already":
            console.print(f"{o.path}: {o.detail}", highlight=False)
        elif o.status == "refused":
            err.print(f"refused {o.path} ({o.reason}): {o.detail}", highlight=False, markup=False)
    kinds = sorted({o.path.rsplit(".", 1)[-1] for o in outcomes if o.status == "skipped"})
    not_images = f", {counts['skipped']} skipped as not images ({', '.join(kinds)})" if counts["skipped"] else ""
    console.print(f"{counts['registered']} registered, {counts['already']} already registered, "
                  f"{counts['refused']} refused{not_images} (of {len(outcomes)} files).", highlight=False)
    if counts["refused"]:
        raise typer.Exit(1)


@app.command()
def assets(owner: Annotated[str | None, typer.Option(help="Only this owner's works.")] = None,
           limit: Limit = None, offset: Offset = 0, wide: Wide = False,
           fmt: Format = "table", home: Home = None) -> None:
    """List registered works."""
    check_format(fmt)
    _, _, store = open_parts(home)
    where, params = ("owners.name = ?", [owner]) if owner else ("1", [])
    rows, total = store.assets_page(where, params, row_limit(limit, fmt), offset), store.count_assets(where, params)
    render(rows, ["id", "owner", "filename", "title", "creator", "width", "height", "sha256"], fmt, console,
           title=page_title("Registered works", rows, total, offset), wide=wide,
           short=["id", "owner", "filename", "title", "width", "height", "sha256"])


@app.command()
def reindex(
    features: Annotated[bool, typer.Option("--features", help="Describe every work's local features again with this "
                                           "version's extractor first (after an upgrade that changed it).")] = False,
    home: Home = None,
) -> None:
    """Re-embed every work with the configured embedder; rebuild every index, retraining the local-feature one."""
    from detector import catalogue
    from detector.reindex import reembed, reextract_features

    ws, settings, store = open_parts(home)
    embedder = embedder_of(settings)
    with progress_bar() as bar:
        if features:
            described = bar.add_task("describing features", total=len(store.assets()))
            reextract_features(ws, store, settings, progress=lambda n: bar.advance(described, n))
        task = bar.add_task("re-embedding", total=len(store.assets()))
        reembed(ws, store, settings, embedder, progress=lambda n: bar.advance(task, n))
        with store.index_lock():  # a register running meanwhile would save over the rebuilt files
            rebuilt = catalogue.rebuild(ws, store, embedder, settings.index, kind=settings.match.local_features,
                                        shortlist=settings.shortlist, progress=stage_progress(bar))
    console.print(f"Rebuilt {', '.join(rebuilt.rebuilt)} for {len(store.assets())} works "
                  f"(embedder: {embedder.id if embedder else 'none'}"
                  f"{'; local features described again' if features else ''}).")
