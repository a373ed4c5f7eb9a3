"""Signed evidence bundles: a real workspace, real WARC, real Ed25519 key; tampering done on the zip."""

import io
import json
import shutil
import stat
import subprocess
import zipfile
from dataclasses import replace

import pytest
from evidence_case import FINAL_URL, IMAGE_URL, PAGE_URL, build_env, copied
from scrapy.http import HtmlResponse, Request, Response
from warcio.archiveiterator import ArchiveIterator

from crawlers.warc import WarcLog, warcinfo
from detector.errors import ActionRefused, UsageError
from detector.evidence import bundle, bundle_check, notices
from detector.licensing import offers
from detector.provenance import ledger, signing
from detector.workspace import create_workspace
from detector.workspace.blobs import BlobStore

AT = "2025-04-01T12:00:00Z"


def crawled_warc(env):
    """Write the capture again the way the crawler does (its own WarcLog: warcinfo, then response and
    request records for each exchange) and point the candidate at it."""
    page = b"<html><head><title>Mugs</title></head><body><img src='" + IMAGE_URL.encode() + b"'></body></html>"
    log = WarcLog(env.ws.warc_dir / "scan-2.warc.gz", warcinfo("shop", 2, "copyhound-test/1.0"))
    page_offset = log.write_exchange(Request(PAGE_URL), HtmlResponse(PAGE_URL, body=page, headers={
        "Content-Type": "text/html"}), "2025-03-01T09:59:00Z")
    image_offset = log.write_exchange(Request(FINAL_URL), Response(FINAL_URL, body=env.copy_bytes, headers={
        "Content-Type": "image/jpeg"}), "2025-03-01T10:00:00Z")
    log.close()
    env.store.update_candidate(env.candidate_id, warc_file="warc/scan-2.warc.gz", warc_offset=image_offset,
                               page_warc_file="warc/scan-2.warc.gz", page_warc_offset=page_offset)
    return env


@pytest.fixture(scope="module")
def exported_once(tmp_path_factory):
    """A confirmed case with a notice and an offer, exported once for the module: rendering the bundle's PDF
    report costs more than a second of CPU. Each test gets its own copy (`exported`)."""
    folder = tmp_path_factory.mktemp("exported")
    env = crawled_warc(build_env(folder, status="confirmed"))
    notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dmca", at=AT)
    offers.make_offer(env.ws, env.store, env.settings, env.match_id, at=AT)
    path = bundle.export_bundle(env.ws, env.store, env.settings, [env.match_id], folder / "out" / "b.zip")
    env.store.close()
    return env, path


@pytest.fixture
def exported(exported_once, tmp_path):
    env, path = exported_once
    mine = copied(env, tmp_path)
    (tmp_path / "out").mkdir()
    yield mine, shutil.copy(path, tmp_path / "out" / "b.zip")
    mine.store.close()


def rewrite(src, dst, change):
    """Copy a zip entry by entry; `change(name, data)` returns new bytes, or None to drop the entry."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info))
            if data is not None:
                new.writestr(info, data)
    return dst


def codes(check):
    return [(p.code, p.path) for p in check.problems]


def test_bundle_round_trips_and_verifies(exported):
    env, path = exported
    check = bundle_check.verify_bundle(path, trusted_public_key=signing.ensure_keypair(env.ws))
    assert check.ok and check.problems == []
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
        copy = z.read(f"matches/{env.match_id}/copy.jpeg")
        work = z.read(f"works/work-{env.asset_id}.jpg")
        warc = z.read(f"matches/{env.match_id}/capture.warc.gz")
        dmca = z.read(f"matches/{env.match_id}/notices/notice-1-dmca.txt").decode()
    assert names == sorted(names) and all(not n.startswith("/") and ".." not in n for n in names)
    assert copy == env.copy_bytes and work == env.work_bytes  # exactly as fetched / registered
    records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read(),
                r.rec_headers.protocol) for r in ArchiveIterator(io.BytesIO(warc))]
    assert [(t, u) for t, u, _, _ in records] == [("warcinfo", None), ("response", PAGE_URL), ("request", PAGE_URL),
                                                  ("response", FINAL_URL), ("request", FINAL_URL)]
    assert records[3][2] == env.copy_bytes
    assert {version for *_, version in records} == {"WARC/1.0"} and b"format: WARC File Format 1.0" in records[0][2]
    assert b"isPartOf: copyhound scan 2, target shop" in records[0][2]
    with (env.ws.warc_dir / "scan-2.warc.gz").open("rb") as crawled:  # the records are the crawl's own bytes
        source = crawled.read()
    records_at = ArchiveIterator(io.BytesIO(warc))
    offsets = [records_at.get_record_offset() for _ in records_at]
    assert warc[offsets[1]:] in source  # after the bundle's own warcinfo (searching for the gzip magic could
    # hit it inside the compressed warcinfo, whose record id is random)
    assert "512(c)(3)(A)(vi)" in dmca
    listed = {f["path"] for f in manifest["files"]}
    assert listed == set(names) - bundle.UNLISTED
    assert {"README.txt", "SHA256SUMS", "manifest.sig.bin", "manifest.sig.b64"} <= set(names)
    [entry] = manifest["matches"]
    assert entry["match"]["signals"]["embedder"] == "clip:ViT-B-32/laion2b_s34b_b79k#abc123"
    assert entry["provenance"]["warc_file"] == "warc/scan-2.warc.gz" and entry["provenance"]["page_url"] == PAGE_URL
    assert [r["role"] for r in entry["warc"]["records"]] == ["page", "image"]
    assert manifest["owners"][0]["legal_name"] == "Alice Example Photography Ltd"
    assert manifest["assets"][0]["sha256"] == env.store.asset(env.asset_id)["sha256"]
    assert [o["amount"] for o in manifest["offers"]] == ["187.50"] and manifest["notices"][0]["kind"] == "dmca"
    assert [e["kind"] for e in manifest["ledger"]] == ["register", "match", "review", "notice", "offer"]
    assert all(ledger.entry_intact(e) for e in manifest["ledger"])
    assert manifest["ledger_proof"]["tree_size"] == manifest["ledger"][-1]["seq"]
    assert set(manifest["ledger_proof"]["inclusion"]) == {str(e["seq"]) for e in manifest["ledger"]}
    assert manifest["signing"]["public_key_sha256"] == check.public_key_sha256
    assert ledger.entries(env.store)[-1]["kind"] == "export" and ledger.verify(env.store) == []


def test_exporting_an_unchanged_bundle_again_adds_no_ledger_entry(exported, tmp_path):
    env, _ = exported
    before = len(ledger.entries(env.store))
    bundle.export_bundle(env.ws, env.store, env.settings, [env.match_id], tmp_path / "again.zip")
    assert len(ledger.entries(env.store)) == before
    offers.make_offer(env.ws, env.store, env.settings, env.match_id, at=AT)  # the case changed: a new bundle
    bundle.export_bundle(env.ws, env.store, env.settings, [env.match_id], tmp_path / "changed.zip")
    assert [e["kind"] for e in ledger.entries(env.store)[before:]] == ["offer", "export"]


def test_a_bundle_unzipped_and_zipped_again_with_zip_r_verifies(exported, tmp_path):
    env, path = exported
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(path) as z:
        z.extractall(folder)
    rezipped = tmp_path / "rezipped.zip"
    subprocess.run(["zip", "-q", "-r", str(rezipped), "."], cwd=folder, check=True)
    with zipfile.ZipFile(rezipped) as z:
        assert any(name.endswith("/") for name in z.namelist())  # zip -r adds folder entries
    assert bundle_check.verify_bundle(rezipped, trusted_public_key=signing.ensure_keypair(env.ws)).ok


def test_the_readme_commands_verify_the_bundle_with_openssl_and_sha256sum(exported, tmp_path):
    env, path = exported
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(path) as z:
        z.extractall(folder)
    readme = (folder / "README.txt").read_text()
    commands = [line.strip() for line in readme.splitlines() if line.startswith("       ") and line[7] != " "]
    assert commands[:5] == [
        "openssl pkey -pubin -in public_key.pem -outform DER | tail -c 32 | sha256sum",
        "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json -sigfile manifest.sig.bin",
        "sha256sum SHA256SUMS", """grep -A 1 '"path": "SHA256SUMS"' manifest.json""", "sha256sum -c SHA256SUMS"]
    out = [subprocess.run(c, shell=True, cwd=folder, capture_output=True, text=True, check=True).stdout
           for c in commands[:5]]
    assert out[0].split()[0] == signing.fingerprint(signing.ensure_keypair(env.ws))
    assert out[1].strip() == "Signature Verified Successfully"
    assert out[2].split()[0] in out[3]
    assert out[4].count(": OK") == len(out[4].splitlines()) > 5
    (folder / f"matches/{env.match_id}/copy.jpeg").write_bytes(b"changed")
    failed = subprocess.run(commands[4], shell=True, cwd=folder, capture_output=True, text=True, check=False)
    assert failed.returncode != 0 and f"matches/{env.match_id}/copy.jpeg: FAILED" in failed.stdout
    for name in ("copy.jpeg", "capture.warc.gz", "report.html"):
        assert f"matches/{env.match_id}/{name}" in readme


def damage_blob(env, digest, how):
    path = BlobStore(env.ws.blobs_dir).path(digest)
    if how == "delete":
        path.unlink()
    else:
        data = path.read_bytes()
        path.write_bytes(data[:200] + bytes([data[200] ^ 1]) + data[201:])


@pytest.mark.parametrize("how", ["delete", "flip"])
@pytest.mark.parametrize("whose", ["copy", "work"])
def test_export_refuses_a_missing_or_corrupt_blob_and_signs_nothing(tmp_path, how, whose):
    env = build_env(tmp_path)
    digest = env.store.match(env.match_id)["sha256"] if whose == "copy" else env.store.asset(env.asset_id)["sha256"]
    damage_blob(env, digest, how)
    entries = len(ledger.entries(env.store))
    out = tmp_path / "b.zip"
    with pytest.raises(ActionRefused) as refused:
        bundle.export_bundle(env.ws, env.store, env.settings, [env.match_id], out)
    what = f"the copy captured for match {env.match_id}" if whose == "copy" else \
        f"the registered work of asset {env.asset_id}"
    state = "is missing from" if how == "delete" else "is corrupt: its bytes no longer have the recorded SHA-256"
    message = str(refused.value)
    assert message.startswith("The evidence is incomplete, so no bundle was signed: " + what)
    assert state in message and "Restore the workspace's blobs/ and warc/ folders from a backup" in message
    assert not out.exists() and len(ledger.entries(env.store)) == entries


def test_export_refuses_a_warc_pointer_to_another_capture(tmp_path):
    env = build_env(tmp_path)
    candidate = env.store.candidate(env.candidate_id)
    env.store.update_candidate(env.candidate_id, warc_offset=candidate["page_warc_offset"])
    with pytest.raises(ActionRefused, match=rf"the WARC record at byte 0 of warc/scan-1.warc.gz is the capture of "
                                            rf"{PAGE_URL.replace('?', '[?]')} .*not of match {env.match_id}'s copy"):
        bundle.export_bundle(env.ws, env.store, env.settings, [env.match_id], tmp_path / "b.zip")


def resign(env, path, dst, edit_manifest, change=lambda name, data: data):
    """What someone holding the key could do: edit the manifest (and files) and sign it again."""
    with zipfile.ZipFile(path) as z:
        manifest = edit_manifest(json.loads(z.read("manifest.json")))
    manifest_bytes = json.dumps(manifest).encode()
    signature, _ = signing.sign(env.ws, manifest_bytes)
    swaps = {"manifest.json": manifest_bytes, "manifest.sig": signature.hex().encode(),
             "manifest.sig.bin": signature, "manifest.sig.b64": __import__("base64").b64encode(signature)}
    return rewrite(path, dst, lambda name, data: swaps.get(name, change(name, data)))


def test_a_copy_that_is_not_the_captured_one_is_named_even_when_signed(exported, tmp_path):
    env, path = exported
    target = f"matches/{env.match_id}/copy.jpeg"
    other = env.work_bytes

    def swap_listing(manifest):
        for item in manifest["files"]:
            if item["path"] == target:
                item.update(sha256=__import__("hashlib").sha256(other).hexdigest(), size=len(other))
        return manifest

    swapped = resign(env, path, tmp_path / "t.zip", swap_listing,
                     lambda name, data: other if name == target else data)
    check = bundle_check.verify_bundle(swapped)
    assert codes(check) == [("provenance_mismatch", target)]
    assert check.problems[0].message.startswith(f"{target} is not the copy captured for match {env.match_id}")


@pytest.mark.parametrize(("edit", "named"), [
    (lambda m: dict(m, files="everything"), "files is a string, where a list belongs"),
    (lambda m: [m], "the manifest is a list, where an object belongs"),
    (lambda m: dict(m, files=[dict(m["files"][0], path=7)] + m["files"][1:]), "files[0].path is an integer"),
    (lambda m: dict(m, matches=[dict(m["matches"][0], match="m")]), "matches[0].match is a string"),
    (lambda m: dict(m, ledger=[1]), "ledger[0] is an integer, where an object belongs"),
    (lambda m: dict(m, ledger_proof=dict(m["ledger_proof"], inclusion={"1": "x"})), "ledger_proof.inclusion[1]"),
])
def test_a_malformed_manifest_is_named_not_a_traceback(exported, tmp_path, edit, named):
    env, path = exported
    check = bundle_check.verify_bundle(resign(env, path, tmp_path / "t.zip", edit))
    assert [p.code for p in check.problems] == ["manifest_unreadable"]
    assert check.problems[0].message.startswith("manifest.json is not a bundle manifest: " + named)


def test_a_forged_manifest_claiming_a_huge_member_is_not_read_past_the_signature(exported, tmp_path):
    env, path = exported
    target = f"matches/{env.match_id}/report.html"
    bomb = b"\0" * 30_000_000  # compresses to a few kilobytes

    def claim(manifest):
        for item in manifest["files"]:
            if item["path"] == target:
                item["size"] = 4 << 30
        return manifest

    def forge(name, data):
        if name == "manifest.json":
            return json.dumps(claim(json.loads(data))).encode()
        return bomb if name == target else data

    forged = rewrite(path, tmp_path / "f.zip", forge)
    assert codes(bundle_check.verify_bundle(forged)) == [("signature_invalid", "manifest.json")]
    signed = resign(env, path, tmp_path / "s.zip", claim)  # signed, but the member is not that large
    assert codes(bundle_check.verify_bundle(signed)) == [("file_modified", target)]


def test_a_broken_inclusion_proof_is_named(exported, tmp_path):
    env, path = exported

    def bend(manifest):
        proof = manifest["ledger_proof"]["inclusion"]
        first = min(proof, key=int)
        proof[first] = ["0" * 64] + proof[first][1:]
        return manifest

    check = bundle_check.verify_bundle(resign(env, path, tmp_path / "t.zip", bend))
    assert [p.code for p in check.problems] == ["ledger_proof_invalid"]
    assert check.problems[0].message.startswith("Ledger entry 1 is not in the ledger of")


def test_same_inputs_give_identical_bytes(exported, tmp_path):
    env, first = exported
    second = bundle.export_bundle(env.ws, env.store, env.settings, [env.match_id], tmp_path / "again.zip")
    assert first.read_bytes() == second.read_bytes()


def test_a_flipped_byte_in_the_copy_is_named(exported, tmp_path):
    env, path = exported
    target = f"matches/{env.match_id}/copy.jpeg"

    def flip(name, data):
        return data[:100] + bytes([data[100] ^ 1]) + data[101:] if name == target else data

    check = bundle_check.verify_bundle(rewrite(path, tmp_path / "t.zip", flip))
    assert codes(check) == [("file_modified", target)]
    assert check.problems[0].message.startswith(f"{target} was modified: its SHA-256 or size differs")


def test_an_edited_manifest_breaks_the_signature(exported, tmp_path):
    _, path = exported

    def edit(name, data):
        return data.replace(b"Alice Example Photography Ltd", b"Mallory Ltd") if name == "manifest.json" else data

    check = bundle_check.verify_bundle(rewrite(path, tmp_path / "t.zip", edit))
    assert codes(check) == [("signature_invalid", "manifest.json")]
    assert "the manifest was edited or the signature replaced" in check.problems[0].message


def test_a_swapped_signature_is_caught(exported, tmp_path):
    env, path = exported
    other_sig, _ = signing.sign(env.ws, b"some other manifest")
    swapped = rewrite(path, tmp_path / "t.zip",
                      lambda name, data: other_sig.hex().encode() + b"\n" if name == "manifest.sig" else data)
    assert codes(bundle_check.verify_bundle(swapped)) == [("signature_invalid", "manifest.json"),
                                                          ("signature_invalid", "manifest.sig.bin"),
                                                          ("signature_invalid", "manifest.sig.b64")]


def test_a_resigned_bundle_with_another_key_is_caught(exported, tmp_path):
    env, path = exported
    mallory, _ = create_workspace(tmp_path / "mallory", env.settings)
    mallory_pem = signing.ensure_keypair(mallory)
    with zipfile.ZipFile(path) as z:
        manifest = z.read("manifest.json")
    signature, _ = signing.sign(mallory, manifest)
    swaps = {"manifest.sig": signature.hex().encode() + b"\n", "public_key.pem": mallory_pem,
             "manifest.sig.bin": signature, "manifest.sig.b64": __import__("base64").b64encode(signature)}
    forged = rewrite(path, tmp_path / "t.zip", lambda name, data: swaps.get(name, data))
    check = bundle_check.verify_bundle(forged, trusted_public_key=signing.ensure_keypair(env.ws))
    assert codes(check) == [("untrusted_key", "public_key.pem"), ("key_mismatch", "public_key.pem")]


def test_missing_and_extra_files_are_named(exported, tmp_path):
    env, path = exported
    report = f"matches/{env.match_id}/report.pdf"
    dropped = rewrite(path, tmp_path / "d.zip", lambda name, data: None if name == report else data)
    assert codes(bundle_check.verify_bundle(dropped)) == [("file_missing", report)]
    extra = rewrite(path, tmp_path / "e.zip", lambda name, data: data)
    with zipfile.ZipFile(extra, "a") as z:
        z.writestr("matches/1/innocent.txt", b"added later")
    assert codes(bundle_check.verify_bundle(extra)) == [("file_extra", "matches/1/innocent.txt")]


@pytest.mark.parametrize("evil", ["../evil", "/abs/path", "matches/../../x", "C:/windows/x", "a\\..\\b"])
def test_entries_that_could_escape_are_refused(exported, tmp_path, evil):
    _, path = exported
    hostile = rewrite(path, tmp_path / "h.zip", lambda name, data: data)
    with zipfile.ZipFile(hostile, "a") as z:
        z.writestr(zipfile.ZipInfo(evil), b"payload")
    check = bundle_check.verify_bundle(hostile)
    assert not check.ok and codes(check) == [("unsafe_name", evil)]
    assert "could escape the folder it is unpacked into, so it is refused" in check.problems[0].message
    assert not (tmp_path / "evil").exists()


def test_not_a_zip_is_named(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    assert [p.code for p in bundle_check.verify_bundle(junk).problems] == ["not_a_zip"]


def test_thumbnail_mode_carries_a_small_jpeg_instead_of_the_work(tmp_path):
    env = build_env(tmp_path)
    settings = replace(env.settings, evidence=replace(env.settings.evidence, bundle_work="thumbnail",
                                                      thumbnail_side=200))
    path = bundle.export_bundle(env.ws, env.store, settings, [env.match_id], tmp_path / "t.zip")
    with zipfile.ZipFile(path) as z:
        thumb = z.read(f"works/work-{env.asset_id}-thumbnail.jpg")
    from PIL import Image
    assert Image.open(io.BytesIO(thumb)).size == (200, 150)
    assert bundle_check.verify_bundle(path).ok


def test_selection_and_key_file_permissions(tmp_path):
    env = build_env(tmp_path, status="confirmed")
    assert bundle.select_matches(env.store, status="confirmed") == [env.match_id]
    assert bundle.select_matches(env.store, asset_id=env.asset_id) == [env.match_id]
    assert bundle.select_matches(env.store, asset_id=env.asset_id, since="2025-04-01") == []
    with pytest.raises(UsageError, match="Choose what to export: --match ID"):
        bundle.select_matches(env.store)
    env.store.db["matches"].update(env.match_id, {"status": "rejected"})
    assert bundle.select_matches(env.store, asset_id=env.asset_id) == []
    mode = stat.S_IMODE((env.ws.keys_dir / signing.PRIVATE_KEY_FILE).stat().st_mode)
    assert mode == 0o600
    assert signing.ensure_keypair(env.ws) == signing.ensure_keypair(env.ws)  # kept, never re-made
