"""Content Credentials read when a work is registered and when a copy is detected, not only when a
report is built: stored with the asset and the candidate, and a work's credentials missing from
its copy shown in the match's signals (`matches --format json`, the API and the match page).

Files are signed here with c2pa-python (see test_credentials); detection is the real detector."""

from __future__ import annotations

import io
import json
import re

import httpx
from PIL import Image
from support import invoke_cli, serving
from test_credentials import signed

from detector import config, demo_site, tokens
from detector.detect import Detector
from detector.register import WorkInfo, register_files
from detector.web import create_app
from detector.workspace import create_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

SETTINGS = config.Settings().with_embedder("none")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def workspace(tmp_path):
    ws, _ = create_workspace(tmp_path / "ws", SETTINGS)
    return ws, Store(ws.db_path)


def register(ws, store, tmp_path, name: str, data: bytes) -> int:
    path = tmp_path / name
    path.write_bytes(data)
    [outcome] = register_files(ws, store, SETTINGS, None, [path], WorkInfo("alice"))
    assert outcome.status == "registered", outcome
    return outcome.asset_id


def capture(ws, store, copy: bytes, page: str) -> int:
    """A candidate as the crawl leaves it: the bytes in the blob store, state 'new'."""
    scan_id = store.start_scan({"targets": ["shop"]})
    return store.add_candidate({
        "scan_id": scan_id, "target": "shop", "page_url": page, "page_title": "Posters",
        "image_url": page + "/poster.jpg", "discovered_at": utc_now(), "fetched_at": utc_now(), "http_status": 200,
        "sha256": BlobStore(ws.blobs_dir).put(copy), "byte_size": len(copy), "sniffed_format": "jpeg"})


def photo(name: str) -> bytes:
    return _jpeg(Image.open(demo_site.WORKS_DIR / name).convert("RGB"))


def test_registration_stores_the_works_credentials_and_none_for_an_unsigned_file(tmp_path):
    ws, store = workspace(tmp_path)
    work = signed(photo("astronaut.jpg"), "Alice Example", "Alice Example")
    signed_id = register(ws, store, tmp_path, "astronaut.jpg", work)
    plain_id = register(ws, store, tmp_path, "rocket.jpg", photo("rocket.jpg"))
    stored = store.asset(signed_id)["credentials"]
    assert (stored["signer"], stored["authors"], stored["validation"]) == ("Alice Example", ["Alice Example"], "Valid")
    assert store.asset(plain_id)["credentials"] == {}


def test_a_works_credentials_stripped_from_the_copy_show_in_the_matchs_signals(tmp_path):
    ws, store = workspace(tmp_path)
    work = signed(photo("astronaut.jpg"), "Alice Example", "Alice Example")
    asset_id = register(ws, store, tmp_path, "astronaut.jpg", work)
    stripped = _jpeg(demo_site.recompressed(Image.open(io.BytesIO(work)).convert("RGB")))
    forged = signed(_jpeg(demo_site.captioned(Image.open(io.BytesIO(work)).convert("RGB"))), "Mallory Thief",
                    "Mallory")
    stripped_id = capture(ws, store, stripped, "https://shop.example.com/a")
    forged_id = capture(ws, store, forged, "https://shop.example.com/b")
    Detector(ws, store, SETTINGS, None).run()
    matches = {m["candidate_id"]: m for m in store.matches("matches.asset_id = ?", [asset_id])}
    assert set(matches) == {stripped_id, forged_id}
    removed = matches[stripped_id]["signals"]["content_credentials"]
    assert removed == {"verdict": "removed", "work": "signed by Alice Example (Alice Example Org) naming Alice "
                       "Example as author", "copy": None, "copy_validation": None}
    replaced = matches[forged_id]["signals"]["content_credentials"]
    assert replaced["verdict"] == "replaced" and "naming Mallory Thief as author" in replaced["copy"]
    assert store.candidate(stripped_id)["credentials"] == {}  # read at detection, stored with the sighting
    assert store.candidate(forged_id)["credentials"]["authors"] == ["Mallory Thief"]

    listed = invoke_cli("matches", "--format", "json", home=ws.home)
    assert listed.returncode == 0, listed.stderr
    by_candidate = {m["candidate_id"]: m for m in json.loads(listed.stdout)}
    assert by_candidate[stripped_id]["signals"]["content_credentials"]["verdict"] == "removed"

    # the match page says so in its signals table, escaped
    token = tokens.create_token(store, "alice")[1]
    with serving(create_app(ws, SETTINGS)) as url, httpx.Client(base_url=url, timeout=60) as client:
        signin = client.get("/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', signin.text).group(1)
        assert client.post("/signin", data={"token": token, "csrf": csrf, "next": "/"}).status_code == 303
        page = client.get(f"/matches/{matches[stripped_id]['id']}").text
        api = client.get(f"/api/matches/{matches[forged_id]['id']}", headers={"Authorization": f"Bearer {token}"})
    cell = re.search(r'<td id="content-credentials">(.*?)</td>', page, re.DOTALL).group(1)
    assert cell.startswith("removed: the work&#39;s C2PA manifest is missing from the copy<br>work: signed by Alice")
    assert api.json()["signals"]["content_credentials"]["verdict"] == "replaced"


def test_a_copy_of_an_unsigned_work_gets_no_credentials_signal_and_an_old_work_is_read_once(tmp_path):
    ws, store = workspace(tmp_path)
    plain_id = register(ws, store, tmp_path, "rocket.jpg", photo("rocket.jpg"))
    work = signed(photo("astronaut.jpg"), "Alice Example", "Alice Example")
    old_id = register(ws, store, tmp_path, "astronaut.jpg", work)
    store.db["assets"].update(old_id, {"credentials": None})  # registered before credentials were stored
    capture(ws, store, _jpeg(demo_site.recompressed(Image.open(demo_site.WORKS_DIR / "rocket.jpg").convert("RGB"))),
            "https://shop.example.com/r")
    capture(ws, store, _jpeg(demo_site.recompressed(Image.open(io.BytesIO(work)).convert("RGB"))),
            "https://shop.example.com/s")
    Detector(ws, store, SETTINGS, None).run()
    [plain] = store.matches("matches.asset_id = ?", [plain_id])
    [old] = store.matches("matches.asset_id = ?", [old_id])
    assert "content_credentials" not in plain["signals"]
    assert old["signals"]["content_credentials"]["verdict"] == "removed"
    assert store.asset(old_id)["credentials"]["signer"] == "Alice Example"
