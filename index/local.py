"""Registered works' local descriptors in one index; a candidate's descriptors vote for works.

Each held descriptor is labelled with its work's id (many descriptors per id). The index has two
stages, chosen by its owner:
- exact: a flat index, every query descriptor compared with every held one. Right while the
  catalogue is small (and the default before any training), but linear in the catalogue and
  512 bytes per float descriptor.
- trained: an inverted file (FAISS IVF). Its coarse lists are k-means centroids of the works' own
  descriptors (`train`); float descriptors (RootSIFT) are stored as 4-bit product-quantisation
  codes of `code_bytes` bytes (two sub-quantisers per byte) that FAISS scans with SIMD
  ("fast-scan", several times faster than 8-bit codes at the same size), binary ones (ORB) as
  they are. A query descriptor visits only `nprobe` lists, and the number of lists grows in
  proportion to the descriptors held (`lists_for`, about `LIST_LENGTH` entries each), so a query
  scans about the same number of codes at any catalogue size; only the coarse quantiser, an HNSW
  graph once there are many lists, grows, and that logarithmically. Each entry costs its code
  plus an 8-byte id. Many lists are trained in two levels of k-means (`_centroids`), which costs
  about 2 sqrt(lists) distances per training point instead of `lists`.

Mirror pairs (float descriptors whose mirror image is a permutation of their components, as SIFT's): trained with
that permutation, the lists come in pairs, list i + lists/2 being list i's mirror image (`_mirror_paired_centroids`).
A permutation keeps distances, so the lists nearest a descriptor's mirror image are the partners of the lists nearest
the descriptor: a search given a view and its mirror image (`votes_per_view`'s `mirror_of`) finds the view's lists
and reads the mirror image's off them. Finding lists (the coarse quantiser's search) was half of the screen's search
at 100,000 works, and every candidate is searched mirrored too.

Votes follow Lowe's ratio test, with the second neighbour taken from ANOTHER work: a descriptor
votes for the work of its nearest neighbour when that is clearly closer than the nearest
descriptor of any other work (a work's own repeated texture does not cancel its votes).

Pure computation over numpy arrays and files; imports neither `detector` nor `crawlers`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from index import persist
from index.errors import IndexFileError, IndexInputError, describe, require_int

KIND = "local"
#: Neighbours fetched per query descriptor, to find the nearest one of another work.
NEIGHBOURS = 8
#: Id width FAISS stores beside every entry.
ID_BYTES = 8
#: Entries an inverted list holds on average (see lists_for); measured in docs/benchmarks.md.
LIST_LENGTH = 1000
MIN_LISTS, _MAX_LISTS = 16, 262_144
#: Above this many lists the coarse quantiser is an HNSW graph rather than a flat scan, and the
#: lists are trained in two levels of k-means.
_HNSW_LISTS = 1024
_TRAIN_POINTS_PER_LIST = 32
_KMEANS_ITERATIONS = 10
#: Distances computed at once by the exact stage's votes: bounds its working memory at 64 MB.
_BLOCK_FLOATS = 16_000_000


@dataclass(frozen=True)
class NearFirst:
    """A search of a trained index in two steps (`votes_near_first`): each query descriptor's `lists` nearest lists
    first; then the rest of its lists, for the descriptors of each view (a candidate whole, mirrored, a region)
    that gave one work `votes` votes in the first step.

    The lists are found once. A copy's descriptors lie near its work's, in the lists nearest them, so the view
    that shows a copy has most of its votes in the first step; an unrelated image's views have a few chance votes
    spread over many works, and most stop there. The neighbours of a view that goes on are those of one search
    of all its lists (the two steps' merged)."""

    lists: int
    votes: int

    def __post_init__(self):
        require_int("lists", self.lists, 1)
        require_int("votes", self.votes, 1)


def lists_for(descriptors: int) -> int:
    """Inverted lists for `descriptors` held: the power of two nearest n / LIST_LENGTH, 16 to 262,144."""
    descriptors = require_int("descriptors", descriptors, 1)
    return int(min(_MAX_LISTS, max(MIN_LISTS, 2 ** round(math.log2(descriptors / LIST_LENGTH)))))


def training_size(lists: int) -> int:
    """How many descriptors `train` needs for `lists` lists (and uses; more are sampled down)."""
    return lists * _TRAIN_POINTS_PER_LIST


class LocalFeatureIndex:
    """Work ids mapped to many descriptors each; `votes` counts, per work, the query descriptors
    that pass the ratio test.

    binary=False: float32[n, dim] descriptors compared by L2 (RootSIFT, dim 128);
    binary=True: uint8[n, dim // 8] codes compared by Hamming distance (ORB, dim 256 bits).
    """

    def __init__(self, dim: int, binary: bool = False, code_bytes: int = 16, nprobe: int = 16):
        self.dim = require_int("dim", dim, 8)
        self.binary = bool(binary)
        self.code_bytes = require_int("code_bytes", code_bytes, 1)
        if not binary and dim % (2 * code_bytes):
            raise IndexInputError(
                f"2 x code_bytes must divide dim {dim} (two 4-bit product-quantisation codes a byte), got {code_bytes}"
            )
        self.nprobe = require_int("nprobe", nprobe, 1)
        self.trained_on = self.trained_for = 0
        self.trained_at: str | None = None
        self.mirror_paired = False
        self._index = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(dim)) if binary \
            else faiss.IndexIDMap(faiss.IndexFlatL2(dim))
        self._by_work: _ByWork | None = None  # the exact stage's descriptors grouped by work, made when first needed

    # -- stage ---------------------------------------------------------------------------------

    @property
    def lists(self) -> int:
        """Inverted lists (0 while exact)."""
        ivf = self._ivf()
        return int(ivf.nlist) if ivf is not None else 0

    def train(self, sample: np.ndarray, lists: int | None = None, trained_for: int | None = None,
              mirror: np.ndarray | None = None) -> None:
        """Become an (empty) inverted file whose lists are k-means centroids of `sample`.

        `mirror` (float descriptors only): the permutation of components that gives a descriptor's mirror image
        (`detector.features.MIRROR_PERMUTATION` for SIFT); the lists are then trained in mirror pairs (see the
        module docstring).

        `trained_for`: how many descriptors the lists are meant to hold (default: the sample's
        size), recorded so that an owner can tell when the index has outgrown them.
        `lists` defaults to `lists_for(len(sample))`; the sample needs at least
        `training_size(lists)` rows and is sampled down to that. Anything held is dropped: the
        caller re-adds from its source of truth (stored features), since codes cannot be re-encoded.
        """
        sample = self._check(sample, "training sample")
        lists = lists_for(len(sample)) if lists is None else require_int("lists", lists, 1)
        if len(sample) < training_size(lists):
            raise IndexInputError(
                f"training {lists} lists needs at least {training_size(lists)} descriptors, got {len(sample)}; "
                "train fewer lists or keep the index exact at this size"
            )
        if mirror is not None:
            mirror = _permutation(mirror, self.dim, self.binary, lists)
        rng = np.random.default_rng(0)  # a fixed sample: the same works train the same lists
        sample = sample[np.sort(rng.choice(len(sample), training_size(lists), replace=False))]
        if self.binary:
            quantiser = faiss.IndexBinaryHNSW(self.dim, 32) if lists > _HNSW_LISTS else faiss.IndexBinaryFlat(self.dim)
            index = faiss.IndexBinaryIVF(quantiser, self.dim, lists)
            quantiser.this.disown()  # the IVF owns and frees its quantiser, so Python must not
            index.own_fields = True
            clustering = index.cp
        else:
            coarse = f"IVF{lists}_HNSW32" if lists > _HNSW_LISTS else f"IVF{lists}"
            index = faiss.index_factory(self.dim, f"{coarse},PQ{2 * self.code_bytes}x4fs", faiss.METRIC_L2)
            quantiser = faiss.extract_index_ivf(index).quantizer
            clustering = faiss.extract_index_ivf(index).cp
            faiss.downcast_index(faiss.extract_index_ivf(index)).pq.cp.min_points_per_centroid = 1
        clustering.niter = _KMEANS_ITERATIONS
        clustering.min_points_per_centroid = 1  # the sample is sized above
        # FAISS keeps a quantiser that already holds its lists' centroids
        if mirror is not None:
            quantiser.add(_mirror_paired_centroids(sample, lists, mirror))
        elif lists > _HNSW_LISTS:
            quantiser.add(_centroids(sample, lists, self.binary))
        index.train(sample)
        self._index, self._by_work = index, None
        self.mirror_paired = mirror is not None
        self.trained_on = len(sample)
        self.trained_for = require_int("trained_for", trained_for, 1) if trained_for is not None else len(sample)
        self.trained_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._ivf().nprobe = min(self.nprobe, lists)

    # -- contents ------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Descriptors held."""
        return int(self._index.ntotal)

    def work_ids(self) -> np.ndarray:
        """The distinct work ids held, sorted."""
        ivf = self._ivf()
        if ivf is None:
            return np.unique(faiss.vector_to_array(self._index.id_map).astype(np.int64))
        lists = ivf.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                 for i in range(ivf.nlist) if lists.list_size(i)]
        return np.unique(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)

    def add(self, work_id: int, descriptors: np.ndarray) -> None:
        """Hold `descriptors` for `work_id`, besides any it holds already (to replace a work's,
        `remove` it first: finding what it holds means visiting every list, so adds do not)."""
        work_id = require_int("work_id", work_id, 0)
        descriptors = self._check(descriptors, "descriptors")
        if len(descriptors):
            self._index.add_with_ids(descriptors, np.full(len(descriptors), work_id, dtype=np.int64))
            self._by_work = None

    def remove(self, work_ids) -> int:
        """Forget every descriptor of `work_ids`; returns how many descriptors were dropped."""
        ids = np.asarray(list(work_ids), dtype=np.int64)
        if not len(ids) or not len(self):
            return 0
        self._by_work = None
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        if removed and not self.binary and self._ivf() is not None:
            self._clear_vacated_slots()
        return removed

    def _clear_vacated_slots(self) -> None:
        """Zero the codes left behind in each list's last block by a removal.

        Fast-scan lists pack 32 codes to a block, 4 bits at a time. FAISS's `remove_ids` moves a list's last
        codes into the removed ones' places and shrinks the list, but leaves the vacated places of its last
        block as they were, and a later `add` ORs its codes into them (FAISS 1.15.1): works added after a
        removal found themselves first for 96-98% of their descriptors in tests/index/test_local_index.py
        (16 and 256 lists), and for 27% in a trial with 2,048 lists, as a catalogue of 2 million descriptors
        has, instead of all of them. Zeroed, the places take new codes cleanly.
        """
        ivf = faiss.downcast_index(self._ivf())
        lists = faiss.downcast_InvertedLists(ivf.invlists)
        packer = ivf.get_CodePacker()
        zero = np.zeros(packer.code_size, np.uint8)
        for list_no in range(ivf.nlist):
            blocks, held = divmod(lists.list_size(list_no), packer.nvec)
            if held:
                start = blocks * packer.block_size
                last = faiss.rev_swig_ptr(lists.get_codes(list_no), start + packer.block_size)[start:].reshape(1, -1)
                for slot in range(held, packer.nvec):
                    packer.pack_1(zero, slot, last)

    def memory_bytes(self) -> int:
        """Bytes the index occupies (its serialised size: codes, ids, centroids)."""
        return len(self._serialise())

    # -- search --------------------------------------------------------------------------------

    def votes(self, descriptors: np.ndarray, ratio: float = 0.8) -> dict[int, int]:
        """Per work id, how many of `descriptors` vote for it (see the module docstring)."""
        return self.votes_per_view([descriptors], ratio)[0]

    def votes_per_view(self, views: list[np.ndarray], ratio: float = 0.8, nprobe: int | None = None,
                       mirror_of: list[int | None] | None = None) -> list[dict[int, int]]:
        """`votes` of each of `views` (a candidate whole, mirrored, its regions), found in one search: FAISS
        answers one batch of queries faster than the same queries in several calls. `nprobe`: lists this search
        visits in a trained index, instead of the index's own `nprobe` (ignored while it is exact).

        `mirror_of[i]`: the position of the view that view i is the mirror image of (its descriptors permuted by
        the index's training `mirror`, row for row), or None. A mirror-paired index finds such a view's lists
        from its original's; any other index searches it as it searches every view.
        """
        return self.votes_near_first(views, ratio, nprobe, mirror_of)[0]

    def votes_near_first(self, views: list[np.ndarray], ratio: float = 0.8, nprobe: int | None = None,
                         mirror_of: list[int | None] | None = None, near: NearFirst | None = None
                         ) -> tuple[list[dict[int, int]], bool]:
        """`votes_per_view`, searched in two steps where `near` asks for them (see `NearFirst`), and False when the
        search stopped after every descriptor's nearest `near.lists` lists (no view gave a work `near.votes` votes
        there, and every view's votes are those lists'), True otherwise. One step (True) in an exact or binary
        index, or when `nprobe` lists are no more than `near.lists`."""
        views = [self._check(view, "query descriptors") for view in views]
        partners = self._partner_rows(views, mirror_of) if mirror_of is not None else None
        if not views or len(self) < 2:
            return [{} for _ in views], True
        partners = partners if self.mirror_paired else None
        descriptors = np.concatenate(views)
        bounds = np.cumsum([len(view) for view in views])[:-1]

        def per_view(winners: np.ndarray) -> list[dict[int, int]]:
            return [_counted(part) for part in np.split(winners, bounds)]

        probe = self._probe(nprobe)
        if near is None or self.binary or self._ivf() is None or probe <= near.lists or not len(descriptors):
            return per_view(self._winners(descriptors, ratio, nprobe, partners)), True
        neighbours = min(NEIGHBOURS, len(self))
        coarse_distances, lists = self._assigned(descriptors, probe, partners)
        first = self._scan(descriptors, neighbours, coarse_distances[:, :near.lists], lists[:, :near.lists])
        winners = self._ratio_winners(*first, ratio)
        going_on = [max(votes.values(), default=0) >= near.votes for votes in per_view(winners)]
        if not any(going_on):
            return per_view(winners), False
        rows = np.repeat(going_on, [len(view) for view in views])
        rest = self._scan(descriptors[rows], neighbours, coarse_distances[rows, near.lists:], lists[rows, near.lists:])
        nearest = _nearest_of((first[0][rows], first[1][rows]), rest, neighbours)
        winners[rows] = self._ratio_winners(*nearest, ratio)
        return per_view(winners), True

    def _partner_rows(self, views: list[np.ndarray], mirror_of: list[int | None]) -> np.ndarray:
        """Per query row, the row it is the mirror image of, or -1 (see `votes_per_view`)."""
        if len(mirror_of) != len(views):
            raise IndexInputError(f"mirror_of names {len(mirror_of)} views' originals, for {len(views)} views; "
                                  "give one entry (a position or None) per view")
        starts = np.concatenate(([0], np.cumsum([len(view) for view in views])))
        partners = np.full(starts[-1], -1, np.int64)
        for position, original in enumerate(mirror_of):
            if original is None:
                continue
            if not 0 <= original < len(views) or mirror_of[original] is not None \
                    or len(views[original]) != len(views[position]):
                raise IndexInputError(
                    f"view {position} is given as the mirror image of view {original}, which is not a view of the "
                    "same length that is its own original; give the position of the view it permutes")
            partners[starts[position]:starts[position + 1]] = np.arange(starts[original], starts[original + 1])
        return partners

    def _probe(self, nprobe: int | None) -> int:
        """Lists a search of a trained index visits per descriptor: `nprobe`, else the index's own."""
        ivf = self._ivf()
        if ivf is None:
            return 0
        return min(require_int("nprobe", nprobe, 1) if nprobe is not None else ivf.nprobe, self.lists)

    def _winners(self, descriptors: np.ndarray, ratio: float, nprobe: int | None = None,
                 partners: np.ndarray | None = None) -> np.ndarray:
        """Per query descriptor, the work id it votes for, or -1 where it votes for none."""
        if not len(descriptors):
            return np.zeros(0, np.int64)
        if not self.binary and self._ivf() is None:
            return self._exact_winners(descriptors, ratio ** 2)
        neighbours = min(NEIGHBOURS, len(self))
        if partners is not None:
            distances, ids = self._scan(descriptors, neighbours, *self._assigned(descriptors, self._probe(nprobe),
                                                                                  partners))
        elif nprobe is None or self._ivf() is None:
            distances, ids = self._index.search(descriptors, neighbours)
        else:
            visit = faiss.SearchParametersIVF()
            visit.nprobe = self._probe(nprobe)
            distances, ids = self._index.search(descriptors, neighbours, params=visit)
        return self._ratio_winners(distances, ids, ratio)

    def _ratio_winners(self, distances: np.ndarray, ids: np.ndarray, ratio: float) -> np.ndarray:
        """Per query row of its neighbours' `distances` and work `ids` (nearest first), the work it votes for, or
        -1 (Lowe's ratio test against the nearest descriptor of another work)."""
        distances = distances.astype(np.float64)
        first = ids[:, 0]
        other = (ids != first[:, None]) & (ids >= 0)
        has_other = other.any(axis=1)
        # Nearest descriptor of another work; where all fetched neighbours are the first one's
        # work, the farthest fetched one bounds it from below.
        second = np.where(has_other, distances[np.arange(len(ids)), other.argmax(axis=1)], distances[:, -1])
        factor = ratio if self.binary else ratio ** 2  # Hamming distances; squared L2 distances
        keep = (first >= 0) & ((distances[:, 0] < factor * second) | ~has_other)
        return np.where(keep, first, -1).astype(np.int64)

    def _assigned(self, descriptors: np.ndarray, probe: int, partners: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Each query row's `probe` nearest lists and their centroids' distances, nearest first: the coarse
        quantiser asked only for the rows that are no other's mirror image (`partners` -1; all rows without
        `partners`), since a mirror image's nearest lists are its original's partners, at the same distances."""
        ivf = self._ivf()
        if partners is None:
            return ivf.quantizer.search(descriptors, probe)
        own = partners < 0
        coarse_distances = np.empty((len(descriptors), probe), np.float32)
        lists = np.empty((len(descriptors), probe), np.int64)
        coarse_distances[own], lists[own] = ivf.quantizer.search(descriptors[own], probe)
        mirrored = ~own
        coarse_distances[mirrored] = coarse_distances[partners[mirrored]]
        lists[mirrored] = (lists[partners[mirrored]] + self.lists // 2) % self.lists
        return coarse_distances, lists

    def _scan(self, descriptors: np.ndarray, k: int, coarse_distances: np.ndarray, lists: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's search of the given `lists` of each query row (with their centroids' `coarse_distances`): the
        `k` nearest held descriptors' distances and work ids."""
        coarse_distances, lists = np.ascontiguousarray(coarse_distances), np.ascontiguousarray(lists)
        visit = faiss.SearchParametersIVF()
        visit.nprobe = lists.shape[1]
        distances, ids = np.empty((len(descriptors), k), np.float32), np.empty((len(descriptors), k), np.int64)
        # The C++ call: FAISS's Python wrapper takes no parameters and asks for the index's own nprobe.
        self._ivf().search_preassigned_c(len(descriptors), faiss.swig_ptr(descriptors), k, faiss.swig_ptr(lists),
                                         faiss.swig_ptr(coarse_distances), faiss.swig_ptr(distances),
                                         faiss.swig_ptr(ids), False, visit)
        return distances, ids

    def neighbours(self, descriptors: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
        """Work ids of the `k` nearest held descriptors of each query descriptor, int64[n, k]
        (-1 where fewer are held): which works contain something like each descriptor."""
        descriptors = self._check(descriptors, "query descriptors")
        k = require_int("k", k, 1)
        if not len(descriptors) or not len(self):
            return np.full((len(descriptors), k), -1, dtype=np.int64)
        _, ids = self._index.search(descriptors, min(k, len(self)))
        return ids.astype(np.int64)

    # -- files ---------------------------------------------------------------------------------

    def save(self, path: Path, meta: dict) -> None:
        """Write the index to `path` and its manifest (meta + shape, count, sha256) beside it."""
        shape = {"dim": self.dim, "binary": self.binary, "code_bytes": self.code_bytes, "lists": self.lists,
                 "trained_on": self.trained_on, "trained_for": self.trained_for, "trained_at": self.trained_at,
                 "mirror_paired": self.mirror_paired}
        persist.save(path, self._serialise(), KIND, shape, len(self), meta)

    @classmethod
    def load(cls, path: Path, expect: dict | None = None, nprobe: int = 16) -> tuple[LocalFeatureIndex, dict]:
        """The index saved at `path` and its manifest; raises IndexFileError (see persist.load)."""
        payload, manifest = persist.load(path, KIND, expect)
        binary = bool(manifest.get("binary"))
        read = faiss.deserialize_index_binary if binary else faiss.deserialize_index
        expected = (faiss.IndexBinaryIDMap, faiss.IndexBinaryIVF) if binary else (faiss.IndexIDMap, faiss.IndexIVF)
        index = persist.parse(path, payload, read, expected, manifest.get("dim"), manifest.get("count"))
        if isinstance(index, faiss.IndexIVF) and not isinstance(index, faiss.IndexIVFPQFastScan):
            raise IndexFileError(path, "format", f"holds {type(index).__name__} codes of an earlier copyhound, "
                                 "not 4-bit fast-scan ones")
        loaded = cls(int(index.d), binary, int(manifest.get("code_bytes", 16)), nprobe)
        loaded._index = index
        loaded.trained_on = int(manifest.get("trained_on", 0))
        loaded.trained_for = int(manifest.get("trained_for", 0))
        loaded.trained_at = manifest.get("trained_at")
        loaded.mirror_paired = bool(manifest.get("mirror_paired")) and loaded._ivf() is not None
        if loaded._ivf() is not None:
            loaded._ivf().nprobe = min(loaded.nprobe, loaded.lists)
        return loaded, manifest

    # -- helpers -------------------------------------------------------------------------------

    def _exact_winners(self, descriptors: np.ndarray, factor: float) -> np.ndarray:
        """`_winners` of the exact float stage, from every query descriptor's squared distances to every held one
        (a matrix product per block of query rows) rather than FAISS's search for the `NEIGHBOURS` nearest,
        whose per-query selection costs several times the product. The same rule, said with distances: the
        nearest work wins when its nearest descriptor is within `factor` of the nearest of any other work,
        or when at least `NEIGHBOURS` of its descriptors are nearer than that (the fetched neighbours would
        all have been its own)."""
        held = self._grouped()
        neighbours = min(NEIGHBOURS, len(self))
        winners = np.full(len(descriptors), -1, np.int64)
        rows = max(1, _BLOCK_FLOATS // len(held.vectors))
        for start in range(0, len(descriptors), rows):
            block = descriptors[start:start + rows]
            squared = squared_l2(block, held.vectors, held.norms)
            per_work = np.minimum.reduceat(squared, held.starts, axis=1)
            first = per_work.argmin(axis=1)
            nearest = per_work[np.arange(len(block)), first]
            per_work[np.arange(len(block)), first] = np.inf
            other = per_work.min(axis=1)  # inf where one work is held: its nearest always wins
            keep = nearest < factor * other
            for work in np.unique(first[~keep]):
                at = np.flatnonzero(~keep & (first == work))
                own = squared[at, held.starts[work]:held.ends[work]]
                keep[at] = (own < other[at, None]).sum(axis=1) >= neighbours
            winners[start:start + len(block)] = np.where(keep, held.works[first], -1)
        return winners

    def _grouped(self) -> _ByWork:
        if self._by_work is None:
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            flat = faiss.downcast_index(self._index.index)
            vectors = faiss.rev_swig_ptr(flat.get_xb(), len(ids) * self.dim).reshape(len(ids), self.dim)
            order = np.argsort(ids, kind="stable")
            works, starts = np.unique(ids[order], return_index=True)
            grouped = np.ascontiguousarray(vectors[order])
            self._by_work = _ByWork(grouped, row_norms(grouped), works, starts,
                                    np.append(starts[1:], len(ids)))
        return self._by_work

    def _ivf(self):
        if self.binary:
            return self._index if isinstance(self._index, faiss.IndexBinaryIVF) else None
        return faiss.try_extract_index_ivf(self._index)

    def _serialise(self) -> bytes:
        write = faiss.serialize_index_binary if self.binary else faiss.serialize_index
        return write(self._index).tobytes()

    def _check(self, descriptors, name: str) -> np.ndarray:
        dtype, width = (np.uint8, self.dim // 8) if self.binary else (np.float32, self.dim)
        if not isinstance(descriptors, np.ndarray) or descriptors.ndim != 2 or descriptors.shape[1] != width:
            raise IndexInputError(
                f"{name} must be a {np.dtype(dtype).name} array of shape [n, {width}], got {describe(descriptors)}"
            )
        return np.ascontiguousarray(descriptors, dtype=dtype)


def row_norms(vectors: np.ndarray) -> np.ndarray:
    """Each row's squared L2 norm."""
    return np.einsum("ij,ij->i", vectors, vectors)


def squared_l2(rows: np.ndarray, held: np.ndarray, held_norms: np.ndarray) -> np.ndarray:
    """Squared L2 distances of each of `rows` to each of `held` (whose `row_norms` are given), float32[rows,
    held], from one matrix product; rounding can take a zero distance a little below zero. The sums are taken
    in place: the matrix is the only large array made."""
    squared = rows @ held.T
    squared *= -2
    squared += row_norms(rows)[:, None]
    squared += held_norms[None, :]
    return squared


@dataclass(frozen=True)
class _ByWork:
    """The exact stage's descriptors ordered by work: `vectors[starts[i]:ends[i]]` are `works[i]`'s."""

    vectors: np.ndarray
    norms: np.ndarray
    works: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def _centroids(sample: np.ndarray, lists: int, binary: bool) -> np.ndarray:
    """`lists` k-means centroids of `sample` in two levels: sqrt(lists) clusters, each split in
    proportion to its share of the sample. Flat k-means compares every point with every centroid,
    a cost that grows with the square of the catalogue once lists grow with it. Binary codes are
    clustered as 0/1 floats and their centroids rounded back to bits."""
    points = np.unpackbits(sample, axis=1).astype(np.float32) if binary else sample
    coarse = _kmeans(points, math.isqrt(lists))
    assigned = coarse.assign(points)[1].ravel()
    sizes = np.bincount(assigned, minlength=coarse.k)
    parts = []
    for cluster, share in enumerate(_apportion(sizes, lists)):
        if share:
            parts.append(_kmeans(points[assigned == cluster], int(share)).centroids)
    centroids = np.concatenate(parts)
    return np.packbits(centroids > 0.5, axis=1) if binary else np.ascontiguousarray(centroids, dtype=np.float32)


def _kmeans(points: np.ndarray, k: int) -> faiss.Kmeans:
    """FAISS's k-means of `points` into `k` clusters, trained (the caller sizes the sample)."""
    kmeans = faiss.Kmeans(points.shape[1], k, niter=_KMEANS_ITERATIONS, min_points_per_centroid=1)
    kmeans.train(points)
    return kmeans


def _mirror_paired_centroids(sample: np.ndarray, lists: int, mirror: np.ndarray) -> np.ndarray:
    """`lists` centroids closed under `mirror`: half of them k-means centroids of the sample's descriptors each
    taken on one side of the pair it forms with its mirror image, then their mirror images, in the same order.

    The side is that of the direction along which the descriptors differ most from their mirror images (a
    difference's mirror image is its negation, so that direction's is too, and a descriptor and its mirror
    image always fall on opposite sides): each half then trains on the shapes of one orientation, and the
    other half is those shapes flipped. SIFT's descriptors of natural images are as likely flipped as not, so
    the lists cost a search nothing in recall (benchmarks/RESULTS.md)."""
    flipped = sample[:, mirror]
    rng = np.random.default_rng(0)
    few = rng.choice(len(sample), min(len(sample), 20_000), replace=False)
    direction = np.linalg.svd((sample[few] - flipped[few]).astype(np.float64), full_matrices=False)[2][0]
    canonical = np.where((sample @ direction >= 0)[:, None], sample, flipped).astype(np.float32)
    half = lists // 2
    centroids = _centroids(canonical, half, False) if half > _HNSW_LISTS else _kmeans(canonical, half).centroids
    return np.ascontiguousarray(np.concatenate([centroids, centroids[:, mirror]]), dtype=np.float32)


def _permutation(mirror, dim: int, binary: bool, lists: int) -> np.ndarray:
    """`mirror` checked as a permutation of `dim` float components that undoes itself, for an even number of
    lists."""
    mirror = np.asarray(mirror)
    # A mirror image's mirror image is the descriptor: only then is list i + lists/2's partner list i.
    if (binary or mirror.shape != (dim,) or not np.array_equal(np.sort(mirror), np.arange(dim))
            or not np.array_equal(mirror[mirror], np.arange(dim)) or lists % 2):
        raise IndexInputError(
            f"mirror must be a permutation of the {dim} components of float descriptors that is its own inverse, "
            f"trained into an even number of lists; got {describe(mirror)} for "
            f"{'binary' if binary else 'float'} descriptors and {lists} lists")
    return mirror.astype(np.int64)


def _apportion(sizes: np.ndarray, total: int) -> np.ndarray:
    """`total` split in proportion to `sizes` (largest remainders), none above its size: the
    sample holds at least `total` points, so each share's exact value is at most its size."""
    exact = sizes * total / sizes.sum()
    shares = np.floor(exact).astype(np.int64)
    shares[np.argsort(shares - exact)[: total - shares.sum()]] += 1
    return shares


def _nearest_of(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray], k: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest of two searches' neighbours (distances, ids) of the same query rows, nearest first."""
    ids = np.hstack((first[1], second[1]))
    # A fast-scan search fills the places it found no neighbour for (id -1) with the largest distance its own
    # scale holds, which the other search's scale need not exceed.
    distances = np.where(ids >= 0, np.hstack((first[0], second[0])), np.inf)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, 1), np.take_along_axis(ids, order, 1)


def _counted(winners: np.ndarray) -> dict[int, int]:
    """Votes per work id from per-descriptor winners (-1: no vote)."""
    works, counts = np.unique(winners[winners >= 0], return_counts=True)
    return dict(zip(works.tolist(), counts.tolist()))
