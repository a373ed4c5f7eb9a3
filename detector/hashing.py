"""Perceptual hashes: the cheap exact-copy shortcut.

Any crop, pad, rotation or perspective change breaks them, and pHash/dHash do not see mirror
images, so they only ever shortlist; verification decides. Hashes are kept as hex text.

pHash and dHash read only a small grayscale copy of the image (`reads`, reduced with Lanczos as imagehash
does): hashing that copy gives the same bits as hashing the image, so a caller that needs several hashes of
one picture (a candidate and its mirror image) reduces it once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import imagehash
import numpy as np
import pdqhash
import scipy.fftpack  # noqa: F401 (see below)
from PIL import Image

# imagehash.phash imports scipy.fftpack on its first call. Imported here, it is loaded before detection forks its
# workers; otherwise each worker of each scan or watched batch imported it anew (0.3 s of CPU: 4.6% of the
# workers' time in a profiled `watch bluesky`).


class Hasher(ABC):
    """One perceptual hash. Contract: `hash` of the same pixels is stable; `distance` is Hamming."""

    name: str
    bits: int

    @abstractmethod
    def hash(self, image: Image.Image) -> str:
        """Hex digest (bits/4 characters) of an RGB image."""

    def distance(self, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()


class PHasher(Hasher):
    name, bits = "phash", 64
    reads = (32, 32)

    def hash(self, image: Image.Image) -> str:
        return str(imagehash.phash(image))


class DHasher(Hasher):
    name, bits = "dhash", 64
    reads = (9, 8)

    def hash(self, image: Image.Image) -> str:
        return str(imagehash.dhash(image))


class PDQHasher(Hasher):
    """Meta's PDQ (256 bits). `quality` below ~50 means a flat image whose hash says little."""

    name, bits = "pdq", 256

    def hash(self, image: Image.Image) -> str:
        return self.hash_with_quality(image)[0]

    def hash_with_quality(self, image: Image.Image) -> tuple[str, int]:
        return self.hash_pixels(np.asarray(image if image.mode == "RGB" else image.convert("RGB")))

    def hash_pixels(self, pixels: np.ndarray) -> tuple[str, int]:
        """Hash and quality of RGB pixels (uint8[height, width, 3]), e.g. a flipped view of an image's."""
        bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
        return _bits_to_hex(bits), int(quality)


def _bits_to_hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


HASHERS: dict[str, Hasher] = {h.name: h for h in (PHasher(), DHasher(), PDQHasher())}
