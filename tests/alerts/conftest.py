"""Fixtures for the alerts tests: a real SQLite store in the test's tmp_path."""

from __future__ import annotations

import pytest

from indexer.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "voc.db")
    yield s
    s.close()
