"""The workspace's search indexes: kept on disk beside the database, rebuilt from it when needed.

The database is the source of truth (hashes on assets, vectors in `embeddings`); the FAISS files
are a cache of it. A file that is missing, corrupt, from another embedder or out of step with
the database is rebuilt, never silently used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import faiss
import numpy as np

from detector.config import IndexSettings
from detector.embedders import Embedder
from detector.errors import EmbedderMismatch
from detector.workspace import Workspace
from detector.workspace.store import Store
from index.binary import BinaryIndex, hex_to_codes
from index.errors import IndexFileError
from index.vectors import VectorIndex, choose_factory

log = logging.getLogger(__name__)

#: Hash name -> bits. pHash and PDQ shortlist; dHash is kept as a signal only.
HASH_INDEXES = {"phash": 64, "pdq": 256}


def check_embedder(store: Store, embedder: Embedder | None) -> None:
    """Refuse to mix embeddings from two models in one workspace."""
    if embedder is None:
        return
    stored = [e for e in store.embedder_ids() if e != embedder.id]
    if stored:
        raise EmbedderMismatch(
            f"This workspace's works were embedded with {stored[0]}, but the configured embedder is "
            f"{embedder.id}. Run `copyhound reindex` to re-embed every work with the configured model, "
            "or set [embedder] spec in config.toml back to the model they were embedded with."
        )


@dataclass
class WorkIndexes:
    """FAISS indexes over the registered works: one for embeddings (if any), one per hash."""

    vectors: VectorIndex | None
    hashes: dict[str, BinaryIndex] = field(default_factory=dict)
    rebuilt: list[str] = field(default_factory=list)

    def add(self, asset_id: int, vector: np.ndarray | None, hash_hex: dict[str, str]) -> None:
        ids = np.array([asset_id], dtype=np.int64)
        if self.vectors is not None and vector is not None:
            self.vectors.add(ids, vector.reshape(1, -1).astype(np.float32))
        for name, bits in HASH_INDEXES.items():
            self.hashes[name].add(ids, hex_to_codes([hash_hex[name]], bits))


def _paths(ws: Workspace) -> dict[str, object]:
    return {"vectors": ws.index_dir / "embeddings.faiss",
            **{name: ws.index_dir / f"{name}.faiss" for name in HASH_INDEXES}}


def set_threads(threads: int) -> None:
    """FAISS's OpenMP pool is process-wide; the edges set it once from `index.threads`."""
    faiss.omp_set_num_threads(max(1, threads))


def load(ws: Workspace, store: Store, embedder: Embedder | None, settings: IndexSettings) -> WorkIndexes:
    """Open the index files, rebuilding any that cannot be trusted.

    `settings.search_params` tune the embedding index when it uses `settings.factory`.
    """
    check_embedder(store, embedder)
    paths = _paths(ws)
    asset_ids = {row["id"] for row in store.hashes()}
    result = WorkIndexes(vectors=None)
    for name, bits in HASH_INDEXES.items():
        index = _load_trusted(BinaryIndex, paths[name], {"hash": name}, asset_ids)
        if index is None:
            index = _build_hash_index(store, name, bits)
            index.save(paths[name], {"hash": name})
            result.rebuilt.append(name)
        result.hashes[name] = index
    if embedder is not None:
        expect = {"embedder": embedder.id}
        vector_ids = {asset_id for asset_id, _ in store.embeddings(embedder.id)}
        index = _load_trusted(VectorIndex, paths["vectors"], expect, vector_ids)
        if index is None:
            index = _build_vector_index(store, embedder, settings.exact_limit, settings.factory)
            index.save(paths["vectors"], expect)
            result.rebuilt.append("embeddings")
        result.vectors = _tune(index, settings.factory, settings.search_params)
    return result


def save(ws: Workspace, indexes: WorkIndexes, embedder: Embedder | None) -> None:
    paths = _paths(ws)
    for name, index in indexes.hashes.items():
        index.save(paths[name], {"hash": name})
    if indexes.vectors is not None and embedder is not None:
        indexes.vectors.save(paths["vectors"], {"embedder": embedder.id})


def rebuild(ws: Workspace, store: Store, embedder: Embedder | None, settings: IndexSettings) -> WorkIndexes:
    """Rebuild every index file from the database (used by `copyhound reindex`)."""
    for path in _paths(ws).values():
        path.unlink(missing_ok=True)
    return load(ws, store, embedder, settings)


def _tune(index: VectorIndex, factory: str, search_params: str) -> VectorIndex:
    # The configured parameters are written for the configured approximate factory. An exact
    # index has none to set; one built with an earlier factory keeps its own defaults until
    # `copyhound reindex` rebuilds it, rather than refusing parameters meant for another kind.
    if index.factory == factory:
        index.set_search_params(search_params)
    elif index.factory != "Flat" and search_params:
        log.warning("embedding index uses %s, not the configured %s: index.search_params %r not applied; "
                    "run `copyhound reindex`", index.factory, factory, search_params)
    return index


def _load_trusted(cls, path, expect: dict, expected_ids: set[int]):
    if not path.exists():
        return None
    try:
        index, _ = cls.load(path, expect=expect)
    except IndexFileError as e:
        log.warning("rebuilding %s: %s", path.name, e)
        return None
    if set(index.ids().tolist()) != expected_ids:
        log.warning("rebuilding %s: it is out of step with the database", path.name)
        return None
    return index


def _build_hash_index(store: Store, name: str, bits: int) -> BinaryIndex:
    index = BinaryIndex(bits)
    rows = [r for r in store.hashes() if r[name]]
    if rows:
        index.add(np.array([r["id"] for r in rows], dtype=np.int64), hex_to_codes([r[name] for r in rows], bits))
    return index


def _build_vector_index(store: Store, embedder: Embedder, exact_limit: int, factory: str) -> VectorIndex:
    rows = store.embeddings(embedder.id)
    index = VectorIndex(embedder.dim, choose_factory(len(rows), exact_limit, factory))
    if rows:
        ids = np.array([asset_id for asset_id, _ in rows], dtype=np.int64)
        vectors = np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
        index.add(ids, vectors)
    return index


def health(ws: Workspace, store: Store) -> list[dict]:
    """Each index file's state without loading a model: {index, entries, state}, where state is 'ok',
    'missing' or why it cannot be trusted. A scan rebuilds an untrusted file; so does `reindex`."""
    paths = _paths(ws)
    asset_ids = {row["id"] for row in store.hashes()}
    checks = [(name, BinaryIndex, {"hash": name}, asset_ids) for name in HASH_INDEXES]
    checks += [("embeddings", VectorIndex, {"embedder": embedder_id},
                {asset_id for asset_id, _ in store.embeddings(embedder_id)}) for embedder_id in store.embedder_ids()]
    rows = []
    for name, cls, expect, expected_ids in checks:
        path = paths["vectors" if name == "embeddings" else name]
        entries, state = None, "ok"
        if not path.exists():
            state = "missing (the next scan builds it)"
        else:
            try:
                index, _ = cls.load(path, expect=expect)
                entries = len(index.ids())
                if set(index.ids().tolist()) != expected_ids:
                    state = "out of step with the database (the next scan rebuilds it)"
            except IndexFileError as e:
                state = f"unusable: {e.detail} (the next scan rebuilds it)"
        rows.append({"index": name, "entries": entries, "state": state})
    return rows
