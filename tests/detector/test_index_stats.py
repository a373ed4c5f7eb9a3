"""`copyhound index stats`: what each index file holds and costs per work, read from the workspace."""

from __future__ import annotations

import json

from support import invoke_cli, run_cli

from detector import catalogue
from detector.workspace import open_workspace


def test_index_stats_reports_works_entries_and_bytes_per_work(tmp_path, works_dir):
    home = tmp_path / "ws"
    invoke_cli("init", "--embedder", "none", home=home)
    run_cli("register", str(works_dir / "coffee.jpg"), str(works_dir / "rocket.jpg"), home=home)
    result = invoke_cli("index", "stats", "--format", "json", home=home)
    assert result.returncode == 0, result.stderr
    rows = {row["index"]: row for row in json.loads(result.stdout)}

    assert rows["vectors"]["state"] == "missing"  # no embedder, no embeddings index
    for name in ("phash", "pdq", "features"):
        row = rows[name]
        assert row["state"] == "ok" and row["works"] == 2
        assert row["bytes_per_work"] == round(row["bytes"] / 2)
    assert rows["pdq"]["entries"] == 2 and rows["pdq"]["kind"] == "256 bits"
    features = rows["features"]
    assert features["kind"] == "sift" and features["lists"] == 0 and features["trained_at"] is None
    assert features["mirror_paired"] is False  # exact: no lists to pair
    assert 2 < features["entries"] <= 2 * 300  # a spread sample of each work's descriptors
    path = catalogue.local_index_path(open_workspace(home))
    assert features["bytes"] == path.stat().st_size

    path.write_bytes(b"damaged")
    rows = {row["index"]: row for row in json.loads(invoke_cli("index", "stats", "--format", "json", home=home).stdout)}
    assert rows["features"]["state"] in {"truncated", "checksum"}
