"""`index.threads` sets every process-wide pool detection computes on: FAISS's OpenMP and NumPy's BLAS."""

from __future__ import annotations

import faiss
from threadpoolctl import threadpool_info

from detector.catalogue import set_threads


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_set_threads_limits_faiss_and_blas_and_can_raise_them_again():
    try:
        set_threads(1)
        assert faiss.omp_get_max_threads() == 1 and _blas_threads() == {1}
        set_threads(2)
        assert faiss.omp_get_max_threads() == 2 and _blas_threads() == {2}
    finally:
        set_threads(1)
