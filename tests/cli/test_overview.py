"""`status`, `owner show`, `notices` and `offers` on a real workspace with matches, notices and offers."""

from __future__ import annotations

import json
import shlex

import pytest
from cli_workspace import PROFILE
from support import invoke_cli


def _json(*args, home):
    result = invoke_cli(*args, "--format", "json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_status_counts_works_matches_evidence_and_checks_the_indexes(listed):
    status = _json("status", home=listed.home)
    assert status["works"] == [{"owner": "alice", "works": 2}]
    assert status["matches"] == [{"decision": "match", "status": "confirmed", "matches": 2},
                                 {"decision": "match", "status": "new", "matches": 1}]
    assert status["last_scan"][0]["status"] == "finished"
    assert {r["what"]: (r["count"], r["amount"]) for r in status["evidence"]} == {
        "dmca notices": (1, ""), "dsa notices": (1, ""),
        "offers draft": (1, f"EUR {_offer(listed, 'draft')['amount']}"),
        "offers sent": (1, f"EUR {_offer(listed, 'sent')['amount']}"),
    }
    assert status["indexes"] == [{"index": "phash", "entries": 2, "state": "ok"},
                                 {"index": "pdq", "entries": 2, "state": "ok"},
                                 {"index": "local-features", "entries": 600, "state": "ok"}]  # 300 a work


def _offer(listed, status):
    (row,) = _json("offers", "--status", status, home=listed.home)
    return row


def test_status_table_reads_at_80_columns(listed):
    result = invoke_cli("status", home=listed.home, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    for title in ("Registered works", "Matches by decision and review status", "Last scan", "Notices and offers",
                  "Search indexes"):
        assert title in result.stdout


def test_notices_list_filters_by_kind_and_match(listed):
    assert [n["id"] for n in _json("notices", home=listed.home)] == listed.notices[::-1]
    (dsa,) = _json("notices", "--kind", "dsa", home=listed.home)
    assert dsa["match_id"] == listed.matches[1] and "body" not in dsa
    assert [n["kind"] for n in _json("notices", "--match", str(listed.matches[0]), home=listed.home)] == ["dmca"]
    assert _json("notices", "--owner", "bob", home=listed.home) == []


def test_offers_list_filters_by_status(listed):
    assert [o["id"] for o in _json("offers", home=listed.home)] == listed.offers[::-1]
    assert _offer(listed, "sent")["id"] == listed.offers[1]
    assert _json("offers", "--status", "accepted", home=listed.home) == []


@pytest.mark.parametrize("args, message", [
    (["offers", "--status", "settled"], ("error: --status 'settled' is not known; use one of: draft, sent, viewed, "
                                        "countered, accepted, paid, declined, expired.")),
    (["notices", "--kind", "cease"], "error: --kind 'cease' is not known; use one of: dmca, dsa."),
])
def test_an_unknown_filter_value_is_one_line_and_exit_2(listed, args, message):
    result = invoke_cli(*args, home=listed.home)
    assert result.returncode == 2 and result.stderr.strip() == message


def test_owner_show_prints_the_profile_and_what_each_document_lacks(listed):
    (row,) = _json("owner", "show", "alice", home=listed.home)
    assert {k: row[k] for k in PROFILE} == PROFILE
    assert row["missing"] == {"dmca": [], "dsa": [], "offer": []}
    table = invoke_cli("owner", "show", "alice", home=listed.home).stdout
    assert "Alice Example Photography Ltd" in table and "needs" not in table


def test_owner_show_suggests_a_command_that_pastes_for_a_name_with_a_space(tmp_path):
    home = tmp_path / "ws"
    assert invoke_cli("init", "--embedder", "none", home=home).returncode == 0
    assert invoke_cli("owner", "set", "Jane Doe", "--legal-name", "Jane Doe Photography", home=home).returncode == 0
    shown = invoke_cli("owner", "show", "Jane Doe", home=home).stdout
    lines = [line for line in shown.splitlines() if "needs" in line]
    assert lines and not any(line.startswith(("A dmca", "A offer", "A dsa")) for line in lines), lines
    assert "A DMCA notice needs address, email, signature" in shown and "A licensing offer needs email" in shown
    suggested = shown.split("A licensing offer needs email: `")[1].split("`")[0]
    words = shlex.split(suggested)
    assert words == ["copyhound", "owner", "set", "Jane Doe", "--email", "..."]
    # Pasted, with a real value in place of the placeholder, it works.
    done = invoke_cli(*words[1:-1], "jane@example.org", home=home)
    assert done.returncode == 0, done.stderr
    assert "A licensing offer needs" not in invoke_cli("owner", "show", "Jane Doe", home=home).stdout
