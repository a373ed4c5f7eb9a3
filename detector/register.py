"""Register a rights holder's image files as works: decode, fingerprint, store, index.

A refused file never stops the batch: it is reported with its reason and the rest go on.
Registration is idempotent by SHA-256 per owner.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from detector import catalogue
from detector.config import IntakeSettings, Settings
from detector.credentials import read_credentials, to_record, trust_anchors
from detector.embedders import Embedder
from detector.errors import ImageRefused
from detector.features import LocalFeatures
from detector.fingerprint import FEATURE_KINDS, Fingerprint, hashes, local_features
from detector.intake import decode_image, read_file
from detector.parallel import ordered_map
from detector.provenance import ledger
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore, sha256_hex
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


#: Files kept beside the pictures in a portfolio (metadata sidecars, edit settings, notes, catalogues,
#: documents): known not to be images, so skipped and counted rather than refused.
NOT_IMAGES = frozenset({
    ".xmp", ".aae", ".pp3", ".dop", ".on1", ".cos", ".exif", ".lrcat", ".txt", ".md", ".rtf", ".doc", ".docx",
    ".pdf", ".json", ".xml", ".csv", ".html", ".htm", ".log", ".ini", ".db", ".zip",
})


def find_images(paths: Iterable[Path], recursive: bool) -> tuple[list[Path], list[Outcome]]:
    """Files named directly, plus the regular files in named folders (their sub-folders with `recursive`).

    Entries of a folder that cannot be images (FIFOs, sockets, devices, links that loop or point
    nowhere) come back as refused outcomes with the reason, instead of vanishing silently; files
    known not to be images (NOT_IMAGES: .xmp, .txt ...) come back as `skipped`.
    """
    found: list[Path] = []
    skipped: list[Outcome] = []
    for path in paths:
        entries = [path] if not path.is_dir() else sorted(
            p for p in path.glob("**/*" if recursive else "*") if not p.name.startswith("."))
        for entry in entries:
            refusal = not_a_file(entry) if entry is not path else None
            if refusal is None and entry.suffix.lower() in NOT_IMAGES:
                skipped.append(Outcome(printable(str(entry)), "skipped", reason="not_an_image",
                                       detail=f"{entry.suffix.lower()} files are not images"))
            elif refusal is None:
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

    This process reads each file and skips the contents the owner has already registered; the
    rest are decoded, hashed, described by their local features (serialised for the store) in
    `workers` forked processes, while this one embeds and writes, in file order, a batch
    (embedder.batch_size files) per transaction, so the result is that of one process.
    """
    owner = store.ensure_owner(info.owner)
    kind = settings.match.local_features
    outcomes: list[Outcome] = []
    # One register (or reindex) at a time, also across machines sharing the store: each loads the index files,
    # adds to them and saves them whole, so two at once would each drop what the other added.
    with store.index_lock():
        work_indexes = catalogue.load(ws, store, embedder, settings.index, kind=kind, shortlist=settings.shortlist)
        jobs = (_read(path, store, owner["id"], settings, ws.blobs_dir, embedder is not None) for path in files)
        for batch in _batches(ordered_map(_prepare, jobs, workers), max(1, settings.embedder.batch_size)):
            for outcome in _write_batch(store, embedder, work_indexes, owner, batch, info, kind):
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


@dataclass(frozen=True)
class _Job:
    """A file read here, to be prepared in a worker (or an outcome already known)."""

    path: Path
    outcome: Outcome | None = None
    data: bytes = b""
    sha256: str = ""
    intake: IntakeSettings | None = None
    blobs_dir: Path | None = None
    keep_image: bool = False
    anchors: str | None = None  # the C2PA trust anchors (evidence.c2pa_trust_anchors)


@dataclass(frozen=True)
class _Prepared:
    """Everything the store and the indexes need about one new work, computed in a worker."""

    path: Path
    sha256: str
    record: dict
    fingerprint: Fingerprint
    features: dict[str, bytes]
    indexed: dict[str, LocalFeatures]
    image: Image.Image | None  # kept only when this process embeds it


def _read(path: Path, store: Store, owner_id: int, settings: Settings, blobs_dir: Path, keep_image: bool) -> _Job:
    """Read one file; a refusal, or a content the owner registered before, needs no worker."""
    name = printable(str(path))
    if (refusal := not_a_file(path)) is not None:
        return _Job(path, refusal)
    try:
        data = read_file(path, settings.intake)
    except ImageRefused as refusal:
        return _Job(path, Outcome(name, "refused", reason=refusal.reason, detail=printable(refusal.detail)))
    except OSError as e:
        return _Job(path, Outcome(name, "refused", reason="unreadable",
                                  detail=f"{name}: cannot be read ({e.strerror or e}); check the path and its permissions."))
    sha = sha256_hex(data)
    if (existing := store.asset_by_sha(owner_id, sha)) is not None:
        return _Job(path, _already(name, existing["id"]))
    return _Job(path, None, data, sha, settings.intake, blobs_dir, keep_image, trust_anchors(settings))


def _prepare(job: _Job) -> _Prepared | Outcome:
    """Decode, store the bytes, fingerprint and describe one file (the CPU-heavy part of registering)."""
    if job.outcome is not None:
        return job.outcome
    name = printable(str(job.path))
    try:
        image = decode_image(job.data, str(job.path), job.intake)
    except ImageRefused as refusal:
        return Outcome(name, "refused", reason=refusal.reason, detail=printable(refusal.detail))
    BlobStore(job.blobs_dir).put(job.data)
    fingerprint = hashes(image.image)
    extracted = {kind: local_features(image, kind) for kind in FEATURE_KINDS}
    record = {
        "sha256": job.sha256, "filename": printable(job.path.name),
        "width": image.width, "height": image.height, "format": image.format,
        "frames": image.frames, "byte_size": len(job.data), "rights": image.rights.as_dict(),
        "credentials": to_record(read_credentials(job.data, job.anchors)),
        "creator": image.rights.creator, "license_url": image.rights.rights_url,
        **fingerprint.as_dict(),
    }
    return _Prepared(job.path, job.sha256, record, fingerprint,
                     {kind: feats.to_bytes() for kind, feats in extracted.items()},
                     extracted, image.image if job.keep_image else None)


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _already(name: str, asset_id: int) -> Outcome:
    return Outcome(name, "already", asset_id=asset_id, detail=f"already registered as asset {asset_id}")


def _write_batch(store: Store, embedder: Embedder | None, work_indexes, owner: dict, batch: list,
                 info: WorkInfo, kind: str) -> list[Outcome]:
    """Store a batch of prepared works in one transaction, then add them to the indexes."""
    new = [item for item in batch if isinstance(item, _Prepared)]
    vectors = iter(embedder.embed([item.image for item in new]) if embedder and new else [None] * len(new))
    outcomes: list[Outcome] = []
    added = []
    with store.atomic():
        for item in batch:
            if isinstance(item, Outcome):
                outcomes.append(item)
                continue
            name, vector = printable(str(item.path)), next(vectors)
            # The same content twice among the files: the second finds the first registered.
            if (existing := store.asset_by_sha(owner["id"], item.sha256)) is not None:
                outcomes.append(_already(name, existing["id"]))
                continue
            record = {**item.record, "owner_id": owner["id"], "title": info.title or printable(item.path.stem),
                      "creator": info.creator or item.record["creator"],
                      "license_url": info.license_url or item.record["license_url"]}
            embedding = (embedder.id, vector.tobytes()) if vector is not None else None
            asset_id = store.add_asset(record, item.features, embedding)
            ledger.append(store, "register", f"asset:{asset_id}", {
                "owner": owner["name"], "filename": printable(item.path.name), "sha256": item.sha256,
                **item.fingerprint.as_dict(), "embedder": embedder.id if embedder else None,
            })
            added.append((asset_id, vector, item.fingerprint.as_dict(), item.indexed[kind]))
            outcomes.append(Outcome(name, "registered", asset_id=asset_id))
    for asset_id, vector, fingerprint, features in added:
        work_indexes.add(asset_id, vector, fingerprint, features)
    return outcomes
