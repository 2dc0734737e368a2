"""Working time for case deadlines: working hours on working days, Chinese holidays included.

    calendar = WorkingCalendar(("09:00-12:00", "13:00-17:00"), ZoneInfo("Asia/Shanghai"))
    due = calendar.add(opened_at, 8)            # 8 working hours after opened_at
    spent = calendar.between(opened_at, now)    # working hours between two times

Which days are working days comes from `chinesecalendar` (the State Council's yearly notice): a
public holiday such as 国庆 is not one even on a weekday, and a make-up working day (调休, e.g.
Saturday 2025-10-11) is one although it is a Saturday. `chinesecalendar` knows the years up to its
release; for a year it does not know yet, Monday to Friday are working days and a warning is
logged once per year (upgrade the package when the next year's notice is out).

Times are tz-aware; the working hours are read in the calendar's timezone (the display timezone).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

MAX_DAYS = 3660  # a deadline further than ten years away is a mistake, not a plan


def parse_spans(spans: Sequence[str]) -> tuple[tuple[time, time], ...]:
    """("09:00-12:00", "13:00-17:00") -> ((09:00, 12:00), (13:00, 17:00)); ValueError names the bad
    span (spans must be ordered and not overlap)."""
    out: list[tuple[time, time]] = []
    for span in spans:
        try:
            start_text, end_text = span.split("-")
            start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
        except ValueError as exc:
            raise ValueError(f"working hours {span!r}: use HH:MM-HH:MM") from exc
        if end <= start or (out and start < out[-1][1]):
            raise ValueError(f"working hours {span!r}: spans must be in order and must not overlap")
        out.append((start, end))
    if not out:
        raise ValueError("working hours: give at least one span such as 09:00-17:00")
    return tuple(out)


@lru_cache(maxsize=4096)
def is_working_day(day: date) -> bool:
    """A working day in mainland China: holidays off, make-up working days on (chinesecalendar)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package does not know yet
        _warn_unknown_year(day.year)
        return day.weekday() < 5


@lru_cache(maxsize=64)
def _warn_unknown_year(year: int) -> None:
    log.warning("sla year=%d unknown to chinesecalendar: Monday-Friday counted as working days", year)


class WorkingCalendar:
    """Working hours (`spans`, local times of day) on working days, in `tz`."""

    def __init__(self, spans: Sequence[str], tz: ZoneInfo) -> None:
        self.spans = parse_spans(spans)
        self.tz = tz

    @property
    def hours_per_day(self) -> float:
        return sum(_seconds(a, b) for a, b in self.spans) / 3600

    def _windows(self, day: date) -> list[tuple[datetime, datetime]]:
        if not is_working_day(day):
            return []
        return [(datetime.combine(day, a, self.tz), datetime.combine(day, b, self.tz)) for a, b in self.spans]

    def add(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` working hours after `start` (a deadline). 0 hours = the next working
        moment at or after `start`."""
        if hours < 0:
            raise ValueError(f"hours must be >= 0, got {hours}")
        left = timedelta(hours=hours)
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(MAX_DAYS):
            for begin, end in self._windows(day):
                begin = max(begin, local)
                if begin >= end:
                    continue
                if begin + left <= end:
                    return (begin + left).astimezone(start.tzinfo)
                left -= end - begin
            day += timedelta(days=1)
        raise ValueError(f"{hours} working hours from {start.isoformat()} is more than {MAX_DAYS} days away")

    def between(self, start: datetime, end: datetime) -> float:
        """Working hours in [start, end) (0 when end <= start)."""
        if end <= start:
            return 0.0
        a, b = start.astimezone(self.tz), end.astimezone(self.tz)
        total = timedelta(0)
        day = a.date()
        while day <= b.date():
            for begin, stop in self._windows(day):
                lo, hi = max(begin, a), min(stop, b)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600


def _seconds(a: time, b: time) -> float:
    return (datetime.combine(date.min, b) - datetime.combine(date.min, a)).total_seconds()
