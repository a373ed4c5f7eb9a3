"""Checking a signed evidence bundle (see `detector.evidence.bundle` for its layout), with nothing
but the bundle and, optionally, the public key its recipient trusts."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from detector.evidence import ledger, signing
from detector.evidence.bundle import MANIFEST, PUBLIC_KEY, SIGNATURE

_MAX_MANIFEST_BYTES = 64_000_000


@dataclass(frozen=True)
class BundleProblem:
    """One thing wrong with a bundle. `code`: not_a_zip, unsafe_name, duplicate_name, file_missing,
    file_modified, file_extra, manifest_unreadable, signature_invalid, key_mismatch, untrusted_key,
    ledger_entry_modified."""

    code: str
    path: str | None
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class BundleCheck:
    """`ok` is True only when there are no problems."""

    problems: list[BundleProblem] = field(default_factory=list)
    public_key_sha256: str | None = None
    manifest: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, code: str, path: str | None, message: str) -> None:
        self.problems.append(BundleProblem(code, path, message))


def unsafe_name(name: str) -> str | None:
    """Why an archive name could escape the folder it is unpacked into, or None when it is safe."""
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "is absolute"
    if "\\" in name:
        return "contains a backslash"
    if any(ord(c) < 32 for c in name):
        return "contains a control character"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "contains an empty, '.' or '..' component"
    return None


def verify_bundle(path: Path, trusted_public_key: bytes | None = None) -> BundleCheck:
    """Check a bundle without unpacking it: names, signature, every file's hash and size, and the
    ledger entries it carries. With `trusted_public_key` (PEM), also that it was signed by that key.

    Every problem is named (which file, which entry); nothing is extracted to disk.
    """
    check = BundleCheck()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        check.add("not_a_zip", None, f"{path} is not a readable zip file ({e}).")
        return check
    with archive:
        entries = _safe_entries(archive, check)
        manifest_bytes = _read(archive, entries, MANIFEST, _MAX_MANIFEST_BYTES, check)
        signature = _read(archive, entries, SIGNATURE, 1024, check)
        public_pem = _read(archive, entries, PUBLIC_KEY, 4096, check)
        if manifest_bytes is None:
            return check
        _check_signature(check, manifest_bytes, signature, public_pem, trusted_public_key)
        try:
            manifest = json.loads(manifest_bytes)
            listed = {f["path"]: f for f in manifest["files"]}
            if not all(isinstance(f["sha256"], str) and type(f["size"]) is int for f in listed.values()):
                raise ValueError("a files entry lacks a string sha256 or an integer size")
        except (ValueError, KeyError, TypeError) as e:
            check.add("manifest_unreadable", MANIFEST, f"{MANIFEST} is not a bundle manifest ({e}).")
            return check
        check.manifest = manifest
        _check_key_named(check, manifest, public_pem)
        _check_files(check, archive, entries, listed)
        _check_ledger(check, manifest.get("ledger") or [])
    return check


def _safe_entries(archive: zipfile.ZipFile, check: BundleCheck) -> dict[str, zipfile.ZipInfo]:
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        reason = unsafe_name(info.filename)
        if reason:
            check.add("unsafe_name", info.filename, f"Archive entry {info.filename!r} {reason}; it could "
                                                    "escape the folder it is unpacked into, so it is refused.")
        elif info.filename in entries:
            check.add("duplicate_name", info.filename, f"Archive entry {info.filename} appears more than once.")
        else:
            entries[info.filename] = info
    return entries


def _read(archive, entries, name: str, limit: int, check: BundleCheck) -> bytes | None:
    if name not in entries:
        check.add("file_missing", name, f"{name} is missing from the bundle.")
        return None
    with archive.open(entries[name]) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        check.add("file_modified", name, f"{name} is larger than any genuine one ({limit} bytes).")
        return None
    return data


def _check_signature(check, manifest_bytes, signature, public_pem, trusted) -> None:
    if signature is None or public_pem is None:
        return
    try:
        key_sha = signing.fingerprint(public_pem)
        check.public_key_sha256 = key_sha
    except (ValueError, TypeError) as e:
        check.add("signature_invalid", PUBLIC_KEY, f"{PUBLIC_KEY} holds no Ed25519 public key ({e}).")
        return
    try:
        raw = bytes.fromhex(signature.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raw = b""
    if not signing.verify(public_pem, manifest_bytes, raw):
        check.add("signature_invalid", MANIFEST, f"The signature in {SIGNATURE} does not match {MANIFEST} "
                                                 f"and {PUBLIC_KEY}: the manifest was edited or the signature "
                                                 "replaced.")
    if trusted is not None and signing.fingerprint(trusted) != key_sha:
        check.add("untrusted_key", PUBLIC_KEY, f"The bundle is signed with key {key_sha[:16]}..., not the "
                                               f"trusted key {signing.fingerprint(trusted)[:16]}...; the key "
                                               "and signature were replaced.")


def _check_key_named(check, manifest: dict, public_pem: bytes | None) -> None:
    named = (manifest.get("signing") or {}).get("public_key_sha256")
    if check.public_key_sha256 and named != check.public_key_sha256:
        check.add("key_mismatch", PUBLIC_KEY, f"{PUBLIC_KEY} (fingerprint {check.public_key_sha256[:16]}...) is "
                                              f"not the key the manifest names ({str(named)[:16]}...): the "
                                              "key was swapped.")


def _check_files(check, archive, entries, listed: dict[str, dict]) -> None:
    for name, meta in sorted(listed.items()):
        reason = unsafe_name(name) if isinstance(name, str) else "is not a string"
        if reason:
            check.add("unsafe_name", str(name), f"The manifest lists {name!r}, which {reason}.")
            continue
        if name not in entries:
            check.add("file_missing", name, f"{name} is listed in the manifest but missing from the bundle.")
            continue
        digest, size = hashlib.sha256(), 0
        with archive.open(entries[name]) as member:
            # Read at most one byte more than the manifest states, so a zip bomb cannot run on.
            while size <= meta["size"]:
                chunk = member.read(min(1 << 20, meta["size"] + 1 - size))
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
        if size != meta["size"] or digest.hexdigest() != meta["sha256"]:
            check.add("file_modified", name, f"{name} was modified: its SHA-256 or size differs from the "
                                             f"manifest (expected {meta['sha256'][:16]}..., {meta['size']} "
                                             "bytes).")
    for name in sorted(set(entries) - set(listed) - {MANIFEST, SIGNATURE, PUBLIC_KEY}):
        check.add("file_extra", name, f"{name} is in the bundle but not in the manifest: it was added.")


def _check_ledger(check, entries: list[dict]) -> None:
    for entry in entries:
        try:
            intact = ledger.entry_intact(entry)
        except (KeyError, TypeError):
            intact = False
        if not intact:
            check.add("ledger_entry_modified", MANIFEST,
                      f"Ledger entry {entry.get('seq')} in the manifest does not match its hash.")

