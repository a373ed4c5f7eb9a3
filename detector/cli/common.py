"""The `copyhound` command line: one group, verbs as commands (one module per area, sharing this one).

Exit codes: 0 ok; 1 finished, but some inputs failed (each is listed with its reason);
2 usage or configuration error; 3 locked by another run, or an external dependency
(model weights) unavailable. Core code raises small named exceptions; `main` turns each into
one line on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from detector import config
from detector.embedders import load_embedder
from detector.errors import CopyhoundError, DiskFull, UsageError
from detector.output import FORMATS
from detector.workspace import open_workspace
from detector.workspace.store import DatabaseError, Store, database_fault, is_disk_full

app = typer.Typer(
    help="copyhound: find unauthorized copies of your images on the web and act on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

Home = Annotated[
    Path | None,
    typer.Option("--home", help="Workspace folder (default: $COPYHOUND_HOME, else ./copyhound-data)."),
]
Format = Annotated[str, typer.Option("--format", help="Output format: table, json or csv.")]
#: The database this command opened, so SQLite reporting it damaged mid-command can name it.
_opened: list[Path] = []

OutDir = Annotated[Path | None, typer.Option("--out", help="Folder to write to (default: under the workspace's output/).")]


def main() -> None:
    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit raised by a command
    except CopyhoundError as e:
        _fail(e)
    except (DatabaseError, OSError) as e:
        if is_disk_full(e):
            _fail(DiskFull(f"The disk is full ({e}); nothing after this point was written. Free space, then "
                           "run the command again (`copyhound scan --resume` for a scan)."))
        fault = database_fault(e, _opened[-1]) if _opened else None
        if fault is None:
            raise
        _fail(fault)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(2)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(error: CopyhoundError):
    err.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
    sys.exit(error.exit_code)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not known; use one of: {', '.join(FORMATS)}.")
    return fmt


def open_parts(home: Path | None):
    ws = open_workspace(home)
    _opened.append(ws.db_path)
    return ws, ws.settings(), Store(ws.db_path)


def embedder_of(settings: config.Settings):
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
