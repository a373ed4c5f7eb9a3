"""BinaryIndex specifics: exact inclusive range search, hex conversion, real image hashes."""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from index import BinaryIndex, IndexInputError, codes_to_hex, hex_to_codes

DEMO = Path(__file__).resolve().parents[2] / "detector" / "demo_assets"


def brute_force(codes: np.ndarray, ids: np.ndarray, query: np.ndarray, max_distance: int):
    distances = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
    hits = np.flatnonzero(distances <= max_distance)
    return sorted(((int(ids[i]), int(distances[i])) for i in hits), key=lambda p: (p[1], p[0]))


def flip_bits(code: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(code)
    bits[rng.choice(len(bits), count, replace=False)] ^= 1
    return np.packbits(bits)


@pytest.mark.parametrize("bits, radii", [(64, [0, 3, 10, 24]), (256, [0, 10, 31, 110])])
def test_range_search_equals_brute_force(bits, radii):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 256, (1500, bits // 8), dtype=np.uint8)
    ids = rng.choice(10**6, len(codes), replace=False)
    index = BinaryIndex(bits)
    index.add(ids, codes)
    # Queries near stored codes (so radii catch something) and unrelated random ones.
    near = np.stack([flip_bits(codes[i], int(rng.integers(0, 40)), rng) for i in range(40)])
    queries = np.concatenate([near, rng.integers(0, 256, (20, bits // 8), dtype=np.uint8)])
    found_any = 0
    for radius in radii:
        results = index.range_search(queries, radius)
        for query, result in zip(queries, results):
            assert result == brute_force(codes, ids, query, radius)
            found_any += bool(result)
    assert found_any > 40


def test_max_distance_is_inclusive():
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    index = BinaryIndex(256)
    index.add(np.array([42]), stored)
    query = flip_bits(stored[0], 31, rng)[None, :]
    assert index.range_search(query, 31) == [[(42, 31)]]
    assert index.range_search(query, 30) == [[]]


def test_range_search_of_an_empty_index_gives_one_empty_list_per_query():
    assert BinaryIndex(64).range_search(np.zeros((2, 8), dtype=np.uint8), 10) == [[], []]


def test_max_distance_must_lie_within_the_hash():
    with pytest.raises(IndexInputError, match="max_distance must be an int from 0 to 64, got 65"):
        BinaryIndex(64).range_search(np.zeros((1, 8), dtype=np.uint8), 65)


def test_bits_must_be_a_multiple_of_eight():
    with pytest.raises(IndexInputError, match=r"bits must be a positive multiple of 8 \(64 for pHash/dHash, "
                                              r"256 for PDQ\), got 60"):
        BinaryIndex(60)


def test_unpacked_bits_are_refused_with_the_fix():
    bits = np.zeros((2, 64), dtype=np.uint8)
    with pytest.raises(IndexInputError) as caught:
        BinaryIndex(64).add(np.arange(2), bits)
    assert str(caught.value) == (
        "codes must be a uint8 array of shape [n, 8] (64 bits packed with np.packbits), got uint8[2, 64]; "
        "pack bit rows with np.packbits(bits, axis=1)"
    )


def test_hex_round_trip():
    codes = np.random.default_rng(5).integers(0, 256, (4, 32), dtype=np.uint8)
    text = codes_to_hex(codes)
    assert all(len(t) == 64 and t == t.lower() for t in text)
    assert np.array_equal(hex_to_codes(text, 256), codes)
    assert np.array_equal(hex_to_codes([t.upper() for t in text], 256), codes)
    assert hex_to_codes([], 64).shape == (0, 8)


@pytest.mark.parametrize(
    "strings, message",
    [
        ("c2924c5532bddfc8", "hex_strings must be a sequence of hex strings, got a single str; wrap it in a list"),
        (["c2924c5532bddfc"], "hex_strings[0] must be 16 hex digits (a 64-bit hash), got 'c2924c5532bddfc'"),
        (["c2924c5532bddfc8", "c2924c55 2bddfc8"], "hex_strings[1] must be 16 hex digits"),
        (["g2924c5532bddfc8"], "hex_strings[0] must be 16 hex digits"),
    ],
    ids=["bare-str", "short", "space", "non-hex"],
)
def test_bad_hex_is_refused(strings, message):
    with pytest.raises(IndexInputError) as caught:
        hex_to_codes(strings, 64)
    assert str(caught.value).startswith(message)


def test_imagehash_hex_and_distances_agree_with_the_index():
    """The packing documented in index.binary is the one imagehash prints, on real photos."""
    paths = sorted((DEMO / "works").glob("*.jpg")) + sorted((DEMO / "others").glob("*.jpg"))
    hashes = [imagehash.phash(Image.open(p)) for p in paths]
    codes = hex_to_codes([str(h) for h in hashes], 64)
    assert np.array_equal(codes, np.packbits([h.hash.flatten() for h in hashes], axis=1))
    index = BinaryIndex(64)
    index.add(np.arange(len(codes)), codes)
    for row, result in zip(range(len(codes)), index.range_search(codes, 64)):
        assert result[0] == (row, 0)
        assert sorted(result, key=lambda p: p[0]) == [(j, hashes[row] - hashes[j]) for j in range(len(codes))]
