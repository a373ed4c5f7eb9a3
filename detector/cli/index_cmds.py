"""Commands on the workspace's search indexes: `index stats`."""

from __future__ import annotations

import typer

from detector.cli.common import Format, Home, app, check_format, console, open_parts
from detector.output import render

index_app = typer.Typer(help="The workspace's search indexes (hashes, embeddings, local features).",
                        no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("stats")
def stats(fmt: Format = "table", home: Home = None) -> None:
    """Works, entries, bytes per work and training of each index file (read from its manifest)."""
    from detector import catalogue  # FAISS loads only for the command that reads the indexes

    check_format(fmt)
    ws, _, store = open_parts(home)
    works = len(store.assets())
    rows = catalogue.stats(ws, works)
    render(rows, ["index", "state", "works", "entries", "bytes", "bytes_per_work", "kind", "lists", "mirror_paired",
                  "trained_at"],
           fmt, console, title=f"Indexes of {works} registered works")
