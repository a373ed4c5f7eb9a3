"""`copyhound config get/set`: the workspace's settings by name, checked like config.toml."""

from __future__ import annotations

from typing import Annotated

import typer

from detector.cli.common import Format, Home, Wide, app, check_format, console, err
from detector.output import render
from detector.workspace import open_workspace

config_app = typer.Typer(help="Read or change one setting of the workspace's config.toml.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("get")
def config_get(
    key: Annotated[str | None, typer.Argument(metavar="KEY", help="SECTION.NAME, e.g. embedder.spec; none lists every setting.")] = None,
    wide: Wide = False,
    fmt: Format = "table",
    home: Home = None,
) -> None:
    """Show a setting's value, default and meaning (or every setting's value)."""
    from detector.config import edit

    check_format(fmt)
    settings = open_workspace(home).settings()
    if key is None:
        rows = [{"key": e.key, "value": e.text, "help": e.help} for e in edit.entries(settings)]
        render(rows, ["key", "value", "help"], fmt, console, title="Settings", wide=wide, short=["key", "value"])
        return
    entry = edit.get(settings, key)
    if fmt != "table":
        render([{"key": entry.key, "value": entry.value, "default": entry.default, "help": entry.help}],
               ["key", "value"], fmt, console)
        return
    console.out(entry.text, highlight=False)
    err.print(f"{entry.help} Default: {edit.config.toml_value(entry.default)}.", highlight=False, markup=False)


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(metavar="KEY", help="SECTION.NAME, e.g. embedder.spec.")],
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value: text, a number, true/false, or a TOML [list].")],
    home: Home = None,
) -> None:
    """Change one setting in config.toml (refused, file untouched, when the file would not load)."""
    from detector.config import edit
    from detector.embedders import parse_spec

    ws = open_workspace(home)
    if key == "embedder.spec":
        parse_spec(value)  # a malformed spec is refused before the file changes
    _, entry = edit.set_value(ws.config_path, key, value)
    console.print(f"{entry.key} = {entry.text} in {ws.config_path}.", highlight=False, markup=False, soft_wrap=True)
    if entry.key in edit.NEEDS_REINDEX:
        console.print(f"Run `copyhound reindex` next: {edit.NEEDS_REINDEX[entry.key]}.", highlight=False,
                      markup=False, soft_wrap=True)
