"""Two `copyhound register` processes at once on one workspace (SQLite, and PostgreSQL as machines sharing the
store and the index folder do): the store's index lock makes them take turns, so the index files hold every
work of both, not only those of whichever saved last."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from support import run_cli

from detector import catalogue
from detector.workspace import open_workspace
from detector.workspace.store import open_store

PER_RUN = 24


def _works(folder, seed: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for n in range(PER_RUN):
        pixels = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"work-{seed}-{n}.png")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_register_runs_at_once_leave_every_work_in_the_index(tmp_path, backend, request):
    home = tmp_path / "ws"
    database = ["--database", request.getfixturevalue("postgres_url")] if backend == "postgresql" else []
    made = run_cli("init", "--embedder", "none", *database, home=home)
    assert made.returncode == 0, made.stderr
    folders = [tmp_path / "a", tmp_path / "b"]
    for seed, folder in enumerate(folders):
        _works(folder, seed)

    runs = [subprocess.Popen([sys.executable, "-c", "from detector.cli import main; main()", "register", str(folder),
                              "--owner", "alice", "--home", str(home)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for folder in folders]
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        assert f"{PER_RUN} registered" in out

    ws = open_workspace(home)
    store = open_store(ws)
    try:
        assert len(store.assets()) == 2 * PER_RUN
        health = catalogue.health(ws, store)
    finally:
        store.close()
    assert {row["state"] for row in health} == {"ok"}, health
    assert {row["entries"] for row in health if row["index"] != "local-features"} == {2 * PER_RUN}
