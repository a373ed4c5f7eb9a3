"""Display copies of works and captured copies, made once with Pillow and cached as JPEG.

The bytes (a rights holder's file or hostile bytes from the web) go through the same safe
decoder as everything else, so a decompression bomb cannot hurt the portal either. The cache
lives under output/thumbs, named by content hash and size, with the picture's full upright size
in a sidecar (the matched region is drawn in full-size coordinates).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from detector.config import IntakeSettings
from detector.errors import NotFound
from detector.intake import decode_image
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore

SIZES = {"thumb": 240, "view": 1024}


@dataclass(frozen=True)
class Rendition:
    path: Path
    width: int   # of the full upright picture, not of the JPEG
    height: int


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def rendition(ws: Workspace, intake: IntakeSettings, sha256: str, size: str) -> Rendition:
    """The JPEG of blob `sha256` at `size` (thumb or view); ImageRefused if it does not decode."""
    if size not in SIZES:
        raise NotFound(f"Image size {size!r} is not offered; use one of: {', '.join(SIZES)}.")
    folder = ws.output_dir / "thumbs"
    path, info = folder / f"{sha256}-{size}.jpg", folder / f"{sha256}.json"
    if not (path.exists() and info.exists()):
        blobs = BlobStore(ws.blobs_dir)
        if sha256 not in blobs:
            raise NotFound(f"The image {sha256[:12]}... is not in the workspace's blob store.")
        decoded = decode_image(blobs.get(sha256), sha256[:12], intake)
        shown = decoded.image.copy()
        shown.thumbnail((SIZES[size], SIZES[size]))
        folder.mkdir(parents=True, exist_ok=True)
        out = BytesIO()
        shown.save(out, "JPEG", quality=85)
        _atomic_write(path, out.getvalue())
        _atomic_write(info, json.dumps({"width": decoded.width, "height": decoded.height}).encode())
    dims = json.loads(info.read_text())
    return Rendition(path, dims["width"], dims["height"])
