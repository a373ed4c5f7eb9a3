"""The `copyhound` command line. `common` holds the group and what every command shares; each other
module adds the commands of one area, in the order `copyhound --help` lists them."""

from detector.cli import admin, evidence, index_cmds, matches, scanning, works  # noqa: F401  (each registers its commands)
from detector.cli.common import app, main

__all__ = ["app", "main"]
