"""Working-hour deadlines over real Chinese calendars (chinesecalendar): 国庆 2025 (1-8 October off,
Sunday 28 September and Saturday 11 October make-up working days) and 国庆 2026 (1-7 October off,
Saturday 10 October a make-up working day)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from care.sla import WorkingCalendar, is_working_day, parse_spans

TZ = ZoneInfo("Asia/Shanghai")
DAY = ("09:00-12:00", "13:00-17:00")  # 7 working hours a day


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def test_the_calendar_knows_golden_week_and_make_up_days() -> None:
    assert not is_working_day(at("2025-10-03").date())  # a Friday inside 国庆
    assert is_working_day(at("2025-10-11").date())  # Saturday, 调休 make-up working day
    assert is_working_day(at("2025-09-28").date())  # Sunday, make-up working day
    assert not is_working_day(at("2025-10-12").date())  # an ordinary Sunday
    assert not is_working_day(at("2026-10-07").date()) and is_working_day(at("2026-10-10").date())


def test_a_deadline_skips_national_day_2025() -> None:
    calendar = WorkingCalendar(DAY, TZ)
    # Tuesday 30 Sep 2025, 16:00: one working hour left that day, then 1-8 October are holidays
    # (Wednesday to Wednesday); Thursday 9 October is the next working day.
    due = calendar.add(at("2025-09-30 16:00"), 4)
    assert due == at("2025-10-09 12:00")
    assert calendar.between(at("2025-09-30 16:00"), due) == pytest.approx(4)
    # a case opened during the holiday starts counting on the first working morning
    assert calendar.add(at("2025-10-04 10:00"), 1) == at("2025-10-09 10:00")


def test_a_make_up_saturday_counts_and_an_ordinary_one_does_not() -> None:
    calendar = WorkingCalendar(DAY, TZ)
    # Friday 10 Oct 2025 16:00 + 4 h: 1 h on Friday, 3 h on Saturday the 11th (调休 working day)
    assert calendar.add(at("2025-10-10 16:00"), 4) == at("2025-10-11 12:00")
    # Friday 17 Oct 2025 16:00 + 4 h: Saturday 18 and Sunday 19 are off, so Monday 20
    assert calendar.add(at("2025-10-17 16:00"), 4) == at("2025-10-20 12:00")
    # 2026: Saturday 10 October is a make-up working day after 国庆 (1-7 October)
    assert calendar.add(at("2026-09-30 16:00"), 6) == at("2026-10-08 15:00")
    assert calendar.add(at("2026-10-09 17:00"), 2) == at("2026-10-10 11:00")


def test_lunch_and_evenings_do_not_count() -> None:
    calendar = WorkingCalendar(DAY, TZ)
    assert calendar.add(at("2025-11-03 11:30"), 1) == at("2025-11-03 13:30")  # a Monday
    assert calendar.add(at("2025-11-03 20:00"), 0.5) == at("2025-11-04 09:30")
    assert calendar.between(at("2025-11-03 08:00"), at("2025-11-04 08:00")) == pytest.approx(7)
    assert calendar.hours_per_day == 7
    # the result keeps the caller's timezone
    assert calendar.add(at("2025-11-03 09:00").astimezone(UTC), 1).tzinfo is UTC


def test_bad_working_hours_are_refused() -> None:
    for spans in ((), ("9-5",), ("13:00-12:00",), ("09:00-13:00", "12:00-17:00")):
        with pytest.raises(ValueError):
            parse_spans(spans)
