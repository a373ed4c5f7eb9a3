"""Rescans reuse the analyses of contents that copied nothing (detector.reuse), until the works, the detection
settings or the software change; copies are analysed again every time. Real demo images, real stores."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from support import invoke_cli

from detector import demo_site
from detector.detect import Analysis, Detector, DetectSummary
from detector.register import WorkInfo, register_files
from detector.reuse import keepable
from detector.workspace.blobs import BlobStore
from detector.workspace.store import utc_now

COPY = "resized.jpg"  # a copy of chelsea.jpg on the demo site
UNRELATED = demo_site.OTHERS  # the demo site's images that copy no work


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return demo_site.build_site(tmp_path_factory.mktemp("site"))


def _register(ws, store, *paths: Path) -> None:
    register_files(ws, store, ws.settings(), None, list(paths), WorkInfo("alice"))


def _scan(ws, store, site: Path, names: list[str], settings=None, reanalyse: bool = False) -> tuple[int, DetectSummary]:
    """The site's images `names` captured by a new scan, then detected; (scan id, detection summary)."""
    blobs = BlobStore(ws.blobs_dir)
    scan_id = store.start_scan({})
    for name in names:
        data = (site / "img" / name).read_bytes()
        store.add_candidate({"scan_id": scan_id, "target": "test", "page_url": f"https://blog.example/{name}.html",
                             "image_url": f"https://blog.example/img/{name}", "discovered_at": utc_now(),
                             "sha256": blobs.put(data), "byte_size": len(data)})
    detector = Detector(ws, store, settings or ws.settings(), None)
    return scan_id, detector.run(reanalyse=reanalyse)


def _by_name(store, scan_id: int) -> dict[str, dict]:
    return {Path(c["image_url"]).name: c for c in store.candidates("scan_id = ?", [scan_id])}


@pytest.mark.slow
def test_a_rescan_reuses_non_copy_analyses_and_analyses_copies_again(any_workspace, site):
    ws, store = any_workspace
    _register(ws, store, demo_site.WORKS_DIR / "chelsea.jpg")
    first_scan, first = _scan(ws, store, site, [*UNRELATED, COPY])
    assert first.reused == 0 and sum(first.exits.values()) == 5 and first.matches_new == 1
    analysed = _by_name(store, first_scan)

    rescan, second = _scan(ws, store, site, [*UNRELATED, COPY])
    assert second.reused == len(UNRELATED) and second.images == 5 and second.candidates == 5
    assert sum(second.exits.values()) == 1  # the copy, analysed again
    assert (second.matches_new, second.matches_updated) == (0, 1)
    sightings = _by_name(store, rescan)
    assert {c["state"] for c in sightings.values()} == {"detected"}
    for name in UNRELATED:  # each sighting says its analysis was reused, from when, and where it stopped then
        assert sightings[name]["detection"] == {"exit": "reused", "analysed_at": analysed[name]["detected_at"],
                                                "analysed_exit": analysed[name]["detection"]["exit"]}
        assert sightings[name]["credentials"] == {}
    assert sightings[COPY]["detection"]["exit"] in ("screen", "full")
    assert store.matches()[0]["sightings"] == 2
    listed = invoke_cli("candidates", str(rescan), "--format", "json", home=ws.home)
    assert listed.returncode == 0, listed.stderr
    stops = {Path(r["image_url"]).name: r["stopped"] for r in json.loads(listed.stdout)}
    assert stops[COPY] == sightings[COPY]["detection"]["exit"]
    assert stops[UNRELATED[0]] == (f"reused: copied nothing when analysed at {analysed[UNRELATED[0]]['detected_at']} "
                                   f"({analysed[UNRELATED[0]]['detection']['exit']})")

    # Only the unrelated images: nothing is decoded, screened or searched; only the lookup's clock runs.
    _, third = _scan(ws, store, site, UNRELATED)
    assert third.reused == len(UNRELATED) and set(third.seconds) == {"reuse_lookup"} and third.exits == Counter()
    assert store.detection_outcome("2000-01-01T00:00:00Z", 10**9)["reused"] == len(UNRELATED)

    # --reanalyse: every content is analysed afresh.
    _, fresh = _scan(ws, store, site, UNRELATED, reanalyse=True)
    assert fresh.reused == 0 and sum(fresh.exits.values()) == len(UNRELATED) and fresh.seconds["decode"] > 0


def test_a_new_work_that_an_unrelated_image_copies_makes_the_rescan_find_it(workspace, site, others_dir):
    ws, store = workspace
    _register(ws, store, demo_site.WORKS_DIR / "chelsea.jpg")
    _, first = _scan(ws, store, site, UNRELATED)
    assert first.matches_new == 0 and first.reused == 0
    _register(ws, store, others_dir / "lake.jpg")  # the site's lake.jpg is a re-saved copy of it
    _, second = _scan(ws, store, site, UNRELATED)
    assert second.reused == 0 and second.matches_new == 1
    assert [(Path(m["image_url"]).name, m["asset_filename"], m["decision"]) for m in store.matches()] == [
        ("lake.jpg", "lake.jpg", "match")]
    _, third = _scan(ws, store, site, UNRELATED)  # the new non-copy analyses are reused; the copy is not
    assert third.reused == len(UNRELATED) - 1 and sum(third.exits.values()) == 1 and third.matches_updated == 1


def test_a_changed_threshold_makes_the_rescan_analyse_again(workspace, site):
    ws, store = workspace
    _register(ws, store, demo_site.WORKS_DIR / "chelsea.jpg")
    _scan(ws, store, site, UNRELATED)
    settings = ws.settings()
    stricter = replace(settings, match=replace(settings.match, match_threshold=settings.match.match_threshold + 0.01))
    _, changed = _scan(ws, store, site, UNRELATED, settings=stricter)
    assert changed.reused == 0 and sum(changed.exits.values()) == len(UNRELATED)
    _, again = _scan(ws, store, site, UNRELATED, settings=stricter)
    assert again.reused == len(UNRELATED)


def test_only_fresh_non_copies_without_content_credentials_are_kept():
    screened = {"exit": "screen", "nominated": 0, "best_coarse_votes": 0, "coarse_keypoints": 90}
    assert keepable(Analysis([], None, Counter(), {}, screened))
    # Content Credentials are kept per sighting and judged against the trust anchors: such a content is analysed
    assert not keepable(Analysis([], None, Counter(), {"claim_generator": "camera"}, screened))
    assert not keepable(Analysis([], ("corrupt", "truncated"), Counter(), None))
    assert not keepable(Analysis([object()], None, Counter(), {}, screened))
    assert not keepable(Analysis([], None, Counter(), {}, {"exit": "reused", "analysed_at": "x",
                                                             "analysed_exit": "screen"}))
