"""Caller ids (asset ids) as both index kinds accept them, and the ids an id map holds."""

from __future__ import annotations

import faiss
import numpy as np

from index.errors import IndexInputError, describe


def check_ids(ids, count: int | None = None) -> np.ndarray:
    """`ids` as int64[n]: integers, each >= 0 (FAISS reports "no result" as -1), no repeats.

    `count`, when given, is the number of rows the ids label.
    """
    array = np.asarray(ids)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise IndexInputError(
            f"ids must be a 1-D array of integers, got {describe(array)}; "
            "pass e.g. np.array([12, 15], dtype=np.int64)"
        )
    array = array.astype(np.int64)
    if count is not None and len(array) != count:
        raise IndexInputError(f"got {len(array)} ids for {count} rows; give exactly one id per row")
    if (array < 0).any():
        raise IndexInputError(
            f"ids must be >= 0 (-1 means 'no result' in search output), got {int(array.min())}"
        )
    unique, counts = np.unique(array, return_counts=True)
    if (counts > 1).any():
        raise IndexInputError(
            f"ids must not repeat within one call, got {unique[counts > 1][:5].tolist()} more than once"
        )
    return array


def stored_ids(id_map_index) -> np.ndarray:
    """The caller ids held by a FAISS IndexIDMap2 / IndexBinaryIDMap2, in storage order."""
    return faiss.vector_to_array(id_map_index.id_map).astype(np.int64)
