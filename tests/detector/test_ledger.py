"""The provenance ledger: a real store (SQLite, then PostgreSQL), real entries, tampering done with SQL
as an attacker would."""

import itertools

import pytest

from detector.errors import UsageError
from detector.provenance import ledger
from detector.workspace.store import Store


@pytest.fixture
def store(store_target):
    """On SQLite and on PostgreSQL in turn."""
    s = Store(store_target)
    for i in range(1, 6):
        ledger.append(s, "register", ledger.asset_subject(i), {"sha256": f"{i:064x}", "n": i},
                      at=f"2025-01-0{i}T00:00:00Z")
    yield s
    s.close()


def codes(problems):
    return [(p.seq, p.code) for p in problems]


def test_an_untouched_chain_verifies_and_links_each_entry_to_the_previous(store):
    rows = ledger.entries(store)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == ledger.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    assert ledger.verify(store) == []
    assert store.ledger_head() == {"seq": 5, "hash": rows[-1]["hash"]}


def test_entries_can_be_picked_by_subject(store):
    picked = ledger.entries(store, [ledger.asset_subject(2), ledger.asset_subject(4)])
    assert [r["seq"] for r in picked] == [2, 4]
    assert all(ledger.entry_intact(r) for r in picked)


def test_an_edited_payload_is_named(store):
    store.db.execute("UPDATE ledger SET payload = ? WHERE seq = 3", ['{"n":99,"sha256":"0"}'])
    problems = ledger.verify(store)
    assert codes(problems) == [(3, "edited")]
    assert "ledger entry 3 (register asset:3" in problems[0].message and "edited" in problems[0].message


def test_an_edited_and_rehashed_entry_is_named_by_the_next_link(store):
    row = ledger.entries(store)[2]
    payload = '{"n":99}'
    new_hash = ledger.entry_hash(row["at"], row["kind"], row["subject"], payload, row["prev_hash"])
    store.db.execute("UPDATE ledger SET payload = ?, hash = ? WHERE seq = 3", [payload, new_hash])
    assert codes(ledger.verify(store)) == [(3, "edited")]


def test_swapped_entries_are_reported_as_reordered(store):
    with store.atomic():
        store.db.execute("UPDATE ledger SET seq = -3 WHERE seq = 3")
        store.db.execute("UPDATE ledger SET seq = 3 WHERE seq = 4")
        store.db.execute("UPDATE ledger SET seq = 4 WHERE seq = -3")
    problems = ledger.verify(store)
    assert (3, "reordered") in codes(problems) and (4, "reordered") in codes(problems)
    assert {p.code for p in problems} == {"reordered"}
    assert "written after entry 4, but now follows entry 2" in problems[0].message


def test_a_deleted_middle_entry_is_named(store):
    store.db.execute("DELETE FROM ledger WHERE seq = 3")
    problems = ledger.verify(store)
    assert codes(problems) == [(3, "deleted")]
    assert "entry 3 is missing (deleted)" in problems[0].message


def test_a_deleted_last_entry_is_caught_through_the_head(store):
    store.db.execute("DELETE FROM ledger WHERE seq = 5")
    problems = ledger.verify(store)
    assert codes(problems) == [(5, "deleted_last")]
    assert "ends at entry 4, but its head is entry 5" in problems[0].message


def test_unknown_kinds_are_refused_with_the_valid_ones(store):
    with pytest.raises(UsageError, match="Ledger entry kind 'refund' is not one of register, match, review, notice, "
                                         "offer, export, presence, enforce, delivery, screenshot, contributors, payment, owner_settings"):
        ledger.append(store, "refund", "match:1", {})


def test_appending_after_the_head_moved_underneath_is_refused(store):
    head = store.ledger_head()
    ledger.append(store, "export", "export", {"n": 6})
    row = {"seq": 6, "at": "x", "kind": "export", "subject": "export", "payload": "{}",
           "prev_hash": head["hash"], "hash": "f" * 64}
    with pytest.raises(UsageError, match="The ledger moved while an entry was being written"):
        store.append_ledger_row(row, head)
    assert ledger.verify(store) == []
