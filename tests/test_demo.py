"""`copyhound demo` (what `make demo` runs), for real, in a temporary workspace."""

from pathlib import Path

from support import run_cli

from detector.demo_site import EXPECTED
from detector.evidence.bundle_check import verify_bundle


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
