"""Registered works within a Hamming distance of a perceptual hash (pHash/dHash 64 bits, PDQ 256).

Codes are packed the way `np.packbits` packs a row of bits (most significant bit first): bit i
of a hash is bit (7 - i % 8) of byte i // 8, and the hex form is those bytes in order, which is
also how imagehash prints a hash. So `np.packbits(bits, axis=1)` turns bit arrays into codes and
`hex_to_codes`/`codes_to_hex` convert to and from stored hex text.

The index is an exhaustive scan (IndexBinaryFlat inside IndexBinaryIDMap2), chosen over
IndexBinaryMultiHash (which Meta's HMA matcher uses for large PDQ sets) because it is exact:
a multi-hash index only guarantees finding codes within fewer differing bits than it has hash
tables (pigeonhole on the substrings), well below PDQ's usual threshold of 31, unless it also
probes bit flips. A popcount scan covers hundreds of thousands of 256-bit codes in
milliseconds, so exactness costs nothing at the size of a rights holder's catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from index import persist
from index.errors import IndexInputError, describe, require_int
from index.ids import check_ids, stored_ids

KIND = "binary"
_HEX = re.compile(r"[0-9a-fA-F]*")


def hex_to_codes(hex_strings: Sequence[str], bits: int) -> np.ndarray:
    """uint8[n, bits // 8] from n hex strings of bits // 4 digits each (either case)."""
    bits = _check_bits(bits)
    if isinstance(hex_strings, (str, bytes)):
        raise IndexInputError(
            f"hex_strings must be a sequence of hex strings, got a single {type(hex_strings).__name__}; "
            "wrap it in a list"
        )
    digits = bits // 4
    rows = []
    for i, text in enumerate(hex_strings):
        if not isinstance(text, str) or len(text) != digits or not _HEX.fullmatch(text):
            raise IndexInputError(
                f"hex_strings[{i}] must be {digits} hex digits (a {bits}-bit hash), got {text!r}"
            )
        rows.append(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))
    return np.array(rows, dtype=np.uint8).reshape(len(rows), bits // 8)


def codes_to_hex(codes: np.ndarray) -> list[str]:
    """Lowercase hex text of each row of uint8 codes (two digits per byte)."""
    if not isinstance(codes, np.ndarray) or codes.dtype != np.uint8 or codes.ndim != 2:
        raise IndexInputError(f"codes must be a uint8 array of shape [n, bytes], got {describe(codes)}")
    return [row.tobytes().hex() for row in codes]


class BinaryIndex:
    """Caller ids (int64 >= 0) mapped to packed binary codes, searched by Hamming distance.

    Re-adding an id replaces its code; `range_search` returns exactly the held codes within the
    distance, inclusive.
    """

    def __init__(self, bits: int):
        self.bits = _check_bits(bits)
        self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(self.bits))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """The ids held, int64[len], in storage order."""
        return stored_ids(self._index)

    def add(self, ids, codes: np.ndarray) -> None:
        """Store `codes` (uint8[n, bits // 8]) under `ids`, replacing any already held."""
        codes = self._check_codes(codes, "codes")
        ids = check_ids(ids, count=len(codes))
        if not len(ids):
            return
        self.remove(ids)
        self._index.add_with_ids(codes, ids)

    def remove(self, ids) -> int:
        """Forget `ids`; returns how many were held (ids not held are ignored)."""
        ids = check_ids(ids)
        present = ids[np.isin(ids, self.ids())]
        return int(self._index.remove_ids(present)) if len(present) else 0

    def range_search(self, codes: np.ndarray, max_distance: int) -> list[list[tuple[int, int]]]:
        """Per query row, every held (id, distance) with distance <= max_distance, nearest first
        (ties by id)."""
        codes = self._check_codes(codes, "query codes")
        max_distance = require_int("max_distance", max_distance, 0, self.bits)
        if len(self) == 0 or not len(codes):
            return [[] for _ in range(len(codes))]
        # FAISS keeps distances strictly below the radius; one more makes max_distance inclusive.
        limits, distances, ids = self._index.range_search(codes, max_distance + 1)
        results = []
        for q in range(len(codes)):
            span = slice(limits[q], limits[q + 1])
            pairs = zip(ids[span].tolist(), distances[span].tolist())
            results.append(sorted(pairs, key=lambda pair: (pair[1], pair[0])))
        return results

    def save(self, path: Path, meta: dict) -> None:
        """Write the index to `path` and its manifest (meta + bits, count, sha256) beside it."""
        payload = faiss.serialize_index_binary(self._index).tobytes()
        persist.save(path, payload, KIND, {"bits": self.bits}, len(self), meta)

    @classmethod
    def load(cls, path: Path, expect: dict | None = None) -> tuple[BinaryIndex, dict]:
        """The index saved at `path` and its whole manifest (the saved meta plus recorded keys).

        Raises IndexFileError when the file or manifest is missing, truncated or altered, or
        when a key of `expect` (e.g. {"hasher": "pdq"}) differs from the manifest.
        """
        payload, manifest = persist.load(path, KIND, expect)
        index = persist.parse(path, payload, faiss.deserialize_index_binary, faiss.IndexBinaryIDMap2,
                              manifest.get("bits"), manifest.get("count"))
        loaded = cls.__new__(cls)
        loaded.bits = int(index.d)
        loaded._index = index
        return loaded, manifest

    def _check_codes(self, codes, name: str) -> np.ndarray:
        width = self.bits // 8
        if not isinstance(codes, np.ndarray) or codes.dtype != np.uint8 or codes.ndim != 2 \
                or codes.shape[1] != width:
            raise IndexInputError(
                f"{name} must be a uint8 array of shape [n, {width}] ({self.bits} bits packed with "
                f"np.packbits), got {describe(codes)}; pack bit rows with np.packbits(bits, axis=1)"
            )
        return np.ascontiguousarray(codes)


def _check_bits(bits) -> int:
    is_int = isinstance(bits, (int, np.integer)) and not isinstance(bits, bool)
    if not is_int or bits <= 0 or bits % 8:
        raise IndexInputError(
            f"bits must be a positive multiple of 8 (64 for pHash/dHash, 256 for PDQ), got {bits!r}"
        )
    return int(bits)
