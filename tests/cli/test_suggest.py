"""Commands that messages suggest paste into a shell and run as they are."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from detector.suggest import command, runnable


def test_words_with_spaces_and_quotes_stay_one_argument():
    suggested = command("owner", "set", "Jane O'Doe", "--email", "...")
    assert shlex.split(suggested) == ["copyhound", "owner", "set", "Jane O'Doe", "--email", "..."]


def test_without_copyhound_on_path_the_virtualenvs_script_is_named_and_runs(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    words = shlex.split(runnable("--help"))
    assert words[0] != "copyhound" and words[0].endswith("copyhound") and words[1:] == ["--help"]
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(words, check=False, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "Usage: copyhound" in done.stdout


def test_with_copyhound_on_path_the_short_form_is_given(monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin")
    assert runnable("matches", "--home", "/tmp/a b") == "copyhound matches --home '/tmp/a b'"
