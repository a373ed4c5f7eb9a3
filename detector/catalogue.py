"""The workspace's search indexes: kept on disk beside the database, rebuilt from it when needed.

The database is the source of truth (hashes on assets, vectors in `embeddings`, local features
in `asset_features`); the FAISS files are a cache of it. A file that is missing, corrupt, from
another embedder or feature kind, or out of step with the database is rebuilt, never silently used.

The local-feature shortlist index (`index.local`) grows by incremental adds. Its retrain rule:
it is exact up to `shortlist.exact_limit` descriptors; past that it is trained (k-means lists on a
random sample of the works' own descriptors), and trained again, every work re-added from the
database, once it holds `shortlist.retrain_growth` times the descriptors it was trained for, so
its lists stay about as long as they were designed to be. `copyhound reindex` retrains at once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from detector.config import IndexSettings, ShortlistSettings
from detector.embedders import Embedder
from detector.errors import ConfigError, EmbedderMismatch
from detector.features import MIRROR_PERMUTATION, LocalFeatures, spread_sample
from detector.workspace import Workspace
from detector.workspace.store import Store
from index.binary import BinaryIndex, hex_to_codes
from index.errors import IndexFileError
from index.local import MIN_LISTS, LocalFeatureIndex, lists_for, training_size
from index.persist import manifest_path, read_manifest
from index.vectors import VectorIndex, choose_factory

log = logging.getLogger(__name__)

#: Hash name -> bits. pHash and PDQ shortlist; dHash is kept as a signal only.
HASH_INDEXES = {"phash": 64, "pdq": 256}
#: Local feature kind -> (descriptor dimension in the index, binary codes?).
LOCAL_KINDS = {"sift": (128, False), "orb": (256, True)}

Progress = Callable[[str, int, int | None], None]


def _no_progress(stage: str, done: int, total: int | None) -> None:
    pass


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
    features: LocalFeatureIndex | None = None
    rebuilt: list[str] = field(default_factory=list)
    #: Descriptors each work keeps in `features`.
    per_work: int = 300

    def add(self, asset_id: int, vector: np.ndarray | None, hash_hex: dict[str, str],
            local: LocalFeatures | None = None) -> None:
        """Add one work to every index (`local`: its features of the shortlist index's kind)."""
        ids = np.array([asset_id], dtype=np.int64)
        if self.vectors is not None and vector is not None:
            self.vectors.add(ids, vector.reshape(1, -1).astype(np.float32))
        for name, bits in HASH_INDEXES.items():
            self.hashes[name].add(ids, hex_to_codes([hash_hex[name]], bits))
        if self.features is not None and local is not None:  # a new work: nothing of it held yet
            self.features.add(asset_id, _sampled(local, self.per_work))

    def remove(self, asset_ids: list[int]) -> None:
        """Forget works in every index."""
        ids = np.asarray(asset_ids, dtype=np.int64)
        if self.vectors is not None:
            self.vectors.remove(ids)
        for index in self.hashes.values():
            index.remove(ids)
        if self.features is not None:
            self.features.remove(ids)


def _paths(ws: Workspace) -> dict[str, object]:
    return {"vectors": ws.index_dir / "embeddings.faiss", "features": ws.index_dir / "local-features.faiss",
            **{name: ws.index_dir / f"{name}.faiss" for name in HASH_INDEXES}}


def version_stamp(ws: Workspace) -> tuple:
    """A cheap stamp of the index files on disk: it changes whenever any of them is saved again (each save
    replaces its manifest by a rename), so a long-lived detector knows when to load them again."""
    stamp = []
    for path in _paths(ws).values():
        try:
            info = manifest_path(path).stat()
        except FileNotFoundError:
            stamp.append(None)
            continue
        stamp.append((info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(stamp)


def content_stamp(ws: Workspace) -> dict[str, str | None]:
    """What the index files hold, by the checksum each manifest records of its file (None: no file yet or an
    unreadable manifest). The same manifests as `version_stamp`, read for their content rather than their
    inode and time: it is equal on every machine that shares the files, and it changes whenever a work is
    added, removed or fingerprinted again (each such save writes a new index and manifest)."""
    stamp: dict[str, str | None] = {}
    for name, path in _paths(ws).items():
        try:
            stamp[name] = read_manifest(path).get("sha256")
        except IndexFileError:
            stamp[name] = None
    return stamp


def set_threads(threads: int) -> None:
    """FAISS's OpenMP pool and NumPy's BLAS threads are process-wide; the edges set both once from
    `index.threads`. Detection's matrix products (the exact stage's votes, verification's neighbours) are
    small: a second BLAS thread mostly spins, adding CPU time without taking wall time off."""
    faiss.omp_set_num_threads(max(1, threads))
    threadpool_limits(max(1, threads), user_api="blas")


def load(ws: Workspace, store: Store, embedder: Embedder | None, settings: IndexSettings, *,
         kind: str = "sift", shortlist: ShortlistSettings | None = None,
         progress: Progress = _no_progress) -> WorkIndexes:
    """Open the index files, rebuilding any that cannot be trusted.

    `settings.search_params` tune the embedding index when it uses `settings.factory`. `kind` is
    the local feature kind the shortlist index holds; its rebuilds report to `progress`.
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
        result.vectors = tune(index, settings.factory, settings.search_params)
    result.features, rebuilt = load_local(ws, store, kind, shortlist or ShortlistSettings(), progress)
    result.per_work = (shortlist or ShortlistSettings()).per_work
    if rebuilt:
        result.rebuilt.append("local-features")
    return result


def save(ws: Workspace, indexes: WorkIndexes, embedder: Embedder | None, *, local: bool = True) -> None:
    """Write the index files; `local=False` leaves the (largest) local-feature index as it is."""
    paths = _paths(ws)
    for name, index in indexes.hashes.items():
        index.save(paths[name], {"hash": name})
    if indexes.vectors is not None and embedder is not None:
        indexes.vectors.save(paths["vectors"], {"embedder": embedder.id})
    if local and indexes.features is not None:
        save_local(ws, indexes.features)


def rebuild(ws: Workspace, store: Store, embedder: Embedder | None, settings: IndexSettings, *,
            kind: str = "sift", shortlist: ShortlistSettings | None = None,
            progress: Progress = _no_progress) -> WorkIndexes:
    """Rebuild every index file from the database, retraining the shortlist index (`copyhound reindex`)."""
    for path in _paths(ws).values():
        path.unlink(missing_ok=True)
    return load(ws, store, embedder, settings, kind=kind, shortlist=shortlist, progress=progress)


def stats(ws: Workspace, works: int) -> list[dict]:
    """What each index file holds and costs, from its manifest (nothing is rebuilt; the local-feature
    index is read to count its works).

    `bytes` is the file's size, which is also about what the index occupies in memory.
    """
    rows = []
    for name, path in _paths(ws).items():
        try:
            manifest = read_manifest(path)
            # The local index holds many entries per work; only its lists know how many works.
            held = len(LocalFeatureIndex.load(path)[0].work_ids()) if name == "features" else manifest.get("count")
        except IndexFileError as e:
            rows.append({"index": name, "file": path.name, "state": e.reason})
            continue
        entries, size = manifest.get("count"), manifest.get("bytes")
        rows.append({
            "index": name, "file": path.name, "state": "ok", "works": held, "entries": entries, "bytes": size,
            "bytes_per_work": round(size / held) if held else None,
            "kind": manifest.get("feature_kind") or manifest.get("factory") or f"{manifest.get('bits')} bits",
            "lists": manifest.get("lists"), "trained_for": manifest.get("trained_for"),
            "trained_at": manifest.get("trained_at"), "mirror_paired": manifest.get("mirror_paired"),
        })
    return rows


# -- the local-feature shortlist index ---------------------------------------------------------

def local_index_path(ws: Workspace):
    return _paths(ws)["features"]


def save_local(ws: Workspace, index: LocalFeatureIndex) -> None:
    index.save(local_index_path(ws), {"feature_kind": "orb" if index.binary else "sift"})


def load_local(ws: Workspace, store: Store, kind: str, shortlist: ShortlistSettings,
               progress: Progress = _no_progress) -> tuple[LocalFeatureIndex, bool]:
    """The saved shortlist index if it can be trusted and is not due for (re)training, else a
    fresh one built from the database and saved; the flag says whether it was rebuilt."""
    if kind not in LOCAL_KINDS:
        raise ConfigError(f"match.local_features {kind!r} is not known; use one of: {', '.join(LOCAL_KINDS)}.")
    path = local_index_path(ws)
    expected_ids = set(store.asset_ids_with_features(kind))
    index = None
    if path.exists():
        try:
            index, _ = LocalFeatureIndex.load(path, expect={"feature_kind": kind}, nprobe=shortlist.nprobe)
        except IndexFileError as e:
            log.warning("rebuilding %s: %s", path.name, e)
        else:
            if not _in_step(index, store, kind, expected_ids):
                log.warning("rebuilding %s: it is out of step with the database", path.name)
                index = None
    if index is not None and not needs_training(index, shortlist):
        return index, False
    index = build_local(store, kind, sorted(expected_ids), shortlist, progress)
    save_local(ws, index)
    return index, True


def _in_step(index: LocalFeatureIndex, store: Store, kind: str, expected_ids: set[int]) -> bool:
    """The index holds every work with stored features, and nothing else. A work whose stored
    features have no keypoints (a flat or very dark picture) has nothing to hold and is not missing."""
    held = set(index.work_ids().tolist())
    if not held <= expected_ids:
        return False
    return all(not len(LocalFeatures.from_bytes(store.asset_features(asset_id, kind)))
               for asset_id in expected_ids - held)


def needs_training(index: LocalFeatureIndex, shortlist: ShortlistSettings) -> bool:
    """The retrain rule (module docstring): exact past the exact limit, or trained for far fewer."""
    if not index.lists:
        return len(index) > shortlist.exact_limit
    return len(index) > shortlist.retrain_growth * index.trained_for


def build_local(store: Store, kind: str, asset_ids: list[int], shortlist: ShortlistSettings,
                progress: Progress = _no_progress) -> LocalFeatureIndex:
    """A shortlist index of `asset_ids`' stored features: trained when they exceed the exact limit."""
    dim, binary = LOCAL_KINDS[kind]
    index = LocalFeatureIndex(dim, binary=binary, code_bytes=shortlist.code_bytes, nprobe=shortlist.nprobe)

    def sample_of(asset_id: int) -> np.ndarray | None:
        data = store.asset_features(asset_id, kind)
        return _sampled(LocalFeatures.from_bytes(data), shortlist.per_work) if data is not None else None

    expected = len(asset_ids) * shortlist.per_work
    if expected > shortlist.exact_limit:
        lists = lists_for(expected)
        wanted, picked, seen = training_size(lists), [], 0
        order = list(asset_ids)
        random.Random(0).shuffle(order)  # a random subset of the works trains the lists
        for asset_id in order:
            if seen >= wanted:
                break
            sample = sample_of(asset_id)
            if sample is not None:
                picked.append(sample)
                seen += len(sample)
            progress("training", seen, wanted)
        training = np.concatenate(picked) if picked else None
        lists = min(lists, _lists_within(len(training) if training is not None else 0))
        if lists >= MIN_LISTS:  # else too few descriptors were stored to train on: stay exact
            index.train(training, lists, trained_for=expected, mirror=MIRROR_PERMUTATION if kind == "sift" else None)
    for done, asset_id in enumerate(asset_ids, 1):
        sample = sample_of(asset_id)
        if sample is not None:
            index.add(asset_id, sample)
        progress("indexing", done, len(asset_ids))
    return index


def _lists_within(sample_size: int) -> int:
    """The most lists (a power of two) that `sample_size` training descriptors can train."""
    lists = 1
    while training_size(lists * 2) <= sample_size:
        lists *= 2
    return lists


def _sampled(feats: LocalFeatures, per_work: int) -> np.ndarray:
    return feats.descriptors[spread_sample(feats, per_work)]


def tune(index: VectorIndex, factory: str, search_params: str) -> VectorIndex:
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
    rows.append(_local_health(paths["features"], store))
    return rows


def _local_health(path, store: Store) -> dict:
    entries, state = None, "ok"
    if not path.exists():
        state = "missing (the next scan builds it)"
    else:
        try:
            index, manifest = LocalFeatureIndex.load(path)
            entries = len(index)
            kind = manifest["feature_kind"]
            if not _in_step(index, store, kind, set(store.asset_ids_with_features(kind))):
                state = "out of step with the database (the next scan rebuilds it)"
        except IndexFileError as e:
            state = f"unusable: {e.detail} (the next scan rebuilds it)"
    return {"index": "local-features", "entries": entries, "state": state}
