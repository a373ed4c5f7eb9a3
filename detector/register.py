"""Register a rights holder's image files as works: decode, fingerprint, store, index.

A refused file never stops the batch: it is reported with its reason and the rest go on.
Registration is idempotent by SHA-256 per owner.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from detector import catalogue
from detector.config import Settings
from detector.embedders import Embedder
from detector.errors import ImageRefused
from detector.evidence import ledger
from detector.evidence.credentials import read_credentials, to_record
from detector.features import LocalFeatures
from detector.fingerprint import FEATURE_KINDS, Fingerprint, hashes, local_features
from detector.intake import DecodedImage, decode_file
from detector.parallel import ordered_map
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store


@dataclass(frozen=True)
class Outcome:
    path: str
    status: str  # registered, already, refused
    asset_id: int | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class WorkInfo:
    """What the user says about the works on the command line (None: take it from the file)."""

    owner: str
    title: str | None = None
    creator: str | None = None
    license_url: str | None = None


def find_images(paths: Iterable[Path], recursive: bool) -> tuple[list[Path], list[Outcome]]:
    """Files named directly, plus the regular files in named folders (their sub-folders with `recursive`).

    Entries of a folder that cannot be images (FIFOs, sockets, devices, links that loop or point
    nowhere) come back as skipped outcomes with the reason, instead of vanishing silently.
    """
    found: list[Path] = []
    skipped: list[Outcome] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        pattern = "**/*" if recursive else "*"
        for entry in sorted(p for p in path.glob(pattern) if not p.name.startswith(".")):
            refusal = not_a_file(entry)
            if refusal is None:
                found.append(entry)
            elif refusal.reason != "folder":
                skipped.append(refusal)
    return found, skipped


def image_paths(paths: Iterable[Path], recursive: bool) -> list[Path]:
    """The files `find_images` finds, without what it skipped."""
    return find_images(paths, recursive)[0]


def printable(text: str) -> str:
    """`text` as valid UTF-8: the bytes of a non-UTF-8 file name (surrogate escapes) as `\\xNN`.

    SQLite, JSON and the terminal take only valid text; a Latin-1 name like b'caf\\xe9.jpg' is
    kept readable as 'caf\\xe9.jpg', and its bytes can be read back from that spelling.
    """
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def not_a_file(path: Path) -> Outcome | None:
    """Why `path` cannot be read as an image file (a folder, FIFO, socket, device, broken link), or None.

    Checked before opening: opening a FIFO would wait forever for a writer.
    """
    try:
        mode = path.stat().st_mode
    except OSError as e:
        if path.is_symlink():
            why = "a symbolic link that loops" if e.errno == errno.ELOOP else "a symbolic link to nothing"
            return _skipped(path, "broken_link", f"{printable(str(path))} is {why}; skipped.")
        return None  # missing or unreadable: reading it reports that
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return _skipped(path, "folder", f"{printable(str(path))} is a folder.")
    kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return _skipped(path, "not_a_file", f"{printable(str(path))} is {kind}, not an image file; skipped.")


def _skipped(path: Path, reason: str, detail: str) -> Outcome:
    return Outcome(printable(str(path)), "refused", reason=reason, detail=detail)


def register_files(ws: Workspace, store: Store, settings: Settings, embedder: Embedder | None,
                   files: list[Path], info: WorkInfo,
                   progress: Callable[[Outcome], None] = lambda outcome: None,
                   index_progress: catalogue.Progress = lambda stage, done, total: None,
                   workers: int = 1) -> list[Outcome]:
    """Register `files`; the shortlist index grows by adds, retrained (reporting to
    `index_progress`) when the catalogue has outgrown it (catalogue.needs_training).

    `workers` > 1 computes the works' hashes and local features in that many forked processes;
    this one embeds and writes, in file order, so the result is that of one process.
    """
    owner = store.ensure_owner(info.owner)
    kind = settings.match.local_features
    work_indexes = catalogue.load(ws, store, embedder, settings.index, kind=kind, shortlist=settings.shortlist)
    blobs = BlobStore(ws.blobs_dir)
    outcomes: list[Outcome] = []
    batch_size = max(1, settings.embedder.batch_size)
    for start in range(0, len(files), batch_size):
        for outcome in _register_batch(store, settings, embedder, blobs, work_indexes, owner,
                                       files[start:start + batch_size], info, kind, workers):
            outcomes.append(outcome)
            progress(outcome)
        # Saved per batch: an interrupted run keeps what it registered, indexes included. The
        # local-feature index (the largest) is saved once at the end; after an interruption it is
        # out of step with the database and rebuilt from it on the next load.
        catalogue.save(ws, work_indexes, embedder, local=False)
    if work_indexes.features is not None and catalogue.needs_training(work_indexes.features, settings.shortlist):
        work_indexes.features = catalogue.build_local(store, kind, store.asset_ids_with_features(kind),
                                                      settings.shortlist, index_progress)
    catalogue.save(ws, work_indexes, embedder)
    return outcomes


def _work_prints(image: DecodedImage) -> tuple[Fingerprint, dict[str, LocalFeatures]]:
    """A work's hashes and its local features of every kind (the CPU-heavy part of registering)."""
    return hashes(image.image), {name: local_features(image, name) for name in FEATURE_KINDS}


def _register_batch(store, settings, embedder, blobs, work_indexes, owner, files, info, kind,
                    workers) -> list[Outcome]:
    outcomes: dict[int, Outcome] = {}
    decoded = []
    for position, path in enumerate(files):
        name = printable(str(path))
        if (refusal := not_a_file(path)) is not None:
            outcomes[position] = refusal
            continue
        try:
            data, image = decode_file(path, settings.intake)
        except ImageRefused as refusal:
            outcomes[position] = Outcome(name, "refused", reason=refusal.reason, detail=printable(refusal.detail))
            continue
        except OSError as e:
            outcomes[position] = Outcome(name, "refused", reason="unreadable",
                                         detail=f"{name}: cannot be read ({e.strerror or e}); check the path and its permissions.")
            continue
        sha = blobs.put(data)
        existing = store.asset_by_sha(owner["id"], sha)
        if existing:
            outcomes[position] = Outcome(name, "already", asset_id=existing["id"],
                                         detail=f"already registered as asset {existing['id']}")
            continue
        decoded.append((position, path, data, sha, image))

    vectors = embedder.embed([image.image for *_, image in decoded]) if embedder and decoded else None
    prints = ordered_map(_work_prints, [image for *_, image in decoded], workers)
    for row, (position, path, data, sha, image) in enumerate(decoded):
        fingerprint, extracted = prints[row]
        record = {
            "owner_id": owner["id"], "sha256": sha, "filename": printable(path.name),
            "title": info.title or printable(path.stem),
            "creator": info.creator or image.rights.creator,
            "license_url": info.license_url or image.rights.rights_url,
            "width": image.width, "height": image.height, "format": image.format,
            "frames": image.frames, "byte_size": len(data), "rights": image.rights.as_dict(),
            "credentials": to_record(read_credentials(data)),
            **fingerprint.as_dict(),
        }
        features = {name: feats.to_bytes() for name, feats in extracted.items()}
        vector = vectors[row] if vectors is not None else None
        embedding = (embedder.id, vector.tobytes()) if vector is not None else None
        with store.atomic():
            asset_id = store.add_asset(record, features, embedding)
            ledger.append(store, "register", f"asset:{asset_id}", {
                "owner": owner["name"], "filename": printable(path.name), "sha256": sha,
                **fingerprint.as_dict(), "embedder": embedder.id if embedder else None,
            })
        work_indexes.add(asset_id, vector, fingerprint.as_dict(), extracted[kind])
        outcomes[position] = Outcome(printable(str(path)), "registered", asset_id=asset_id)
    return [outcomes[i] for i in sorted(outcomes)]
