"""Fixtures of the detector tests: a real local time-stamping authority (openssl ts on 127.0.0.1)."""

import pytest
from local_tsa import local_tsa


@pytest.fixture(scope="session")
def tsa(tmp_path_factory):
    """(url, TSA certificate path) of a TSA serving for the whole session."""
    with local_tsa(tmp_path_factory.mktemp("tsa")) as served:
        yield served
