"""Commands on the workspace and its registered works: init, register, assets, reindex."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector import catalogue, config
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
from detector.embedders import parse_spec
from detector.errors import UsageError
from detector.output import render
from detector.workspace import create_workspace
from detector.workspace.store import Store


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
    from detector.evidence.signing import ensure_keypair

    ensure_keypair(ws)
    verb = "Created" if created else "Workspace already exists at"
    console.print(f"{verb} {ws.home}")
    console.print(f"Configuration: {ws.config_path} (embedder: {ws.settings().embedder.spec})")


@app.command()
def register(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    owner: Annotated[str, typer.Option(help="Rights holder the works belong to.")] = "default",
    title: Annotated[str | None, typer.Option(help="Title (default: the file name).")] = None,
    creator: Annotated[str | None, typer.Option(help="Creator (default: from the file's metadata).")] = None,
    license_url: Annotated[str | None, typer.Option(help="Licence or rights URL.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                help="Processes that fingerprint the files (default: [detect] "
                                                     "workers; 0 there means one per core).")] = None,
    home: Home = None,
) -> None:
    """Register image files as works: fingerprint them and add them to the index."""
    from detector.parallel import default_workers
    from detector.register import WorkInfo, image_paths, register_files

    ws, settings, store = open_parts(home)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"No such file or folder: {', '.join(missing)}. Check the path(s).")
    files = image_paths(paths, recursive)
    embedder = embedder_of(settings)
    with progress_bar() as bar:
        task = bar.add_task("registering", total=len(files))
        outcomes = register_files(ws, store, settings, embedder, files,
                                  WorkInfo(owner, title, creator, license_url),
                                  progress=lambda _: bar.advance(task), index_progress=stage_progress(bar),
                                  workers=workers or settings.detect.workers or default_workers())
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
def assets(owner: Annotated[str | None, typer.Option(help="Only this owner's works.")] = None,
           fmt: Format = "table", home: Home = None) -> None:
    """List registered works."""
    check_format(fmt)
    _, _, store = open_parts(home)
    rows = store.assets("owners.name = ?", [owner]) if owner else store.assets()
    render(rows, ["id", "owner", "filename", "title", "creator", "width", "height", "sha256"], fmt, console,
           title="Registered works")


@app.command()
def reindex(home: Home = None) -> None:
    """Re-embed every work with the configured embedder; rebuild every index, retraining the local-feature one."""
    from detector.reindex import reembed

    ws, settings, store = open_parts(home)
    embedder = embedder_of(settings)
    with progress_bar() as bar:
        task = bar.add_task("re-embedding", total=len(store.assets()))
        reembed(ws, store, settings, embedder, progress=lambda n: bar.advance(task, n))
        rebuilt = catalogue.rebuild(ws, store, embedder, settings.index, kind=settings.match.local_features,
                                    shortlist=settings.shortlist, progress=stage_progress(bar))
    console.print(f"Rebuilt {', '.join(rebuilt.rebuilt)} for {len(store.assets())} works "
                  f"(embedder: {embedder.id if embedder else 'none'}).")
