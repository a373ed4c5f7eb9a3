"""docs/cli.md, written from the real `--help` of every command so the reference cannot drift.

`make docs` (or `python -m detector.cli.reference docs/cli.md`) rewrites the page;
tests/cli/test_reference.py regenerates it and fails when the committed page differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from detector.cli import app

#: Help is rendered at this terminal width, so the page is the same on every machine.
WIDTH = 100
INTRO = """# Command-line reference

Generated from `copyhound --help` and each command's `--help` by `make docs`
(`python -m detector.cli.reference docs/cli.md`); a test fails when this page and the commands
disagree, so edit the commands' help, not this page.

Exit codes: 0 ok; 1 finished, but some inputs failed (each is listed with its reason); 2 usage or
configuration error (one line on stderr, no traceback); 3 locked by another run, or an external
dependency (model weights) unavailable.
"""


def command_paths(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every visible command and group below `command`, in the order `--help` lists them."""
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            paths += command_paths(sub, path + (name,))
    return paths


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="copyhound",
                                env={"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"})
    if result.exit_code != 0:
        raise RuntimeError(f"copyhound {' '.join(path)} --help failed: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def render() -> str:
    sections = [INTRO]
    for path in command_paths(typer.main.get_command(app)):
        sections.append(f"## `{' '.join(('copyhound',) + path)}`\n\n```text\n{help_text(path)}\n```\n")
    return "\n".join(sections)


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(render(), encoding="utf-8")
