"""Which public `Store` methods ran against PostgreSQL in this test session.

`record_postgres_calls` wraps each public method of the class once; a call on a store whose backend
is PostgreSQL adds the method's name to CALLED (and, when COPYHOUND_STORE_CALLS names a file, the
names are written there at exit, for a session run as a child process).
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import os

CALLED: set[str] = set()

#: The modules whose tests, together, call every public store method on PostgreSQL.
CALLS_MODULES = ["tests/detector/test_store_backends.py", "tests/detector/test_workspace_store.py",
                 "tests/detector/test_ledger.py"]
_wrapped: set[type] = set()


def public_methods(cls: type) -> list[str]:
    """The public methods of `cls`, its bases' included (`Store` is composed of one class per domain)."""
    return sorted(name for name, value in inspect.getmembers(cls) if callable(value) and not name.startswith("_"))


def record_postgres_calls(cls: type) -> None:
    if cls in _wrapped:
        return
    _wrapped.add(cls)
    for name in public_methods(cls):
        setattr(cls, name, _recording(name, getattr(cls, name)))
    if os.environ.get("COPYHOUND_STORE_CALLS"):
        atexit.register(_write, os.environ["COPYHOUND_STORE_CALLS"])


def _recording(name: str, method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if getattr(self, "postgres", False):
            CALLED.add(name)
        return method(self, *args, **kwargs)

    return wrapper


def _write(path: str) -> None:
    with open(path, "w") as f:
        json.dump(sorted(CALLED), f)
