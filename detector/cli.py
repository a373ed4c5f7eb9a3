"""The `copyhound` command line: one group, verbs as commands.

Exit codes: 0 ok; 1 finished, but some inputs failed (each is listed with its reason);
2 usage or configuration error; 3 locked by another run, or an external dependency
(model weights) unavailable. Core code raises small named exceptions; `main` turns each into
one line on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console
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
        err.print(f"[red]error:[/red] {e}", highlight=False, markup=True, soft_wrap=True)
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
    rebuilt = indexes.rebuild(ws, store, embedder, settings.index.exact_limit, settings.index.factory)
    console.print(f"Rebuilt {', '.join(rebuilt.rebuilt)} for {len(store.assets())} works "
                  f"(embedder: {embedder.id if embedder else 'none'}).")
