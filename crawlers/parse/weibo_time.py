"""Weibo time strings → tz-aware UTC datetimes, resolved against the crawl time.

m.weibo.cn writes a post's `created_at` the way its app shows it, so one crawl sees every form:

=========================================  ==================================================
``Sat Jun 14 12:00:00 +0800 2025``         absolute (RFC-2822-like, what the API used to send)
``刚刚``                                   the crawl time itself
``30秒前`` ``5分钟前`` ``3小时前`` ``2天前``  crawl time minus that much
``今天 12:00`` ``昨天 08:30`` ``前天 23:59``  that wall-clock time, 0/1/2 days before the crawl day
``06-14`` ``06-14 12:00``                  this year; last year when that day is after the crawl day
``2024-06-14`` ``2024-06-14 12:00[:00]``   absolute, Asia/Shanghai
=========================================  ==================================================

Everything relative is read in Asia/Shanghai (the site's clock), whatever the crawler's timezone.
A date without a time means its midnight; `precision()` says how precise a string is, so a spider
can keep that in `meta`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from crawlers.parse.errors import LayoutChanged

SITE_TZ = ZoneInfo("Asia/Shanghai")

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_FULL = re.compile(
    r"^(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2}):?(\d{2}) (\d{4})$")
_AGO = re.compile(r"^(\d+)\s*(秒|分钟|小时|天)前$")
_AGO_UNIT = {"秒": "seconds", "分钟": "minutes", "小时": "hours", "天": "days"}
_DAY_WORD = re.compile(r"^(今天|昨天|前天)\s*(\d{1,2}):(\d{2})$")
_DAY_OFFSET = {"今天": 0, "昨天": 1, "前天": 2}
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_weibo_time(value: str, crawl_time: datetime) -> datetime:
    """`value` (any form in the module docstring) as UTC. `crawl_time` must be tz-aware.

    An unknown form raises `LayoutChanged` naming the value: Weibo changed how it writes times."""
    if crawl_time.tzinfo is None:
        raise ValueError("crawl_time must be timezone-aware")
    text = " ".join(str(value).split())
    now = crawl_time.astimezone(SITE_TZ)
    try:
        result = _parse(text, now)
    except ValueError as exc:  # a matched shape with impossible numbers ("13-45", "25:00")
        raise LayoutChanged(f"weibo time {value!r}: {exc}") from exc
    if result is None:
        raise LayoutChanged(f"weibo time {value!r} is in no known form")
    return result.astimezone(UTC)


def precision(value: str) -> str:
    """"second", "minute" or "day": how precise a Weibo time string is."""
    text = " ".join(str(value).split())
    if _FULL.match(text) or text == "刚刚":
        return "second"
    if m := _AGO.match(text):
        return {"秒": "second", "分钟": "minute", "小时": "minute", "天": "day"}[m.group(2)]
    if m := _YMD.match(text):
        return "day" if m.group(4) is None else ("second" if m.group(6) else "minute")
    if m := _MONTH_DAY.match(text):
        return "day" if m.group(3) is None else "minute"
    return "minute"


def _parse(text: str, now: datetime) -> datetime | None:
    if m := _FULL.match(text):
        month = _MONTHS.get(m.group(1))
        if month is None:
            raise ValueError(f"unknown month {m.group(1)!r}")
        sign = 1 if m.group(6) == "+" else -1
        offset = timedelta(hours=int(m.group(7)), minutes=int(m.group(8))) * sign
        return datetime(int(m.group(9)), month, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                        int(m.group(5)), tzinfo=timezone(offset))
    if text == "刚刚":
        return now
    if m := _AGO.match(text):
        return now - timedelta(**{_AGO_UNIT[m.group(2)]: int(m.group(1))})
    if m := _DAY_WORD.match(text):
        day = now.date() - timedelta(days=_DAY_OFFSET[m.group(1)])
        return _at(day, int(m.group(2)), int(m.group(3)))
    if m := _MONTH_DAY.match(text):
        day = date(now.year, int(m.group(1)), int(m.group(2)))
        if day > now.date():  # "12-31" read on 2 January is last year's
            day = date(now.year - 1, day.month, day.day)
        return _at(day, int(m.group(3) or 0), int(m.group(4) or 0))
    if m := _YMD.match(text):
        day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return _at(day, int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0))
    return None


def _at(day: date, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SITE_TZ)
