"""Fixtures for the importer tests: small exports written to tmp_path (see support/surveys.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.surveys import WJX_TEXT_HEADER, WJX_TEXT_ROWS, csv_bytes


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, header: list[str], rows: list[list[str]], **kwargs: str) -> Path:
        path = tmp_path / name
        path.write_bytes(csv_bytes(header, rows, **kwargs))
        return path
    return write


@pytest.fixture
def wjx_gbk(write_csv: Callable[..., Path]) -> Path:
    """A 问卷星 text export as older exports and Excel re-saves write it: GBK, CRLF."""
    return write_csv("331954276_按文本_手机银行调查_6_6.csv", WJX_TEXT_HEADER, WJX_TEXT_ROWS,
                     encoding="gbk")
