"""`copyhound config get/set` on a real workspace: values checked like the file, the file kept on refusal."""

from __future__ import annotations

import json
import shutil

import pytest
from support import invoke_cli

from detector.config import edit


@pytest.fixture(scope="module")
def initialized(tmp_path_factory):
    """A workspace made by `copyhound init`, once for the module."""
    home = tmp_path_factory.mktemp("init") / "ws"
    assert invoke_cli("init", "--embedder", "none", home=home).returncode == 0
    return home


@pytest.fixture
def home(initialized, tmp_path):
    """A copy of the initialized workspace, for a test to change."""
    return shutil.copytree(initialized, tmp_path / "ws")


def test_set_then_get_round_trips_through_the_file(home):
    result = invoke_cli("config", "set", "crawl.max_pages", "40", home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"crawl.max_pages = 40 in {home / 'config.toml'}."
    got = invoke_cli("config", "get", "crawl.max_pages", home=home)
    assert got.stdout == "40\n"
    assert got.stderr.strip() == "Pages fetched per target per scan, at most. Default: 500."


def test_changing_the_embedder_says_to_reindex(home):
    result = invoke_cli("config", "set", "embedder.spec", "clip:ViT-B-32/openai", home=home)
    assert result.returncode == 0, result.stderr
    assert "Run `copyhound reindex` next: the works' stored vectors come from the old model." in result.stdout
    assert json.loads(invoke_cli("config", "get", "embedder.spec", "--format", "json", home=home).stdout)[0]["value"] \
        == "clip:ViT-B-32/openai"


def test_a_setting_that_needs_no_reindex_does_not_ask_for_one(home):
    result = invoke_cli("config", "set", "crawl.obey_robots", "false", home=home)
    assert result.returncode == 0 and "reindex" not in result.stdout


@pytest.mark.parametrize("key, value, message", [
    ("match.match_threshold", "high", ("error: match.match_threshold: 'high' is not a value of this setting; "
                                      "give a number, true/false, a list like [400, 1200] or a table like "
                                      "{ web = 250 }.")),
    ("match.match_threshold", '"0.9"', "error: config.match.match_threshold must be float, got str: '0.9'"),
    ("match.match_treshold", "0.9", ("error: No setting named 'match.match_treshold'; settings are SECTION.NAME "
                                    "like embedder.spec (`copyhound config get` lists them all). Did you mean "
                                    "match.match_threshold or match.review_threshold?")),
    ("embedder.spec", "clip", "error: Unknown embedder 'clip'; accepted:"),
    ("pricing.currency", "euro", ("error: config.pricing.currency must be an ISO 4217 code of three capital letters, "
                                  "like EUR or USD, got 'euro'")),
    ("match.match_threshold", "2", "error: config.match.match_threshold must be between 0 and 1, got 2.0"),
    ("match.review_threshold", "0.9", ("error: config.match.review_threshold (0.9) must not be above "
                                       "match.match_threshold (0.8).")),
    ("pricing.base_fees", "{ web = -5 }", "error: config.pricing.base_fees must be at least 0, got -5.0"),
    ("match.local_features", "surf", "error: config.match.local_features must be 'sift' or 'orb', got 'surf'"),
])
def test_a_refused_value_names_the_setting_and_leaves_the_file_alone(home, key, value, message):
    before = (home / "config.toml").read_text()
    result = invoke_cli("config", "set", key, value, home=home)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1
    assert (home / "config.toml").read_text() == before


def test_every_setting_is_listed_with_its_value(home):
    rows = json.loads(invoke_cli("config", "get", "--format", "json", home=home).stdout)
    assert [r["key"] for r in rows] == [e.key for e in edit.entries(edit.config.Settings())]
    assert {"key": "embedder.spec", "value": '"none"'} == {k: rows[0][k] for k in ("key", "value")}


def test_the_old_name_in_a_file_is_carried_over_by_a_change(home):
    path = home / "config.toml"
    path.write_text(path.read_text().replace("threads = 0\n", "torch_threads = 3\n", 1))
    assert invoke_cli("config", "set", "embedder.batch_size", "8", home=home).returncode == 0
    assert invoke_cli("config", "get", "embedder.threads", home=home).stdout == "3\n"
