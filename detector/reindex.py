"""Re-embed every registered work with the configured embedder (after a model change), and describe every work's
local features again (after the extractor changed)."""

from __future__ import annotations

from collections.abc import Callable

from detector.config import Settings
from detector.embedders import Embedder
from detector.fingerprint import FEATURE_KINDS, local_features
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


def reextract_features(ws: Workspace, store: Store, settings: Settings,
                       progress: Callable[[int], None] = lambda n: None) -> int:
    """Describe every work's local features again from its stored bytes, with this version's extractor, and replace
    the cached ones; returns how many works. A work registered before the extractor changed (it now looks again at
    a small picture with few keypoints at a lower contrast, `features._LOW_CONTRAST`) then has what a new
    registration would. The caller rebuilds the local-feature index from them."""
    blobs = BlobStore(ws.blobs_dir)
    works = store.assets()
    for work in works:
        decoded = decode_image(blobs.get(work["sha256"]), work["filename"], settings.intake)
        store.replace_features(work["id"], {kind: local_features(decoded, kind).to_bytes() for kind in FEATURE_KINDS})
        progress(1)
    return len(works)
