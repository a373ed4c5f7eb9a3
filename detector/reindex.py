"""Re-embed every registered work with the configured embedder (after a model change)."""

from __future__ import annotations

from collections.abc import Callable

from detector.config import Settings
from detector.embedders import Embedder
from detector.intake import decode_image
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store


def reembed(ws: Workspace, store: Store, settings: Settings, embedder: Embedder | None,
            progress: Callable[[int], None] = lambda n: None) -> int:
    """Replace all stored embeddings with the configured model's; returns how many works."""
    blobs = BlobStore(ws.blobs_dir)
    works = store.assets()
    rows: list[tuple[int, bytes]] = []
    if embedder is not None:
        step = max(1, settings.embedder.batch_size)
        for start in range(0, len(works), step):
            batch = works[start:start + step]
            images = [decode_image(blobs.get(w["sha256"]), w["filename"], settings.intake).image for w in batch]
            vectors = embedder.embed(images)
            rows += [(w["id"], v.tobytes()) for w, v in zip(batch, vectors)]
            progress(len(batch))
    store.replace_embeddings(embedder.id if embedder else "", rows)
    return len(works)
