"""Where a workspace lives on disk, how every command finds it, and how one is created.

A workspace is a folder holding the SQLite database (unless `[store] url` names a PostgreSQL one), the content-addressed blob store, the
index folder, WARC evidence, crawl state, keys and `config.toml`. Every command resolves it
the same way: `--home`, else the COPYHOUND_HOME environment variable, else `./copyhound-data`.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from detector import config
from detector.errors import DatabaseUnusable, WorkspaceLocked, WorkspaceMissing
from detector.suggest import command

DEFAULT_HOME = "copyhound-data"


def resolve_home(home: str | Path | None, environ: dict | None = None) -> Path:
    environ = os.environ if environ is None else environ
    chosen = home or environ.get("COPYHOUND_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class Workspace:
    home: Path

    @property
    def db_path(self) -> Path:
        return self.home / "copyhound.db"

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def warc_dir(self) -> Path:
        return self.home / "warc"

    @property
    def crawl_dir(self) -> Path:
        """Scrapy JOBDIRs and HTTP cache, one sub-folder per target."""
        return self.home / "crawl"

    def crawl_progress_path(self, target_name: str) -> Path:
        """Where a running crawl of `target_name` reports its queue (crawlers.progress) for the scan to show."""
        return self.crawl_dir / target_name / "progress.json"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def output_dir(self) -> Path:
        """Reports, notices, offers and bundles written by commands."""
        return self.home / "output"

    @property
    def lock_path(self) -> Path:
        return self.home / "scan.lock"

    @property
    def enforce_lock_path(self) -> Path:
        """Held by `copyhound enforce` (and a scan's run_after_scan): one run sends at a time, while scans go on."""
        return self.home / "enforce.lock"

    def folders(self) -> tuple[Path, ...]:
        return (self.blobs_dir, self.index_dir, self.warc_dir, self.crawl_dir, self.keys_dir, self.output_dir)

    @property
    def store_target(self) -> Path | str:
        """What `detector.workspace.store.open_store` opens: the `[store] url` setting, else the SQLite file."""
        return self.settings().store.url or self.db_path

    def exists(self) -> bool:
        return self.config_path.exists() and (self.db_path.exists() or isinstance(self.store_target, str))

    def settings(self) -> config.Settings:
        return config.load(self.config_path)

    @contextmanager
    def lock(self, purpose: str = "scan", path: Path | None = None):
        """Hold the workspace's exclusive lock (or the one at `path`, e.g. enforce_lock_path); a second
        holder gets WorkspaceLocked at once.

        An flock dies with its process, so a killed scan never leaves a stale lock behind.
        """
        handle = hold_lock(path or self.lock_path, purpose, f"{self.home} is locked by " "{holder}" f"; another {purpose} "
                           "is running. Wait for it to finish (or stop it) and run this again.")
        try:
            yield
        finally:
            handle.close()


def hold_lock(path: Path, purpose: str, refusal: str):
    """Take the exclusive flock on `path` for this process and return its open handle (closing it,
    or the process ending, releases it). Held already: WorkspaceLocked with `refusal`, in which
    `{holder}` names the holder ("crawl pid 123").
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 (held while the lock is)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise WorkspaceLocked(refusal.replace("{holder}", holder)) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{purpose} pid {os.getpid()}")
    handle.flush()
    return handle


def open_workspace(home: str | Path | None = None) -> Workspace:
    """The existing workspace, or WorkspaceMissing naming where it looked and how to create one."""
    ws = Workspace(resolve_home(home))
    if ws.config_path.exists() and not ws.db_path.exists() and not isinstance(ws.store_target, str):
        # A read command must not quietly start an empty database where the real one vanished.
        raise DatabaseUnusable(
            f"{ws.db_path} is missing, though {ws.home} holds a workspace. Restore the database from a "
            f"backup (made with `copyhound backup DEST`), or run `{command('init', '--home', ws.home)}` to start "
            "an empty one."
        )
    if not ws.exists():
        raise WorkspaceMissing(ws.home)
    return ws


def create_workspace(home: str | Path | None, settings: config.Settings) -> tuple[Workspace, bool]:
    """Create folders and config.toml (kept if present). Returns (workspace, created_now)."""
    ws = Workspace(resolve_home(home))
    created = not ws.exists()
    ws.home.mkdir(parents=True, exist_ok=True)
    for folder in ws.folders():
        folder.mkdir(exist_ok=True)
    if not ws.config_path.exists():
        ws.config_path.write_text(config.render_toml(settings), encoding="utf-8")
    return ws, created
