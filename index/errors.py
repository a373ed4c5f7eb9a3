"""The two ways `index/` refuses (bad arguments from the caller, index files it cannot trust),
and the helpers that phrase those refusals.

Messages are meant for a person: what was received, what is accepted, what to do.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

REINDEX_HINT = "Rebuild it from the registered works with `copyhound reindex`."


class IndexInputError(ValueError):
    """An argument to an index (ids, vectors, codes, factory string, meta) is not acceptable."""


class IndexFileError(Exception):
    """A saved index cannot be used as it is; the remedy is always to rebuild it.

    `path` is the index file, `reason` a short stable code: one of `missing`, `manifest`,
    `format`, `kind`, `truncated`, `checksum`, `mismatch`, `corrupt`.
    """

    def __init__(self, path: Path, reason: str, detail: str):
        self.path = Path(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"Index file {self.path}: {detail}. {REINDEX_HINT}")


_FAISS_PREFIX = re.compile(r"^Error in .*? at \S+:\d+: (?:Error: '.*?' failed: )?", re.DOTALL)


def faiss_reason(error: Exception) -> str:
    """FAISS's own sentence from one of its RuntimeErrors, without the C++ function and file prefix."""
    return _FAISS_PREFIX.sub("", str(error)).strip()


def describe(value) -> str:
    """How a received argument is named in messages: dtype and shape for arrays, else its type."""
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"{value.dtype}{list(value.shape)}"
    return type(value).__name__


def require_int(name: str, value, low: int, high: int | None = None) -> int:
    """`value` as an int within [low, high], or an IndexInputError that names the argument."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        accepted = f"from {low} to {high}" if high is not None else f">= {low}"
        raise IndexInputError(f"{name} must be an int {accepted}, got {value!r}")
    return int(value)
