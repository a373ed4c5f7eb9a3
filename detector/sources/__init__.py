"""Where candidates come from: sources that find leads (page or image URLs, each with who found it and why).

A source is configured (`[[sources]]` in config.toml, or a `[[targets]]` site, or a `--urls` list),
runs within a budget, yields leads and resumes from a cursor it saved. `run.gather` runs the sources
of a scan and stores their leads; the leads then go through the crawler like any start URL (the SSRF
guard, politeness, WARC capture and provenance all apply), and each candidate keeps the lead that
brought it (`candidates.lead_id`). docs/discovery.md describes each source.
"""

from __future__ import annotations

from detector.config import SourceConfig
from detector.errors import ConfigError
from detector.sources.base import Budget, Lead, Source, SourceError
from detector.sources.common_crawl import CommonCrawlSource
from detector.sources.feeds import FeedSource
from detector.sources.reverse_search import PROVIDERS, ReverseSearchSource
from detector.workspace import Workspace

#: The source types `[[sources]] type = ...` may name.
TYPES = {"feed": FeedSource, "common_crawl": CommonCrawlSource} | dict.fromkeys(PROVIDERS, ReverseSearchSource)

__all__ = ["TYPES", "Budget", "Lead", "Source", "SourceError", "build", "configured"]


def build(config: SourceConfig, ws: Workspace | None = None) -> Source:
    """The source a `[[sources]]` block describes; refuses an unknown type or a bad name. Sources that
    search for each registered work read the works of `ws`."""
    from detector.config.targets import safe_name

    where = f"[[sources]] {config.name!r}" if config.name else "a [[sources]] entry"
    if not config.name or safe_name(config.name) != config.name:
        raise ConfigError(f"{where}: name must be letters, digits, '.', '-' or '_', got {config.name!r}; "
                          f"for example name = {safe_name(config.name or config.type)!r}.")
    if config.type not in TYPES:
        raise ConfigError(f"{where}: unknown type {config.type!r}; use one of {', '.join(sorted(TYPES))}.")
    if TYPES[config.type] is ReverseSearchSource:
        return ReverseSearchSource(config, works=None if ws is None else lambda: registered_works(ws))
    return TYPES[config.type](config)


def registered_works(ws: Workspace) -> list[tuple[dict, bytes]]:
    """Every registered work with its bytes (works whose file is missing from the blob store are left out)."""
    from detector.workspace.blobs import BlobStore
    from detector.workspace.store import open_store

    blobs, store = BlobStore(ws.blobs_dir), open_store(ws)
    try:
        return [(work, blobs.get(work["sha256"])) for work in store.assets() if work["sha256"] in blobs]
    finally:
        store.close()


def configured(sources: tuple[SourceConfig, ...], names: list[str] | None = None,
               ws: Workspace | None = None) -> list[Source]:
    """The `[[sources]]` of config.toml as sources (only `names`, in that order, when given)."""
    built = {config.name: build(config, ws) for config in sources}
    if len(built) != len(sources):
        raise ConfigError("[[sources]] names must be unique; rename the repeated one.")
    if names is None:
        return list(built.values())
    unknown = [name for name in names if name not in built]
    if unknown:
        known = ", ".join(sorted(built)) or "none are configured"
        raise ConfigError(f"No source named {', '.join(map(repr, unknown))} in config.toml ([[sources]]: {known}).")
    return [built[name] for name in names]
