"""The page screenshot travels in the evidence bundle and the WACZ: copied byte for byte from the
workspace's screenshots WARC, listed and checked, and exported the same way every time.

Most tests record the screenshot the way crawlers.screenshot does after the browser has drawn the
page (its own `write_warc`, a real PNG of a real photo), so they run without a browser; the last
test takes a real one with Debian's Chromium."""

import base64
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest
from evidence_case import DEMO, PAGE_URL, build_env, copied, copy_jpeg, work_jpeg
from PIL import Image
from support import invoke_cli, run_cli
from test_bundle import codes, crawled_warc, rewrite
from warcio.archiveiterator import ArchiveIterator

from crawlers.screenshot import Shot, write_warc
from detector.demo_site import serve
from detector.errors import ActionRefused
from detector.evidence import bundle, bundle_check
from detector.provenance import ledger, signing
from detector.screenshots import shoot
from detector.workspace.blobs import BlobStore

TAKEN_AT = "2025-03-03T10:07:00Z"  # after the sighting and the review
VIEWPORT = (1280, 800)


def page_png() -> bytes:
    """A real photo drawn into a 1280-wide page, as a PNG."""
    page = Image.new("RGB", (VIEWPORT[0], 900), (20, 160, 90))
    page.paste(Image.open(DEMO / "castle.jpg").convert("RGB").resize((400, 300)), (40, 40))
    out = io.BytesIO()
    page.save(out, "PNG")
    return out.getvalue()


def record_screenshot(env, png: bytes) -> dict:
    """What crawlers.screenshot.shoot_match and detector.screenshots.shoot store for a shot taken."""
    warc = env.ws.warc_dir / "screenshots-20250303T100700Z-1.warc.gz"
    user_agent = env.settings.crawl.user_agent
    shot = Shot(png, PAGE_URL, TAKEN_AT, VIEWPORT[0], 900, False, "Chromium 130.0")
    offset, record_id, digest = write_warc(warc, PAGE_URL, shot, user_agent, VIEWPORT)
    row = {"match_id": env.match_id, "page_url": PAGE_URL, "final_url": PAGE_URL, "status": "taken",
           "taken_at": TAKEN_AT, "viewport_width": VIEWPORT[0], "viewport_height": VIEWPORT[1],
           "user_agent": user_agent, "browser": shot.browser, "sha256": BlobStore(env.ws.blobs_dir).put(png),
           "byte_size": len(png), "width": VIEWPORT[0], "height": 900, "cut": 0,
           "warc_file": warc.relative_to(env.ws.home).as_posix(), "warc_offset": offset,
           "warc_record_id": record_id, "warc_digest": digest}
    row["id"] = env.store.add_screenshot(row)
    ledger.append(env.store, "screenshot", ledger.match_subject(env.match_id), {
        "screenshot_id": row["id"], "sha256": row["sha256"], "taken_at": TAKEN_AT,
        "warc_record_id": record_id, "warc_digest": digest}, at=TAKEN_AT)
    return row


@pytest.fixture(scope="module")
def shot_once(tmp_path_factory):
    """A confirmed case with its screenshot recorded, and its bundle exported, once for the module (rendering
    the bundle's PDF report costs more than a second of CPU); each test gets a copy (`shot_env`, `shot_bundle`)."""
    folder = tmp_path_factory.mktemp("shot")
    env = crawled_warc(build_env(folder, status="confirmed"))
    png = page_png()
    row = record_screenshot(env, png)
    path = bundle.export_bundle(env.ws, env.store, env.settings, [env.match_id], folder / "b.zip")
    env.store.close()
    return env, row, png, path


@pytest.fixture
def shot_env(shot_once, tmp_path):
    env, row, png, _ = shot_once
    mine = copied(env, tmp_path)
    yield mine, row, png
    mine.store.close()


@pytest.fixture
def shot_bundle(shot_once, shot_env, tmp_path) -> Path:
    """The bundle exported from `shot_env` (a copy of the module's one)."""
    return shutil.copy(shot_once[3], tmp_path / "b.zip")


def records(data: bytes) -> list:
    return [(r.rec_type, r.rec_headers, r.content_stream().read()) for r in ArchiveIterator(io.BytesIO(data))]


def test_the_screenshot_travels_in_the_bundle_byte_for_byte_and_verifies(shot_env, shot_bundle, tmp_path):
    env, row, png = shot_env
    path = shot_bundle
    check = bundle_check.verify_bundle(path, trusted_public_key=signing.ensure_keypair(env.ws))
    assert check.ok, codes(check)
    folder = f"matches/{env.match_id}"
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        carried_png, warc = z.read(f"{folder}/screenshot.png"), z.read(f"{folder}/screenshot.warc.gz")
        readme = z.read("README.txt").decode()
    assert carried_png == png
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert listed[f"{folder}/screenshot.png"] == hashlib.sha256(png).hexdigest() == row["sha256"]
    assert listed[f"{folder}/screenshot.warc.gz"] == hashlib.sha256(warc).hexdigest()
    shot = manifest["matches"][0]["screenshot"]
    assert (shot["sha256"], shot["taken_at"], shot["viewport_width"], shot["user_agent"]) == (
        row["sha256"], TAKEN_AT, VIEWPORT[0], env.settings.crawl.user_agent)
    assert (shot["warc_record_id"], shot["warc_digest"]) == (row["warc_record_id"], row["warc_digest"])
    # warcinfo, then the workspace's resource and metadata records, their gzip members unchanged
    found = records(warc)
    assert [kind for kind, _, _ in found] == ["warcinfo", "resource", "metadata"]
    assert found[1][1].get_header("WARC-Record-ID") == row["warc_record_id"] and found[1][2] == png
    assert found[1][1].get_header("WARC-Target-URI") == f"urn:view:{PAGE_URL}"
    assert found[2][1].get_header("WARC-Concurrent-To") == row["warc_record_id"]
    assert b"viewport: 1280x800\r\n" in found[2][2]
    source = (env.ws.home / row["warc_file"]).read_bytes()
    warcinfo = zlib.decompressobj(wbits=31)  # one gzip member (its bytes may hold 1f 8b); then the copied records
    warcinfo.decompress(warc)
    assert warcinfo.unused_data == source[row["warc_offset"]:]
    assert shot["warc"]["records"][0]["source_offset"] == row["warc_offset"]
    assert f"{folder}/screenshot.png" in readme and f"{folder}/screenshot.warc.gz" in readme
    assert ["screenshot"] == [e["kind"] for e in manifest["ledger"] if e["kind"] == "screenshot"]
    with zipfile.ZipFile(path) as z:  # the report speaks for the evidence up to the screenshot, taken last
        assert f"as of {TAKEN_AT} (UTC)" in " ".join(z.read(f"{folder}/report.html").decode().split())


def test_the_readme_commands_check_the_screenshot_with_sha256sum(shot_env, shot_bundle, tmp_path):
    env, row, _ = shot_env
    path = shot_bundle
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(path) as z:
        z.extractall(folder)
    readme = (folder / "README.txt").read_text()
    png = f"matches/{env.match_id}/screenshot.png"
    commands = [line.strip() for line in readme.splitlines() if line.startswith("       ") and line[7] != " "]
    assert commands[5:7] == [f"sha256sum {png}", f"""grep -A 1 '"png": "{png}"' manifest.json"""]
    out = [subprocess.run(c, shell=True, cwd=folder, capture_output=True, text=True, check=True).stdout
           for c in commands[4:7]]
    assert f"{png}: OK" in out[0] and f"matches/{env.match_id}/screenshot.warc.gz: OK" in out[0]
    assert out[1].split()[0] == row["sha256"] and f'"sha256": "{row["sha256"]}"' in out[2]


def test_a_replaced_screenshot_is_named_even_when_the_bundle_is_signed_again(shot_env, shot_bundle, tmp_path):
    """Whoever swaps the PNG (and re-signs with the workspace key) still disagrees with the WARC
    record and the ledger entry made when the shot was taken."""
    env, _, _ = shot_env
    path = shot_bundle
    other = io.BytesIO()
    Image.open(io.BytesIO(copy_jpeg(work_jpeg()))).save(other, "PNG")
    png_name = f"matches/{env.match_id}/screenshot.png"

    def swap(name, data):
        if name == png_name:
            return other.getvalue()
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        for item in manifest["files"]:
            if item["path"] == png_name:
                item.update(sha256=hashlib.sha256(other.getvalue()).hexdigest(), size=len(other.getvalue()))
        manifest["matches"][0]["screenshot"]["sha256"] = hashlib.sha256(other.getvalue()).hexdigest()
        return json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"

    forged = resign(env, rewrite(path, tmp_path / "forged.zip", swap))
    check = bundle_check.verify_bundle(forged, trusted_public_key=signing.ensure_keypair(env.ws))
    warc = f"matches/{env.match_id}/screenshot.warc.gz"
    assert codes(check) == [("provenance_mismatch", "manifest.json"), ("provenance_mismatch", warc)]
    assert "not the one the ledger recorded when it was taken" in check.problems[0].message
    assert "its resource record's PNG does not have the screenshot's recorded SHA-256" in check.problems[1].message


def resign(env, path: Path) -> Path:
    """Sign the (edited) manifest again with the workspace key, as its owner could."""
    with zipfile.ZipFile(path) as z:
        manifest = z.read("manifest.json")
    signature, _ = signing.sign(env.ws, manifest)
    forms = {"manifest.sig": signature.hex().encode() + b"\n", "manifest.sig.bin": signature,
             "manifest.sig.b64": base64.b64encode(signature) + b"\n"}
    return rewrite(path, path.with_name("resigned.zip"), lambda name, data: forms.get(name, data))


def test_a_flipped_byte_in_the_screenshot_warc_is_named(shot_env, shot_bundle, tmp_path):
    env, _, _ = shot_env
    path = shot_bundle
    warc = f"matches/{env.match_id}/screenshot.warc.gz"
    flipped = rewrite(path, tmp_path / "flipped.zip",
                      lambda name, data: data[:-40] + bytes([data[-40] ^ 1]) + data[-39:] if name == warc else data)
    assert ("file_modified", warc) in codes(bundle_check.verify_bundle(flipped))


def test_export_refuses_a_missing_screenshot_record_and_signs_nothing(shot_env, tmp_path):
    env, row, _ = shot_env
    (env.ws.home / row["warc_file"]).unlink()
    before = len(ledger.entries(env.store))
    with pytest.raises(ActionRefused) as refused:
        bundle.export_bundle(env.ws, env.store, env.settings, [env.match_id], tmp_path / "b.zip")
    assert f"the WARC file {row['warc_file']} of the screenshot {row['id']} of match {env.match_id}'s page is " \
           "missing" in str(refused.value)
    assert not (tmp_path / "b.zip").exists() and len(ledger.entries(env.store)) == before


def test_the_wacz_carries_the_screenshot_for_replay(shot_env, tmp_path):
    env, _, png = shot_env
    done = invoke_cli("export", "--match", str(env.match_id), "--out", str(tmp_path / "b.zip"), "--wacz",
                   home=env.ws.home)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "b.wacz") as wacz:
        shot_warc = wacz.read(f"archive/match-{env.match_id}-screenshot.warc.gz")
        index = [json.loads(line.split(b" ", 2)[2]) | {"urlkey": line.split(b" ", 1)[0].decode()}
                 for line in gzip.decompress(wacz.read("indexes/index.cdx.gz")).splitlines()]
    resource = [r for r in records(shot_warc) if r[0] == "resource"]
    assert resource[0][2] == png
    assert any(entry["url"] == f"urn:view:{PAGE_URL}" and entry["filename"] == f"match-{env.match_id}-screenshot.warc.gz"
               for entry in index), index


@pytest.mark.slow  # a real browser, then two export processes
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
def test_a_real_screenshot_exports_to_the_same_bytes_twice(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "mug.jpg").write_bytes(copy_jpeg(work_jpeg()))
    (root / "mug.html").write_text("<!doctype html><title>Mug</title><img src='mug.jpg'>", encoding="utf-8")
    server, base = serve(root)
    try:
        env = crawled_warc(build_env(tmp_path, status="confirmed"))
        env.store.db["matches"].update(env.match_id, {"page_url": base + "mug.html"})
        [taken] = shoot(env.ws.home, env.store, [env.match_id], {env.match_id}, 30.0)
    finally:
        server.shutdown()
    assert taken["status"] == "taken", taken
    # two processes, as two `copyhound export` runs are
    first, second = tmp_path / "one.zip", tmp_path / "two.zip"
    for out in (first, second):
        done = run_cli("export", "--match", str(env.match_id), "--out", str(out), home=env.ws.home)
        assert done.returncode == 0, done.stderr
    assert first.read_bytes() == second.read_bytes()
    check = bundle_check.verify_bundle(first, trusted_public_key=signing.ensure_keypair(env.ws))
    assert check.ok, codes(check)
    with zipfile.ZipFile(first) as z:
        assert f"matches/{env.match_id}/screenshot.png" in z.namelist()
