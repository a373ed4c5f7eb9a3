"""The tools people use today, each alone, scored on every (query, work) pair of the set.

- pHash alone (imagehash): score = 1 - Hamming distance / 64.
- PDQ alone (pdqhash, Meta's hash): score = 1 - Hamming distance / 256.
- CLIP nearest neighbour alone: cosine of the whole images' embeddings, no verification. Runs only
  when real weights are available offline; random weights would measure nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.metrics import Prediction
from detector.hashing import HASHERS


def _bits(hex_codes: list[str]) -> np.ndarray:
    return np.unpackbits(np.array([np.frombuffer(bytes.fromhex(h), dtype=np.uint8) for h in hex_codes]), axis=1)


def hash_peer(name: str, works: dict[str, Image.Image], queries: dict[str, Image.Image]) -> list[Prediction]:
    """Every (query, work, 1 - distance/bits) for hasher `name` ('phash' or 'pdq')."""
    hasher = HASHERS[name]
    work_names, query_names = list(works), list(queries)
    work_bits = _bits([hasher.hash(works[w]) for w in work_names]).astype(np.int32)
    query_bits = _bits([hasher.hash(queries[q]) for q in query_names]).astype(np.int32)
    # Hamming distance of every pair as bit disagreements: a.(1-b) + (1-a).b.
    distances = query_bits @ (1 - work_bits).T + (1 - query_bits) @ work_bits.T
    scores = 1 - distances / hasher.bits
    return [(q, w, round(float(scores[i, j]), 4)) for i, q in enumerate(query_names)
            for j, w in enumerate(work_names)]


def clip_peer(spec: str, works: dict[str, Image.Image], queries: dict[str, Image.Image]) -> list[Prediction] | str:
    """Cosine of every (query, work) pair with the real CLIP weights of `spec`, or why it cannot run."""
    from detector.embedders import load_embedder
    from detector.embedders.clip import clip_weights_cached

    if not clip_weights_cached(spec):
        return (f"not run: the weights of {spec} are not available offline on this machine, and random "
                "weights would measure nothing about quality")
    embedder = load_embedder(spec)
    work_names, query_names = list(works), list(queries)
    work_vectors = embedder.embed([works[w] for w in work_names])
    query_vectors = embedder.embed([queries[q] for q in query_names])
    scores = query_vectors @ work_vectors.T
    return [(q, w, round(float(scores[i, j]), 4)) for i, q in enumerate(query_names)
            for j, w in enumerate(work_names)]


def load_images(folder: Path, names: list[str]) -> dict[str, Image.Image]:
    return {name: Image.open(folder / name).convert("RGB") for name in names}
