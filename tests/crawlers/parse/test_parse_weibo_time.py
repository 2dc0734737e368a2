"""crawlers.parse.weibo_time: every Weibo time form, resolved against a crawl time in Asia/Shanghai."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crawlers.parse.errors import LayoutChanged
from crawlers.parse.weibo_time import parse_weibo_time, precision

SH = ZoneInfo("Asia/Shanghai")
# 2025-06-15 00:30 in Shanghai is still 06-14 in UTC: relative days must follow Shanghai.
CRAWL = datetime(2025, 6, 15, 0, 30, tzinfo=SH)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(UTC)


@pytest.mark.parametrize("text, expected", [
    ("Sat Jun 14 12:00:00 +0800 2025", sh(2025, 6, 14, 12, 0)),
    ("Fri Jun 14 20:39:20 +0800 2019", sh(2019, 6, 14, 20, 39, 20)),
    ("Tue Sep 10 12:34:56 +0000 2026", datetime(2026, 9, 10, 12, 34, 56, tzinfo=UTC)),
    ("刚刚", sh(2025, 6, 15, 0, 30)),
    ("30秒前", sh(2025, 6, 15, 0, 29, 30)),
    ("5分钟前", sh(2025, 6, 15, 0, 25)),
    ("3小时前", sh(2025, 6, 14, 21, 30)),
    ("2天前", sh(2025, 6, 13, 0, 30)),
    ("今天 00:10", sh(2025, 6, 15, 0, 10)),
    ("昨天 12:00", sh(2025, 6, 14, 12, 0)),
    ("昨天  08:05", sh(2025, 6, 14, 8, 5)),
    ("前天 23:59", sh(2025, 6, 13, 23, 59)),
    ("06-14", sh(2025, 6, 14)),
    ("06-14 18:20", sh(2025, 6, 14, 18, 20)),
    ("12-31", sh(2024, 12, 31)),  # a day after the crawl day is last year's
    ("2024-06-14", sh(2024, 6, 14)),
    ("2024-06-14 09:08", sh(2024, 6, 14, 9, 8)),
    ("2024-06-14 09:08:07", sh(2024, 6, 14, 9, 8, 7)),
])
def test_every_form_resolves_in_shanghai(text, expected):
    result = parse_weibo_time(text, CRAWL)
    assert result == expected
    assert result.tzinfo is UTC


def test_crawl_time_in_utc_gives_the_same_answer():
    assert parse_weibo_time("昨天 12:00", CRAWL.astimezone(UTC)) == sh(2025, 6, 14, 12, 0)
    assert parse_weibo_time("06-15", CRAWL.astimezone(UTC)) == sh(2025, 6, 15)


def test_new_year_month_day_rolls_back_a_year():
    jan2 = datetime(2026, 1, 2, 9, 0, tzinfo=SH)
    assert parse_weibo_time("12-30", jan2) == sh(2025, 12, 30)
    assert parse_weibo_time("01-02", jan2) == sh(2026, 1, 2)


@pytest.mark.parametrize("text", ["上周三", "06/14", "13-45", "今天 25:00", "Sat Foo 14 12:00:00 +0800 2025",
                                  ""])
def test_unknown_or_impossible_forms_name_the_value(text):
    with pytest.raises(LayoutChanged, match="weibo time"):
        parse_weibo_time(text, CRAWL)


def test_naive_crawl_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_weibo_time("刚刚", datetime(2025, 6, 15))


@pytest.mark.parametrize("text, expected", [
    ("Sat Jun 14 12:00:00 +0800 2025", "second"), ("刚刚", "second"), ("5分钟前", "minute"),
    ("3小时前", "minute"), ("2天前", "day"), ("昨天 12:00", "minute"), ("06-14", "day"),
    ("06-14 18:20", "minute"), ("2024-06-14", "day"), ("2024-06-14 09:08:07", "second"),
])
def test_precision(text, expected):
    assert precision(text) == expected
