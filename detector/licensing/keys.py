"""Workspace secrets kept as files under keys/: created on first use, readable by their owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def secret_file(path: Path) -> bytes:
    """The 32 random bytes in `path`, written (mode 0600) if the file does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first: use theirs
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()
