"""Signed evidence bundles: everything about some matches in one zip a third party can check.

Layout (all names relative, no `..`):

    README.txt                  what each file is and how to verify the bundle (openssl, sha256sum, copyhound)
    SHA256SUMS                  `sha256sum -c SHA256SUMS` checks every file below
    manifest.json               what is inside, signed (see below)
    manifest.sig                Ed25519 signature of manifest.json's exact bytes, hex
    manifest.sig.bin            the same signature, raw 64 bytes (`openssl pkeyutl -verify -rawin -sigfile`)
    manifest.sig.b64            the same signature, base64
    public_key.pem              the workspace's public key
    matches/ID/copy.EXT         the captured bytes exactly as fetched
    matches/ID/capture.warc.gz  a warcinfo record, then the page's and the image's response and request
                                records, byte-exact copies of the crawl's WARC records
    matches/ID/screenshot.png   the page as the browser saw it, the PNG exactly as taken
    matches/ID/screenshot.warc.gz  a warcinfo record, then the screenshot's resource record and its
                                metadata record (viewport, user agent, browser, time), byte-exact
                                copies of the records in the workspace's warc/screenshots-*.warc.gz
    matches/ID/report.html|pdf  the evidence report
    matches/ID/notices/...      notices made for the match; matches/ID/offers/... offer letters
    works/work-ID.EXT           the registered work (or works/work-ID-thumbnail.jpg)
    ledger/checkpoint.json|sig|tsr  the signed (and RFC 3161 time-stamped) ledger checkpoint the
                                ledger proofs lead to, when one covers the bundled entries

manifest.json lists every other file with SHA-256 and size, and holds the match, asset and owner
records, signals, provenance, the software, embedder and thresholds, the notices and offers, the
ledger entries about these assets and matches, and a Merkle inclusion proof of each of those
entries (RFC 9162) against a tree head: the oldest checkpoint covering them, else the ledger up
to the newest bundled entry. An export refuses to sign a case whose stored bytes are missing or
no longer match their recorded SHA-256.

The same inputs give the same bytes: zip entries are sorted and carry a fixed timestamp, and the
manifest holds no export time. When a bundle was made is recorded in the ledger instead (an
`export` entry with the manifest's SHA-256, written the first time that manifest is made), so
re-exporting unchanged evidence proves it is unchanged, and fetching it again changes nothing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import tempfile
import uuid
import zipfile
from pathlib import Path

from PIL import Image
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

import detector
from detector.config import Settings
from detector.errors import ActionRefused, UsageError
from detector.evidence import bundle_readme, report
from detector.evidence.case import Case, load_case
from detector.intake import decode_image
from detector.provenance import checkpoints, ledger, merkle, signing
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store

FORMAT = "copyhound-evidence-bundle/2"
MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public_key.pem"
SIGNATURE_RAW, SIGNATURE_B64 = "manifest.sig.bin", "manifest.sig.b64"
#: Files the manifest cannot list: itself and what signs it.
UNLISTED = frozenset({MANIFEST, SIGNATURE, SIGNATURE_RAW, SIGNATURE_B64, PUBLIC_KEY})
README, SUMS = "README.txt", "SHA256SUMS"
CHECKPOINT, CHECKPOINT_SIG, CHECKPOINT_TOKEN = "ledger/checkpoint.json", "ledger/checkpoint.sig", "ledger/checkpoint.tsr"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
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
    """Write the signed bundle of `match_ids` to `out_path` (atomically) and enter it in the ledger.

    Refuses (ActionRefused, naming each blob and how to recover) rather than sign a case whose
    work or copy is missing or corrupt, or whose WARC pointer leads to another record.
    """
    ids = sorted(set(match_ids))
    if not ids:
        raise UsageError("No matches to export: the selection is empty. List them with `copyhound matches`.")
    cases = [load_case(ws, store, match_id, owner_id) for match_id in ids]
    _refuse_incomplete(ws, cases)
    files: dict[str, bytes] = {}
    assets = {c.asset["id"]: c.asset for c in cases}
    owners = {c.owner["id"]: c.owner for c in cases}
    works = {asset_id: _add_work(files, ws, settings, asset) for asset_id, asset in assets.items()}
    notices = store.notices(ids)
    offers = store.offers(ids)
    match_entries = []
    for case in cases:
        match_entries.append(_add_match(files, ws, settings, case, notices, offers))
    subjects = [ledger.asset_subject(a) for a in assets] + [ledger.match_subject(m) for m in ids]
    entries = ledger.entries(store, subjects)
    public_pem = signing.ensure_keypair(ws)
    proof = _ledger_proof(files, store, entries)
    files[README] = bundle_readme.render(files, has_checkpoint=CHECKPOINT in files,
                                         has_tsa=CHECKPOINT_TOKEN in files).encode("utf-8")
    files[SUMS] = "".join(f"{_sha(data)}  {name}\n" for name, data in sorted(files.items())).encode("utf-8")
    manifest = {
        "format": FORMAT,
        "software": {"copyhound": detector.__version__},
        "signing": {"algorithm": "Ed25519", "public_key_sha256": signing.fingerprint(public_pem),
                    "fingerprint": "SHA-256 of the raw 32-byte Ed25519 public key (the last 32 bytes of "
                                   "public_key.pem's DER form)"},
        "bundle_work": settings.evidence.bundle_work,
        "owners": [_owner_record(o) for _, o in sorted(owners.items())],
        "assets": [dict(a, bundled=works[i]) for i, a in sorted(assets.items())],
        "matches": match_entries,
        "notices": [dict(n, path=_notice_path(n)) for n in notices],
        "offers": [dict({k: v for k, v in o.items() if k != "letter"}, path=_offer_path(o)) for o in offers],
        "ledger": entries,
        "ledger_proof": proof,
        "files": [{"path": name, "sha256": _sha(data), "size": len(data)} for name, data in sorted(files.items())],
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    signature, public_pem = signing.sign(ws, manifest_bytes)
    files[MANIFEST] = manifest_bytes
    files[SIGNATURE] = signature.hex().encode("ascii") + b"\n"
    files[SIGNATURE_RAW] = signature
    files[SIGNATURE_B64] = base64.b64encode(signature) + b"\n"
    files[PUBLIC_KEY] = public_pem
    out_path = Path(out_path)
    _write_zip(out_path, files)
    _record_export(store, out_path, _sha(manifest_bytes), ids, manifest["signing"]["public_key_sha256"])
    return out_path


def _record_export(store: Store, out_path: Path, manifest_sha: str, ids: list[int], key_sha: str) -> None:
    """An `export` ledger entry the first time a manifest is made; an identical bundle made again adds none."""
    for row in ledger.entries(store, ["export"]):
        if json.loads(row["payload"]).get("manifest_sha256") == manifest_sha:
            return
    ledger.append(store, "export", "export", {"file": out_path.name, "manifest_sha256": manifest_sha,
                                              "matches": ids, "public_key_sha256": key_sha})


def _refuse_incomplete(ws: Workspace, cases: list[Case]) -> None:
    """ActionRefused naming every missing or corrupt blob and WARC pointer of `cases`, if any."""
    blobs = BlobStore(ws.blobs_dir)
    problems = []
    for case in cases:
        match_id = case.match["id"]
        for what, digest in ((f"the registered work of asset {case.asset['id']}", case.asset["sha256"]),
                             (f"the copy captured for match {match_id}", case.match["sha256"])):
            if digest not in blobs:
                problems.append(f"{what} (blob {digest[:16]}...) is missing from the workspace's blobs/")
            elif _sha(blobs.get(digest)) != digest:
                problems.append(f"{what} (blob {digest[:16]}...) is corrupt: its bytes no longer have the "
                                "recorded SHA-256")
        problems += _warc_pointer_problems(ws, case)
        problems += _screenshot_problems(ws, blobs, case)
    if problems:
        raise ActionRefused(
            "The evidence is incomplete, so no bundle was signed: " + "; ".join(problems) + ". Restore the "
            "workspace's blobs/ and warc/ folders from a backup (or register the work again with `copyhound "
            "register` and capture the copy again with `copyhound scan`), then export again."
        )


def _warc_pointer_problems(ws: Workspace, case: Case) -> list[str]:
    """The image WARC record must be the capture of this candidate: its URI and its payload."""
    candidate = case.candidate or {}
    file, offset = candidate.get("warc_file"), candidate.get("warc_offset")
    if not file or offset is None:
        return []
    path = (ws.home / file).resolve()
    if not path.is_relative_to(ws.home.resolve()) or not path.is_file():
        return [f"the WARC file {file} of match {case.match['id']} is missing"]
    found = _read_record(path, offset)
    if found is None:
        return [f"there is no WARC record at byte {offset} of {file} (match {case.match['id']})"]
    headers, payload_sha = found[1], found[2]
    urls = {candidate.get("final_url"), candidate.get("image_url")}
    if headers["target_uri"] not in urls or payload_sha != candidate.get("sha256"):
        return [(f"the WARC record at byte {offset} of {file} is the capture of {headers['target_uri']} "
                 f"(payload SHA-256 {str(payload_sha)[:16]}...), not of match {case.match['id']}'s copy")]
    return []


def _screenshot_problems(ws: Workspace, blobs: BlobStore, case: Case) -> list[str]:
    """The page's screenshot, when there is one, must be whole: its PNG blob and its WARC resource
    record holding that very PNG."""
    shot = case.screenshot
    if shot is None:
        return []
    what = f"the screenshot {shot['id']} of match {case.match['id']}'s page"
    if shot["sha256"] not in blobs:
        return [f"{what} (blob {shot['sha256'][:16]}...) is missing from the workspace's blobs/"]
    if _sha(blobs.get(shot["sha256"])) != shot["sha256"]:
        return [f"{what} (blob {shot['sha256'][:16]}...) is corrupt: its bytes no longer have the recorded SHA-256"]
    path = (ws.home / (shot["warc_file"] or "")).resolve()
    if not shot["warc_file"] or not path.is_relative_to(ws.home.resolve()) or not path.is_file():
        return [f"the WARC file {shot['warc_file']} of {what} is missing"]
    found = _read_record(path, shot["warc_offset"])
    if found is None or found[1]["record_id"] != shot["warc_record_id"] or found[2] != shot["sha256"]:
        return [(f"the WARC record at byte {shot['warc_offset']} of {shot['warc_file']} is not {what} "
                 f"(record {shot['warc_record_id']})")]
    return []


def _ledger_proof(files: dict, store: Store, entries: list[dict]) -> dict:
    """Inclusion proofs of `entries` against the oldest checkpoint covering them (its statement,
    signature and time-stamp go into `files`), else against the ledger up to the newest of them."""
    if not entries:
        return {"tree_size": 0, "root": None, "inclusion": {}, "checkpoint": None}
    size = max(e["seq"] for e in entries)
    checkpoint = checkpoints.covering(store, size)
    if checkpoint is not None:
        size = checkpoint.tree_size
        files[CHECKPOINT] = checkpoint.statement_bytes
        files[CHECKPOINT_SIG] = checkpoint.signature
        if checkpoint.tsa_token:
            files[CHECKPOINT_TOKEN] = checkpoint.tsa_token
    leaves = [merkle.leaf_hash(row["hash"]) for row in store.ledger_rows()[:size]]
    return {
        "tree_size": size,
        "root": merkle.root(leaves).hex(),
        "leaf": "SHA-256(0x00 || entry hash); node: SHA-256(0x01 || left || right) (RFC 9162)",
        "inclusion": {str(e["seq"]): [h.hex() for h in merkle.inclusion_proof(e["seq"] - 1, leaves)]
                      for e in entries},
        "checkpoint": {"statement": CHECKPOINT, "signature": CHECKPOINT_SIG,
                       "tsa_token": CHECKPOINT_TOKEN if CHECKPOINT_TOKEN in files else None}
        if checkpoint is not None else None,
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _suffix(name: str | None, default: str) -> str:
    suffix = (name or "").rsplit(".", 1)[-1].lower() if name and "." in name else ""
    return "." + (suffix if _SAFE_SUFFIX.match(suffix) else default)


def _owner_record(owner: dict) -> dict:
    keys = ("id", "name", "legal_name", "address", "email", "phone", "jurisdiction")
    return {k: owner.get(k) for k in keys}


def _add_work(files: dict, ws: Workspace, settings: Settings, asset: dict) -> str | None:
    """Put the work (or its thumbnail) in `files`; returns its archive name (the blob was checked before)."""
    data = BlobStore(ws.blobs_dir).get(asset["sha256"])
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


def _add_match(files: dict, ws: Workspace, settings: Settings, case: Case,
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
    warc_bytes, records = capture_records(ws, case.candidate or {})
    if records:
        entry["warc"] = {"path": f"{folder}/capture.warc.gz", "records": records}
        files[entry["warc"]["path"]] = warc_bytes
    if case.screenshot is not None and case.screenshot_bytes is not None:
        entry["screenshot"] = _add_screenshot(files, ws, folder, case.screenshot, case.screenshot_bytes)
    for notice in notices:
        if notice["match_id"] == match_id:
            files[_notice_path(notice)] = notice["body"].encode("utf-8")
    for offer in offers:
        if offer["match_id"] == match_id:
            files[_offer_path(offer)] = offer["letter"].encode("utf-8")
    return entry


#: What the manifest says of a screenshot, from its `screenshots` row (the rest is bookkeeping).
_SCREENSHOT_FIELDS = ("id", "page_url", "final_url", "taken_at", "viewport_width", "viewport_height", "user_agent",
                      "browser", "sha256", "byte_size", "width", "height", "cut", "warc_record_id", "warc_digest")


def _add_screenshot(files: dict, ws: Workspace, folder: str, shot: dict, png: bytes) -> dict:
    """Put the screenshot's PNG and its WARC records in `files` (both were checked before)."""
    entry = {k: shot[k] for k in _SCREENSHOT_FIELDS}
    entry["png"] = f"{folder}/screenshot.png"
    files[entry["png"]] = png
    warc_bytes, records = screenshot_records(ws, shot)
    entry["warc"] = {"path": f"{folder}/screenshot.warc.gz", "records": records}
    files[entry["warc"]["path"]] = warc_bytes
    return entry


def screenshot_records(ws: Workspace, shot: dict) -> tuple[bytes, list[dict]]:
    """A warcinfo record, then the screenshot's `resource` record and the `metadata` record written
    with it, copied byte for byte (as gzip members) from the workspace's screenshots WARC."""
    record = {"role": "screenshot", "source_file": shot["warc_file"], "source_offset": shot["warc_offset"]}
    path = (ws.home / (shot["warc_file"] or "")).resolve()
    found = _read_record(path, shot["warc_offset"]) if path.is_relative_to(ws.home.resolve()) and path.is_file() \
        else None
    if found is None:
        return b"", [dict(record, missing=f"no WARC record at byte {shot['warc_offset']} of {shot['warc_file']}")]
    raw, headers, _ = found
    version = headers.pop("warc_version")
    members = [raw]
    metadata = _read_record(path, shot["warc_offset"] + headers.pop("length"))
    if metadata is not None and metadata[1]["warc_type"] == "metadata" \
            and metadata[1]["concurrent_to"] == headers["record_id"]:
        members.append(metadata[0])
        headers["metadata_record_id"] = metadata[1]["record_id"]
    record.update({k: v for k, v in headers.items() if k not in ("concurrent_to", "payload_digest")})
    info = _warcinfo(version, {}, headers["date"], headers["record_id"], "screenshot.warc.gz",
                     "copyhound evidence bundle: the screenshot of the page where the copy appeared, copied "
                     "byte for byte from the workspace's screenshots WARC")
    return info + _gzip_members(members), [record]


def _gzip_members(members: list[bytes]) -> bytes:
    """Records as gzip members: those of a gzipped WARC as they are, others gzipped with mtime 0."""
    return b"".join(m if m[:2] == b"\x1f\x8b" else gzip.compress(m, mtime=0) for m in members)


def capture_records(ws: Workspace, candidate: dict) -> tuple[bytes, list[dict]]:
    """A warcinfo record, then the page's and the image's response records, each followed by the
    request record the crawl wrote with it.

    Response and request records are copied byte for byte as gzip members, so each can be compared
    with the crawl's file at the recorded offset (records of an uncompressed WARC are gzipped,
    mtime 0). The warcinfo record is made here, deterministically, with the WARC version of the
    copied records and what the crawl's own warcinfo said about the crawl.
    """
    members, records, version, source_info = [], [], None, {}
    for role, file, offset in (("page", candidate.get("page_warc_file"), candidate.get("page_warc_offset")),
                               ("image", candidate.get("warc_file"), candidate.get("warc_offset"))):
        if not file or offset is None:
            continue
        path = (ws.home / file).resolve()
        note = {"role": role, "source_file": file, "source_offset": offset}
        if not path.is_relative_to(ws.home.resolve()) or not path.is_file():
            records.append(dict(note, missing=f"no WARC file at {file} in the workspace"))
            continue
        found = _read_record(path, offset)
        if found is None:
            records.append(dict(note, missing=f"no WARC record at byte {offset} of {file}"))
            continue
        raw, headers, _ = found
        members.append(raw)
        version = headers.pop("warc_version")
        request = _read_record(path, offset + headers.pop("length"))
        if request is not None and request[1]["warc_type"] == "request" \
                and request[1]["concurrent_to"] == headers["record_id"]:
            members.append(request[0])
            headers["request_record_id"] = request[1]["record_id"]
        records.append(dict(note, **{k: v for k, v in headers.items() if k != "concurrent_to"}))
        source_info = source_info or _source_warcinfo(path)
    if not members:
        return b"", records
    ids = " ".join(r.get("record_id") or "" for r in records)
    info = _warcinfo(version, source_info, records[-1].get("date"), ids, "capture.warc.gz",
                     "copyhound evidence bundle: the WARC records of one capture, copied byte for byte "
                     "from the crawl's WARC files")
    return info + _gzip_members(members), records


def _source_warcinfo(path: Path) -> dict:
    """The fields of the crawl's own warcinfo record (the file's first), except its format label."""
    found = _read_record(path, 0, payload=True)
    if found is None or found[1]["warc_type"] != "warcinfo":
        return {}
    fields = {}
    for line in found[2].decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(":")
        if name.strip() and name.strip() != "format":
            fields[name.strip()] = value.strip()
    return fields


def _warcinfo(version: str, source: dict, when: str | None, ids: str, filename: str, description: str) -> bytes:
    """A warcinfo record made the same way every time: its id from the records it introduces, its
    date theirs."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version=version)
    info = {**source, "format": f"WARC File Format {version.removeprefix('WARC/')}",
            "description": description, "bundled-by": f"copyhound {detector.__version__}"}
    record = writer.create_warcinfo_record(filename, info)
    record.rec_headers.replace_header("WARC-Record-ID", f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, ids)}>")
    if when:
        record.rec_headers.replace_header("WARC-Date", when)
    writer.write_record(record)
    return out.getvalue()


def _read_record(path: Path, offset: int, *, payload: bool = False) -> tuple[bytes, dict, object] | None:
    """(raw record bytes, headers, payload) of the record at `offset`, or None if there is none.

    The payload is its SHA-256 (hex) of the decoded content, or with `payload` the bytes themselves.
    """
    with path.open("rb") as f:
        f.seek(offset)
        iterator = ArchiveIterator(f)
        try:
            record = next(iterator)
            content = record.content_stream().read()
        except Exception:  # noqa: BLE001 (warcio raises several types on a wrong offset, StopIteration included)
            return None
        headers = {"warc_type": record.rec_type, "warc_version": record.rec_headers.protocol,
                   "target_uri": record.rec_headers.get_header("WARC-Target-URI"),
                   "record_id": record.rec_headers.get_header("WARC-Record-ID"),
                   "date": record.rec_headers.get_header("WARC-Date"),
                   "payload_digest": record.rec_headers.get_header("WARC-Payload-Digest"),
                   "concurrent_to": record.rec_headers.get_header("WARC-Concurrent-To")}
        iterator.read_to_end(record)
        start, length = iterator.get_record_offset(), iterator.get_record_length()
        headers["length"] = length
        f.seek(start)
        return f.read(length), headers, content if payload else _sha(content)


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
