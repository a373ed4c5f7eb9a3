"""docs/cli.md is what the commands' real --help says: regenerate it and compare."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.cli import reference

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


@pytest.mark.slow
def test_the_cli_reference_page_matches_every_commands_help():
    assert PAGE.read_text(encoding="utf-8") == reference.render(), (
        "docs/cli.md is out of date with the commands' --help: run `make docs` and commit docs/cli.md")


def test_the_page_covers_every_command_and_hides_hidden_options():
    page = PAGE.read_text(encoding="utf-8")
    for command in ("copyhound init", "copyhound scan", "copyhound config set", "copyhound owner show",
                    "copyhound status", "copyhound ledger verify"):
        assert f"## `{command}`" in page
    scan = page.split("## `copyhound scan`")[1].split("## ")[0]
    assert "--format" in scan and "--json" not in scan  # the old flag still works but is not advertised
    assert "onnx:/path/to/model.onnx" in page.split("## `copyhound init`")[1].split("## ")[0]
