"""Fixtures shared by the whole suite: real workspaces, real images, a tiny real CLIP model."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import make_tiny_clip

from detector import config
from detector.demo_site import OTHERS_DIR, WORKS_DIR
from detector.workspace import create_workspace
from detector.workspace.store import Store


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    return make_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture
def works_dir() -> Path:
    return WORKS_DIR


@pytest.fixture
def others_dir() -> Path:
    return OTHERS_DIR


@pytest.fixture
def workspace(tmp_path):
    """A fresh workspace with embedder 'none' and its open store."""
    ws, _ = create_workspace(tmp_path / "ws", config.Settings().with_embedder("none"))
    store = Store(ws.db_path)
    yield ws, store
    store.close()
