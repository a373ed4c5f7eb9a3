"""What every request of the portal shares: the workspace, its settings, the session signer."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from detector.config import Settings
from detector.embedders import Embedder, load_embedder
from detector.web.sessions import SessionSigner
from detector.workspace import Workspace
from detector.workspace.store import Store, open_store

SECRET_FILE = "portal-session.key"


def session_secret(keys_dir: Path) -> bytes:
    """The workspace's session-signing key, created (readable by its owner only) on first use.

    Kept on disk so sessions survive a restart; deleting the file signs everyone out.
    """
    path = keys_dir / SECRET_FILE
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


class Portal:
    def __init__(self, ws: Workspace, settings: Settings):
        self.ws, self.settings = ws, settings
        self.sessions = SessionSigner(session_secret(ws.keys_dir))
        self._embedder_lock = threading.Lock()
        self._embedder: Embedder | None = None
        self._embedder_loaded = False

    @contextmanager
    def store(self) -> Iterator[Store]:
        """A Store for this request's thread (SQLite connections stay in the thread that made them)."""
        store = open_store(self.ws)
        try:
            yield store
        finally:
            store.close()

    def embedder(self) -> Embedder | None:
        """The configured embedder, loaded on the first upload and then kept (models are slow to load)."""
        with self._embedder_lock:
            if not self._embedder_loaded:
                e = self.settings.embedder
                self._embedder = load_embedder(e.spec, e.batch_size, e.threads)
                self._embedder_loaded = True
            return self._embedder
