"""VectorIndex specifics: factory strings, training, argument checks and search padding."""

from __future__ import annotations

import numpy as np
import pytest

from index import IndexInputError, VectorIndex, choose_factory

DIM = 16


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_choose_factory_is_exact_up_to_the_limit():
    assert choose_factory(0, 50_000, "HNSW32,Flat") == "Flat"
    assert choose_factory(50_000, 50_000, "HNSW32,Flat") == "Flat"
    assert choose_factory(50_001, 50_000, "HNSW32,Flat") == "HNSW32,Flat"
    with pytest.raises(IndexInputError, match="count must be an int >= 0, got -1"):
        choose_factory(-1, 10, "HNSW32,Flat")


def test_unknown_factory_lists_valid_examples():
    with pytest.raises(IndexInputError) as caught:
        VectorIndex(DIM, "Bogus")
    message = str(caught.value)
    assert message.startswith("factory 'Bogus' is not a valid FAISS index factory string for dim 16 "
                              "(could not parse index string Bogus); valid examples: 'Flat' (exact)")
    assert "'HNSW32,Flat'" in message and "'IVF256,Flat'" in message


def test_factory_with_its_own_id_map_is_refused():
    with pytest.raises(IndexInputError, match="must not contain IDMap: ids are mapped by VectorIndex"):
        VectorIndex(DIM, "IDMap,Flat")


def test_ivf_refuses_fewer_training_vectors_than_lists():
    index = VectorIndex(DIM, "IVF64,Flat")
    with pytest.raises(IndexInputError) as caught:
        index.add(np.arange(10), unit_vectors(10))
    assert str(caught.value) == (
        "factory 'IVF64,Flat' is trained on the first vectors added and needs at least 64 "
        "(one per IVF list), got 10; add more at once, use fewer lists, or 'Flat' at this size "
        "(see choose_factory)"
    )
    assert len(index) == 0


def test_codebook_training_failure_says_why():
    index = VectorIndex(DIM, "HNSW16,PQ8")  # 8-bit PQ needs 256 training vectors per codebook
    with pytest.raises(IndexInputError, match=r"factory 'HNSW16,PQ8' cannot be trained on 100 vectors "
                                              r"\(Number of training points \(100\) should be at least"):
        index.add(np.arange(100), unit_vectors(100))


def test_trained_index_accepts_small_later_batches():
    index = VectorIndex(DIM, "IVF8,Flat")
    index.add(np.arange(400), unit_vectors(400, seed=1))
    extra = unit_vectors(2, seed=2)
    index.add(np.array([1000, 1001]), extra)
    assert index.search(extra, 1)[1][:, 0].tolist() == [1000, 1001]


@pytest.mark.parametrize(
    "vectors, message",
    [
        (unit_vectors(3).astype(np.float64),
         "vectors must be a float32 array of shape [n, 16], got float64[3, 16]"),
        (unit_vectors(3)[:, :8].copy(), "vectors must be a float32 array of shape [n, 16], got float32[3, 8]"),
        ([[0.0] * DIM], "vectors must be a float32 array of shape [n, 16], got list"),
        (unit_vectors(3) * np.float32(2), "vectors must be L2-normalised (unit length), row 0 has norm 2.0000"),
        (np.full((1, DIM), np.nan, dtype=np.float32), "vectors contain NaN or infinite values"),
    ],
    ids=["float64", "wrong-dim", "list", "not-unit", "nan"],
)
def test_bad_vectors_are_refused_with_the_fix(vectors, message):
    with pytest.raises(IndexInputError) as caught:
        VectorIndex(DIM).add(np.arange(len(vectors)), vectors)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    "ids, message",
    [
        (np.arange(2), "got 2 ids for 3 rows; give exactly one id per row"),
        (np.array([1, -1, 2]), "ids must be >= 0 (-1 means 'no result' in search output), got -1"),
        (np.array([4, 4, 5]), "ids must not repeat within one call, got [4] more than once"),
        (np.array([0.5, 1.0, 2.0]), "ids must be a 1-D array of integers, got float64[3]"),
    ],
    ids=["count", "negative", "repeat", "float"],
)
def test_bad_ids_are_refused(ids, message):
    with pytest.raises(IndexInputError) as caught:
        VectorIndex(DIM).add(ids, unit_vectors(3))
    assert str(caught.value).startswith(message)


def test_search_pads_with_minus_one_and_minus_infinity():
    index = VectorIndex(DIM)
    vectors = unit_vectors(2)
    index.add(np.array([7, 9]), vectors)
    scores, ids = index.search(vectors, 4)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert ids.tolist() == [[7, 9, -1, -1], [9, 7, -1, -1]]
    assert np.isneginf(scores[:, 2:]).all()
    assert scores[:, 0] == pytest.approx([1.0, 1.0], abs=1e-5)


def test_search_of_an_empty_untrained_index_finds_nothing():
    scores, ids = VectorIndex(DIM, "IVF16,Flat").search(unit_vectors(3), 2)
    assert ids.tolist() == [[-1, -1]] * 3 and np.isneginf(scores).all()


def test_scores_are_cosine_similarities():
    index = VectorIndex(DIM)
    vectors = unit_vectors(50)
    index.add(np.arange(50), vectors)
    scores, ids = index.search(vectors[:5], 50)
    expected = np.take_along_axis(vectors[:5] @ vectors.T, ids, axis=1)
    assert np.allclose(scores, expected, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_k_must_be_positive():
    with pytest.raises(IndexInputError, match="k must be an int >= 1, got 0"):
        VectorIndex(DIM).search(unit_vectors(1), 0)
