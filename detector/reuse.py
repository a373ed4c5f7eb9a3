"""Reusing analyses of contents that copied nothing, across scans.

On the open web nearly every image copies nothing, and a monitoring scan fetches the same sites again
each night, so most contents a rescan fetches were analysed as non-copies before. A content (SHA-256)
whose analysis found no work, was not refused and carried no Content Credentials is kept in the store
under the *detection key* of the detector that analysed it (`Store.remember_non_copy`). A later sighting
of that content under the same key is recorded as a detected non-copy without being decoded; under any
other key it is analysed afresh. `scan --reanalyse` forgets what was kept.

The key changes whenever the outcome of an analysis could:

- works: the checksums of the index files (`catalogue.content_stamp`), the ones distributed workers watch
  to load the works again. Registering, removing or re-fingerprinting a work saves them anew, so a new
  work the content copies is looked for. Taken before the indexes are loaded: a save while they load
  gives a key older than what was analysed, which is only reused less, never wrongly.
- settings: `match` (thresholds, distances, feature kind, shortlist size), the cascade's gates (what
  ends an analysis at the screen), `common` (it can turn a match into no finding), `intake` (what is
  decoded and at what size), `shortlist` (which works are searched), `index` (how approximate the
  embedding search is; not its thread count) and the embedder's id (which works are nominated).
- software: copyhound's version, a digest of the source of the packages that analyse an image (a
  checkout whose version was not bumped still analyses again after a change), and the versions of the
  libraries that decode and describe pixels (Pillow, OpenCV, NumPy, FAISS).

What a non-copy analysis keeps per sighting is the same for a reused one: its cascade exit (here with
when and where the earlier analysis stopped) and its Content Credentials, which is why a content that
carries any is never kept (they are stored per sighting, and their trust depends on the anchors).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import cv2
import faiss
import numpy as np
import PIL

import detector
import index
from detector.config import Settings
from detector.embedders import Embedder

#: The exit recorded for a sighting whose content's earlier non-copy analysis was reused.
REUSED = "reused"
#: The packages whose source decides an analysis (their every module: a conservative digest).
_ANALYSING_PACKAGES = (detector, index)


def detection_key(works: dict, settings: Settings, embedder: Embedder | None, gates) -> str:
    """The key under which an analysis's outcome holds (module docstring); `works` is the index files'
    `catalogue.content_stamp`, `gates` the detector's `cascade.Gates`."""
    index_settings = {k: v for k, v in asdict(settings.index).items() if k != "threads"}
    parts = {
        "works": works,
        "settings": {"match": asdict(settings.match), "cascade": asdict(gates), "common": asdict(settings.common),
                     "intake": asdict(settings.intake), "shortlist": asdict(settings.shortlist),
                     "index": index_settings, "embedder": embedder.id if embedder else "none"},
        "software": software(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@lru_cache(maxsize=1)
def software() -> dict:
    """copyhound's version, its analysing source's digest, and the pixel libraries' versions."""
    digest = hashlib.sha256()
    for package in _ANALYSING_PACKAGES:
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return {"copyhound": detector.__version__, "source": digest.hexdigest(), "pillow": PIL.__version__,
            "opencv": cv2.__version__, "numpy": np.__version__, "faiss": faiss.__version__}


def reused_exit(earlier: dict) -> dict:
    """The cascade record of a sighting whose content was analysed as a non-copy before (`earlier`: the
    stored analysis's `analysed_at` and `cascade_exit`)."""
    return {"exit": REUSED, "analysed_at": earlier["analysed_at"], "analysed_exit": earlier["cascade_exit"]}


def keepable(analysis) -> bool:
    """Whether `analysis` (a `detect.Analysis`) may be reused by a later scan: a fresh one that found
    nothing, was not refused, and read no Content Credentials (they are kept per sighting)."""
    return (analysis.refusal is None and not analysis.findings and analysis.credentials == {}
            and analysis.cascade is not None and analysis.cascade.get("exit") != REUSED)
