"""Index scale: the project's VectorIndex and BinaryIndex at 10k, 100k and 1M registered works.

Vectors are synthetic unit vectors (dim 512, isotropic Gaussian directions: the hardest case for
approximate indexes, which real embeddings with cluster structure are not); each query is a
stored vector plus noise, as a copy's embedding is its work's plus distortion. Recall@1 and @10 of
an approximate factory are measured against exact (Flat) search of the same queries, under each of
several search parameters ('' = VectorIndex's defaults) on one build. PDQ codes are
random 256-bit codes; queries are stored codes with 0-40 bits flipped, searched within distance
31 (Meta's threshold). BinaryIndex is exhaustive (exact); FAISS's multi-hash index, the usual
approximate alternative, is measured next to it for recall.
"""

from __future__ import annotations

import time

import faiss
import numpy as np

from index.binary import BinaryIndex
from index.vectors import VectorIndex

DIM = 512
K = 10


def _unit(rng, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _latencies(search, queries: np.ndarray) -> tuple[float, float]:
    """p50 and p99 in ms of one-query-at-a-time searches."""
    times = []
    for q in queries:
        clock = time.perf_counter()
        search(q[None, :])
        times.append(time.perf_counter() - clock)
    return float(np.percentile(times, 50) * 1000), float(np.percentile(times, 99) * 1000)


def _bytes(index) -> int:
    return len(faiss.serialize_index(index._index))


def vector_rows(sizes: list[int], factories: dict[int, dict[str, list[str]]], queries: int, seed: int,
                timed_queries: dict[int, int]) -> list[dict]:
    """Build, memory, latency (of `timed[n]` single queries) and recall of each factory at each size,
    one row per search-parameter string listed for it (`factories[n][factory]`)."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        data = _unit(rng, n)
        picks = rng.choice(n, queries, replace=False)
        q = data[picks] + 0.6 * _unit(rng, queries)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        ids = np.arange(n, dtype=np.int64)
        timed = timed_queries.get(n, 200)
        exact = None
        for factory, settings in {"Flat": [""], **factories.get(n, {})}.items():
            index = VectorIndex(DIM, factory)
            clock = time.perf_counter()
            index.add(ids, data)
            build = time.perf_counter() - clock
            for search_params in settings:
                index.set_search_params(search_params)
                _, found = index.search(q, K)
                if exact is None:
                    exact = found
                p50, p99 = _latencies(lambda x, index=index: index.search(x, K), q[:timed])
                rows.append({"works": n, "factory": factory, "search_params": index.search_params,
                             "default_params": not search_params, "build_s": build,
                             "bytes_per_work": _bytes(index) / n, "p50_ms": p50, "p99_ms": p99,
                             "recall_at_1": float(np.mean(found[:, 0] == exact[:, 0])),
                             "recall_at_10": float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, exact)])),
                             "source_in_top10": float(np.mean((found == picks[:, None]).any(axis=1)))})
            del index
        del data
    return rows


def binary_rows(sizes: list[int], queries: int, seed: int, radius: int = 31) -> list[dict]:
    """Build, memory, latency and recall of PDQ range search, exact index and multi-hash, per size."""
    rng = np.random.default_rng(seed + 1)
    rows = []
    for n in sizes:
        codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        picks = rng.choice(n, queries, replace=False)
        bits = np.unpackbits(codes[picks], axis=1)
        for row in bits:
            flip = rng.choice(256, rng.integers(0, 41), replace=False)
            row[flip] ^= 1
        q = np.packbits(bits, axis=1)
        index = BinaryIndex(256)
        clock = time.perf_counter()
        index.add(np.arange(n, dtype=np.int64), codes)
        build = time.perf_counter() - clock
        exact = [{i for i, _ in hits} for hits in index.range_search(q, radius)]
        p50, p99 = _latencies(lambda x, index=index: index.range_search(x, radius), q[:200])
        size = len(faiss.serialize_index_binary(index._index))
        rows.append({"works": n, "index": "BinaryIndex (flat, exact)", "build_s": build, "bytes_per_work": size / n,
                     "p50_ms": p50, "p99_ms": p99, "recall": 1.0,
                     "queries_with_hits": sum(bool(e) for e in exact) / len(exact)})
        multi = faiss.IndexBinaryMultiHash(256, 8, 32)
        clock = time.perf_counter()
        multi.add(codes)
        build = time.perf_counter() - clock
        found = []
        for row in q:
            limits, _, ids = multi.range_search(row[None, :], radius + 1)
            found.append(set(ids[limits[0]:limits[1]].tolist()))
        p50, p99 = _latencies(lambda x, multi=multi: multi.range_search(x, radius + 1), q[:200])
        hits = sum(len(e) for e in exact)
        rows.append({"works": n, "index": "IndexBinaryMultiHash(8 x 32 bits)", "build_s": build,
                     "bytes_per_work": len(faiss.serialize_index_binary(multi)) / n, "p50_ms": p50, "p99_ms": p99,
                     "recall": sum(len(e & f) for e, f in zip(exact, found)) / hits if hits else 1.0,
                     "queries_with_hits": sum(bool(f) for f in found) / len(found)})
        del index, multi, codes
    return rows
