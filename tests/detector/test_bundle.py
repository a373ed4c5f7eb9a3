"""Signed evidence bundles: a real workspace, real WARC, real Ed25519 key; tampering done on the zip."""

import io
import json
import stat
import zipfile
from dataclasses import replace

import pytest
from evidence_case import FINAL_URL, PAGE_URL, build_env
from warcio.archiveiterator import ArchiveIterator

from detector.errors import UsageError
from detector.evidence import bundle, bundle_check, ledger, notices, offers, signing
from detector.workspace import create_workspace

AT = "2025-04-01T12:00:00Z"


@pytest.fixture
def exported(tmp_path):
    env = build_env(tmp_path, status="confirmed")
    notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dmca", at=AT)
    offers.make_offer(env.ws, env.store, env.settings, env.match_id, at=AT)
    path = bundle.export_bundle(env.ws, env.store, env.settings, [env.match_id], tmp_path / "out" / "b.zip")
    return env, path


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
    records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read())
               for r in ArchiveIterator(io.BytesIO(warc))]
    assert [(t, u) for t, u, _ in records] == [("response", PAGE_URL), ("response", FINAL_URL)]
    assert records[1][2] == env.copy_bytes
    assert "512(c)(3)(A)(vi)" in dmca
    listed = {f["path"] for f in manifest["files"]}
    assert listed == set(names) - {"manifest.json", "manifest.sig", "public_key.pem"}
    [entry] = manifest["matches"]
    assert entry["match"]["signals"]["embedder"] == "clip:ViT-B-32/laion2b_s34b_b79k#abc123"
    assert entry["provenance"]["warc_file"] == "warc/scan-1.warc.gz" and entry["provenance"]["page_url"] == PAGE_URL
    assert [r["role"] for r in entry["warc"]["records"]] == ["page", "image"]
    assert manifest["owners"][0]["legal_name"] == "Alice Example Photography Ltd"
    assert manifest["assets"][0]["sha256"] == env.store.asset(env.asset_id)["sha256"]
    assert [o["amount"] for o in manifest["offers"]] == ["187.50"] and manifest["notices"][0]["kind"] == "dmca"
    assert [e["kind"] for e in manifest["ledger"]] == ["register", "match", "review", "notice", "offer"]
    assert all(ledger.entry_intact(e) for e in manifest["ledger"])
    assert manifest["signing"]["public_key_sha256"] == check.public_key_sha256
    assert ledger.entries(env.store)[-1]["kind"] == "export" and ledger.verify(env.store) == []


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
    assert codes(bundle_check.verify_bundle(swapped)) == [("signature_invalid", "manifest.json")]


def test_a_resigned_bundle_with_another_key_is_caught(exported, tmp_path):
    env, path = exported
    mallory, _ = create_workspace(tmp_path / "mallory", env.settings)
    mallory_pem = signing.ensure_keypair(mallory)
    with zipfile.ZipFile(path) as z:
        manifest = z.read("manifest.json")
    signature, _ = signing.sign(mallory, manifest)
    swaps = {"manifest.sig": signature.hex().encode() + b"\n", "public_key.pem": mallory_pem}
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
