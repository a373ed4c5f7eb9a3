"""Detector.record, the one way detection results reach the store: a content recorded twice (a task
delivered twice) is recorded once, with one ledger entry per match."""

from __future__ import annotations

from cluster import add_site_candidates

from detector import demo_site
from detector.detect import Detector, DetectSummary, LicensedUses
from detector.provenance import ledger
from detector.register import WorkInfo, register_files


def test_a_second_delivery_records_nothing(workspace, demo_images):
    ws, store = workspace
    register_files(ws, store, ws.settings(), None, [demo_site.WORKS_DIR / "chelsea.jpg"], WorkInfo("alice"), workers=1)
    add_site_candidates(ws, store, demo_images, names=["resized.jpg"])
    (candidate,) = store.candidates()
    detector = Detector(ws, store, ws.settings(), None)
    analysis = detector.analyse_content(candidate["sha256"], candidate["image_url"])

    first, again = DetectSummary(), DetectSummary()
    assert detector.record([candidate["id"]], analysis, LicensedUses(store), first) == 1
    before = (store.matches(), ledger.entries(store), store.candidate(candidate["id"]))
    assert detector.record([candidate["id"]], analysis, LicensedUses(store), again) == 0

    assert (store.matches(), ledger.entries(store), store.candidate(candidate["id"])) == before
    assert first.matches_new == 1 and [m["asset_filename"] for m in store.matches()] == ["chelsea.jpg"]
    assert again.candidates == 0 and again.matches_new == again.matches_updated == 0
    assert [e["kind"] for e in ledger.entries(store)].count("match") == 1
