"""`copyhound init` + `register` + `assets` through the real command line."""

import json
import shutil

from support import invoke_cli, run_cli

from detector.workspace import open_workspace
from detector.workspace.store import Store


def _folder_with_broken_files(tmp_path, works_dir):
    folder = tmp_path / "incoming"
    folder.mkdir()
    for name in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg"):
        shutil.copy(works_dir / name, folder / name)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "page.jpg").write_text("<!doctype html><html><body>not found</body></html>")
    (folder / "half.jpg").write_bytes((works_dir / "rocket.jpg").read_bytes()[:4000])
    (folder / "drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="90" height="90"/>')
    return folder


def test_register_keeps_the_good_files_and_lists_each_refusal(tmp_path, works_dir):
    home = tmp_path / "ws"
    assert invoke_cli("init", "--embedder", "none", home=home).returncode == 0
    folder = _folder_with_broken_files(tmp_path, works_dir)

    result = run_cli("register", str(folder), "--owner", "alice", home=home)
    assert result.returncode == 1, result.stderr
    assert "3 registered, 0 already registered, 4 refused (of 7 files)." in result.stdout
    for name, reason in (("empty.jpg", "empty"), ("page.jpg", "not_image"), ("half.jpg", "corrupt"),
                         ("drawing.svg", "svg_unsupported")):
        assert f"refused {folder / name} ({reason}):" in result.stderr

    listing = json.loads(invoke_cli("assets", "--format", "json", home=home).stdout)
    assert sorted(row["filename"] for row in listing) == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg"]
    assert {row["owner"] for row in listing} == {"alice"}

    again = run_cli("register", str(folder / "coffee.jpg"), "--owner", "alice", home=home)
    assert again.returncode == 0
    assert "0 registered, 1 already registered, 0 refused" in again.stdout
    store = Store(open_workspace(home).db_path)
    assert len(store.assets()) == 3
    assert [e["kind"] for e in store.db.query("SELECT kind FROM ledger")] == ["register"] * 3


def test_register_without_workspace_exits_2_with_the_fix(tmp_path, works_dir):
    result = run_cli("register", str(works_dir / "coffee.jpg"), home=tmp_path / "none")
    assert result.returncode == 2
    assert "No copyhound workspace at" in result.stderr and "copyhound init --home" in result.stderr


def test_corrupt_index_file_is_rebuilt_not_used(tmp_path, works_dir):
    home = tmp_path / "ws"
    invoke_cli("init", "--embedder", "none", home=home)
    run_cli("register", str(works_dir / "coffee.jpg"), str(works_dir / "rocket.jpg"), home=home)
    ws = open_workspace(home)
    pdq_file = ws.index_dir / "pdq.faiss"
    data = bytearray(pdq_file.read_bytes())
    data[-5] ^= 0xFF
    pdq_file.write_bytes(bytes(data))
    (ws.index_dir / "phash.faiss").unlink()
    from detector import catalogue

    store = Store(ws.db_path)
    assert sorted(catalogue.load(ws, store, None, ws.settings().index).rebuilt) == ["pdq", "phash"]
    pdq_file.write_bytes(bytes(data))  # corrupt again: registration must not trust it either

    result = run_cli("register", str(works_dir / "castle.jpg"), home=home)
    assert result.returncode == 0, result.stderr
    loaded = catalogue.load(ws, store, None, ws.settings().index)
    assert loaded.rebuilt == []  # the repaired files are trusted again
    assert sorted(loaded.hashes["pdq"].ids().tolist()) == [a["id"] for a in store.assets()]
    assert sorted(loaded.hashes["phash"].ids().tolist()) == [a["id"] for a in store.assets()]


def test_a_portfolio_folder_with_sidecars_registers_its_images_and_counts_the_rest(tmp_path, works_dir):
    home = tmp_path / "ws"
    assert invoke_cli("init", "--embedder", "none", home=home).returncode == 0
    folder = tmp_path / "portfolio"
    folder.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg"):
        shutil.copy(works_dir / name, folder / name)
        (folder / name).with_suffix(".xmp").write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')
    (folder / "notes.txt").write_text("shot in May\n")
    (folder / "fake.jpg").write_text("not a picture at all")  # claims to be an image: still refused

    result = run_cli("register", str(folder), home=home)
    assert result.returncode == 1
    assert ("2 registered, 0 already registered, 1 refused, 3 skipped as not images (txt, xmp) (of 6 files)."
            in result.stdout)
    assert "refused" in result.stderr and "fake.jpg" in result.stderr
    assert "xmp" not in result.stderr and "notes" not in result.stderr  # skipped quietly

    (folder / "fake.jpg").unlink()
    again = run_cli("register", *(str(p) for p in sorted(folder.iterdir())), home=home)  # as `register portfolio/*`
    assert again.returncode == 0, again.stderr
    assert "0 registered, 2 already registered, 0 refused, 3 skipped as not images (txt, xmp)" in again.stdout
    assert again.stderr.strip() == ""


def test_reindex_features_describes_works_again_with_this_extractor(tmp_path, works_dir):
    """A work registered before the extractor changed keeps its cached features through a plain reindex;
    `reindex --features` replaces them with what registering it now would store, and rebuilds the index."""
    from PIL import Image, ImageFilter

    from detector.config import Settings
    from detector.features import LocalFeatures
    from detector.fingerprint import FEATURE_KINDS, local_features
    from detector.intake import decode_image

    home = tmp_path / "ws"
    assert invoke_cli("init", "--embedder", "none", home=home).returncode == 0
    small = Image.open(works_dir / "rocket.jpg").convert("RGB")
    small.thumbnail((300, 300))
    small.filter(ImageFilter.GaussianBlur(1.0)).save(tmp_path / "rocket-small.jpg", quality=90)
    assert invoke_cli("register", str(tmp_path / "rocket-small.jpg"), "--owner", "alice", home=home).returncode == 0
    store = Store(open_workspace(home).db_path)
    (work,) = store.assets()
    fresh = {kind: store.asset_features(work["id"], kind) for kind in FEATURE_KINDS}
    decoded = decode_image((tmp_path / "rocket-small.jpg").read_bytes(), "rocket-small.jpg", Settings().intake)
    assert fresh == {kind: local_features(decoded, kind).to_bytes() for kind in FEATURE_KINDS}
    stale = {kind: LocalFeatures.from_bytes(data) for kind, data in fresh.items()}
    store.replace_features(work["id"], {kind: older_features(feats) for kind, feats in stale.items()})

    assert invoke_cli("reindex", home=home).returncode == 0
    assert store.asset_features(work["id"], "sift") != fresh["sift"]
    result = invoke_cli("reindex", "--features", home=home)
    assert result.returncode == 0, result.stderr
    assert "local features described again" in result.stdout
    assert {kind: store.asset_features(work["id"], kind) for kind in FEATURE_KINDS} == fresh
    assert len(LocalFeatures.from_bytes(fresh["sift"])) >= 100  # looked at again at the lower contrast


def older_features(feats):
    """The first tenth of `feats`' keypoints: what an older extractor might have cached."""
    from detector.features import LocalFeatures

    keep = max(1, len(feats) // 10)
    return LocalFeatures(feats.kind, feats.points[:keep], feats.descriptors[:keep], feats.width, feats.height).to_bytes()
