"""The small things a newcomer meets in the first hour: --version, readable times, report --out FILE.pdf,
a missing bundle, an empty workers table, shares in percent, the scan summary, URLs in narrow columns."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from support import invoke_cli, run_cli

import detector
from detector.cli import common, scanning
from detector.cli.candidates import stopped
from detector.output import human_time, relative_time, short_url

MINUTE = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d\b")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_version():
    # the entry point for real, in its own process (the rest of the CLI tests run it in this one)
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout == f"copyhound {detector.__version__}\n"


def test_tables_show_times_to_the_minute_and_json_keeps_iso(listed):
    for wide in ([], ["--wide"]):
        table = invoke_cli("notices", *wide, home=listed.home, env={"COLUMNS": "250"}).stdout
        assert MINUTE.search(table) and not ISO.search(table) and "T0" not in table, table
    rows = json.loads(invoke_cli("notices", "--format", "json", home=listed.home).stdout)
    assert all(ISO.fullmatch(r["created_at"]) for r in rows)
    assert human_time("2026-12-06T01:13:05.123Z") == "2026-12-06 01:13"
    assert human_time("2026-12-06T01:13:05+02:00") == "2026-12-06 01:13 +02:00"
    assert human_time("not a time") == "not a time"


def test_relative_times_read_like_a_person_says_them():
    now = datetime(2026, 12, 6, 4, 13, 30, tzinfo=UTC)
    assert [relative_time(t, now) for t in ("2026-12-06T01:13:05Z", "2026-12-06T04:13:05Z", "2026-12-06T03:50:00Z",
                                            "2026-12-01T04:13:30+00:00", "2026-12-20T05:00:00Z",
                                            "2026-08-01T00:00:00Z", "2026-12-06", "soon")] == \
        ["3 h ago", "just now", "23 min ago", "5 d ago", "in 14 d", "2026-08-01", "2026-12-06", "soon"]


def test_report_out_a_pdf_file_writes_that_file(listed, tmp_path):
    target = tmp_path / "for the lawyer.pdf"
    result = invoke_cli("report", str(listed.matches[0]), "--out", str(target), home=listed.home)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes().startswith(b"%PDF") and target.with_suffix(".html").is_file()


def test_verify_bundle_on_a_missing_path_says_no_such_file(tmp_path):
    result = invoke_cli("verify-bundle", str(tmp_path / "nowhere.zip"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: bundle: no such file: {tmp_path / 'nowhere.zip'}.")


def test_status_leaves_out_the_empty_workers_table(listed):
    table = invoke_cli("status", home=listed.home).stdout
    assert "Search indexes" in table and "Detection workers" not in table
    assert json.loads(invoke_cli("status", "--format", "json", home=listed.home).stdout)["workers"] == []


def test_urls_in_a_narrow_column_keep_their_last_path_segment():
    assert short_url("http://127.0.0.1:8123/img/cropped.jpg?x=1") == "127.0.0.1/…/cropped.jpg"
    assert short_url("https://shop.example/cats.jpg") == "shop.example/cats.jpg"
    assert short_url("https://shop.example/") == "shop.example"


SUMMARY = {"scan_id": 4, "crawl": {"pages_fetched": 12, "images_fetched": 30, "candidates_added": 30},
           "detect": {"images": 30, "matches_new": 7, "matches_updated": 0, "seconds": {"verify": 1.5}},
           "seconds": {"crawl": 2.25}}


def test_the_scan_summary_says_pages_images_and_copies_and_times_only_when_verbose():
    with common.console.capture() as plain:
        scanning._print_scan_summary(SUMMARY)
    shown = plain.get()
    for label, count in (("pages visited", 12), ("images checked", 30), ("copies found (new)", 7)):
        assert re.search(rf"{re.escape(label)}\s+│ {count}\b", shown), shown
    assert "seconds" not in shown and "candidates" not in shown
    with common.console.capture() as verbose:
        scanning._print_scan_summary(SUMMARY, verbose=True)
    assert "seconds: crawl" in verbose.get() and "seconds: detect/verify" in verbose.get()


def test_candidates_say_where_detection_stopped_and_whether_the_screen_searched_only_the_nearest_lists():
    def candidate(**detection):
        return {"state": "detected", "refusal_reason": None, "detection": detection}

    assert stopped(candidate(exit="screen", near_lists_only=True)) == "screen, after the nearest lists"
    assert stopped(candidate(exit="screen", near_lists_only=False)) == "screen"
    assert stopped(candidate(exit="confirm")) == "confirm"  # analysed before the two-step search: no such key
    assert stopped({"state": "refused", "refusal_reason": "corrupt"}) == "refused: corrupt"
