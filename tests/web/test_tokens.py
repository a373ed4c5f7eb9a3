"""Tokens: made by the CLI, shown once, stored hashed, refused once revoked."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from detector import config
from detector.cli import app
from detector.errors import NotFound, UsageError
from detector.tokens import authenticate, token_hash
from detector.workspace import create_workspace
from detector.workspace.store import Store


@pytest.fixture
def home(tmp_path):
    ws, _ = create_workspace(tmp_path / "ws", config.Settings().with_embedder("none"))
    store = Store(ws.db_path)
    store.ensure_owner("alice")
    store.close()
    return ws


def test_create_prints_the_token_once_and_stores_only_its_hash(home):
    result = CliRunner().invoke(app, ["tokens", "create", "--owner", "alice", "--label", "laptop",
                                      "--home", str(home.home)])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    store = Store(home.db_path)
    (row,) = store.api_tokens()
    assert row["token_hash"] == token_hash(token) and token not in str(row)
    who = authenticate(store, token)
    assert (who.owner, who.is_admin, who.label) == ("alice", False, "laptop")

    CliRunner().invoke(app, ["tokens", "revoke", str(row["id"]), "--home", str(home.home)])
    with pytest.raises(NotFound, match="unknown or revoked"):
        authenticate(store, token)


def test_create_needs_exactly_one_of_owner_or_admin(home):
    for args in ([], ["--owner", "alice", "--admin"]):
        result = CliRunner().invoke(app, ["tokens", "create", *args, "--home", str(home.home)])
        assert isinstance(result.exception, UsageError)
        assert "Give exactly one of --owner NAME" in str(result.exception)


def test_a_token_for_an_unknown_owner_is_refused(home):
    result = CliRunner().invoke(app, ["tokens", "create", "--owner", "mallory", "--home", str(home.home)])
    assert isinstance(result.exception, NotFound)
    assert "No owner named 'mallory'; known owners: alice." == str(result.exception)
