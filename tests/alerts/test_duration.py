"""Durations as settings write them ("30m", "1h", "2d") and as titles say them (1 小时)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.duration import describe_duration, parse_duration


@pytest.mark.parametrize("text,expected", [("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)),
                                           ("2d", timedelta(days=2)), (" 1.5H ", timedelta(minutes=90)),
                                           ("1w", timedelta(days=7))])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "-1h", "0h", 60])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_describe_duration():
    assert describe_duration(timedelta(hours=1)) == "1 小时"
    assert describe_duration(timedelta(minutes=30)) == "30 分钟"
    assert describe_duration(timedelta(days=2)) == "2 天"
