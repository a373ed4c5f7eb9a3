"""VectorIndex search-time parameters: measured defaults, explicit settings, refusals, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from index import IndexInputError, VectorIndex
from index.search_params import default_nprobe

DIM = 128
WORKS = 4000


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    """Isotropic works (the hard case for approximate search) and heavily distorted copies of 300 of them."""
    rng = np.random.default_rng(3)
    works = unit(rng, WORKS)
    copies = works[rng.choice(WORKS, 300, replace=False)] + 1.2 * unit(rng, 300)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    exact = VectorIndex(DIM)
    exact.add(np.arange(WORKS), works)
    return works, copies, exact.search(copies, 10)[1]


def recall(index: VectorIndex, copies: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """(recall@1, recall@10) of `index` against exact search."""
    found = index.search(copies, 10)[1]
    at_10 = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    return float(np.mean(found[:, 0] == exact[:, 0])), float(at_10)


@pytest.fixture(scope="module")
def hnsw(data):
    index = VectorIndex(DIM, "HNSW32,Flat")
    index.add(np.arange(WORKS), data[0])
    return index


@pytest.fixture(scope="module")
def ivf(data):
    index = VectorIndex(DIM, "IVF16,Flat")
    index.add(np.arange(WORKS), data[0])
    return index


def test_hnsw_defaults_recall_what_faiss_defaults_miss(hnsw, data):
    _, copies, exact = data
    hnsw.set_search_params("")
    assert hnsw.search_params == "efSearch=256"
    at_1, at_10 = recall(hnsw, copies, exact)
    assert at_1 >= 0.99 and at_10 >= 0.95
    hnsw.set_search_params("efSearch=16")  # FAISS's own default
    assert hnsw.search_params == "efSearch=16"
    assert recall(hnsw, copies, exact)[1] < 0.9


def test_ivf_defaults_recall_what_one_probe_misses(ivf, data):
    _, copies, exact = data
    ivf.set_search_params("")
    assert ivf.search_params == "nprobe=8"
    at_1, _ = recall(ivf, copies, exact)
    assert at_1 >= 0.9
    ivf.set_search_params("nprobe=1")  # FAISS's own default
    assert recall(ivf, copies, exact)[0] < 0.6
    ivf.set_search_params("nprobe=16")  # every list: exact
    assert recall(ivf, copies, exact) == (1.0, 1.0)


def test_default_nprobe_scans_a_32nd_of_the_lists_and_at_least_8():
    assert [default_nprobe(n) for n in (4, 8, 256, 1024, 4096, 65536)] == [4, 8, 8, 32, 128, 2048]


def test_flat_has_no_search_params():
    assert VectorIndex(DIM).search_params == ""
    assert VectorIndex(DIM, "Flat", " ").search_params == ""


def test_parameters_combine_with_defaults_for_an_hnsw_quantizer():
    index = VectorIndex(DIM, "IVF256_HNSW32,Flat", "nprobe=16")
    assert index.search_params == "efSearch=256,nprobe=16"


@pytest.mark.parametrize(
    "factory, params, message",
    [
        ("Flat", "efSearch=64",
         ("search parameter 'efSearch' (in search_params 'efSearch=64') does not apply to factory 'Flat', which has "
         "no search-time parameters (exact search visits every vector); drop it")),
        ("HNSW32,Flat", "nprobe=8",
         ("search parameter 'nprobe' (in search_params 'nprobe=8') does not apply to factory 'HNSW32,Flat', which "
         "uses only efSearch; drop it or set one of efSearch")),
        ("IVF64,Flat", "nprobe=8,ef=3",
         ("search parameter 'ef' (in search_params 'nprobe=8,ef=3') does not apply to factory 'IVF64,Flat', which "
         "uses only nprobe; drop it or set one of nprobe")),
        ("IVF64,Flat", "nprobe=65",
         "search parameter nprobe must be from 1 to 64 (the IVF lists of factory 'IVF64,Flat'), got 65"),
        ("HNSW32,Flat", "efSearch=0", "search parameter efSearch must be >= 1, got 0"),
        ("HNSW32,Flat", "efSearch:64",
         ("search_params must be comma-separated name=value pairs with whole-number values, such as "
         "'efSearch=128' (HNSW) or 'nprobe=32' (IVF), got 'efSearch:64' (at 'efSearch:64'); fix that pair or "
         "leave search_params empty for the defaults")),
        ("HNSW32,Flat", "efSearch=-5",
         ("search_params must be comma-separated name=value pairs with whole-number values, such as "
         "'efSearch=128' (HNSW) or 'nprobe=32' (IVF), got 'efSearch=-5' (at 'efSearch=-5'); fix that pair or "
         "leave search_params empty for the defaults")),
        ("HNSW32,Flat", 64,
         ("search_params must be a string such as 'efSearch=128' (HNSW) or 'nprobe=32' (IVF) (or '' for the "
         "defaults), got int 64")),
    ],
    ids=["flat", "nprobe-on-hnsw", "unknown", "nprobe-too-big", "zero", "syntax", "negative", "not-a-string"],
)
def test_bad_search_params_are_refused_with_what_applies(factory, params, message):
    with pytest.raises(IndexInputError) as caught:
        VectorIndex(DIM, factory, params)
    assert str(caught.value) == message


def test_refused_parameters_leave_the_index_as_it_was(hnsw):
    hnsw.set_search_params("efSearch=40")
    with pytest.raises(IndexInputError):
        hnsw.set_search_params("efSearch=50,nprobe=2")
    assert hnsw.search_params == "efSearch=40"


def test_load_applies_the_loaders_parameters_not_the_savers(data, tmp_path):
    works, copies, _ = data
    index = VectorIndex(DIM, "HNSW32,Flat", "efSearch=16")
    index.add(np.arange(500), works[:500])
    index.save(tmp_path / "v.faiss", {})
    loaded, manifest = VectorIndex.load(tmp_path / "v.faiss")
    assert loaded.search_params == "efSearch=256" and "search_params" not in manifest
    tuned, _ = VectorIndex.load(tmp_path / "v.faiss", search_params="efSearch=16")
    assert tuned.search(copies, 10)[1].tolist() == index.search(copies, 10)[1].tolist()
    with pytest.raises(IndexInputError, match="'nprobe' .* does not apply to factory 'HNSW32,Flat'"):
        VectorIndex.load(tmp_path / "v.faiss", search_params="nprobe=4")


def test_parameters_survive_a_removal_that_rebuilds_the_graph(data):
    works, _, _ = data
    index = VectorIndex(DIM, "HNSW32,Flat", "efSearch=48")
    index.add(np.arange(300), works[:300])
    assert index.remove(np.arange(10)) == 10
    assert index.search_params == "efSearch=48"
    assert index.search(works[10:20], 1)[1][:, 0].tolist() == list(range(10, 20))
