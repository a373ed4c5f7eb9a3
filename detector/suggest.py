"""Commands that messages suggest, written so that they paste into a shell as they are."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def command(*words: object) -> str:
    """`copyhound WORD...`, each word quoted for a POSIX shell (an owner called Jane Doe stays one argument)."""
    return " ".join(["copyhound", *(shlex.quote(str(w)) for w in words)])


def runnable(*words: object) -> str:
    """Like `command`, starting with the program as this shell finds it: `copyhound` when it is on PATH,
    else the virtualenv's script (`.venv/bin/copyhound` after `make demo`, which does not activate it)."""
    script = Path(sys.executable).parent / "copyhound"
    on_path = shutil.which("copyhound")
    if on_path or not script.exists():
        return command(*words)
    try:
        shown = os.path.relpath(script)
    except ValueError:  # another drive (Windows)
        shown = str(script)
    shown = shown if shown.startswith((".", os.sep)) else f".{os.sep}{shown}"
    return " ".join([shlex.quote(shown), *(shlex.quote(str(w)) for w in words)])
