"""Saving an index file with a JSON manifest beside it, and refusing any file that does not check out.

Layout: `<path>` holds the serialized FAISS index; `<path>.manifest.json` holds the caller's
meta (e.g. the embedder id) plus what this package records itself: `format`, `format_version`,
`kind`, the shape keys of the index kind (`dim`/`factory` or `bits`), `count`, `bytes` and
`sha256` of the index file.

Each file is written to a temporary file in the same directory, fsynced and moved into place
with `os.replace`, so a reader sees either the old or the new file, never a partial one. The
two files are replaced one after the other: a crash between the two leaves a new index with
the old manifest, which the checksum catches on the next load (and a rebuild repairs).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from index.errors import IndexFileError, IndexInputError, faiss_reason

FORMAT = "copyhound-index"
FORMAT_VERSION = 1
RECORDED_KEYS = ("format", "format_version", "kind", "count", "bytes", "sha256")
_ABSENT = object()


def manifest_path(path: Path) -> Path:
    """Where the manifest of the index file `path` lives."""
    path = Path(path)
    return path.with_name(path.name + ".manifest.json")


def save(path: Path, payload: bytes, kind: str, shape: dict, count: int, meta: dict) -> None:
    """Write `payload` (a serialized index) to `path` and its manifest beside it, atomically each.

    `shape` holds the keys that describe the index kind (e.g. dim and factory); `meta` is the
    caller's, stored as given; neither may reuse a key this module records.
    """
    path = Path(path)
    _check_meta(meta, reserved=RECORDED_KEYS + tuple(shape))
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        **shape,
        "count": count,
        "bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        **meta,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_atomically(path, payload)
    _replace_atomically(manifest_path(path), text.encode("utf-8"))
    _sync_directory(path.parent)


def load(path: Path, kind: str, expect: dict | None) -> tuple[bytes, dict]:
    """The verified payload of the index file `path` and its manifest.

    Raises IndexFileError when either file is missing or unreadable, the manifest is of another
    format, version or index kind, the payload's size or sha256 differs from the manifest, or a
    key of `expect` is absent from the manifest or holds another value (values are compared as
    JSON would store them, so a tuple matches a list).
    """
    path = Path(path)
    manifest = _read_manifest(path)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexFileError(
            path, "format",
            f"manifest {manifest_path(path).name} declares format {manifest.get('format')!r} "
            f"version {manifest.get('format_version')!r}; this copyhound reads {FORMAT!r} "
            f"version {FORMAT_VERSION}",
        )
    if manifest.get("kind") != kind:
        raise IndexFileError(
            path, "kind", f"holds a {manifest.get('kind')!r} index, not a {kind!r} index"
        )
    payload = _read_payload(path)
    _check_integrity(path, payload, manifest)
    _check_expected(path, manifest, expect or {})
    return payload, manifest


def parse(path: Path, payload: bytes, read, expected: type | tuple[type, ...], width: int, count: int):
    """The FAISS index `read` (faiss.deserialize_index or its binary twin) makes of `payload`.

    Raises IndexFileError unless it is an `expected` (a class or a tuple of them) with `width` dimensions (the index's `d`)
    and `count` entries, as the manifest records: a manifest rewritten to match a foreign or
    damaged file must not get past loading.
    """
    try:
        index = read(np.frombuffer(payload, dtype=np.uint8))
    except RuntimeError as e:
        raise IndexFileError(
            path, "corrupt", f"is not a readable FAISS index ({faiss_reason(e)})"
        ) from e
    if not isinstance(index, expected) or index.d != width or index.ntotal != count:
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise IndexFileError(
            path, "corrupt",
            f"holds {type(index).__name__} of d={index.d} with {index.ntotal} entries where the "
            f"manifest records {names} of d={width} with {count}",
        )
    return index


def _check_meta(meta: dict, reserved: tuple[str, ...]) -> None:
    if not isinstance(meta, dict) or not all(isinstance(k, str) for k in meta):
        raise IndexInputError(
            f"meta must be a dict with str keys, got {type(meta).__name__}: {meta!r}"
        )
    clashes = sorted(set(meta) & set(reserved))
    if clashes:
        raise IndexInputError(
            f"meta keys {clashes} are recorded by the index itself; rename them "
            f"(reserved: {', '.join(sorted(reserved))})"
        )
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as e:
        raise IndexInputError(
            f"meta must hold only JSON values (str, int, float, bool, None, lists, dicts): {e}"
        ) from e


def _replace_atomically(path: Path, data: bytes) -> None:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed into place, not deleted)
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _sync_directory(directory: Path) -> None:
    # The renames are durable only once the directory entry is on disk; POSIX only.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(path: Path) -> dict:
    """The manifest of the index file `path`, unverified (for reporting); IndexFileError if unreadable."""
    return _read_manifest(Path(path))


def _read_manifest(path: Path) -> dict:
    where = manifest_path(path)
    if not where.exists():
        problem = "and its manifest are missing" if not path.exists() else "has no manifest"
        raise IndexFileError(path, "missing", f"{problem} ({where.name} not found)")
    try:
        manifest = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IndexFileError(path, "manifest", f"manifest {where.name} is unreadable ({e})") from e
    if not isinstance(manifest, dict):
        raise IndexFileError(
            path, "manifest",
            f"manifest {where.name} holds a JSON {type(manifest).__name__}, not an object",
        )
    return manifest


def _read_payload(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise IndexFileError(path, "missing", "is missing (its manifest exists)") from e
    except OSError as e:
        raise IndexFileError(path, "corrupt", f"cannot be read ({e})") from e


def _check_integrity(path: Path, payload: bytes, manifest: dict) -> None:
    expected_size = manifest.get("bytes")
    if isinstance(expected_size, int) and len(payload) < expected_size:
        raise IndexFileError(
            path, "truncated",
            f"is truncated: {len(payload)} bytes where the manifest records {expected_size}",
        )
    digest = hashlib.sha256(payload).hexdigest()
    if digest != manifest.get("sha256"):
        raise IndexFileError(
            path, "checksum",
            f"checksum mismatch: sha256 {digest} where the manifest records {manifest.get('sha256')}",
        )


def _check_expected(path: Path, manifest: dict, expect: dict) -> None:
    wanted = json.loads(json.dumps(expect))
    differences = [
        f"{key}={manifest[key]!r} in the file, {value!r} expected"
        if key in manifest else f"{key} absent from the manifest, {value!r} expected"
        for key, value in wanted.items()
        if manifest.get(key, _ABSENT) != value
    ]
    if differences:
        raise IndexFileError(
            path, "mismatch", "was built with other settings: " + "; ".join(differences)
        )

