"""Fixtures of the CLI tests."""

from __future__ import annotations

import pytest
from cli_workspace import Listed, build_listed


@pytest.fixture(scope="module")
def listed(tmp_path_factory) -> Listed:
    return build_listed(tmp_path_factory.mktemp("lists") / "ws")
