"""`copyhound demo` (what `make demo` runs), for real, in a temporary workspace."""

from pathlib import Path

import httpx
from support import run_cli, serving

from detector.demo_site import EXPECTED
from detector.evidence.bundle_check import verify_bundle
from detector.web import create_app
from detector.workspace import open_workspace


def test_demo_finds_every_copy_and_writes_verifiable_evidence(tmp_path):
    home = tmp_path / "demo"
    result = run_cli("demo", home=home)
    assert result.returncode == 0, result.stderr
    assert f"{len(EXPECTED)} of {len(EXPECTED)} copies found; 0 wrong matches." in result.stdout
    written = [Path(line.removeprefix("wrote ")) for line in result.stdout.splitlines() if line.startswith("wrote ")]
    assert sorted(p.suffix for p in written) == [".html", ".pdf", ".txt", ".txt", ".zip"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    bundle = next(p for p in written if p.suffix == ".zip")
    assert verify_bundle(bundle).ok
    ledger = run_cli("ledger", "verify", home=home)
    assert ledger.returncode == 0 and "Ledger intact" in ledger.stdout

    # the demo ends with the offer page a reader can open once the portal runs
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("offer page: http://127.0.0.1:8000/o/"), last
    with serving(create_app(open_workspace(home))) as url:
        page = httpx.get(last.removeprefix("offer page: ").replace("http://127.0.0.1:8000", url))
    assert page.status_code == 200 and "Licence offer for" in page.text and "Accept for EUR" in page.text
