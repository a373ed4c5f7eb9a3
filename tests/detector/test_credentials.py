"""Content Credentials: files signed here with c2pa-python (a real C2PA manifest, a certificate
chain made with `cryptography`), read back by the report and the notices."""

import datetime
import io
import json
from dataclasses import replace

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from evidence_case import build_env, copy_jpeg

from detector.config import EvidenceSettings, Settings
from detector.credentials import read_credentials, trust_anchors
from detector.errors import ConfigError
from detector.evidence import case, notices, report
from detector.workspace.blobs import BlobStore

NOW = datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{common_name} Org")])


def _usage(**on) -> x509.KeyUsage:
    flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                           "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    return x509.KeyUsage(**{**flags, **on})


def make_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed test CA: its key and certificate."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    return ca_key, _certificate(_name("Test CA"), _name("Test CA"), ca_key.public_key(), ca_key, True)


def _certificate(subject, issuer, public, ca_key, ca):
    """A certificate issued (signed) by `ca_key`: the CA's own when `ca`, else a C2PA signer's."""
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
               .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
               .not_valid_after(NOW + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(_usage(key_cert_sign=ca, crl_sign=ca, digital_signature=not ca), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
    if not ca:
        builder = (builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
    return builder.sign(ca_key, hashes.SHA256())


def signer(common_name: str, ca=None) -> c2pa.Signer:
    """An ES256 C2PA signer: a leaf certificate for `common_name` issued by `ca` (`make_ca`; default: a new one)."""
    (ca_key, root), key = ca or make_ca(), ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(_name(common_name), root.subject, key.public_key(), ca_key, False)
    chain = leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))


def signed(jpeg: bytes, author: str, by: str, ca=None) -> bytes:
    manifest = {"claim_generator_info": [{"name": "camera-app", "version": "2.1"}], "title": "photo.jpg",
                "assertions": [
                    {"label": "c2pa.actions", "data": {"actions": [{
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}},
                    {"label": "stds.schema-org.CreativeWork",
                     "data": {"@context": "https://schema.org", "@type": "CreativeWork",
                              "author": [{"@type": "Person", "name": author}]}}]}
    out = io.BytesIO()
    c2pa.Builder(json.dumps(manifest)).sign(signer(by, ca), "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()


def replace_work(env, data: bytes) -> None:
    sha = BlobStore(env.ws.blobs_dir).put(data)
    env.store.db["assets"].update(env.asset_id, {"sha256": sha, "byte_size": len(data)})


def replace_copy(env, data: bytes) -> None:
    sha = BlobStore(env.ws.blobs_dir).put(data)
    env.store.update_candidate(env.candidate_id, sha256=sha, byte_size=len(data))
    env.store.db["matches"].update(env.match_id, {"sha256": sha})


def test_reading_a_signed_file_gives_its_signer_author_and_verdict(tmp_path):
    env = build_env(tmp_path)
    credentials = read_credentials(signed(env.work_bytes, "Alice Example", "Alice Example"))
    assert (credentials.signer, credentials.issuer, credentials.authors) == (
        "Alice Example", "Alice Example Org", ["Alice Example"])
    assert credentials.generator == "camera-app 2.1" and credentials.validation == "Valid"
    assert credentials.problems == ["signingCredential.untrusted"]  # our test CA is on no trust list
    assert read_credentials(env.work_bytes) is None and read_credentials(b"not an image") is None


def test_a_works_content_credentials_missing_from_the_copy_are_removed_management_information(tmp_path):
    env = build_env(tmp_path, status="confirmed")
    work = signed(env.work_bytes, "Alice Example", "Alice Example")
    replace_work(env, work)
    replace_copy(env, copy_jpeg(work))  # re-encoded by the copier: the manifest is gone
    built = report.build(case.load_case(env.ws, env.store, env.match_id), env.settings)
    expected = ("The registered file carries Content Credentials (a C2PA manifest signed by Alice Example "
                "(Alice Example Org) naming Alice Example as author); the copy carries none: they were removed.")
    assert expected in built.cmi_removed
    html = report.render_html(built)
    assert expected in html and "Content Credentials (C2PA)" in html and "17 U.S.C. 1202(b)" in html
    body = notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dmca", at="2025-04-01T10:00:00Z").body
    flat = " ".join(body.split())
    assert expected in flat and "17 U.S.C. 1202(b)" in flat


def test_a_copys_own_manifest_claiming_another_author_is_shown(tmp_path):
    env = build_env(tmp_path)
    replace_copy(env, signed(env.copy_bytes, "Mallory <b>Thief</b>", "Mallory Signer"))
    built = report.build(case.load_case(env.ws, env.store, env.match_id), env.settings)
    assert built.credentials_found == [(
        "The copy carries Content Credentials of its own (a C2PA manifest signed by Mallory Signer "
        "(Mallory Signer Org) naming Mallory <b>Thief</b> as author); the C2PA reader finds them valid "
        "(signingCredential.untrusted).")]
    assert [who for who, _ in built.credentials] == ["Copy"]
    html = report.render_html(built)
    assert "naming Mallory &lt;b&gt;Thief&lt;/b&gt; as author" in html and "<b>Thief" not in html


def test_a_works_credentials_replaced_by_anothers_in_the_copy_are_removed_and_the_new_ones_shown(tmp_path):
    env = build_env(tmp_path)
    work = signed(env.work_bytes, "Alice Example", "Alice Example")
    replace_work(env, work)
    replace_copy(env, signed(copy_jpeg(work), "Mallory Thief", "Mallory Signer"))
    built = report.build(case.load_case(env.ws, env.store, env.match_id), env.settings)
    assert ("The registered file carries Content Credentials (a C2PA manifest signed by Alice Example (Alice Example "
            "Org) naming Alice Example as author); the copy does not: they were removed, and other credentials put "
            "in their place.") in built.cmi_removed
    assert "naming Mallory Thief as author" in built.credentials_found[0]
    assert [who for who, _ in built.credentials] == ["Registered file", "Copy"]


def test_a_signer_shows_as_trusted_only_under_a_configured_trust_anchor(tmp_path):
    env = build_env(tmp_path)
    ca = make_ca()
    data = signed(env.work_bytes, "Alice Example", "Alice Example", ca)
    anchor, stranger = tmp_path / "anchors.pem", tmp_path / "other.pem"
    anchor.write_bytes(ca[1].public_bytes(serialization.Encoding.PEM))
    stranger.write_bytes(make_ca()[1].public_bytes(serialization.Encoding.PEM))

    def read(path: str):
        settings = replace(env.settings, evidence=replace(env.settings.evidence, c2pa_trust_anchors=path))
        return read_credentials(data, trust_anchors(settings))

    trusted = read(str(anchor))
    assert (trusted.validation, trusted.problems, trusted.signer) == ("Trusted", [], "Alice Example")
    for path in ("", str(stranger)):
        untrusted = read(path)
        assert (untrusted.validation, untrusted.problems) == ("Valid", ["signingCredential.untrusted"]), path
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="evidence.c2pa_trust_anchors .*junk.pem.* holds no readable PEM"):
        read(str(tmp_path / "junk.pem"))


def test_the_report_reads_a_copys_signer_as_trusted_with_the_workspaces_trust_anchors(tmp_path):
    ca = make_ca()
    (tmp_path / "anchors.pem").write_bytes(ca[1].public_bytes(serialization.Encoding.PEM))
    settings = Settings(evidence=EvidenceSettings(c2pa_trust_anchors=str(tmp_path / "anchors.pem")))
    env = build_env(tmp_path, settings=settings)
    replace_copy(env, signed(env.copy_bytes, "Bob Agency", "Bob Agency", ca))
    built = report.build(case.load_case(env.ws, env.store, env.match_id), env.settings)
    assert built.credentials_found == [
        ("The copy carries Content Credentials of its own (a C2PA manifest signed by Bob Agency (Bob Agency Org) "
        "naming Bob Agency as author); the C2PA reader finds them trusted.")]
