"""The `copyhound` command line: one group, verbs as commands (one module per area, sharing this one).

Exit codes: 0 ok; 1 finished, but some inputs failed (each is listed with its reason);
2 usage or configuration error; 3 locked by another run, or an external dependency
(model weights) unavailable. Core code raises small named exceptions; `main` turns each into
one line on stderr.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Annotated

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

import detector
from detector import config
from detector.errors import CopyhoundError, DiskFull, ExtraMissing, UsageError
from detector.output import FORMATS
from detector.workspace import open_workspace
from detector.workspace.store import DatabaseError, database_fault, is_disk_full, open_store


class _TextHelpGroup(typer.core.TyperGroup):
    """The root group: every help text below it is escaped once built, because help names config tables
    like [distributed], which rich would otherwise read as markup and drop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _escape_help(self)


def _escape_help(command) -> None:
    command.help = escape(command.help) if command.help else command.help
    command.short_help = escape(command.short_help) if command.short_help else command.short_help
    for param in command.params:
        if getattr(param, "help", None):
            param.help = escape(param.help)
    for sub in getattr(command, "commands", {}).values():
        _escape_help(sub)


app = typer.Typer(
    cls=_TextHelpGroup,
    help="copyhound: find unauthorized copies of your images on the web and act on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Messages name config tables ([recipients.overrides]) and carry text from the web: never read as markup.
console = Console(markup=False)
err = Console(stderr=True, markup=False)


def _print_version(asked: bool) -> None:
    if asked:
        console.out(f"copyhound {detector.__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print copyhound's version and exit.")] = False,
          ) -> None:
    # The root's own options; its help is the app's.
    pass

Home = Annotated[
    Path | None,
    typer.Option("--home", help="Workspace folder (default: $COPYHOUND_HOME, else ./copyhound-data)."),
]
Format = Annotated[str, typer.Option("--format", help="Output format: table, json or csv.")]
Wide = Annotated[bool, typer.Option("--wide", help="Table: every column, in full (wraps at narrow widths).")]
Limit = Annotated[int | None, typer.Option(
    "--limit", min=1, help="Show at most this many rows (default: 100 in a table, all in JSON and CSV).")]
TABLE_ROWS = 100
Offset = Annotated[int, typer.Option("--offset", min=0, help="Skip this many rows first (with --limit: paging).")]
#: The database this command opened, so SQLite reporting it damaged mid-command can name it.
_opened: list[Path] = []

AllowPartial = Annotated[bool, typer.Option(
    "--allow-partial", help="Take contributors' shares that do not add up to 100, as relative weights (2.5 and 0.5).")]

OutDir = Annotated[Path | None, typer.Option("--out", help="Folder to write to (default: under the workspace's output/).")]


def main() -> None:
    _opened.clear()  # a run names only a database it opened itself (tests call main() in one process)
    try:
        code = app(standalone_mode=False, prog_name="copyhound")  # the code of a typer.Exit raised by a command
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
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except typer.TyperException as e:  # typer's own click: usage errors, and help for a bare group
        sys.exit(usage_error(e))
    sys.exit(code if isinstance(code, int) else 0)


def usage_error(e: typer.TyperException) -> int:
    """Print a usage error as one line naming the command and where its help is; return exit code 2."""
    message = e.format_message()
    if not message.strip() or "\n" in message:  # a group called without a command: typer showed its help
        console.out(message, highlight=False, end="")
        return 2
    ctx = getattr(e, "ctx", None)
    command = ctx.command_path if ctx is not None else "copyhound"
    message = " ".join(message.split()).rstrip(".") + "."
    err.out(f"error: {command}: {message} Run `{command} --help` for usage.", highlight=False)
    return 2


def require_extra(extra: str, *modules: str) -> None:
    """Refuse, naming the pip command, when a package of an optional extra is not installed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ExtraMissing(f"This command needs the '{extra}' extra ({', '.join(missing)} not installed): "
                           f"pip install 'copyhound[{extra}]'.")


def _fail(error: CopyhoundError):
    err.print(Text("error:", style="red"), str(error), highlight=False, soft_wrap=True)
    sys.exit(error.exit_code)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not known; use one of: {', '.join(FORMATS)}.")
    return fmt


def row_limit(limit: int | None, fmt: str) -> int:
    """The rows to fetch: as asked, else a screenful for a table and every row (-1) for a machine."""
    return limit if limit is not None else (TABLE_ROWS if fmt == "table" else -1)


def page_title(title: str, rows: list, total: int, offset: int) -> str:
    """A list's title, saying which rows of how many it shows when that is not all of them."""
    if len(rows) == total:
        return title
    return f"{title} {offset + 1 if rows else offset}-{offset + len(rows)} of {total} (--offset/--limit for more)"


def open_parts(home: Path | None):
    ws = open_workspace(home)
    _opened.append(ws.db_path)
    return ws, ws.settings(), open_store(ws)


def chosen_scan(store, scan_id: int | None) -> int:
    """`scan_id` when that scan exists (NotFound names the command that lists scans), else the newest scan's."""
    if scan_id is None:
        newest = store.scans(limit=1)
        if not newest:
            raise UsageError("No scans yet; run `copyhound scan` first.")
        return newest[0]["id"]
    store.scan(scan_id)
    return scan_id


def embedder_of(settings: config.Settings):
    from detector.embedders import load_embedder

    e = settings.embedder
    return load_embedder(e.spec, e.batch_size, e.threads)


def progress_bar() -> Progress:
    """A bar per stage; a stage of unknown size (the crawl) shows its detail line instead of a count."""
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(), _CountOrDetail(), TimeElapsedColumn(),
                    console=err, transient=True)


class _CountOrDetail(MofNCompleteColumn):
    def render(self, task):
        if task.total is None and task.fields.get("detail"):
            return Text(task.fields["detail"])
        return super().render(task)


def stage_progress(bar: Progress):
    """A `progress(stage, done, total, detail)` callback that keeps one bar per stage (crawl, detect)."""
    tasks: dict[str, int] = {}

    def progress(stage: str, done: int, total: int | None, detail: str = "") -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total, detail="")
        bar.update(tasks[stage], completed=done, total=total, detail=detail)

    return progress
