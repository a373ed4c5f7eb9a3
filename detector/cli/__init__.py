"""The `copyhound` command line. `common` holds the group and what every command shares; each other
module adds the commands of one area. They are imported in the order of the work (set up, scan,
review, act, look around, administer), which is the order `copyhound --help` lists them.

A command imports the modules that do its work inside its function, so that `copyhound --help`, shell
completion and light commands start without loading what they do not use (torch, WeasyPrint, FastAPI,
Celery); nothing below the CLI imports it, so these imports never close a circle."""

# Each import registers its commands; the order is deliberate, so it is kept from being sorted.
from detector.cli import works, index_cmds, scanning, sources, watch, worker, crawler, refused, candidates, matches, evidence, licensing, screenshots, provenance, enforcement, credits, casework, overview, settings, keys, backup, admin  # noqa: F401, I001
from detector.cli.common import app, main

__all__ = ["app", "main"]
