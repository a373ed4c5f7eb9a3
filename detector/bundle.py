"""Signed evidence bundles: everything about some matches in one zip a third party can check.

Layout (all names relative, no `..`):

    manifest.json               what is inside, signed (see below)
    manifest.sig                Ed25519 signature of manifest.json's exact bytes, hex
    public_key.pem              the workspace's public key
    matches/ID/copy.EXT         the captured bytes exactly as fetched
    matches/ID/capture.warc.gz  the WARC records of the image and of its page, byte-exact copies
    matches/ID/report.html|pdf  the evidence report
    matches/ID/notices/...      notices made for the match; matches/ID/offers/... offer letters
    works/work-ID.EXT           the registered work (or works/work-ID-thumbnail.jpg)

manifest.json lists every other file with SHA-256 and size, and holds the match, asset and owner
records, signals, provenance, the software, embedder and thresholds, the notices and offers, and
the ledger entries about these assets and matches (each checkable on its own).

The same inputs give the same bytes: zip entries are sorted and carry a fixed timestamp, and the
manifest holds no export time. When a bundle was made is recorded in the ledger instead (an
`export` entry with the manifest's SHA-256), so re-exporting unchanged evidence proves it is
unchanged rather than producing a different file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from warcio.archiveiterator import ArchiveIterator

import detector
from detector import ledger, report, signing
from detector.blobs import BlobStore
from detector.config import Settings
from detector.errors import UsageError
from detector.intake import decode_image
from detector.store import Store
from detector.workspace import Workspace

FORMAT = "copyhound-evidence-bundle/1"
MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public_key.pem"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MAX_MANIFEST_BYTES = 64_000_000
_SAFE_SUFFIX = re.compile(r"^[a-z0-9]{1,8}$")


# -- export ----------------------------------------------------------------------------------

def select_matches(store: Store, *, match_ids: list[int] | None = None, asset_id: int | None = None,
                   status: str | None = None, since: str | None = None, owner_id: int | None = None) -> list[int]:
    """Ids of the matches to export: those named, or those of an asset, or those with a status;
    `since` (ISO date or time, UTC) keeps those seen on or after it. An asset's matches leave out
    rejected and authorized ones unless `status` asks for them."""
    if not (match_ids or asset_id is not None or status):
        raise UsageError("Choose what to export: --match ID (repeatable), --asset ID or --status STATUS.")
    where, params = ["1"], []
    if match_ids:
        for match_id in match_ids:
            store.match(match_id, owner_id)  # NotFound names a wrong id
        where.append(f"matches.id IN ({', '.join('?' for _ in match_ids)})")
        params += list(match_ids)
    if asset_id is not None:
        store.asset(asset_id, owner_id)
        where.append("matches.asset_id = ?")
        params.append(asset_id)
        if not status:
            where.append("matches.status NOT IN ('rejected', 'authorized')")
    if status:
        where.append("matches.status = ?")
        params.append(status)
    if since:
        where.append("matches.last_seen >= ?")
        params.append(since)
    if owner_id is not None:
        where.append("matches.owner_id = ?")
        params.append(owner_id)
    return [m["id"] for m in store.matches(" AND ".join(where), params)]


def export_bundle(ws: Workspace, store: Store, settings: Settings, match_ids: list[int], out_path: Path,
                  *, owner_id: int | None = None) -> Path:
    """Write the signed bundle of `match_ids` to `out_path` (atomically) and enter it in the ledger."""
    ids = sorted(set(match_ids))
    if not ids:
        raise UsageError("No matches to export: the selection is empty. List them with `copyhound matches`.")
    files: dict[str, bytes] = {}
    cases = [report.load_case(ws, store, match_id, owner_id) for match_id in ids]
    assets = {c.asset["id"]: c.asset for c in cases}
    owners = {c.owner["id"]: c.owner for c in cases}
    works = {asset_id: _add_work(files, ws, settings, asset) for asset_id, asset in assets.items()}
    notices = store.notices(ids)
    offers = store.offers(ids)
    match_entries = []
    for case in cases:
        match_entries.append(_add_match(files, ws, settings, case, notices, offers))
    subjects = [ledger.asset_subject(a) for a in assets] + [ledger.match_subject(m) for m in ids]
    public_pem = signing.ensure_keypair(ws)
    manifest = {
        "format": FORMAT,
        "software": {"copyhound": detector.__version__},
        "signing": {"algorithm": "Ed25519", "public_key_sha256": signing.fingerprint(public_pem)},
        "bundle_work": settings.evidence.bundle_work,
        "owners": [_owner_record(o) for _, o in sorted(owners.items())],
        "assets": [dict(a, bundled=works[i]) for i, a in sorted(assets.items())],
        "matches": match_entries,
        "notices": [dict(n, path=_notice_path(n)) for n in notices],
        "offers": [dict({k: v for k, v in o.items() if k != "letter"}, path=_offer_path(o)) for o in offers],
        "ledger": ledger.entries(store, subjects),
        "files": [{"path": name, "sha256": _sha(data), "size": len(data)} for name, data in sorted(files.items())],
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    signature, public_pem = signing.sign(ws, manifest_bytes)
    files[MANIFEST] = manifest_bytes
    files[SIGNATURE] = signature.hex().encode("ascii") + b"\n"
    files[PUBLIC_KEY] = public_pem
    out_path = Path(out_path)
    _write_zip(out_path, files)
    ledger.append(store, "export", "export", {
        "file": out_path.name, "manifest_sha256": _sha(manifest_bytes), "matches": ids,
        "public_key_sha256": manifest["signing"]["public_key_sha256"],
    })
    return out_path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _suffix(name: str | None, default: str) -> str:
    suffix = (name or "").rsplit(".", 1)[-1].lower() if name and "." in name else ""
    return "." + (suffix if _SAFE_SUFFIX.match(suffix) else default)


def _owner_record(owner: dict) -> dict:
    keys = ("id", "name", "legal_name", "address", "email", "phone", "jurisdiction")
    return {k: owner.get(k) for k in keys}


def _add_work(files: dict, ws: Workspace, settings: Settings, asset: dict) -> str | None:
    """Put the work (or its thumbnail) in `files`; returns its archive name, None if the blob is gone."""
    blobs = BlobStore(ws.blobs_dir)
    if asset["sha256"] not in blobs:
        return None
    data = blobs.get(asset["sha256"])
    if settings.evidence.bundle_work == "full":
        name = f"works/work-{asset['id']}{_suffix(asset['filename'], 'bin')}"
        files[name] = data
        return name
    if settings.evidence.bundle_work != "thumbnail":
        raise UsageError(f"evidence.bundle_work must be 'full' or 'thumbnail', got "
                         f"{settings.evidence.bundle_work!r}; fix config.toml.")
    decoded = decode_image(data, asset["filename"], settings.intake)
    thumb = decoded.image.copy()
    thumb.thumbnail((settings.evidence.thumbnail_side,) * 2, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=88)
    name = f"works/work-{asset['id']}-thumbnail.jpg"
    files[name] = out.getvalue()
    return name


def _notice_path(notice: dict) -> str:
    return f"matches/{notice['match_id']}/notices/notice-{notice['id']}-{notice['kind']}.txt"


def _offer_path(offer: dict) -> str:
    return f"matches/{offer['match_id']}/offers/offer-{offer['id']}.txt"


def _add_match(files: dict, ws: Workspace, settings: Settings, case: report.Case,
               notices: list[dict], offers: list[dict]) -> dict:
    match_id = case.match["id"]
    folder = f"matches/{match_id}"
    built = report.build(case, settings)
    files[f"{folder}/report.html"] = report.render_html(built).encode("utf-8")
    files[f"{folder}/report.pdf"] = report.render_pdf(built)
    entry = {"match": case.match, "provenance": case.candidate, "copy": None, "warc": None}
    if case.copy_bytes is not None:
        sniffed = (case.candidate or {}).get("sniffed_format")
        entry["copy"] = f"{folder}/copy{_suffix('x.' + sniffed if sniffed else None, 'bin')}"
        files[entry["copy"]] = case.copy_bytes
    warc_bytes, records = _warc_records(ws, case.candidate or {})
    if records:
        entry["warc"] = {"path": f"{folder}/capture.warc.gz", "records": records}
        files[entry["warc"]["path"]] = warc_bytes
    for notice in notices:
        if notice["match_id"] == match_id:
            files[_notice_path(notice)] = notice["body"].encode("utf-8")
    for offer in offers:
        if offer["match_id"] == match_id:
            files[_offer_path(offer)] = offer["letter"].encode("utf-8")
    return entry


def _warc_records(ws: Workspace, candidate: dict) -> tuple[bytes, list[dict]]:
    """The page and image WARC records of a capture, copied byte for byte as gzip members.

    Each record is one gzip member in a .warc.gz, so the copy can be compared with the crawl's
    file at the recorded offset; records of an uncompressed WARC are gzipped (mtime 0).
    """
    out, records = io.BytesIO(), []
    for role, file, offset in (("page", candidate.get("page_warc_file"), candidate.get("page_warc_offset")),
                               ("image", candidate.get("warc_file"), candidate.get("warc_offset"))):
        if not file or offset is None:
            continue
        path = (ws.home / file).resolve()
        note = {"role": role, "source_file": file, "source_offset": offset}
        if not path.is_relative_to(ws.home.resolve()) or not path.is_file():
            records.append(dict(note, missing=f"no WARC file at {file} in the workspace"))
            continue
        raw, headers = _read_record(path, offset)
        if raw is None:
            records.append(dict(note, missing=f"no WARC record at byte {offset} of {file}"))
            continue
        out.write(raw if raw[:2] == b"\x1f\x8b" else gzip.compress(raw, mtime=0))
        records.append(dict(note, **headers))
    return out.getvalue(), records


def _read_record(path: Path, offset: int) -> tuple[bytes | None, dict]:
    with path.open("rb") as f:
        f.seek(offset)
        iterator = ArchiveIterator(f)
        try:
            record = next(iterator)
        except (StopIteration, Exception):  # warcio raises several types on a wrong offset
            return None, {}
        headers = {"warc_type": record.rec_type,
                   "target_uri": record.rec_headers.get_header("WARC-Target-URI"),
                   "record_id": record.rec_headers.get_header("WARC-Record-ID"),
                   "payload_digest": record.rec_headers.get_header("WARC-Payload-Digest")}
        iterator.read_to_end(record)
        start, length = iterator.get_record_offset(), iterator.get_record_length()
        f.seek(start)
        return f.read(length), headers


def _write_zip(out_path: Path, files: dict[str, bytes]) -> None:
    """Sorted entries, fixed time and permissions: the same files always give the same zip bytes."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=".tmp-bundle-")
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for name in sorted(files):
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                info.external_attr = 0o644 << 16
                archive.writestr(info, files[name], compresslevel=9)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- verification ----------------------------------------------------------------------------

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

