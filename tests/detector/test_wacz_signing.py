"""Signed WACZ (the WACZ Signing and Verification recommendation): written by `export --wacz` with the
workspace's Ed25519 key and a time-stamp of a real local TSA (openssl ts), checked by `verify-bundle`;
every member's bytes, the digest, the signature and the time-stamp tampered with here must be named."""

import base64
import datetime
import json
import zipfile
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from evidence_case import build_env
from support import invoke_cli
from test_bundle import codes, rewrite

from detector.config import ProvenanceSettings, Settings
from detector.errors import TimestampUnavailable
from detector.evidence.wacz_check import verify_wacz
from detector.evidence.wacz_export import write_wacz
from detector.evidence.wacz_signing import DATAPACKAGE, DIGEST
from detector.provenance import signing, timestamp

NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture
def signed(tmp_path, tsa):
    """(env, path of the signed and time-stamped WACZ, TSA certificates)."""
    url, cert = tsa
    settings = replace(Settings(), provenance=ProvenanceSettings(tsa_url=url, tsa_certificate=str(cert)))
    env = build_env(tmp_path, status="confirmed", settings=settings)
    path = tmp_path / "captures.wacz"
    write_wacz(env.ws, env.store, env.settings, [env.match_id], path)
    return env, path, timestamp.load_roots(str(cert))


def digest_of(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(DIGEST))


def with_signed_data(path, dst, **changes):
    """The WACZ with fields of its signedData replaced (None: removed), as someone editing the digest would."""
    def change(name, data):
        if name != DIGEST:
            return data
        digest = json.loads(data)
        digest["signedData"] = {k: v for k, v in {**digest["signedData"], **changes}.items() if v is not None}
        return json.dumps(digest).encode()
    return rewrite(path, dst, change)


def test_a_signed_wacz_carries_the_specs_signed_data_and_verifies(signed):
    env, path, roots = signed
    data = digest_of(path)["signedData"]
    with zipfile.ZipFile(path) as archive:
        package = json.loads(archive.read(DATAPACKAGE))
        assert archive.getinfo(f"archive/match-{env.match_id}.warc.gz").compress_type == zipfile.ZIP_STORED
    assert data["hash"] == digest_of(path)["hash"] and data["created"] == package["created"]
    assert data["version"] == "0.1.0" and data["software"].startswith("copyhound ")
    public = serialization.load_der_public_key(base64.b64decode(data["publicKey"]))
    assert public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        signing.public_key(env.ws)
    public.verify(base64.b64decode(data["signature"]), data["hash"].encode())  # raises when it is not the signature
    assert "BEGIN CERTIFICATE" in data["timestampCert"]

    check = verify_wacz(path, trusted_public_key=signing.public_key(env.ws), tsa_roots=roots)
    assert check.ok, check.problems
    assert check.signer == f"key {signing.fingerprint(signing.public_key(env.ws))}"
    assert check.stamp_trusted and check.stamp_authority == "copyhound test TSA"
    created = datetime.datetime.fromisoformat(data["created"])
    assert datetime.timedelta(0) <= datetime.datetime.fromisoformat(check.stamped_at) - created <= \
        datetime.timedelta(minutes=10)


def flip_at(position: int):
    return lambda data: data[:position] + bytes([data[position] ^ 1]) + data[position + 1:]


def test_one_changed_byte_in_any_member_is_named(signed, tmp_path):
    _, path, roots = signed
    with zipfile.ZipFile(path) as archive:
        names, text = archive.namelist(), archive.read(DIGEST).decode()
    assert len(names) >= 5  # the WARC, the index, the pages, datapackage.json and its digest
    edits = [(name, lambda data: flip_at(len(data) // 2)(data)) for name in names if name != DIGEST]
    # The digest file: one byte of each field's name and of its value, but the `software` label, which
    # the spec leaves unsigned. A quarter into the time-stamp token is its signed content or the TSA's
    # certificate; a few bytes of its envelope (the SignerInfo's version) no RFC 3161 verifier reads.
    digest, signed_at = json.loads(text), text.index('"signedData"')
    for fields, offset in ((digest, 0), (digest["signedData"], signed_at)):
        for key, value in fields.items():
            at = text.index(f'"{key}": ', offset)
            edits.append((DIGEST, flip_at(at + 1)))
            if isinstance(value, str) and key != "software":
                edits.append((DIGEST, flip_at(at + len(f'"{key}": ') + len(json.dumps(value)) // 4)))
    assert len(edits) > 20
    for name, edit in edits:
        check = verify_wacz(rewrite(path, tmp_path / "flipped.wacz", lambda member, data, name=name, edit=edit:
                                    edit(data) if member == name else data), tsa_roots=roots)
        assert not check.ok and name in [p.path for p in check.problems], (name, codes(check))
        if name not in (DATAPACKAGE, DIGEST):
            assert codes(check) == [("file_modified", name)]
    flipped_package = verify_wacz(rewrite(path, tmp_path / "p.wacz", lambda n, d: d + b" " if n == DATAPACKAGE else d))
    assert codes(flipped_package) == [("digest_mismatch", DATAPACKAGE)]
    assert "datapackage.json was modified after it was signed" in flipped_package.problems[0].message


def test_an_altered_signature_digest_or_time_stamp_is_named(signed, tmp_path):
    _, path, roots = signed
    data = digest_of(path)["signedData"]
    raw = bytearray(base64.b64decode(data["signature"]))
    raw[0] ^= 1
    forged = with_signed_data(path, tmp_path / "sig.wacz", signature=base64.b64encode(bytes(raw)).decode())
    check = verify_wacz(forged, tsa_roots=roots)
    assert set(codes(check)) == {("signature_invalid", DIGEST), ("timestamp_invalid", DIGEST)}
    assert "does not verify" in check.problems[0].message

    other_hash = "sha256:" + "0" * 64
    check = verify_wacz(with_signed_data(path, tmp_path / "hash.wacz", hash=other_hash), tsa_roots=roots)
    assert ("digest_mismatch", DIGEST) in codes(check) and ("signature_invalid", DIGEST) in codes(check)
    assert "The signed hash in datapackage-digest.json is not the hash of datapackage.json" in check.problems[0].message

    def edit_listed_hash(name, raw_json):
        digest = json.loads(raw_json) if name == DIGEST else None
        return json.dumps({**digest, "hash": other_hash}).encode() if digest else raw_json
    check = verify_wacz(rewrite(path, tmp_path / "listed.wacz", edit_listed_hash), tsa_roots=roots)
    assert codes(check) == [("digest_mismatch", DIGEST)] and "was edited" in check.problems[0].message

    token = bytearray(base64.b64decode(data["timeSignature"]))
    token[-5] ^= 1
    check = verify_wacz(with_signed_data(path, tmp_path / "tsr.wacz", timeSignature=base64.b64encode(bytes(token))
                                         .decode()), tsa_roots=roots)
    assert codes(check) == [("timestamp_invalid", DIGEST)]

    check = verify_wacz(with_signed_data(path, tmp_path / "late.wacz", created="2020-01-01T00:00:00Z"))
    assert set(codes(check)) == {("created_mismatch", DIGEST), ("timestamp_invalid", DIGEST)}
    assert "more than 10 minutes apart" in check.problems[-1].message

    unsigned = verify_wacz(rewrite(path, tmp_path / "unsigned.wacz", lambda n, d: json.dumps(
        {k: v for k, v in json.loads(d).items() if k != "signedData"}).encode() if n == DIGEST else d))
    assert codes(unsigned) == [("unsigned", DIGEST)]


def test_a_key_swapped_and_re_signed_is_caught_by_the_trusted_key(signed, tmp_path):
    env, path, _ = signed
    data = digest_of(path)["signedData"]
    mallory = Ed25519PrivateKey.generate()
    spki = mallory.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    swapped = with_signed_data(path, tmp_path / "swapped.wacz", publicKey=base64.b64encode(spki).decode(),
                               signature=base64.b64encode(mallory.sign(data["hash"].encode())).decode(),
                               timeSignature=None, timestampCert=None)
    assert verify_wacz(swapped).ok  # intact and signed, by someone: only the published key tells who
    check = verify_wacz(swapped, trusted_public_key=signing.public_key(env.ws))
    assert codes(check) == [("untrusted_key", DIGEST)]


def test_an_archiveweb_page_style_ecdsa_signature_verifies(signed, tmp_path):
    """The spec's anonymous form as ArchiveWeb.page writes it: P-384 key (SPKI), raw r|s from WebCrypto."""
    _, path, _ = signed
    key = ec.generate_private_key(ec.SECP384R1())
    digest_hash = digest_of(path)["hash"]
    r, s = decode_dss_signature(key.sign(digest_hash.encode(), ec.ECDSA(hashes.SHA256())))
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    webcrypto = with_signed_data(path, tmp_path / "awp.wacz", publicKey=base64.b64encode(spki).decode(),
                                 signature=base64.b64encode(r.to_bytes(48) + s.to_bytes(48)).decode(),
                                 timeSignature=None, timestampCert=None)
    check = verify_wacz(webcrypto)
    assert check.ok, check.problems
    assert check.notes == ["It is not time-stamped: only the signature vouches for when it was made."]


def _domain_identity(domain: str):
    """A root CA and a TLS leaf certificate for `domain` issued by it (as LetsEncrypt would), made here."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root CA")])

    def base(subject, public):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public)
                .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
                .not_valid_after(NOW + datetime.timedelta(days=30))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
    root = (base(ca_name, ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    leaf = (base(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]), key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return root, leaf, key


def test_a_domain_name_signature_verifies_against_its_trusted_root_only(signed, tmp_path, tsa):
    """The spec's domain-name identity + time-stamp form, as authsign writes it (DER ECDSA signature)."""
    _, path, roots = signed
    root, leaf, key = _domain_identity("archive.example")
    digest_hash = digest_of(path)["hash"]
    signature = base64.b64encode(key.sign(digest_hash.encode(), ec.ECDSA(hashes.SHA256()))).decode()
    stamp = timestamp.request(tsa[0], signature.encode(), 30, roots)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, root)).decode()
    fields = {"publicKey": None, "signature": signature, "domain": "archive.example", "domainCert": pem,
              "timeSignature": base64.b64encode(stamp.token).decode(),
              "timestampCert": tsa[1].read_text()}
    domain_signed = with_signed_data(path, tmp_path / "domain.wacz", **fields)
    check = verify_wacz(domain_signed, tsa_roots=roots, ca_roots=[root])
    assert check.ok, check.problems
    assert check.signer == "domain archive.example"
    assert codes(verify_wacz(domain_signed, tsa_roots=roots)) == [("certificate_invalid", DIGEST)]  # not a web root
    other = verify_wacz(with_signed_data(path, tmp_path / "other.wacz", **{**fields, "domain": "evil.example"}),
                        tsa_roots=roots, ca_roots=[root])
    assert codes(other) == [("certificate_invalid", DIGEST)] and "evil.example" in other.problems[0].message
    unstamped = verify_wacz(with_signed_data(path, tmp_path / "nostamp.wacz", **{**fields, "timeSignature": None}),
                            ca_roots=[root])
    assert codes(unstamped) == [("timestamp_missing", DIGEST)]


def test_export_writes_a_signed_wacz_that_verify_bundle_checks(signed, tmp_path):
    env, _, _ = signed
    done = invoke_cli("export", "--match", str(env.match_id), "--out", str(tmp_path / "b.zip"), "--wacz",
                     home=env.ws.home)
    assert done.returncode == 0, done.stderr
    assert "signed and time-stamped" in " ".join(done.stdout.split())
    tsa_cert = env.settings.provenance.tsa_certificate
    good = invoke_cli("verify-bundle", str(tmp_path / "b.wacz"), "--tsa-cert", tsa_cert)
    assert good.returncode == 0, good.stderr
    said = " ".join(good.stdout.split())
    assert f"signed by key {signing.fingerprint(signing.public_key(env.ws))}" in said
    assert "whose certificate chains to --tsa-cert" in said
    name = f"archive/match-{env.match_id}.warc.gz"
    rewrite(tmp_path / "b.wacz", tmp_path / "bad.wacz", lambda n, d: d[:-1] + bytes([d[-1] ^ 1]) if n == name else d)
    bad = invoke_cli("verify-bundle", str(tmp_path / "bad.wacz"))
    assert bad.returncode == 1
    assert f"file_modified: {name} was modified" in " ".join(bad.stderr.split())


def test_without_a_tsa_the_wacz_is_signed_not_stamped_and_an_unreachable_tsa_leaves_no_wacz(tmp_path):
    env = build_env(tmp_path, status="confirmed")
    path = tmp_path / "plain.wacz"
    assert "timeSignature" not in write_wacz(env.ws, env.store, env.settings, [env.match_id], path)
    check = verify_wacz(path, trusted_public_key=signing.public_key(env.ws))
    assert check.ok and check.stamped_at is None and check.notes[0].startswith("It is not time-stamped")

    gone = replace(env.settings, provenance=ProvenanceSettings(tsa_url="http://127.0.0.1:9/tsr", tsa_timeout=2))
    with pytest.raises(TimestampUnavailable, match="did not answer"):
        write_wacz(env.ws, env.store, gone, [env.match_id], path)
    assert not path.exists()
