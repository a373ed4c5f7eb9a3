"""Exact nearest neighbours between two images' local descriptors, as arrays.

Verification and the common-element check compare a few hundred to a few thousand descriptors of one
image with another's. OpenCV's brute-force matcher walks the pairs itself and hands back a Python object
per match; here the L2 distances of float descriptors (SIFT) come from one matrix product (BLAS), a block
of query rows at a time, and the Hamming distances of binary ones (ORB) from FAISS's binary k-NN. The
neighbours are the same, found with about a fifth of the CPU at 2,000 x 2,000 SIFT descriptors
(docs/detection.md), less since each row's nearest two come from an argmin and a masked min.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from index.local import row_norms, squared_l2

#: Query rows per block: bounds the distance matrix at ROWS x (train descriptors) floats.
ROWS = 1024


@dataclass(frozen=True)
class Neighbours:
    """For each query descriptor: its nearest train descriptor and the distances to the nearest and the
    second nearest (inf where train holds one); for each train descriptor: its nearest query descriptor."""

    first: np.ndarray
    first_distance: np.ndarray
    second_distance: np.ndarray
    best_query: np.ndarray

    def ratio_pass(self, ratio: float) -> np.ndarray:
        """Query indices whose nearest neighbour passes Lowe's ratio test (clearly nearer than the second)."""
        return np.flatnonzero(self.first_distance < ratio * self.second_distance)

    def mutual(self, queries: np.ndarray) -> np.ndarray:
        """Those of `queries` that are also their nearest train descriptor's nearest query descriptor."""
        return queries[self.best_query[self.first[queries]] == queries]


def nearest(query: np.ndarray, train: np.ndarray, binary: bool) -> Neighbours:
    """Neighbours of `query` among `train` (float32 rows compared by L2, or uint8 codes by Hamming); both
    need at least one row."""
    if not len(query) or not len(train):
        raise ValueError(f"nearest neighbours need descriptors on both sides, got {len(query)} and {len(train)}")
    return _hamming(query, train) if binary else _euclidean(query, train)


def _euclidean(query: np.ndarray, train: np.ndarray) -> Neighbours:
    query, train = np.ascontiguousarray(query, np.float32), np.ascontiguousarray(train, np.float32)
    train_norms = row_norms(train)
    first = np.empty(len(query), np.int64)
    distances = np.full((len(query), 2), np.inf, np.float32)
    best_query, best_distance = np.zeros(len(train), np.int64), np.full(len(train), np.inf, np.float32)
    for start in range(0, len(query), ROWS):
        block = query[start:start + ROWS]
        rows = np.arange(len(block))
        squared = squared_l2(block, train, train_norms)
        np.maximum(squared, 0, out=squared)
        column = squared.argmin(axis=0)
        closer = squared[column, np.arange(len(train))] < best_distance  # ties keep the earlier query
        best_query[closer] = start + column[closer]
        best_distance[closer] = squared[column[closer], np.flatnonzero(closer)]
        # The nearest, then the second nearest with the nearest masked: two vectorised passes over each row,
        # several times cheaper than a partition of it.
        nearest_one = squared.argmin(axis=1)
        first[start:start + len(block)] = nearest_one
        distances[start:start + len(block), 0] = squared[rows, nearest_one]
        if len(train) > 1:
            squared[rows, nearest_one] = np.inf
            distances[start:start + len(block), 1] = squared.min(axis=1)
    distances = np.sqrt(distances)
    return Neighbours(first, distances[:, 0], distances[:, 1], best_query)


def _hamming(query: np.ndarray, train: np.ndarray) -> Neighbours:
    query, train = np.ascontiguousarray(query, np.uint8), np.ascontiguousarray(train, np.uint8)
    distances, ids = faiss.knn_hamming(query, train, min(2, len(train)))
    _, best_query = faiss.knn_hamming(train, query, 1)
    distances = distances.astype(np.float32)
    second = distances[:, 1] if len(train) > 1 else np.full(len(query), np.inf, np.float32)
    return Neighbours(ids[:, 0].astype(np.int64), distances[:, 0], second, best_query[:, 0].astype(np.int64))
