"""`copyhound scan` end to end: a real crawl of the demo site on 127.0.0.1, then detection.

The demo site is scanned once for the module (`scanned`); the tests that start from a scanned workspace rather
than test the first scan get a copy of it, and the module's one server answers for every test."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from support import invoke_cli, run_cli

from detector import demo_site
from detector.config.edit import set_value
from detector.workspace import open_workspace
from detector.workspace.store import Store


class SlowHandler(demo_site.QuietHandler):
    """Answers every request after a pause, so a scan can be caught half-way."""

    def do_GET(self):
        time.sleep(0.4)
        super().do_GET()


def _serve(root: Path, handler=demo_site.QuietHandler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The demo site and the module's server for it: (server, base URL, the site's root)."""
    root = demo_site.build_site(tmp_path_factory.mktemp("site"))
    server, base = _serve(root)
    yield server, base, root
    server.shutdown()


@contextmanager
def _serving(server: ThreadingHTTPServer, root: Path):
    """The server answers from `root` for a while, at the same URLs (which the scanned workspace has stored)."""
    saved = server.RequestHandlerClass
    server.RequestHandlerClass = partial(demo_site.QuietHandler, directory=str(root))
    try:
        yield
    finally:
        server.RequestHandlerClass = saved


def _without_pauses(home: Path) -> Path:
    for key, value in {"crawl.download_delay": "0.0", "crawl.autothrottle": "false"}.items():
        set_value(open_workspace(home).config_path, key, value)
    return home


@pytest.fixture
def home(registered_template, tmp_path):
    """A copy of the registered workspace, crawling without pauses."""
    return _without_pauses(shutil.copytree(registered_template, tmp_path / "ws"))


@pytest.fixture(scope="module")
def scanned(registered_template, tmp_path_factory, site):
    """The registered workspace after one scan of the demo site, and that scan's result: built once."""
    _, base, _ = site
    home = _without_pauses(shutil.copytree(registered_template, tmp_path_factory.mktemp("scanned") / "ws"))
    return home, invoke_cli("scan", "--site", base, "--allow-private", "--format", "json", home=home)


@pytest.fixture
def scanned_home(scanned, tmp_path):
    """A copy of the scanned workspace for this test to change."""
    return shutil.copytree(scanned[0], tmp_path / "ws")


def _found(home) -> dict[str, str]:
    rows = json.loads(invoke_cli("matches", "--format", "json", home=home).stdout)
    pairs = [(Path(r["image_url"]).name, r["asset_filename"]) for r in rows]
    assert len(pairs) == len(set(pairs)), f"duplicate matches: {pairs}"
    return dict(pairs)


@pytest.mark.slow
def test_scan_finds_every_copy_and_rescanning_adds_no_duplicates(scanned, scanned_home, site):
    _, first = scanned
    _, base, _ = site
    home = scanned_home
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["detect"]["matches_new"] == len(demo_site.EXPECTED)
    assert summary["crawl"]["pages_fetched"] >= len(demo_site.COPIES) + 1  # "/" and index.html may both count
    assert _found(home) == demo_site.EXPECTED  # and no unrelated photo, not even the same court

    assert summary["detect"]["reused"] == 0
    again = invoke_cli("scan", "--site", base, "--allow-private", "--format", "json", home=home)
    assert again.returncode == 0, again.stderr
    detect = json.loads(again.stdout)["detect"]
    assert detect["matches_new"] == 0
    # The unrelated images were analysed as non-copies by the first scan: reused, not decoded; copies analysed again.
    assert detect["reused"] == len(demo_site.OTHERS)
    assert sum(detect["cascade_exits"].values()) == len(set(demo_site.EXPECTED))
    rows = json.loads(invoke_cli("matches", "--format", "json", home=home).stdout)
    assert len(rows) == len(demo_site.EXPECTED) and {r["sightings"] for r in rows} == {2}

    fresh = invoke_cli("scan", "--site", base, "--allow-private", "--reanalyse", "--format", "json", home=home)
    assert fresh.returncode == 0, fresh.stderr
    detect = json.loads(fresh.stdout)["detect"]
    assert detect["reused"] == 0 and sum(detect["cascade_exits"].values()) == detect["images"]


@pytest.mark.slow
def test_private_address_is_refused_without_the_flag(home, site):
    _, base, _ = site
    result = invoke_cli("scan", "--site", base, "--json", home=home)
    shown = invoke_cli("scan", "--site", base, home=home)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["detect"]["matches_new"] == 0 and "private_address" in summary["errors"]
    # Without --json each problem is listed with its URL, reason and remedy.
    assert shown.returncode == 1
    assert f"private_address: {base}" in shown.stderr and "allow_private" in shown.stderr


def test_second_scan_is_refused_while_one_holds_the_lock(home):
    with open_workspace(home).lock("scan"):
        result = run_cli("scan", "--site", "http://127.0.0.1:9/", "--allow-private", home=home)
    assert result.returncode == 3
    assert "is locked by scan pid" in result.stderr and "Wait for it to finish" in result.stderr


@pytest.mark.slow
def test_killed_scan_resumes_and_loses_nothing(home, site):
    server, base = _serve(site[2], SlowHandler)
    command = [sys.executable, "-c", "from detector.cli import main; main()", "scan", "--site", base,
               "--allow-private", "--home", str(home)]
    try:
        scan = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        store = Store(home / "copyhound.db")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(store.candidates()) < 3:
            time.sleep(0.2)
        captured_before = len(store.candidates())
        os.killpg(scan.pid, signal.SIGKILL)  # the scan and its crawl process, mid-crawl
        scan.wait()
        assert 3 <= captured_before < 2 * len(demo_site.COPIES)
        assert store.scans()[0]["status"] == "running"

        with _serving(server, site[2]):  # no need to be slow any more
            resumed = invoke_cli("scan", "--resume", "--json", home=home)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["resumed"] is True
    finally:
        server.shutdown()
    assert _found(home) == demo_site.EXPECTED
    assert len(store.scans()) == 1 and store.scans()[0]["status"] == "finished"
    pairs = [(c["page_url"], c["image_url"]) for c in store.candidates()]
    assert len(pairs) == len(set(pairs)) == 2 * len(demo_site.COPIES)


@pytest.mark.slow  # its workspace is the module's scanned one
def test_authorizing_a_site_marks_its_unreviewed_matches(scanned_home):
    home = scanned_home
    first = json.loads(invoke_cli("matches", "--format", "json", home=home).stdout)[0]
    assert invoke_cli("review", str(first["id"]), "--reject", home=home).returncode == 0
    result = invoke_cli("authorize", "127.0.0.1", "--owner", "alice", "--note", "licence 7", home=home)
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in json.loads(invoke_cli("matches", "--format", "json", home=home).stdout)}
    assert rows.pop(first["id"])["status"] == "rejected"  # a reviewer's decision stands
    assert {r["status"] for r in rows.values()} == {"authorized"}
    assert f"{len(rows)} unreviewed match(es) there are now marked authorized" in result.stdout


@pytest.mark.slow
def test_rescan_after_a_takedown_marks_the_copies_removed_and_succeeds(scanned_home, site, tmp_path):
    home = scanned_home
    server, base, root = site
    taken_down = shutil.copytree(root, tmp_path / "site")
    (taken_down / "img" / "cropped.jpg").unlink()                    # the file is deleted: 404
    page = taken_down / "resized.html"                                # the page drops the image
    page.write_text(page.read_text(encoding="utf-8").replace("<img src='img/resized.jpg'", "<p"), encoding="utf-8")
    with _serving(server, taken_down):
        again = invoke_cli("scan", "--site", base, "--allow-private", home=home)
    # The scan succeeds, and the 404 of a copy taken down is no problem to list.
    assert again.returncode == 0, again.stderr
    assert "http_404" not in again.stderr
    # What `--format json` prints is the summary the scan stores.
    followup = Store(home / "copyhound.db").scans()[0]["summary"]["followup"]
    assert followup["presence"] == {"up": len(demo_site.EXPECTED) - 2, "removed": 2}
    assert followup["explained"] == {"http_404": 1} and len(followup["removed_now"]) == 2
    rows = json.loads(invoke_cli("matches", "--format", "json", home=home).stdout)
    presence = {Path(r["image_url"]).name: (r["presence"], r["presence_detail"]) for r in rows}
    assert presence["cropped.jpg"] == ("removed", "the image answered HTTP 404")
    assert presence["resized.jpg"] == ("removed", "the page no longer shows the image")
    assert {p for name, (p, _) in presence.items() if name not in ("cropped.jpg", "resized.jpg")} == {"up"}
    verified = invoke_cli("ledger", "verify", home=home)
    assert verified.returncode == 0, verified.stderr
