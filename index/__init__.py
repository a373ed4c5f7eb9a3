"""FAISS indexes of registered works: float embeddings and binary perceptual hashes.

Pure computation over numpy arrays and files; imports neither `detector` nor `crawlers`.
"""

from index.binary import BinaryIndex, codes_to_hex, hex_to_codes
from index.errors import IndexFileError, IndexInputError
from index.vectors import VectorIndex, choose_factory

__all__ = [
    "BinaryIndex",
    "IndexFileError",
    "IndexInputError",
    "VectorIndex",
    "choose_factory",
    "codes_to_hex",
    "hex_to_codes",
]
