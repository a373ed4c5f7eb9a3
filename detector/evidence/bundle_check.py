"""Checking a signed evidence bundle (see `detector.evidence.bundle` for its layout), with nothing
but the bundle and, optionally, the public key its recipient trusts."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from detector.evidence.bundle import (
    CHECKPOINT,
    CHECKPOINT_SIG,
    CHECKPOINT_TOKEN,
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    SIGNATURE_B64,
    SIGNATURE_RAW,
    UNLISTED,
)
from detector.provenance import ledger, merkle, signing, timestamp

_MAX_MANIFEST_BYTES = 64_000_000


@dataclass(frozen=True)
class BundleProblem:
    """One thing wrong with a bundle. `code`: not_a_zip, unsafe_name, duplicate_name, file_missing,
    file_modified, file_extra, manifest_unreadable, signature_invalid, key_mismatch, untrusted_key,
    copy_missing, provenance_mismatch, ledger_entry_modified, ledger_proof_invalid, timestamp_invalid."""

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
    checkpoint_time: str | None = None  # the TSA's time of the bundled ledger checkpoint

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
    """Check a bundle without unpacking it: names, signature, every file's hash and size, the
    provenance hashes against the files carried, and the ledger entries with their inclusion
    proofs and checkpoint. With `trusted_public_key` (PEM), also that it was signed by that key.

    Every problem is named (which file, which entry); nothing is extracted to disk. A bundle whose
    signature fails is not read further: what its manifest claims is then worth nothing, and a
    forged manifest must not make the checker decompress anything large.
    """
    check = BundleCheck()
    archive = open_zip(path, check)
    if archive is None:
        return check
    with archive:
        entries = safe_entries(archive, check)
        manifest_bytes = read_member(archive, entries, MANIFEST, _MAX_MANIFEST_BYTES, check)
        signature = read_member(archive, entries, SIGNATURE, 1024, check)
        public_pem = read_member(archive, entries, PUBLIC_KEY, 4096, check)
        if manifest_bytes is None or signature is None or public_pem is None:
            return check
        _check_signature(check, manifest_bytes, signature, public_pem, trusted_public_key)
        _check_signature_forms(check, archive, entries, signature)
        if any(p.code == "signature_invalid" for p in check.problems):
            return check
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError as e:
            check.add("manifest_unreadable", MANIFEST, f"{MANIFEST} is not JSON ({e}).")
            return check
        wrong = manifest_shape_problem(manifest)
        if wrong:
            check.add("manifest_unreadable", MANIFEST, f"{MANIFEST} is not a bundle manifest: {wrong}.")
            return check
        check.manifest = manifest
        listed = {f["path"]: f for f in manifest["files"]}
        _check_key_named(check, manifest, public_pem)
        _check_files(check, archive, entries, listed)
        _check_provenance(check, manifest, listed)
        _check_screenshots(check, archive, entries, manifest, listed)
        _check_ledger(check, archive, entries, manifest, public_pem)
    return check


def safe_entries(archive: zipfile.ZipFile, check: BundleCheck) -> dict[str, zipfile.ZipInfo]:
    """Archive members by name. Folder entries (as `zip -r` adds) hold nothing and are skipped,
    once their names are found safe."""
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        is_folder = info.filename.endswith("/") and info.file_size == 0
        reason = unsafe_name(info.filename[:-1] if is_folder else info.filename)
        if reason:
            check.add("unsafe_name", info.filename, f"Archive entry {info.filename!r} {reason}; it could "
                                                    "escape the folder it is unpacked into, so it is refused.")
        elif is_folder:
            continue
        elif info.filename in entries:
            check.add("duplicate_name", info.filename, f"Archive entry {info.filename} appears more than once.")
        else:
            entries[info.filename] = info
    return entries


def open_zip(path: Path, check: BundleCheck) -> zipfile.ZipFile | None:
    """The zip file at `path`, or None with the reason added to `check`."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        check.add("not_a_zip", None, f"{path} is not a readable zip file ({e}).")
        return None


def read_member(archive, entries, name: str, limit: int, check: BundleCheck, container: str = "bundle") -> bytes | None:
    """The bytes of member `name`, read no further than `limit`; a member missing or larger goes into `check`."""
    if name not in entries:
        check.add("file_missing", name, f"{name} is missing from the {container}.")
        return None
    with archive.open(entries[name]) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        check.add("file_modified", name, f"{name} is larger than any genuine one ({limit} bytes).")
        return None
    return data


# -- the manifest's shape: what the checks below rely on, named precisely when it is wrong ---

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _kind(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


class _Malformed(ValueError):
    pass


def _want(value, types: tuple, where: str, wanted: str) -> None:
    if type(value) not in types:
        raise _Malformed(f"{where} is {_kind(value)}, where {wanted} belongs")


def manifest_shape_problem(manifest) -> str | None:
    """What is wrong with the structure of a parsed manifest, naming the place; None when sound."""
    try:
        _want(manifest, (dict,), "the manifest", "an object")
        _want(manifest.get("files"), (list,), "files", "a list")
        for i, item in enumerate(manifest["files"]):
            _want(item, (dict,), f"files[{i}]", "an object")
            _want(item.get("path"), (str,), f"files[{i}].path", "a string")
            _want(item.get("sha256"), (str,), f"files[{i}].sha256", "a string")
            if not _HEX64.match(item["sha256"]):
                raise _Malformed(f"files[{i}].sha256 is not 64 hex digits")
            _want(item.get("size"), (int,), f"files[{i}].size", "an integer")
        for key in ("matches", "assets", "ledger"):
            _want(manifest.get(key, []), (list,), key, "a list")
            for i, item in enumerate(manifest.get(key, [])):
                _want(item, (dict,), f"{key}[{i}]", "an object")
        for i, entry in enumerate(manifest.get("matches", [])):
            _want(entry.get("match"), (dict,), f"matches[{i}].match", "an object")
            _want(entry.get("provenance"), (dict, type(None)), f"matches[{i}].provenance", "an object")
            _want(entry.get("copy"), (str, type(None)), f"matches[{i}].copy", "a path")
            shot = entry.get("screenshot")
            _want(shot, (dict, type(None)), f"matches[{i}].screenshot", "an object")
            if shot is not None:
                for name in ("png", "sha256", "warc_record_id"):
                    _want(shot.get(name), (str,), f"matches[{i}].screenshot.{name}", "a string")
                _want(shot.get("warc"), (dict,), f"matches[{i}].screenshot.warc", "an object")
                _want(shot["warc"].get("path"), (str,), f"matches[{i}].screenshot.warc.path", "a path")
        for i, entry in enumerate(manifest.get("ledger", [])):
            _want(entry.get("seq"), (int,), f"ledger[{i}].seq", "an integer")
            for name in ("at", "kind", "subject", "payload", "prev_hash", "hash"):
                _want(entry.get(name), (str,), f"ledger[{i}].{name}", "a string")
        _want(manifest.get("signing", {}), (dict,), "signing", "an object")
        proof = manifest.get("ledger_proof")
        if proof is not None:
            _want(proof, (dict,), "ledger_proof", "an object")
            _want(proof.get("tree_size"), (int,), "ledger_proof.tree_size", "an integer")
            _want(proof.get("root"), (str, type(None)), "ledger_proof.root", "a hex string")
            _want(proof.get("inclusion"), (dict,), "ledger_proof.inclusion", "an object")
            for seq, path in proof["inclusion"].items():
                _want(path, (list,), f"ledger_proof.inclusion[{seq}]", "a list")
                if not all(isinstance(h, str) and _HEX64.match(h) for h in path):
                    raise _Malformed(f"ledger_proof.inclusion[{seq}] holds something other than 64-hex hashes")
            _want(proof.get("checkpoint"), (dict, type(None)), "ledger_proof.checkpoint", "an object")
    except _Malformed as e:
        return str(e)
    return None


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
    if trusted is None:
        return
    try:
        trusted_sha = signing.fingerprint(trusted)
    except (ValueError, TypeError) as e:
        check.add("untrusted_key", None, f"The trusted key given holds no Ed25519 public key ({e}); pass the "
                                         "PEM file the rights holder publishes.")
        return
    if trusted_sha != key_sha:
        check.add("untrusted_key", PUBLIC_KEY, f"The bundle is signed with key {key_sha[:16]}..., not the "
                                               f"trusted key {trusted_sha[:16]}...; the key and signature "
                                               "were replaced.")


def _check_signature_forms(check, archive, entries, signature: bytes) -> None:
    """manifest.sig.bin and .b64 must be the very signature in manifest.sig (openssl reads the raw one)."""
    try:
        expected = bytes.fromhex(signature.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return  # already named as an invalid signature
    raw = read_member(archive, entries, SIGNATURE_RAW, 1024, check)
    b64 = read_member(archive, entries, SIGNATURE_B64, 1024, check)
    for name, data, decode in ((SIGNATURE_RAW, raw, bytes), (SIGNATURE_B64, b64, base64.b64decode)):
        if data is None:
            continue
        try:
            same = decode(data) == expected
        except ValueError:
            same = False
        if not same:
            check.add("signature_invalid", name, f"{name} is not the signature in {SIGNATURE}: it was replaced.")


def _check_key_named(check, manifest: dict, public_pem: bytes | None) -> None:
    named = (manifest.get("signing") or {}).get("public_key_sha256")
    if check.public_key_sha256 and named != check.public_key_sha256:
        check.add("key_mismatch", PUBLIC_KEY, f"{PUBLIC_KEY} (fingerprint {check.public_key_sha256[:16]}...) is "
                                              f"not the key the manifest names ({str(named)[:16]}...): the "
                                              "key was swapped.")


def _check_files(check, archive, entries, listed: dict[str, dict]) -> None:
    for name, meta in sorted(listed.items()):
        reason = unsafe_name(name)
        if reason:
            check.add("unsafe_name", name, f"The manifest lists {name!r}, which {reason}.")
            continue
        if name not in entries:
            check.add("file_missing", name, f"{name} is listed in the manifest but missing from the bundle.")
            continue
        # Read at most one byte more than both the manifest and the archive state, so a zip bomb cannot run on.
        limit = min(meta["size"], entries[name].file_size) + 1
        digest, size = hashlib.sha256(), 0
        with archive.open(entries[name]) as member:
            while size < limit:
                chunk = member.read(min(1 << 20, limit - size))
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
        if size != meta["size"] or digest.hexdigest() != meta["sha256"]:
            check.add("file_modified", name, f"{name} was modified: its SHA-256 or size differs from the "
                                             f"manifest (expected {meta['sha256'][:16]}..., {meta['size']} "
                                             "bytes).")
    for name in sorted(set(entries) - set(listed) - UNLISTED):
        check.add("file_extra", name, f"{name} is in the bundle but not in the manifest: it was added.")


def _check_provenance(check, manifest: dict, listed: dict[str, dict]) -> None:
    """The hashes recorded at capture and registration must be those of the files the bundle carries."""
    for entry in manifest.get("matches", []):
        match, provenance = entry["match"], entry.get("provenance") or {}
        label = f"match {match.get('id')}"
        recorded = {provenance.get("sha256"), match.get("sha256")} - {None}
        copy = entry.get("copy")
        if copy is None or copy not in listed:
            check.add("copy_missing", MANIFEST, f"The bundle carries no copy for {label}: the evidence is "
                                                "incomplete.")
        elif recorded != {listed[copy]["sha256"]}:
            check.add("provenance_mismatch", copy, f"{copy} is not the copy captured for {label}: its SHA-256 is "
                                                   f"{listed[copy]['sha256'][:16]}..., the capture recorded "
                                                   f"{', '.join(sorted(str(r)[:16] for r in recorded))}....")
    for asset in manifest.get("assets", []):
        bundled = asset.get("bundled")
        if manifest.get("bundle_work") == "full" and isinstance(bundled, str) and bundled in listed \
                and listed[bundled]["sha256"] != asset.get("sha256"):
            check.add("provenance_mismatch", bundled, f"{bundled} is not the registered work of asset "
                                                      f"{asset.get('id')}: its SHA-256 differs from the one "
                                                      "registered.")


def _check_screenshots(check, archive, entries, manifest: dict, listed: dict[str, dict]) -> None:
    """Each page screenshot is the one recorded when it was taken: the PNG carried has its recorded
    SHA-256 (as has the ledger's `screenshot` entry, when bundled), and the WARC carried holds it
    as the recorded resource record, whose block digest holds."""
    recorded_in_ledger = {}
    for row in manifest.get("ledger", []):
        if row.get("kind") == "screenshot":
            try:
                payload = json.loads(row["payload"])
            except ValueError:
                continue
            if isinstance(payload, dict):
                recorded_in_ledger[payload.get("screenshot_id")] = payload.get("sha256")
    for entry in manifest.get("matches", []):
        shot = entry.get("screenshot")
        if shot is None:
            continue
        label = f"the screenshot of match {entry['match'].get('id')}"
        png, warc = shot["png"], shot["warc"]["path"]
        if shot.get("id") in recorded_in_ledger and recorded_in_ledger[shot["id"]] != shot["sha256"]:
            check.add("provenance_mismatch", MANIFEST, f"The manifest's SHA-256 of {label} is not the one the "
                                                       "ledger recorded when it was taken.")
        if png not in listed or warc not in listed:
            check.add("copy_missing", MANIFEST, f"The bundle lacks {png if png not in listed else warc}, "
                                                f"{label}: the evidence is incomplete.")
            continue
        if listed[png]["sha256"] != shot["sha256"]:
            check.add("provenance_mismatch", png, f"{png} is not {label} recorded when it was taken: its SHA-256 "
                                                  f"is {listed[png]['sha256'][:16]}..., the record says "
                                                  f"{shot['sha256'][:16]}....")
        why = _screenshot_record_problem(archive, entries, listed[warc], warc, shot)
        if why:
            check.add("provenance_mismatch", warc, f"{warc} does not hold {label}: {why}.")


def _screenshot_record_problem(archive, entries, meta: dict, name: str, shot: dict) -> str | None:
    """Why the WARC `name` does not hold the screenshot's resource record intact, or None."""
    if name not in entries:
        return "it is missing"
    with archive.open(entries[name]) as member:
        data = member.read(min(meta["size"], entries[name].file_size) + 1)
    try:
        for record in ArchiveIterator(io.BytesIO(data), check_digests=True):
            if record.rec_type != "resource":
                continue
            payload = record.content_stream().read()
            if record.rec_headers.get_header("WARC-Record-ID") != shot["warc_record_id"]:
                return f"its resource record is {record.rec_headers.get_header('WARC-Record-ID')}, not the recorded " \
                       f"{shot['warc_record_id']}"
            if hashlib.sha256(payload).hexdigest() != shot["sha256"]:
                return "its resource record's PNG does not have the screenshot's recorded SHA-256"
            if record.digest_checker.passed is False:
                return "its resource record's WARC-Block-Digest does not match the record's bytes"
            return None
    except (ArchiveLoadFailed, OSError, ValueError, EOFError) as e:
        return f"it is not a readable WARC ({e})"
    return "it has no resource record"


def _check_ledger(check, archive, entries, manifest: dict, public_pem: bytes) -> None:
    """Each entry intact; each included, by its Merkle proof, in the tree head the bundle names; that
    tree head the checkpoint's, signed by the bundle's key and time-stamped, when there is one."""
    proof = manifest.get("ledger_proof")
    for entry in manifest.get("ledger", []):
        if not ledger.entry_intact(entry):
            check.add("ledger_entry_modified", MANIFEST,
                      f"Ledger entry {entry['seq']} in the manifest does not match its hash.")
        elif proof is not None and not _included(entry, proof):
            check.add("ledger_proof_invalid", MANIFEST,
                      f"Ledger entry {entry['seq']} is not in the ledger of {proof['tree_size']} entries the "
                      "bundle names: its inclusion proof does not lead to that tree's root.")
    if proof is None or proof.get("checkpoint") is None:
        return
    statement = read_member(archive, entries, CHECKPOINT, 4096, check)
    signature = read_member(archive, entries, CHECKPOINT_SIG, 1024, check)
    if statement is None or signature is None:
        return
    try:
        head = json.loads(statement)
    except ValueError:
        head = None
    if not isinstance(head, dict) or head.get("tree_size") != proof["tree_size"] or head.get("root") != proof["root"]:
        check.add("ledger_proof_invalid", CHECKPOINT, f"{CHECKPOINT} is not the tree head the ledger proofs lead to.")
    if not signing.verify(public_pem, statement, signature):
        check.add("signature_invalid", CHECKPOINT_SIG, f"{CHECKPOINT_SIG} is not {PUBLIC_KEY}'s signature of "
                                                       f"{CHECKPOINT}.")
    if proof["checkpoint"].get("tsa_token"):
        token = read_member(archive, entries, CHECKPOINT_TOKEN, 1_000_000, check)
        if token is not None:
            check.checkpoint_time, why = timestamp.check(token, statement)
            if why:
                check.add("timestamp_invalid", CHECKPOINT_TOKEN, f"{CHECKPOINT_TOKEN} does not time-stamp "
                                                                 f"{CHECKPOINT}: {why}.")


def _included(entry: dict, proof: dict) -> bool:
    path = proof["inclusion"].get(str(entry["seq"]))
    if path is None or not proof.get("root"):
        return False
    return merkle.verify_inclusion(merkle.leaf_hash(entry["hash"]), entry["seq"] - 1, proof["tree_size"],
                                   [bytes.fromhex(h) for h in path], bytes.fromhex(proof["root"]))
