"""The detection cascade on real transformed copies, fed straight into the store (no crawl)."""

import shutil
from pathlib import Path

import pytest

from detector import demo_site
from detector.detect import Detector
from detector.register import WorkInfo, image_paths, register_files
from detector.rights import authorized
from detector.workspace import open_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now


def _add_candidates(ws, store, folder: Path, scan_id: int, base="https://blog.example/"):
    blobs = BlobStore(ws.blobs_dir)
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        store.add_candidate({"scan_id": scan_id, "target": "test", "page_url": f"{base}{path.stem}.html",
                             "image_url": f"{base}img/{path.name}", "discovered_at": utc_now(),
                             "sha256": blobs.put(data), "byte_size": len(data)})


def _subset(site: Path, folder: Path, names: list[str]) -> Path:
    """`folder` holding copies of the demo site's images `names`."""
    folder.mkdir()
    for name in names:
        shutil.copyfile(site / "img" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return demo_site.build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def detected(registered_template, site, tmp_path_factory):
    """(home, summary) of the registered workspace after one detection of the demo site's images, run once
    for the module; tests work on copies."""
    ws = open_workspace(shutil.copytree(registered_template, tmp_path_factory.mktemp("detected") / "ws"))
    store = Store(ws.db_path)
    _add_candidates(ws, store, site / "img", store.start_scan({}))
    summary = Detector(ws, store, ws.settings(), None).run()
    store.close()
    return ws.home, summary


@pytest.fixture
def after_detection(detected, tmp_path):
    """A copy of the detected workspace, its open store and the detection's summary."""
    home, summary = detected
    ws = open_workspace(shutil.copytree(home, tmp_path / "ws"))
    store = Store(ws.db_path)
    yield ws, store, summary
    store.close()


@pytest.mark.slow
def test_every_copy_matches_its_work_and_nothing_else_matches(after_detection):
    _, store, summary = after_detection
    found = {Path(m["image_url"]).name: m["asset_filename"] for m in store.matches()}
    assert found == demo_site.EXPECTED  # including: no match for the other photo of the same court
    assert {m["decision"] for m in store.matches()} == {"match"}
    assert summary.candidates == len(demo_site.EXPECTED) + len(demo_site.OTHERS)
    assert store.candidates("state = 'new'") == []
    for m in store.matches():
        verification = m["signals"]["verification"]
        assert verification["verified"] and verification["transform"] is not None
    mirrored = next(m for m in store.matches() if m["image_url"].endswith("mirrored.jpg"))
    assert mirrored["signals"]["verification"]["mirrored"] is True
    banner = next(m for m in store.matches() if m["image_url"].endswith("banner.jpg"))
    assert banner["signals"]["verification"]["candidate_coverage"] < 0.5
    assert "phash" not in banner["signals"]["shortlisted_by"]  # hashes cannot see a pasted copy


def test_rescanning_adds_sightings_not_matches(after_detection, site, tmp_path):
    ws, store, _ = after_detection
    first = {m["id"]: m for m in store.matches()}
    # Two of the copies are seen again (detecting all twelve again would say no more, at six times the cost).
    again = _subset(site, tmp_path / "again", ["resized.jpg", "banner.jpg"])
    _add_candidates(ws, store, again, store.start_scan({}))
    summary = Detector(ws, store, ws.settings(), None).run()
    seen_again = {i for i, m in first.items() if Path(m["image_url"]).name in {"resized.jpg", "banner.jpg"}}
    assert len(seen_again) == 2
    assert summary.matches_new == 0 and summary.matches_updated == 2
    assert {m["id"]: m["sightings"] for m in store.matches()} == {i: 2 if i in seen_again else 1 for i in first}


def test_undecodable_candidate_is_refused_and_the_batch_goes_on(registered, site, tmp_path):
    ws, store = registered
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes((site / "img" / "resized.jpg").read_bytes()[:3000])
    (folder / "resized.jpg").write_bytes((site / "img" / "resized.jpg").read_bytes())
    _add_candidates(ws, store, folder, store.start_scan({}))
    summary = Detector(ws, store, ws.settings(), None).run()
    broken = store.candidates("image_url LIKE '%broken.jpg'")[0]
    assert broken["state"] == "refused" and broken["refusal_reason"] == "corrupt"
    assert summary.refused == {"corrupt": 1}
    assert [m["asset_filename"] for m in store.matches()] == ["chelsea.jpg"]


def test_declared_licensed_use_is_recorded_as_authorized(registered, site, tmp_path):
    ws, store = registered
    store.add_authorized_use(store.owner_by_name("alice")["id"], "licensed.example", "licence 42")
    copies = _subset(site, tmp_path / "licensed", ["resized.jpg", "banner.jpg"])
    _add_candidates(ws, store, copies, store.start_scan({}), base="https://www.licensed.example/")
    Detector(ws, store, ws.settings(), None).run()
    assert len(store.matches()) == 2
    assert {m["status"] for m in store.matches()} == {"authorized"}


@pytest.mark.parametrize("page, patterns, expected", [
    ("https://shop.example/p", ["shop.example"], True),
    ("https://cdn.shop.example/p", ["shop.example"], True),
    ("https://badshop.example/p", ["shop.example"], False),
    ("https://blog.example/licensed/1", ["https://blog.example/licensed/"], True),
    ("https://blog.example/other", ["https://blog.example/licensed/"], False),
])
def test_authorized_patterns(page, patterns, expected):
    assert authorized(page, page + "/i.jpg", patterns) is expected


@pytest.mark.slow
def test_detection_with_a_clip_embedder_uses_it_for_shortlisting(workspace, works_dir, site, tiny_clip, tmp_path):
    from detector.embedders import load_embedder

    ws, store = workspace
    embedder = load_embedder(tiny_clip)
    # Random weights make every image look alike, so the embedder nominates every work for every image and each
    # pair is verified: a few copies of hard kinds (pasted small, mirrored, cropped), the other photo of a
    # registered court and an unrelated one make the point at a fifth of the whole demo's cost.
    expected = {name: demo_site.EXPECTED[name] for name in ("banner.jpg", "mirrored.jpg", "cropped.jpg")}
    works = tmp_path / "works"
    works.mkdir()
    for name in [*expected.values(), "basketball-court1-a.jpg"]:
        shutil.copyfile(works_dir / name, works / name)
    register_files(ws, store, ws.settings(), embedder, image_paths([works], False), WorkInfo("alice"))
    candidates = _subset(site, tmp_path / "candidates", [*expected, "basketball-court1-b.jpg", "lake.jpg"])
    _add_candidates(ws, store, candidates, store.start_scan({}))
    summary = Detector(ws, store, ws.settings(), embedder).run()
    assert "clip" in summary.shortlist_sources
    assert all("clip" in m["signals"]["shortlisted_by"] for m in store.matches())
    decided = [m for m in store.matches() if m["decision"] == "match"]
    assert {Path(m["image_url"]).name: m["asset_filename"] for m in decided} == expected
    assert len(decided) == len(expected)
    # Such pairs may reach review, never match.
    assert all(m["signals"]["tier"] == "partial" for m in store.matches() if m["decision"] == "review")
    assert all(m["signals"]["embedder"] == embedder.id for m in store.matches())


@pytest.mark.slow
def test_orb_is_the_fast_alternative_and_never_matches_wrongly(tmp_path, works_dir, site):
    from dataclasses import replace

    from detector import config
    from detector.workspace import create_workspace
    from detector.workspace.store import Store

    orb = config.Settings(match=replace(config.MatchSettings(), local_features="orb")).with_embedder("none")
    ws, _ = create_workspace(tmp_path / "ws", orb)
    store = Store(ws.db_path)
    register_files(ws, store, ws.settings(), None, image_paths([works_dir], False), WorkInfo("alice"))
    _add_candidates(ws, store, site / "img", store.start_scan({}))
    Detector(ws, store, ws.settings(), None).run()
    found = {Path(m["image_url"]).name: m["asset_filename"] for m in store.matches()}
    assert found.items() <= demo_site.EXPECTED.items()
    # Whole-frame copies are within ORB's reach; a small copy inside a busy banner may not be.
    assert {"recompressed.jpg", "resized.jpg", "mirrored.jpg", "grayscale.jpg"} <= set(found)
    assert {m["signals"]["verification"]["method"] for m in store.matches()} == {"orb"}


def test_unknown_local_feature_kind_is_refused(registered):
    from dataclasses import replace

    from detector.errors import ConfigError

    ws, store = registered
    settings = replace(ws.settings(), match=replace(ws.settings().match, local_features="surf"))
    with pytest.raises(ConfigError) as e:
        Detector(ws, store, settings, None)
    assert str(e.value) == "match.local_features 'surf' is not known; use one of: sift, orb."
