import sqlite3

import pytest

from detector import config
from detector.errors import UsageError, WorkspaceLocked, WorkspaceMissing
from detector.workspace import create_workspace, open_workspace, resolve_home
from detector.workspace.store import SCHEMA_VERSION, MatchFilter, Store


@pytest.fixture
def workspace(any_workspace):
    """Every store test here runs on SQLite and on PostgreSQL."""
    return any_workspace


def test_home_comes_from_flag_then_environment_then_default(tmp_path):
    assert resolve_home(tmp_path / "a", {"COPYHOUND_HOME": str(tmp_path / "b")}) == tmp_path / "a"
    assert resolve_home(None, {"COPYHOUND_HOME": str(tmp_path / "b")}) == tmp_path / "b"
    assert resolve_home(None, {}).name == "copyhound-data"


def test_missing_workspace_says_how_to_create_one(tmp_path):
    with pytest.raises(WorkspaceMissing) as e:
        open_workspace(tmp_path / "nowhere")
    assert f"No copyhound workspace at {tmp_path / 'nowhere'}" in str(e.value)
    assert "copyhound init --home" in str(e.value)


def test_init_creates_the_layout_and_keeps_an_edited_config(tmp_path):
    ws, created = create_workspace(tmp_path / "ws", config.Settings())
    Store(ws.db_path).close()
    assert created and all(folder.is_dir() for folder in ws.folders())
    ws.config_path.write_text('[match]\nmatch_threshold = 0.9\n')
    _again, created_again = create_workspace(tmp_path / "ws", config.Settings())
    assert not created_again
    assert open_workspace(tmp_path / "ws").settings().match.match_threshold == 0.9


def test_second_lock_holder_is_refused_and_lock_is_released(workspace):
    ws, _ = workspace
    with ws.lock("scan"):
        with pytest.raises(WorkspaceLocked) as e, ws.lock("scan"):
            pass
        assert "another scan is running" in str(e.value)
        assert "pid" in str(e.value)
    with ws.lock("scan"):  # free again once the holder is done
        pass


def test_store_is_migrated_to_the_current_version_in_wal_mode(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    assert store.schema_version() == SCHEMA_VERSION
    assert store.db.journal_mode == "wal"
    assert {"owners", "assets", "candidates", "matches", "scans"} <= set(store.db.table_names())


def test_store_refuses_a_newer_schema(tmp_path):
    Store(tmp_path / "db.sqlite").close()
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(UsageError) as e:
        Store(tmp_path / "db.sqlite")
    assert "schema version 999, newer than this copyhound understands" in str(e.value)


def _candidate(store, scan_id, page, sha="a" * 64):
    candidate_id = store.add_candidate({"scan_id": scan_id, "target": "t", "page_url": page,
                                        "image_url": page + "/img.jpg", "discovered_at": "now", "sha256": sha})
    return store.candidate(candidate_id)


def test_a_use_seen_again_counts_a_sighting_instead_of_a_new_match(workspace):
    _, store = workspace
    owner = store.ensure_owner("alice")
    asset_id = store.add_asset({"owner_id": owner["id"], "sha256": "b" * 64, "filename": "w.jpg", "width": 64,
                                "height": 64, "format": "jpeg", "frames": 1, "byte_size": 10}, {}, None)
    asset = store.asset(asset_id)
    first = _candidate(store, store.start_scan({}), "https://blog.example/post")
    match_id, created = store.record_match(asset=asset, candidate=first, score=0.9, decision="match", signals={})
    store.set_match_status(match_id, "rejected", "not ours")
    again = _candidate(store, store.start_scan({}), "https://blog.example/post")
    same_id, created_again = store.record_match(asset=asset, candidate=again, score=0.95, decision="match",
                                                signals={})
    row = store.match(match_id)
    assert created and not created_again and same_id == match_id
    assert row["sightings"] == 2 and row["status"] == "rejected" and row["candidate_id"] == again["id"]
    other_page = _candidate(store, store.start_scan({}), "https://shop.example/item")
    assert store.record_match(asset=asset, candidate=other_page, score=0.9, decision="match", signals={})[1]
    assert store.find_matches(MatchFilter(domain="example"))[1] == 2  # sub-domains included
    assert store.find_matches(MatchFilter(domain="ample"))[1] == 0   # but not name suffixes
    rows, total = store.find_matches(MatchFilter(domain="shop.example"))
    assert total == 1 and rows[0]["page_url"] == "https://shop.example/item"


@pytest.mark.parametrize("kwargs, message", [
    ({"status": "open"}, "status 'open' is not known; use one of: new, confirmed, rejected, authorized."),
    ({"decision": "maybe"}, "decision 'maybe' is not known; use one of: match, review."),
    ({"min_score": 2.0}, "min_score must be between 0 and 1; got 2.0."),
    ({"since": "yesterday"}, "since 'yesterday' is not a date; use YYYY-MM-DD or an ISO 8601 time."),
])
def test_bad_filters_are_refused_with_the_accepted_values(kwargs, message):
    with pytest.raises(UsageError) as e:
        MatchFilter(**kwargs)
    assert str(e.value) == message
