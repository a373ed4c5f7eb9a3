"""Checking a signed WACZ, following the verification steps of the WACZ Signing and Verification
recommendation 0.1.0, with nothing but the file (and, optionally, the key, TSA and CA certificates
its reader trusts):

1. every file's hash and size against datapackage.json;
2. datapackage.json's hash against datapackage-digest.json, and the signed hash against both;
3. the signature of that hash: an anonymous one with its `publicKey` (ECDSA P-256/P-384, as
   ArchiveWeb.page signs, or Ed25519, as copyhound signs), or a domain-name one with the first
   certificate of `domainCert`, which must name `domain` and chain to a trusted root;
4. the RFC 3161 `timeSignature` of the signature, and that `created` lies within 10 minutes of it.

Every failure is named (which file, which field); nothing is extracted to disk.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from rfc3161_client import decode_timestamp_response

from detector.evidence.bundle_check import BundleCheck, open_zip, read_member, safe_entries, unsafe_name
from detector.evidence.wacz_signing import DATAPACKAGE, DIGEST, MAX_STAMP_DELAY, parse_time
from detector.provenance import signing, timestamp

_MAX_JSON_BYTES = 64_000_000
_HASHES = ("sha256", "sha384", "sha512")
#: What the spec puts in datapackage-digest.json and in its signedData. Only `hash` is signed, so an
#: unknown name (a renamed "timeSignature", say) is refused rather than silently skipped.
_DIGEST_FIELDS = {"path", "hash", "signedData"}
_SIGNED_FIELDS = {"hash", "created", "software", "version", "signature", "publicKey", "domain", "domainCert",
                  "timeSignature", "timestampCert", "crossSignedCert"}
_SPEC_VERSIONS = {"0.1.0"}


@dataclass
class WaczCheck(BundleCheck):
    """A BundleCheck (its `problems`, `ok`, `public_key_sha256`) with what the signature says.

    signer: "key FINGERPRINT" (anonymous) or "domain NAME"; stamped_at: the TSA's time;
    stamp_trusted: the time-stamp chains to a TSA certificate the reader gave, not only to the one it carries."""

    signer: str | None = None
    stamped_at: str | None = None
    stamp_authority: str | None = None
    stamp_trusted: bool = False
    notes: list[str] = field(default_factory=list)


def is_wacz(path: Path) -> bool:
    """True when `path` is a zip with a datapackage.json at its root (a WACZ, not a copyhound bundle)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return DATAPACKAGE in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def verify_wacz(path: Path, trusted_public_key: bytes | None = None, tsa_roots: list[x509.Certificate] | None = None,
                ca_roots: list[x509.Certificate] | None = None) -> WaczCheck:
    """Check the WACZ at `path`. `trusted_public_key` (PEM): the key an anonymous signature must be
    made with; `tsa_roots`: the TSA certificates its time-stamp must chain to; `ca_roots`: the roots a
    domain certificate must chain to (default: the Mozilla roots that `certifi` ships)."""
    check = WaczCheck()
    archive = open_zip(path, check)
    if archive is None:
        return check
    with archive:
        entries = safe_entries(archive, check)
        package_bytes, digest_bytes = (read_member(archive, entries, name, _MAX_JSON_BYTES, check, "WACZ")
                                       for name in (DATAPACKAGE, DIGEST))
        package, digest = _json(package_bytes, DATAPACKAGE, check), _json(digest_bytes, DIGEST, check)
        if package is not None:
            _check_resources(check, archive, entries, package)
        if package is None or digest is None:
            return check
        actual = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
        signed = digest.get("signedData")
        if not isinstance(signed, dict):
            check.add("unsigned", DIGEST, f"{DIGEST} holds no signedData block: the WACZ is not signed.")
        elif not all(isinstance(signed.get(k), str) for k in ("hash", "signature", "created")):
            check.add("signature_invalid", DIGEST, f"The signedData of {DIGEST} lacks its hash, signature or "
                                                   "created time (each a string).")
            signed = None
        _check_field_names(check, digest, signed)
        _check_digest(check, actual, digest, signed)
        if not isinstance(signed, dict):
            return check
        if signed["created"] != package.get("created"):
            check.add("created_mismatch", DIGEST, f"The signed created time {signed['created']!r} is not the "
                                                  f"created time of {DATAPACKAGE} ({package.get('created')!r}).")
        if "publicKey" in signed:
            _check_anonymous(check, signed, trusted_public_key)
        elif signed.get("domainCert") and signed.get("domain"):
            _check_domain(check, signed, ca_roots)
        else:
            check.add("signature_invalid", DIGEST, "The signedData carries neither a publicKey nor a domain and "
                                                   "domainCert, so its signature cannot be checked.")
        if "timeSignature" in signed:
            _check_stamp(check, signed, tsa_roots)
        elif "domainCert" in signed:
            check.add("timestamp_missing", DIGEST, "A domain-name signature must carry a timeSignature (RFC 3161); "
                                                   "this one has none.")
        else:
            check.notes.append("It is not time-stamped: only the signature vouches for when it was made.")
    return check


def _check_field_names(check: WaczCheck, digest: dict, signed: dict | None) -> None:
    unknown = sorted(set(digest) - _DIGEST_FIELDS) + sorted(f"signedData.{k}" for k in set(signed or {}) - _SIGNED_FIELDS)
    if unknown:
        check.add("digest_mismatch", DIGEST, f"{DIGEST} has fields the signing spec does not define "
                                             f"({', '.join(unknown)}): it was edited.")
    if signed and signed.get("version", "0.1.0") not in _SPEC_VERSIONS:
        check.add("signature_invalid", DIGEST, f"signedData.version {signed['version']!r} is not a version of the "
                                               f"signing spec this checks ({', '.join(sorted(_SPEC_VERSIONS))}).")


def _check_digest(check: WaczCheck, actual: str, digest: dict, signed: dict | None) -> None:
    """Name which of datapackage.json and its digest changed: the signed hash tells them apart."""
    listed_ok = digest.get("hash") == actual and digest.get("path") == DATAPACKAGE
    signed_ok = signed is None or signed["hash"] == actual
    if signed is None and not listed_ok:
        check.add("digest_mismatch", DATAPACKAGE, f"{DATAPACKAGE} does not match the hash in {DIGEST} (its SHA-256 "
                                                  f"is {actual[7:23]}...): one of the two was edited.")
    elif signed_ok and not listed_ok:
        check.add("digest_mismatch", DIGEST, f"The hash or path in {DIGEST} was edited: it no longer names "
                                             f"{DATAPACKAGE} (SHA-256 {actual[7:23]}...).")
    elif not signed_ok and signed["hash"] == digest.get("hash"):
        check.add("digest_mismatch", DATAPACKAGE, f"{DATAPACKAGE} was modified after it was signed: its SHA-256 "
                                                  f"({actual[7:23]}...) is not the signed one.")
    elif not signed_ok:
        check.add("digest_mismatch", DIGEST, f"The signed hash in {DIGEST} is not the hash of {DATAPACKAGE}"
                                             + ("" if listed_ok else " nor the digest's own hash")
                                             + ": the digest was edited or replaced after signing.")


def _json(data: bytes | None, name: str, check: WaczCheck) -> dict | None:
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError as e:
        check.add("datapackage_unreadable", name, f"{name} is not JSON ({e}).")
        return None
    if not isinstance(value, dict):
        check.add("datapackage_unreadable", name, f"{name} is not a JSON object.")
        return None
    return value


def _check_resources(check: WaczCheck, archive, entries, package: dict) -> None:
    resources = package.get("resources")
    if not isinstance(resources, list) or not all(
            isinstance(r, dict) and isinstance(r.get("path"), str) and isinstance(r.get("hash"), str)
            and isinstance(r.get("bytes"), int) for r in resources):
        check.add("datapackage_unreadable", DATAPACKAGE, f"{DATAPACKAGE} has no list of resources, each with a "
                                                         "path, hash and bytes.")
        return
    for resource in resources:
        name, (algorithm, _, expected) = resource["path"], resource["hash"].partition(":")
        reason = unsafe_name(name)
        if reason:
            check.add("unsafe_name", name, f"{DATAPACKAGE} lists {name!r}, which {reason}.")
        elif algorithm not in _HASHES:
            check.add("datapackage_unreadable", name, f"{DATAPACKAGE} gives {name} a {algorithm or 'nameless'} hash; "
                                                      f"only {', '.join(_HASHES)} are checked.")
        elif name not in entries:
            check.add("file_missing", name, f"{name} is listed in {DATAPACKAGE} but missing from the WACZ.")
        elif _member_hash(archive, entries[name], algorithm, resource["bytes"]) != (expected, resource["bytes"]):
            check.add("file_modified", name, f"{name} was modified: its {algorithm.upper()} or size differs from "
                                             f"{DATAPACKAGE} (expected {expected[:16]}..., {resource['bytes']} bytes).")
    for name in sorted(set(entries) - {r["path"] for r in resources} - {DATAPACKAGE, DIGEST}):
        check.add("file_extra", name, f"{name} is in the WACZ but not in {DATAPACKAGE}: it was added.")


def _member_hash(archive, info: zipfile.ZipInfo, algorithm: str, listed_size: int) -> tuple[str, int]:
    # Read at most one byte more than both the datapackage and the archive state, so a zip bomb cannot run on.
    limit, digest, size = min(listed_size, info.file_size) + 1, hashlib.new(algorithm), 0
    with archive.open(info) as member:
        while size < limit:
            chunk = member.read(min(1 << 20, limit - size))
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _b64(text, what: str, check: WaczCheck) -> bytes | None:
    """The bytes of a base64 field; only the canonical encoding of them is accepted, so no character of
    the field can change unnoticed (a decoder ignores the spare bits of the last one)."""
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or base64.b64encode(raw).decode("ascii") != text:
        check.add("timestamp_invalid" if what == "timeSignature" else "signature_invalid", DIGEST,
                  f"The {what} in signedData is not base64 (as written by its signer): it was edited.")
        return None
    return raw


def _check_anonymous(check: WaczCheck, signed: dict, trusted_public_key: bytes | None) -> None:
    der, signature = _b64(signed["publicKey"], "publicKey", check), _b64(signed["signature"], "signature", check)
    if der is None or signature is None:
        return
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as e:
        check.add("signature_invalid", DIGEST, f"The publicKey in signedData is no DER public key ({e}).")
        return
    if isinstance(key, Ed25519PublicKey):
        check.public_key_sha256 = signing.fingerprint(signing.public_key_pem(key))
    else:
        check.public_key_sha256 = hashlib.sha256(der).hexdigest()
    check.signer = f"key {check.public_key_sha256}"
    why = _signature_problem(key, signature, signed["hash"].encode("utf-8"))
    if why:
        check.add("signature_invalid", DIGEST, f"The signature in {DIGEST} {why}: the signed hash or the "
                                               "signature was edited, or the key replaced.")
    if trusted_public_key is None:
        return
    try:
        trusted = serialization.load_pem_public_key(trusted_public_key).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, UnsupportedAlgorithm) as e:
        check.add("untrusted_key", None, f"The trusted key given holds no PEM public key ({e}); pass the PEM file "
                                         "the rights holder publishes.")
        return
    if trusted != der:
        check.add("untrusted_key", DIGEST, f"The WACZ is signed with key {check.public_key_sha256[:16]}..., not "
                                           "the trusted key given; the key and signature were replaced.")


def _signature_problem(key, signature: bytes, data: bytes) -> str | None:
    """Why `signature` is not `key`'s signature of `data`, or None when it is. ECDSA signatures may be
    DER (as authsign and OpenSSL write them) or raw r|s (as WebCrypto, thus ArchiveWeb.page, writes them)."""
    try:
        if isinstance(key, Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp384r1"):
            half = (key.curve.key_size + 7) // 8
            if len(signature) == 2 * half:
                signature = encode_dss_signature(int.from_bytes(signature[:half]), int.from_bytes(signature[half:]))
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return f"is made with a {type(key).__name__.removeprefix('_')}, which the spec does not use"
    except InvalidSignature:
        return "does not verify"
    return None


def _check_domain(check: WaczCheck, signed: dict, ca_roots: list[x509.Certificate] | None) -> None:
    domain = str(signed["domain"])
    check.signer = f"domain {domain}"
    try:
        chain = x509.load_pem_x509_certificates(str(signed["domainCert"]).encode("ascii"))
        key = chain[0].public_key()
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm, x509.InvalidVersion) as e:
        check.add("certificate_invalid", DIGEST, f"The domainCert in signedData holds no readable PEM certificate "
                                                 f"({e}).")
        return
    signature = _b64(signed["signature"], "signature", check)
    if signature is None:
        return
    why = _signature_problem(key, signature, signed["hash"].encode("utf-8"))
    if why:
        check.add("signature_invalid", DIGEST, f"The signature in {DIGEST} {why} with the domain certificate of "
                                               f"{domain}: the signed hash or the signature was edited.")
    roots = ca_roots if ca_roots is not None else _web_roots()
    try:
        verifier = (PolicyBuilder().store(Store(roots)).time(parse_time(signed["created"]))
                    .build_server_verifier(x509.DNSName(domain)))
        verifier.verify(chain[0], chain[1:])
    except (VerificationError, ValueError) as e:
        check.add("certificate_invalid", DIGEST, f"The domain certificate does not prove {domain} signed at "
                                                 f"{signed['created']}: {e}.")


def _web_roots() -> list[x509.Certificate]:
    with warnings.catch_warnings():  # one of Mozilla's old roots has a serial number RFC 5280 no longer allows
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_pem_x509_certificates(Path(certifi.where()).read_bytes())


def _check_stamp(check: WaczCheck, signed: dict, tsa_roots: list[x509.Certificate] | None) -> None:
    token = _b64(signed["timeSignature"], "timeSignature", check)
    carried = None if token is None else _timestamp_certificates(check, signed, token)
    if carried is None:
        return
    stamped_at, why = timestamp.check(token, signed["signature"].encode("utf-8"), tsa_roots or carried or None)
    if why:
        check.add("timestamp_invalid", DIGEST, f"The timeSignature does not time-stamp this signature: {why}.")
        return
    check.stamped_at, check.stamp_trusted = stamped_at, bool(tsa_roots)
    check.stamp_authority = _common_name(carried[0]) if carried else None
    try:
        late = parse_time(stamped_at) - parse_time(signed["created"])
    except ValueError:
        late = None
    if late is None or not datetime.timedelta(seconds=-1) <= late <= MAX_STAMP_DELAY:
        check.add("timestamp_invalid", DIGEST, f"The time-stamp says {stamped_at}, but the WACZ claims to be created "
                                               f"{signed['created']}: more than 10 minutes apart.")


def _timestamp_certificates(check: WaczCheck, signed: dict, token: bytes) -> list[x509.Certificate] | None:
    """The certificates of `timestampCert`, or None (with the problem named) when they are not a chain
    (each signed by the next, a last self-issued one by itself) that holds every certificate the token
    carries: neither is covered by a signature, so an edit shows only as that disagreement."""
    text = str(signed.get("timestampCert") or "").strip()
    try:
        if text and not (text.startswith("-----BEGIN CERTIFICATE-----") and text.endswith("-----END CERTIFICATE-----")):
            raise ValueError("it holds text outside its certificates")  # which a PEM reader would skip unseen
        chain = x509.load_pem_x509_certificates(text.encode("utf-8")) if text else []
        for cert, issuer in zip(chain, chain[1:] + chain[-1:], strict=True):
            if cert is not issuer or cert.issuer == cert.subject:
                cert.verify_directly_issued_by(issuer)
        listed = {cert.public_bytes(serialization.Encoding.DER) for cert in chain}
        in_token = decode_timestamp_response(token).signed_data.certificates
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm, x509.InvalidVersion) as e:
        check.add("timestamp_invalid", DIGEST, f"The timestampCert in signedData is not a valid certificate chain "
                                               f"({e or type(e).__name__}): it was edited.")
        return None
    if not set(in_token) <= listed:
        check.add("timestamp_invalid", DIGEST, "The timestampCert in signedData does not hold the certificate the "
                                               "time-stamp carries: one of the two was edited.")
        return None
    return chain


def _common_name(cert: x509.Certificate) -> str | None:
    try:
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else cert.subject.rfc4514_string()
    except ValueError:
        return None
