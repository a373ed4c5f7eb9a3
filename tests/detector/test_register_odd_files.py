"""Files `register` cannot treat as images, or names it cannot store as they are, never abort the
batch: a non-UTF-8 name is stored readably, FIFOs and broken links are skipped with the reason."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from support import invoke_cli, run_cli

from detector import config
from detector.workspace import create_workspace
from detector.workspace.store import Store


@pytest.fixture
def home(tmp_path):
    ws, _ = create_workspace(tmp_path / "ws", config.Settings().with_embedder("none"))
    Store(ws.db_path).close()
    return ws.home


def test_odd_names_and_files_are_listed_and_the_rest_registered(home, tmp_path, works_dir):
    folder = tmp_path / "portfolio"
    folder.mkdir()
    shutil.copy(works_dir / "coffee.jpg", folder / "a-coffee.jpg")
    latin1 = os.fsdecode(bytes(folder) + b"/caf\xe9.jpg")
    shutil.copy(works_dir / "rocket.jpg", latin1)
    shutil.copy(works_dir / "chelsea.jpg", folder / "z-chelsea.jpg")
    os.mkfifo(folder / "pipe.jpg")
    os.symlink("loop.jpg", folder / "loop.jpg")
    os.symlink("nowhere.jpg", folder / "dangling.jpg")
    named_fifo = tmp_path / "named-pipe.jpg"
    os.mkfifo(named_fifo)

    result = run_cli("register", str(folder), str(named_fifo), "--owner", "alice", home=home, timeout=120)

    assert result.returncode == 1, result.stderr
    assert "3 registered, 0 already registered, 4 refused (of 7 files)." in result.stdout
    said = " ".join(result.stderr.split())  # the console wraps long lines
    assert f"refused {folder}/pipe.jpg (not_a_file): {folder}/pipe.jpg is a FIFO (named pipe), not an image file" in said
    assert f"refused {named_fifo} (not_a_file)" in said
    assert f"{folder}/loop.jpg is a symbolic link that loops; skipped." in said
    assert f"{folder}/dangling.jpg is a symbolic link to nothing; skipped." in said
    rows = json.loads(invoke_cli("assets", "--format", "json", home=home).stdout)
    names = sorted(r["filename"] for r in rows)
    assert names == ["a-coffee.jpg", "caf\\xe9.jpg", "z-chelsea.jpg"]
    # The stored spelling gives the file's bytes back.
    assert os.fsencode(folder) + b"/" + names[1].encode().decode("unicode_escape").encode("latin-1") == \
        os.fsencode(latin1)

    again = run_cli("register", latin1, "--owner", "alice", home=home)
    assert again.returncode == 0, again.stderr
    assert "caf\\xe9.jpg: already registered as asset" in again.stdout


@pytest.mark.parametrize("workers", [1, 2])
def test_the_same_content_twice_in_one_run_is_registered_once(home, tmp_path, works_dir, workers):
    from detector.register import WorkInfo, register_files
    from detector.workspace import open_workspace

    folder = tmp_path / "twice"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(works_dir / "coffee.jpg", folder / name)
    shutil.copy(works_dir / "rocket.jpg", folder / "c.jpg")
    ws = open_workspace(home)
    store = Store(ws.db_path)
    outcomes = register_files(ws, store, ws.settings(), None, sorted(folder.iterdir()), WorkInfo("alice"),
                              workers=workers)
    assert [(o.status, o.path.rsplit("/", 1)[-1]) for o in outcomes] == [
        ("registered", "a.jpg"), ("already", "b.jpg"), ("registered", "c.jpg")]
    assert outcomes[1].asset_id == outcomes[0].asset_id
    assert sorted(a["filename"] for a in store.assets()) == ["a.jpg", "c.jpg"]
    store.close()
