"""`copyhound demo` (what `make demo` runs), for real, in a temporary workspace."""

import hashlib
import re
import shlex
import shutil
import zipfile
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader
from support import run_cli, serving

from crawlers.screenshot import CHROMIUM
from detector.demo_site import EXPECTED
from detector.evidence.bundle_check import verify_bundle
from detector.web import create_app
from detector.workspace import open_workspace

pytestmark = pytest.mark.slow  # a long end-to-end test: `make test-fast` leaves it out


def test_demo_finds_every_copy_and_writes_verifiable_evidence(tmp_path):
    home = tmp_path / "demo"
    result = run_cli("demo", home=home)
    assert result.returncode == 0, result.stderr
    assert f"{len(EXPECTED)} of {len(EXPECTED)} copies found; 0 wrong matches." in result.stdout
    assert "pages visited" in result.stdout and "seconds:" not in result.stdout  # times only with --verbose
    assert "127.0.0.1/…/cropped.jpg" in result.stdout  # the copies' images tell apart, not one host repeated
    written = [Path(line.removeprefix("wrote ")) for line in result.stdout.splitlines() if line.startswith("wrote ")]
    assert sorted(p.suffix for p in written) == [".html", ".pdf", ".txt", ".txt", ".zip"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    bundle = next(p for p in written if p.suffix == ".zip")
    check = verify_bundle(bundle)
    assert check.ok, [str(p) for p in check.problems]
    if CHROMIUM.exists():  # the scan shot the page, and the bundle carries the screenshot, checked
        [entry] = check.manifest["matches"]
        with zipfile.ZipFile(bundle) as z:
            png = z.read(entry["screenshot"]["png"])
        assert hashlib.sha256(png).hexdigest() == entry["screenshot"]["sha256"] and png.startswith(b"\x89PNG")
    ledger = run_cli("ledger", "verify", home=home)
    assert ledger.returncode == 0 and "Ledger intact" in ledger.stdout
    report_is_a_clean_document(next(p for p in written if p.suffix == ".pdf"))

    # the demo ends with the next steps: the portal command as this shell runs it, a token to sign in with,
    # and the offer page as its recipient sees it
    lines = result.stdout.splitlines()
    steps = lines[lines.index("Next, the portal in three steps:"):]
    serve = shlex.split(steps[1].removeprefix("  1. "))
    assert serve[1:] == ["serve", "--home", str(home)] and serve[0].endswith("copyhound")
    assert shutil.which(serve[0]), f"{serve[0]} is not a program this shell can run"
    token = steps[3].strip()
    offer = next(line for line in steps if line.startswith("offer page: ")).removeprefix("offer page: ")
    assert offer.startswith("http://127.0.0.1:8000/o/"), offer
    with serving(create_app(open_workspace(home))) as url:
        page = httpx.get(offer.replace("http://127.0.0.1:8000", url))
        with httpx.Client(base_url=url) as browser:
            form = browser.get("/signin").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            signed_in = browser.post("/signin", data={"token": token, "csrf": csrf, "next": "/matches"})
            assert signed_in.status_code == 303, signed_in.text
            assert 'href="/matches/' in browser.get("/matches").text  # the photographer sees the matches
    assert page.status_code == 200 and "Licence offer for" in page.text and "Accept for EUR" in page.text


def test_the_readmes_first_screen_goes_from_make_demo_to_the_portal_in_three_steps():
    first_screen = "\n".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").splitlines()[:24])
    steps = [line for line in first_screen.splitlines() if re.search(r"# [123]\. ", line)]
    assert len(steps) == 3, first_screen
    assert steps[0].startswith("make demo") and steps[1].startswith(".venv/bin/copyhound serve --home ")
    assert "sign in with the token" in steps[2] and "http://127.0.0.1:8000/" in steps[2]
    assert "source .venv/bin/activate" in first_screen

def report_is_a_clean_document(path: Path) -> None:
    """Every page names the match and its capture time and is numbered, and no page but the last
    is a stray (the old PDF broke its table into pages of one row each: two or three lines)."""
    pages = [page.extract_text() for page in PdfReader(path).pages]
    match_id = path.stem.removeprefix("match-")
    lines = []
    for number, text in enumerate(pages, 1):
        flat = " ".join(text.split())
        assert f"Match {match_id} \u00b7 copy captured " in flat and f"Page {number} of {len(pages)}" in flat
        lines.append(len(text.splitlines()))
    assert all(count >= 8 for count in lines[:-1]), lines  # a heading, a caption or rows, and the footer
