"""The contract every index kind keeps, run against real FAISS indexes of each kind and factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from index import BinaryIndex, IndexFileError, VectorIndex
from index.persist import manifest_path

COUNT = 800
DIM = 16


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@dataclass
class Kind:
    """How the contract builds, fills and queries one index kind."""

    name: str
    new: Callable[[], object]
    data: Callable[[np.random.Generator, int], np.ndarray]
    first_ids: Callable[[object, np.ndarray], np.ndarray]
    results: Callable[[object, np.ndarray], object]


def _vector_kind(factory: str) -> Kind:
    def first_ids(index, queries):
        return index.search(queries, 1)[1][:, 0]

    def results(index, queries):
        return index.search(queries, 10)

    return Kind(f"vector {factory}", lambda: VectorIndex(DIM, factory), unit_vectors, first_ids, results)


def _binary_kind(bits: int) -> Kind:
    def data(rng, n):
        return rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)

    def first_ids(index, queries):
        return np.array([hits[0][0] if hits else -1 for hits in index.range_search(queries, bits // 8)])

    def results(index, queries):
        return index.range_search(queries, bits // 3)

    return Kind(f"binary {bits}", lambda: BinaryIndex(bits), data, first_ids, results)


KINDS = [
    _vector_kind("Flat"),
    _vector_kind("HNSW32,Flat"),
    _vector_kind("HNSW32,SQ8"),
    _vector_kind("IVF16,Flat"),
    _binary_kind(64),
    _binary_kind(256),
]


@pytest.fixture(params=KINDS, ids=[k.name for k in KINDS])
def kind(request) -> Kind:
    return request.param


@pytest.fixture
def filled(kind):
    """An index holding COUNT entries under scattered ids, with those ids and their data."""
    rng = np.random.default_rng(7)
    ids = rng.choice(10**9, COUNT, replace=False).astype(np.int64)
    data = kind.data(rng, COUNT)
    index = kind.new()
    index.add(ids, data)
    return index, ids, data


def same_results(a, b) -> bool:
    if isinstance(a, tuple):
        return all(np.array_equal(x, y) for x, y in zip(a, b))
    return a == b


def test_each_entry_finds_its_own_id_first(kind, filled):
    index, ids, data = filled
    assert len(index) == COUNT
    assert np.array_equal(kind.first_ids(index, data), ids)
    assert sorted(index.ids().tolist()) == sorted(ids.tolist())


def test_remove_makes_ids_disappear_and_keeps_the_rest(kind, filled):
    index, ids, data = filled
    gone = ids[:25]
    assert index.remove(np.append(gone, 5)) == 25  # 5 was never added
    assert len(index) == COUNT - 25
    assert not np.isin(gone, index.ids()).any()
    assert not np.isin(gone, kind.first_ids(index, data[:25])).any()
    assert np.array_equal(kind.first_ids(index, data[25:]), ids[25:])
    assert index.remove(gone) == 0


def test_readding_an_id_replaces_its_entry(kind, filled):
    index, ids, data = filled
    fresh = kind.data(np.random.default_rng(99), 3)
    index.add(ids[:3], fresh)
    assert len(index) == COUNT
    assert np.array_equal(kind.first_ids(index, fresh), ids[:3])
    assert not np.isin(ids[:3], kind.first_ids(index, data[:3])).any()
    assert np.array_equal(kind.first_ids(index, data[3:]), ids[3:])


def test_save_then_load_gives_identical_results(kind, filled, tmp_path):
    index, ids, data = filled
    path = tmp_path / "works.index"
    index.save(path, {"source": "test", "version": [1, 2]})
    loaded, manifest = type(index).load(path, expect={"source": "test", "version": (1, 2)})
    assert len(loaded) == COUNT
    assert manifest["count"] == COUNT and manifest["source"] == "test"
    assert same_results(kind.results(loaded, data[:50]), kind.results(index, data[:50]))
    # The loaded index keeps working: removal and re-adding behave as before saving.
    assert loaded.remove(ids[:2]) == 2
    assert np.array_equal(kind.first_ids(loaded, data[2:10]), ids[2:10])


def test_save_leaves_no_temporary_files_and_overwrites(kind, filled, tmp_path):
    index, ids, _data = filled
    path = tmp_path / "works.index"
    index.save(path, {"round": 1})
    index.remove(ids[:10])
    index.save(path, {"round": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["works.index", "works.index.manifest.json"]
    loaded, manifest = type(index).load(path)
    assert manifest["round"] == 2 and len(loaded) == COUNT - 10


@pytest.fixture
def saved(filled, tmp_path):
    index, _, _ = filled
    path = tmp_path / "works.index"
    index.save(path, {"embedder": "clip:ViT-B-32/laion2b_s34b_b79k"})
    return type(index), path


def test_truncated_file_is_refused(saved):
    cls, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFileError, match="is truncated") as caught:
        cls.load(path)
    assert caught.value.reason == "truncated"
    assert str(path) in str(caught.value) and "copyhound reindex" in str(caught.value)


def test_flipped_byte_is_refused(saved):
    cls, path = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="checksum mismatch") as caught:
        cls.load(path)
    assert caught.value.reason == "checksum"


def test_missing_file_is_refused(saved):
    cls, path = saved
    path.unlink()
    with pytest.raises(IndexFileError, match=r"is missing \(its manifest exists\)") as caught:
        cls.load(path)
    assert caught.value.reason == "missing"


def test_missing_manifest_is_refused(saved):
    cls, path = saved
    manifest_path(path).unlink()
    with pytest.raises(IndexFileError, match="has no manifest") as caught:
        cls.load(path)
    assert caught.value.reason == "missing"


def test_nothing_saved_is_refused(kind, tmp_path):
    with pytest.raises(IndexFileError, match="and its manifest are missing"):
        type(kind.new()).load(tmp_path / "never-saved.index")


def test_manifest_expectation_mismatch_names_key_and_both_values(saved):
    cls, path = saved
    with pytest.raises(IndexFileError) as caught:
        cls.load(path, expect={"embedder": "clip:ViT-L-14/openai", "hasher": "pdq"})
    assert caught.value.reason == "mismatch"
    assert (
        "was built with other settings: embedder='clip:ViT-B-32/laion2b_s34b_b79k' in the file, "
        "'clip:ViT-L-14/openai' expected; hasher absent from the manifest, 'pdq' expected"
    ) in str(caught.value)
