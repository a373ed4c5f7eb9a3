"""Signing a WACZ as the Webrecorder "WACZ Signing and Verification" recommendation (0.1.0) describes:
`datapackage-digest.json` gets a `signedData` block over the SHA-256 of `datapackage.json`.

The form is the spec's *anonymous signature* (`publicKey` + `signature`), made with the workspace's
Ed25519 key, plus the RFC 3161 `timeSignature` and `timestampCert` of the spec's domain-name form
(the combination webrecorder/specs#142 proposes). Why Ed25519 and not the ECDSA key the spec's
example names, and what that means for other verifiers, is in docs/evidence.md ("Signed WACZ").

    hash          "sha256:<hex>" of datapackage.json, as the digest file's own `hash`
    created       datapackage.json's `created`, which verifiers compare
    signature     base64 Ed25519 signature of the UTF-8 bytes of `hash`
    publicKey     base64 DER SubjectPublicKeyInfo (algorithm named inside: id-Ed25519)
    timeSignature base64 DER TimeStampResp of the ASCII bytes of `signature` (with provenance.tsa_url)
    timestampCert PEM certificates the token carries (and the configured TSA certificate)
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rfc3161_client import decode_timestamp_response

import detector
from detector.config import Settings
from detector.errors import TimestampUnavailable, UsageError
from detector.provenance import signing, timestamp
from detector.workspace import Workspace

DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
SPEC_VERSION = "0.1.0"  # of the WACZ Signing and Verification recommendation
#: The spec's largest gap between `created` and the time-stamp (its verification step 6).
MAX_STAMP_DELAY = datetime.timedelta(minutes=10)


def signed_data(ws: Workspace, settings: Settings, digest_hash: str, created: str) -> dict:
    """The `signedData` block for a datapackage.json whose digest is `digest_hash`; time-stamped when
    provenance.tsa_url is set (TimestampUnavailable says why a configured TSA could not)."""
    raw, public_pem = signing.sign(ws, digest_hash.encode("utf-8"))
    spki = serialization.load_pem_public_key(public_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    block = {"hash": digest_hash, "created": created, "software": f"copyhound {detector.__version__}",
             "version": SPEC_VERSION, "signature": base64.b64encode(raw).decode("ascii"),
             "publicKey": base64.b64encode(spki).decode("ascii")}
    url = settings.provenance.tsa_url
    if not url:
        return block
    roots = timestamp.load_roots(settings.provenance.tsa_certificate)
    stamp = timestamp.request(url, block["signature"].encode("ascii"), settings.provenance.tsa_timeout, roots)
    late = parse_time(stamp.time) - parse_time(created)
    if not datetime.timedelta(seconds=-1) <= late <= MAX_STAMP_DELAY:
        raise TimestampUnavailable(f"The time-stamp of {url} says {stamp.time}, but the WACZ was made at {created}: "
                                   "more than the WACZ signing spec's 10 minutes apart. Check this computer's clock.")
    block["timeSignature"] = base64.b64encode(stamp.token).decode("ascii")
    block["timestampCert"] = _certificates_pem(stamp.token, roots or [])
    return block


def sign_wacz(ws: Workspace, settings: Settings, path: Path) -> dict:
    """Put a `signedData` block into the WACZ at `path` (written by the `wacz` package, whose digest
    file is unsigned); returns the block. The zip is rewritten beside it and moved into place, so a
    failure leaves the unsigned file as it was."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        package = archive.read(DATAPACKAGE)
        digest = json.loads(archive.read(DIGEST))
        digest_hash = "sha256:" + hashlib.sha256(package).hexdigest()
        if digest.get("hash") != digest_hash:
            raise UsageError(f"{path}: {DIGEST} does not hold the hash of {DATAPACKAGE}; the wacz package wrote "
                             "an unexpected file, so it was not signed.")
        digest["signedData"] = signed_data(ws, settings, digest_hash, json.loads(package)["created"])
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".signing-", suffix=".wacz", delete=False) as tmp:
            staged = Path(tmp.name)
        try:
            with zipfile.ZipFile(staged, "w") as out:
                for info in archive.infolist():
                    if info.filename == DIGEST:
                        out.writestr(info, json.dumps(digest, indent=2))
                        continue
                    with archive.open(info) as src, out.open(info, "w") as dst:  # WARCs stay stored, as written
                        shutil.copyfileobj(src, dst, 1 << 20)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
    os.replace(staged, path)
    return digest["signedData"]


def parse_time(text: str) -> datetime.datetime:
    """An ISO 8601 UTC time as the spec's `created` and our stamps write it (`...Z`, maybe with fractions)."""
    moment = datetime.datetime.fromisoformat(text)
    return moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment.astimezone(datetime.UTC)


def _certificates_pem(token: bytes, roots: list[x509.Certificate]) -> str:
    carried = [x509.load_der_x509_certificate(der) for der in decode_timestamp_response(token).signed_data.certificates]
    chain = carried + [root for root in roots if root not in carried]
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in chain)
