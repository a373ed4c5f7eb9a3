"""Nearest registered works by embedding: L2-normalised float32 vectors compared by inner product.

Inner product of unit vectors is cosine similarity, so scores run from -1 to 1 and a caller's
threshold (e.g. `clip_min_cosine`) applies directly. Vectors are therefore checked to be unit
length on the way in rather than silently normalised: a caller that forgot to normalise would
otherwise get scores that mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from index import persist
from index import search_params as params
from index.errors import IndexInputError, describe, faiss_reason, require_int
from index.ids import check_ids, stored_ids

KIND = "vector"
FACTORY_EXAMPLES = "'Flat' (exact), 'HNSW32,Flat', 'HNSW32,SQ8', 'IVF256,Flat', 'IVF1024,PQ32'"
_UNIT_TOLERANCE = 1e-3


def choose_factory(count: int, exact_limit: int, approximate: str) -> str:
    """'Flat' (exact search) for up to `exact_limit` vectors, else the `approximate` factory string."""
    count = require_int("count", count, 0)
    return "Flat" if count <= require_int("exact_limit", exact_limit, 0) else approximate


class VectorIndex:
    """Caller ids (int64 >= 0, e.g. asset ids) mapped to unit vectors, searched by inner product.

    `factory` is a FAISS index factory string; the id map is kept inside the FAISS index
    (IndexIDMap2), so a saved file is self-contained. Factories that need training (IVF, PQ)
    are trained on the vectors of the first `add`, which must therefore bring enough of them
    (at least one per IVF list). Re-adding an id replaces its vector. `remove` works for every
    factory: all but flat storage (HNSW, IVF) are rebuilt from their stored vectors, which
    costs a pass over the whole index, so batch removals and replacements.

    `search_params` sets how much of an approximate index a search visits (see set_search_params).
    """

    def __init__(self, dim: int, factory: str = "Flat", search_params: str = ""):
        self.dim = require_int("dim", dim, 1)
        self.factory = factory
        self._index = faiss.IndexIDMap2(_build(self.dim, factory))
        self.set_search_params(search_params)

    @property
    def search_params(self) -> str:
        """The parameters searches run with, defaults included, e.g. 'efSearch=128'; '' for exact."""
        return params.describe(self._params)

    def set_search_params(self, search_params: str) -> None:
        """Search with `search_params`: FAISS ParameterSpace pairs such as 'efSearch=128' (HNSW) or
        'nprobe=32' (IVF), comma-separated; any parameter left out keeps its measured default
        (efSearch 256; nprobe 1/32 of the IVF lists, at least 8), so '' means all defaults.

        Raises IndexInputError, naming the parameter and the ones that apply, for a parameter the
        factory does not use (Flat uses none) or a value out of range: a silently ignored setting
        would look like a tuned index. Takes effect at once; nothing is rebuilt.
        """
        inner = self._index.index
        chosen = {**params.defaults(inner), **params.parse(search_params, inner, self.factory)}
        params.apply(self._index, chosen)
        self._params = chosen

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """The ids held, int64[len], in storage order."""
        return stored_ids(self._index)

    def add(self, ids, vectors: np.ndarray) -> None:
        """Store `vectors` (float32[n, dim], unit length) under `ids`, replacing any already held."""
        vectors = self._check_vectors(vectors, "vectors")
        ids = check_ids(ids, count=len(vectors))
        if not len(ids):
            return
        if not self._index.is_trained:
            self._train(vectors)
        self._drop(ids)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids) -> int:
        """Forget `ids`; returns how many were held (ids not held are ignored)."""
        return self._drop(check_ids(ids))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best (scores float32[n, k], ids int64[n, k]) per query row, best first.

        Where fewer than `k` are held (or an approximate index finds fewer), the remaining
        ids are -1 and their scores -inf.
        """
        vectors = self._check_vectors(vectors, "query vectors")
        k = require_int("k", k, 1)
        if len(self) == 0 or not len(vectors):
            return (np.full((len(vectors), k), -np.inf, dtype=np.float32),
                    np.full((len(vectors), k), -1, dtype=np.int64))
        scores, ids = self._index.search(vectors, k)
        scores = scores.astype(np.float32)
        scores[ids == -1] = -np.inf
        return scores, ids.astype(np.int64)

    def save(self, path: Path, meta: dict) -> None:
        """Write the index to `path` and its manifest (meta + dim, factory, count, sha256) beside it."""
        payload = faiss.serialize_index(self._index).tobytes()
        persist.save(path, payload, KIND, {"dim": self.dim, "factory": self.factory}, len(self), meta)

    @classmethod
    def load(cls, path: Path, expect: dict | None = None,
             search_params: str = "") -> tuple[VectorIndex, dict]:
        """The index saved at `path` and its whole manifest (the saved meta plus recorded keys),
        set to search with `search_params` (as set_search_params; '' for the defaults).

        Search parameters are not taken from the file: they are the loader's runtime choice, so
        retuning needs no rebuild, and whatever FAISS wrote with the graph or lists is overridden.
        Raises IndexFileError when the file or manifest is missing, truncated or altered, or
        when a key of `expect` (e.g. {"embedder": ...}) differs from the manifest, and
        IndexInputError for search_params the saved factory does not use.
        """
        payload, manifest = persist.load(path, KIND, expect)
        index = persist.parse(path, payload, faiss.deserialize_index, faiss.IndexIDMap2,
                              manifest.get("dim"), manifest.get("count"))
        loaded = cls.__new__(cls)
        loaded.dim = int(index.d)
        loaded.factory = manifest.get("factory")
        loaded._index = index
        loaded.set_search_params(search_params)
        return loaded, manifest

    def _check_vectors(self, vectors, name: str) -> np.ndarray:
        if not isinstance(vectors, np.ndarray) or vectors.dtype != np.float32 or vectors.ndim != 2 \
                or vectors.shape[1] != self.dim:
            raise IndexInputError(
                f"{name} must be a float32 array of shape [n, {self.dim}], got {describe(vectors)}; "
                "convert with np.asarray(v, dtype=np.float32).reshape(-1, dim)"
            )
        if not np.isfinite(vectors).all():
            raise IndexInputError(f"{name} contain NaN or infinite values; fix the embedder output")
        norms = np.linalg.norm(vectors, axis=1)
        off = np.flatnonzero(np.abs(norms - 1) > _UNIT_TOLERANCE)
        if len(off):
            raise IndexInputError(
                f"{name} must be L2-normalised (unit length), row {int(off[0])} has norm "
                f"{float(norms[off[0]]):.4f}; divide each row by np.linalg.norm(row)"
            )
        return np.ascontiguousarray(vectors)

    def _train(self, vectors: np.ndarray) -> None:
        ivf = faiss.try_extract_index_ivf(self._index.index)
        if ivf is not None and len(vectors) < ivf.nlist:
            raise IndexInputError(
                f"factory {self.factory!r} is trained on the first vectors added and needs at least "
                f"{ivf.nlist} (one per IVF list), got {len(vectors)}; add more at once, use fewer "
                "lists, or 'Flat' at this size (see choose_factory)"
            )
        try:
            self._index.train(vectors)
        except RuntimeError as e:
            raise IndexInputError(
                f"factory {self.factory!r} cannot be trained on {len(vectors)} vectors "
                f"({faiss_reason(e)}); add more at once, or use 'Flat' at this size"
            ) from e

    def _drop(self, ids: np.ndarray) -> int:
        present = ids[np.isin(ids, self.ids())]
        if not len(present):
            return 0
        # Only flat storage renumbers what stays after a removal, as the id map requires; IVF
        # removes without renumbering (the map would then point at the wrong vectors) and HNSW
        # cannot remove at all. Those are rebuilt (with the search parameters set again).
        if isinstance(faiss.downcast_index(self._index.index), faiss.IndexFlatCodes):
            return int(self._index.remove_ids(present))
        self._rebuild_without(present)
        return len(present)

    def _rebuild_without(self, ids: np.ndarray) -> None:
        # A fresh copy of the (already trained) inner index, refilled with what stays, decoded
        # from storage: exact for Flat storage; for lossy codecs (PQ, SQ) a decoded vector
        # re-encodes to its own code, so only graph links or list order may differ.
        held = self.ids()
        keep = ~np.isin(held, ids)
        inner = self._index.index
        ivf = faiss.try_extract_index_ivf(inner)
        if ivf is not None:
            ivf.make_direct_map()  # without it IVF "reconstructs" garbage instead of failing
        vectors = inner.reconstruct_n(0, inner.ntotal)[keep]
        fresh = faiss.clone_index(inner)
        fresh.reset()
        fresh_ivf = faiss.try_extract_index_ivf(fresh)
        if fresh_ivf is not None:
            fresh_ivf.set_direct_map_type(faiss.DirectMap.NoMap)
        rebuilt = faiss.IndexIDMap2(fresh)
        if keep.any():
            rebuilt.add_with_ids(vectors, held[keep])
        self._index = rebuilt
        params.apply(rebuilt, self._params)


def _build(dim: int, factory: str):
    if not isinstance(factory, str) or not factory.strip():
        raise IndexInputError(
            f"factory must be a FAISS factory string such as {FACTORY_EXAMPLES}, got {factory!r}"
        )
    if "IDMap" in factory:
        raise IndexInputError(
            f"factory {factory!r} must not contain IDMap: ids are mapped by VectorIndex itself; "
            f"drop that part (valid examples: {FACTORY_EXAMPLES})"
        )
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise IndexInputError(
            f"factory {factory!r} is not a valid FAISS index factory string for dim {dim} "
            f"({faiss_reason(e)}); valid examples: {FACTORY_EXAMPLES}"
        ) from e
