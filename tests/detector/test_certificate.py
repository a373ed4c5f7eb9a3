"""What a stranger holds: a bundle and a registration certificate, checked with only openssl (run as
a subprocess) and Python's standard library; made through the real CLI against a real local TSA."""

import base64
import hashlib
import json
import subprocess
import zipfile
from dataclasses import replace

import pytest
from evidence_case import build_env
from support import invoke_cli

from detector.config import ProvenanceSettings, Settings

# -- a verifier written from the documentation alone: hashlib, json, base64 and the openssl binary ----


def entry_hash(entry: dict) -> str:
    body = {k: entry[k] for k in ("at", "kind", "subject", "payload", "prev_hash")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def included(entry_hash_hex: str, index: int, size: int, path: list[str], root_hex: str) -> bool:
    """RFC 9162 section 2.1.3.2, step by step."""
    node = hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()
    fn, sn = index, size - 1
    for sibling in map(bytes.fromhex, path):
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        fn, sn = fn // 2, sn // 2
    return sn == 0 and node.hex() == root_hex


def openssl(*args: str, cwd) -> bool:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, check=False).returncode == 0


def ed25519_ok(folder, key: str, data: str, sig: str) -> bool:
    return openssl("pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin", "-in", data, "-sigfile", sig, cwd=folder)


def time_stamp_ok(folder, data: str, token: str, tsa_cert) -> bool:
    return openssl("ts", "-verify", "-data", data, "-in", token, "-CAfile", str(tsa_cert), cwd=folder)


def verify_bundle_by_hand(zip_path, folder, tsa_cert) -> list[str]:
    """Every failed check, named; empty when the bundle holds up."""
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(folder)
    failed = []
    if not ed25519_ok(folder, "public_key.pem", "manifest.json", "manifest.sig.bin"):
        failed.append("manifest signature")
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    for item in manifest["files"]:
        if hashlib.sha256((folder / item["path"]).read_bytes()).hexdigest() != item["sha256"]:
            failed.append(item["path"])
    proof = manifest["ledger_proof"]
    for entry in manifest["ledger"]:
        if entry_hash(entry) != entry["hash"] or not included(
                entry["hash"], entry["seq"] - 1, proof["tree_size"], proof["inclusion"][str(entry["seq"])],
                proof["root"]):
            failed.append(f"ledger entry {entry['seq']}")
    head = json.loads((folder / "ledger/checkpoint.json").read_text("utf-8"))
    if (head["tree_size"], head["root"]) != (proof["tree_size"], proof["root"]):
        failed.append("checkpoint is not the proofs' tree head")
    if not ed25519_ok(folder, "public_key.pem", "ledger/checkpoint.json", "ledger/checkpoint.sig"):
        failed.append("checkpoint signature")
    if not time_stamp_ok(folder, "ledger/checkpoint.json", "ledger/checkpoint.tsr", tsa_cert):
        failed.append("checkpoint time-stamp")
    return failed


def verify_certificate_by_hand(cert: dict, work: bytes, folder, tsa_cert) -> list[str]:
    folder.mkdir(exist_ok=True)
    failed = []
    entry, payload = cert["registration"], json.loads(cert["registration"]["payload"])
    if not hashlib.sha256(work).hexdigest() == cert["asset"]["sha256"] == payload["sha256"]:
        failed.append("work hash")
    if entry_hash(entry) != entry["hash"]:
        failed.append("registration entry hash")
    statement = cert["checkpoint"]["statement"]
    inclusion = cert["inclusion"]
    if not included(entry["hash"], inclusion["leaf_index"], inclusion["tree_size"], inclusion["path"],
                    json.loads(statement)["root"]):
        failed.append("inclusion")
    (folder / "checkpoint.json").write_bytes(statement.encode("utf-8"))
    (folder / "key.pem").write_text(cert["public_key_pem"])
    (folder / "checkpoint.sig").write_bytes(base64.b64decode(cert["checkpoint"]["signature_base64"]))
    (folder / "checkpoint.tsr").write_bytes(base64.b64decode(cert["checkpoint"]["tsa_token_base64"]))
    if not ed25519_ok(folder, "key.pem", "checkpoint.json", "checkpoint.sig"):
        failed.append("checkpoint signature")
    if not time_stamp_ok(folder, "checkpoint.json", "checkpoint.tsr", tsa_cert):
        failed.append("checkpoint time-stamp")
    return failed


# -- the tests ---------------------------------------------------------------------------------------


@pytest.fixture
def anchored(tmp_path, tsa):
    """A workspace with a TSA configured, a checkpoint made by `copyhound ledger checkpoint`."""
    url, cert = tsa
    settings = replace(Settings(), provenance=ProvenanceSettings(tsa_url=url, tsa_certificate=str(cert)))
    env = build_env(tmp_path, settings=settings)
    made = invoke_cli("ledger", "checkpoint", home=env.ws.home)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("Checkpoint 1: 2 entries, head ") and f"time-stamped by {url}" in made.stdout
    return env, cert


def test_a_bundle_and_a_certificate_verify_with_only_openssl_and_the_standard_library(anchored, tmp_path):
    env, tsa_cert = anchored
    exported = invoke_cli("export", "--match", str(env.match_id), "--out", str(tmp_path / "b.zip"), home=env.ws.home)
    assert exported.returncode == 0, exported.stderr
    assert verify_bundle_by_hand(tmp_path / "b.zip", tmp_path / "bundle", tsa_cert) == []
    verified = invoke_cli("verify-bundle", str(tmp_path / "b.zip"), "--key",
                       str(env.ws.keys_dir / "signing-ed25519.pub.pem"))
    assert verified.returncode == 0, verified.stderr
    assert ": intact, signed by key" in verified.stdout and "proven against a checkpoint time-stamped" in verified.stdout
    written = invoke_cli("certificate", str(env.asset_id), "--out", str(tmp_path / "cert.json"), home=env.ws.home)
    assert written.returncode == 0, written.stderr
    cert = json.loads((tmp_path / "cert.json").read_text())
    assert cert["owner"]["legal_name"] == "Alice Example Photography Ltd"
    assert verify_certificate_by_hand(cert, env.work_bytes, tmp_path / "c1", tsa_cert) == []
    forged = json.loads(json.dumps(cert))
    forged["registration"]["at"] = "2020-01-01T00:00:00Z"
    assert verify_certificate_by_hand(forged, env.work_bytes, tmp_path / "c2", tsa_cert) == [
        "registration entry hash"]
    forged["registration"]["hash"] = entry_hash(forged["registration"])  # re-hashed: no longer in the signed tree
    assert verify_certificate_by_hand(forged, env.work_bytes, tmp_path / "c3", tsa_cert) == ["inclusion"]
    assert verify_certificate_by_hand(cert, env.work_bytes + b"x", tmp_path / "c4", tsa_cert) == ["work hash"]


def test_keys_show_export_head_and_ledger_verify_from_the_cli(anchored, tmp_path):
    env, _ = anchored
    shown = invoke_cli("keys", "show", home=env.ws.home)
    public = (env.ws.keys_dir / "signing-ed25519.pub.pem").read_text()
    fingerprint = hashlib.sha256(base64.b64decode("".join(public.splitlines()[1:-1]))[-32:]).hexdigest()
    assert shown.returncode == 0 and public.strip() in shown.stdout
    assert f"Fingerprint (SHA-256 of the raw 32-byte Ed25519 key): {fingerprint}" in shown.stdout
    head = json.loads(invoke_cli("ledger", "export-head", home=env.ws.home).stdout)
    assert json.loads(head["statement"])["tree_size"] == 2 and head["public_key_sha256"] == fingerprint
    assert head["tsa_time"] and head["tsa_token_base64"]
    assert "agrees with 1 signed checkpoint(s)" in invoke_cli("ledger", "verify", home=env.ws.home).stdout
    env.store.db.execute("UPDATE ledger_checkpoints SET statement = replace(statement, '\"tree_size\":2', "
                         "'\"tree_size\":3')")
    broken = invoke_cli("ledger", "verify", home=env.ws.home)
    assert broken.returncode == 1 and "checkpoint_forged: Checkpoint 1 is not signed by this workspace's key" \
        in broken.stderr


def test_a_certificate_needs_a_checkpoint_covering_the_registration(tmp_path):
    env = build_env(tmp_path)
    refused = invoke_cli("certificate", str(env.asset_id), home=env.ws.home)
    assert refused.returncode == 2
    assert "is not covered by a checkpoint yet; make one with `copyhound ledger checkpoint`" in refused.stderr


def test_export_writes_a_replayable_wacz_beside_the_zip(tmp_path):
    env = build_env(tmp_path)
    done = invoke_cli("export", "--match", str(env.match_id), "--out", str(tmp_path / "b.zip"), "--wacz",
                   home=env.ws.home)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "b.wacz") as wacz:
        names = set(wacz.namelist())
        pages = [json.loads(line) for line in wacz.read("pages/pages.jsonl").splitlines()]
        package = json.loads(wacz.read("datapackage.json"))
    assert {"datapackage.json", "indexes/index.cdx.gz", f"archive/match-{env.match_id}.warc.gz"} <= names
    assert pages[1]["url"] == "https://shop.example.com/products/mug?id=1&ref=a"
    with zipfile.ZipFile(tmp_path / "b.wacz") as wacz:
        for resource in package["resources"]:
            assert "sha256:" + hashlib.sha256(wacz.read(resource["path"])).hexdigest() == resource["hash"]


def test_a_scan_makes_a_checkpoint_when_configured_and_only_when_entries_were_added(tmp_path):
    settings = replace(Settings().with_embedder("none"), provenance=ProvenanceSettings(checkpoint_after_scan=True))
    env = build_env(tmp_path, settings=settings)
    first = invoke_cli("scan", "--no-crawl", home=env.ws.home)
    assert first.returncode == 0, first.stderr
    assert "Ledger checkpoint 1 made (2 entries)." in first.stderr
    again = invoke_cli("scan", "--no-crawl", home=env.ws.home)
    assert again.returncode == 0 and "checkpoint" not in again.stderr
    assert [c["tree_size"] for c in env.store.ledger_checkpoints()] == [2]
