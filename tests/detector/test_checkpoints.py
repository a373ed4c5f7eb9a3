"""Signed, time-stamped ledger checkpoints against a real local TSA (openssl ts), tampering done with SQL."""

from dataclasses import replace

import pytest
from support import invoke_cli

from detector.config import ProvenanceSettings, Settings
from detector.errors import TimestampUnavailable, UsageError
from detector.provenance import checkpoints, ledger, signing, timestamp
from detector.workspace import create_workspace
from detector.workspace.store import Store


@pytest.fixture
def env(tmp_path, tsa):
    url, cert = tsa
    settings = replace(Settings().with_embedder("none"),
                       provenance=ProvenanceSettings(tsa_url=url, tsa_certificate=str(cert)))
    ws, _ = create_workspace(tmp_path / "ws", settings)
    store = Store(ws.db_path)
    for i in range(1, 4):
        ledger.append(store, "register", ledger.asset_subject(i), {"owner": "alice", "sha256": f"{i:064x}"},
                      at=f"2025-01-0{i}T00:00:00Z")
    yield ws, store, settings
    store.close()


def rewrite_from(store, seq, **changes):
    """What an attacker with the database does: edit entry `seq`, re-hash it and every later entry, move the head."""
    prev = ledger.GENESIS if seq == 1 else ledger.entries(store)[seq - 2]["hash"]
    with store.atomic():
        for row in ledger.entries(store)[seq - 1:]:
            row = dict(row, **(changes if row["seq"] == seq else {}), prev_hash=prev)
            row["hash"] = prev = ledger.entry_hash(row["at"], row["kind"], row["subject"], row["payload"], prev)
            store.db.execute("UPDATE ledger SET at = ?, payload = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                             [row["at"], row["payload"], row["prev_hash"], row["hash"], row["seq"]])
        store.set_meta("ledger_head", f'{{"seq": {row["seq"]}, "hash": "{prev}"}}')


def roots(settings):
    return timestamp.load_roots(settings.provenance.tsa_certificate)


def test_a_checkpoint_is_signed_and_time_stamped_and_verifies(env):
    ws, store, settings = env
    made = checkpoints.make(ws, store, settings)
    assert made.statement["tree_size"] == 3 and made.statement["head_hash"] == store.ledger_head()["hash"]
    assert signing.verify(signing.ensure_keypair(ws), made.statement_bytes, made.signature)
    when, why = timestamp.check(made.tsa_token, made.statement_bytes, roots(settings))
    assert why is None and when[:4] >= "2025"
    assert timestamp.check(made.tsa_token, made.statement_bytes + b" ", roots(settings))[0] is None
    ledger.append(store, "register", ledger.asset_subject(4), {"owner": "alice"})
    second = checkpoints.make(ws, store, settings)
    assert second.leaves == [ledger.entries(store)[-1]["hash"]]
    assert checkpoints.verify(store, signing.ensure_keypair(ws), roots(settings)) == []


def test_a_rewritten_and_rehashed_first_entry_is_named(env):
    ws, store, settings = env
    checkpoints.make(ws, store, settings)
    rewrite_from(store, 1, at="2020-01-01T00:00:00Z", payload='{"owner":"mallory","sha256":"' + "1" * 64 + '"}')
    assert ledger.verify(store) == []  # the chain alone cannot tell
    problems = checkpoints.verify(store, signing.ensure_keypair(ws), roots(settings))
    assert [(p.seq, p.code) for p in problems] == [(1, "disagrees_with_checkpoint")]
    assert problems[0].message.startswith("Ledger entry 1 (register asset:1, 2020-01-01T00:00:00Z) disagrees "
                                          "with checkpoint 1 (signed ")
    assert "time-stamped" in problems[0].message and "rewritten after that checkpoint" in problems[0].message
    cli = invoke_cli("ledger", "verify", home=ws.home)
    assert cli.returncode == 1 and cli.stderr.startswith("disagrees_with_checkpoint: Ledger entry 1 (register")
    with pytest.raises(UsageError, match="fails verification .*no checkpoint was made"):
        checkpoints.make(ws, store, settings)


def test_edited_checkpoint_hashes_a_forged_statement_and_a_swapped_token_are_named(env):
    ws, store, settings = env
    checkpoints.make(ws, store, settings)
    ledger.append(store, "register", ledger.asset_subject(4), {"owner": "alice"})
    checkpoints.make(ws, store, settings)
    public = signing.ensure_keypair(ws)
    first, second = store.ledger_checkpoints()
    store.db.execute("UPDATE ledger_checkpoints SET leaves = ? WHERE id = 2", ['["' + "0" * 64 + '"]'])
    assert [p.code for p in checkpoints.verify(store, public, roots(settings))] == ["checkpoint_leaves"]
    store.db.execute("UPDATE ledger_checkpoints SET leaves = ?, tsa_token = ? WHERE id = 2",
                     [second["leaves"], first["tsa_token"]])
    [problem] = checkpoints.verify(store, public, roots(settings))
    assert problem.code == "checkpoint_timestamp" and "checkpoint 2 is not valid for its statement" in problem.message
    forged = second["statement"].replace('"tree_size":4', '"tree_size":5')
    store.db.execute("UPDATE ledger_checkpoints SET statement = ?, tsa_token = ? WHERE id = 2",
                     [forged, second["tsa_token"]])
    assert "checkpoint_forged" in [p.code for p in checkpoints.verify(store, public, roots(settings))]


def test_an_unreachable_tsa_is_named_and_nothing_is_stored(env, tmp_path):
    ws, store, settings = env
    dead = replace(settings, provenance=replace(settings.provenance, tsa_url="http://127.0.0.1:9/tsr",
                                                tsa_timeout=2.0))
    with pytest.raises(TimestampUnavailable, match=r"at http://127.0.0.1:9/tsr did not answer .*provenance.tsa_url"):
        checkpoints.make(ws, store, dead)
    assert store.ledger_checkpoints() == []


def test_a_rewrite_after_the_checkpoints_were_deleted_is_caught_by_a_published_head(env, tmp_path):
    ws, store, settings = env
    checkpoints.make(ws, store, settings)
    exported = invoke_cli("ledger", "export-head", home=ws.home)
    assert exported.returncode == 0, exported.stderr
    head_file = tmp_path / "published-head.json"  # kept where the owner cannot rewrite it
    head_file.write_text(exported.stdout)
    ledger.append(store, "register", ledger.asset_subject(4), {"owner": "alice"})  # the ledger goes on
    grown = invoke_cli("ledger", "verify", "--head", str(head_file), home=ws.home)
    assert grown.returncode == 0, grown.stderr
    assert grown.stdout.strip().endswith(f"and the published head of {head_file}.")

    store.db.execute("DELETE FROM ledger_checkpoints")
    rewrite_from(store, 2, payload='{"owner":"mallory"}')
    assert invoke_cli("ledger", "verify", home=ws.home).returncode == 0  # without the head: "intact"
    caught = invoke_cli("ledger", "verify", "--head", str(head_file), home=ws.home)
    assert caught.returncode == 1
    assert caught.stderr.startswith("disagrees_with_head: The ledger's first 3 entries disagree with the published "
                                    "head (signed ")
    assert "time-stamped" in caught.stderr and "were rewritten since it was published" in caught.stderr

    store.db.execute("DELETE FROM ledger WHERE seq >= 2")
    store.set_meta("ledger_head", f'{{"seq": 1, "hash": "{ledger.entries(store)[0]["hash"]}"}}')
    cut = invoke_cli("ledger", "verify", "--head", str(head_file), home=ws.home)
    assert cut.returncode == 1 and "deleted: The ledger has 1 entries, but the published head" in cut.stderr


def test_an_edited_or_unreadable_head_file_is_named(env, tmp_path):
    ws, store, settings = env
    checkpoints.make(ws, store, settings)
    head = checkpoints.published_head(ws, store)
    forged = dict(head, statement=head["statement"].replace('"tree_size":3', '"tree_size":2'))
    problems = checkpoints.verify_head(store, forged, signing.public_key(ws), roots(settings))
    assert [p.code for p in problems] == ["head_forged", "head_timestamp", "disagrees_with_head"]
    (tmp_path / "h.json").write_text("{not json")
    refused = invoke_cli("ledger", "verify", "--head", str(tmp_path / "h.json"), home=ws.home)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"error: --head {tmp_path / 'h.json'}: cannot be read as JSON")
