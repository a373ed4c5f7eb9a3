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
from pathlib import Path

from PIL import Image
from warcio.archiveiterator import ArchiveIterator

import detector
from detector.config import Settings
from detector.errors import UsageError
from detector.evidence import ledger, pdf, report, signing
from detector.evidence.case import Case, load_case
from detector.intake import decode_image
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store

FORMAT = "copyhound-evidence-bundle/1"
MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public_key.pem"
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
    """Write the signed bundle of `match_ids` to `out_path` (atomically) and enter it in the ledger."""
    ids = sorted(set(match_ids))
    if not ids:
        raise UsageError("No matches to export: the selection is empty. List them with `copyhound matches`.")
    files: dict[str, bytes] = {}
    cases = [load_case(ws, store, match_id, owner_id) for match_id in ids]
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


def _add_match(files: dict, ws: Workspace, settings: Settings, case: Case,
               notices: list[dict], offers: list[dict]) -> dict:
    match_id = case.match["id"]
    folder = f"matches/{match_id}"
    built = report.build(case, settings)
    files[f"{folder}/report.html"] = report.render_html(built).encode("utf-8")
    files[f"{folder}/report.pdf"] = pdf.render_pdf(built)
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
        except Exception:  # noqa: BLE001 (warcio raises several types on a wrong offset, StopIteration included)
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
