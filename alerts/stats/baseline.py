"""Seasonal baselines: what a window's count "normally" is, per group key.

The expectation for the window [start, end) is the mean count of the same hour-of-week window over
the last `weeks` weeks (daily and weekly seasonality: Monday 9:00 is not Sunday 3:00), blended with
the mean of the same window at the same time of day on each of the trailing `days` days (daily
seasonality only) while history is short:

    baseline = w * seasonal + (1 - w) * trailing,   w = weeks with data / weeks

A week "has data" when the store holds any record at all (unfiltered) on the display-timezone days that
week's window starts and ends in, so a quiet group in a running system counts as a real zero while days
before the system ran do not; the trailing mean likewise uses the covered days only. With no
covered week and no covered trailing day there is no baseline (None): a rule must not fire on an
empty history.

Quiet days (holidays, outages): with `skip_quiet_days`, a history day whose total volume is under
half the median day's is not a comparable day and is left out of both parts, as if the system had
not run then; the level rules use this, `source_silent` does not (there a holiday's low volume is
exactly what must not read as a silence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.record import display_tz
from indexer.store import CountRow, FeedbackStore, Filters

WEEK = timedelta(days=7)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Baseline:
    expected: dict[str, float]  # group key string -> expected count in one window
    seasonal: dict[str, float] = field(default_factory=dict)
    trailing: dict[str, float] = field(default_factory=dict)
    weeks_with_data: int = 0
    weeks: int = 0
    trailing_windows: float = 0.0  # how many windows of data the trailing mean rests on
    keys: dict[str, dict[str, str]] = field(default_factory=dict)  # every key seen in the baseline

    @property
    def weight(self) -> float:
        """The seasonal part's share of the blend."""
        if not self.weeks_with_data:
            return 0.0
        if self.trailing_windows < 1:
            return 1.0
        return self.weeks_with_data / self.weeks

    @property
    def windows(self) -> float:
        """How many past windows the expectation rests on (for a predictive test: one or two
        windows estimate a mean poorly)."""
        w = self.weight
        if w >= 1.0:
            return float(self.weeks_with_data)
        if w <= 0.0:
            return self.trailing_windows
        return self.weeks_with_data + self.trailing_windows

    def get(self, key: str) -> float:
        return self.expected.get(key, 0.0)


def seasonal_baseline(store: FeedbackStore, start: datetime, end: datetime, group_by: tuple[str, ...],
                      filters: Filters, weeks: int, days: int,
                      skip_quiet_days: bool = False) -> Baseline | None:
    """The blended baseline for the window [start, end), per group key (see the module docstring).

    `skip_quiet_days` leaves out history days whose whole volume (all records) is below
    QUIET_SHARE of the upper-quartile covered day: a week-long holiday at a third of the usual volume
    would otherwise make the first working day after it look like a spike everywhere."""
    window = end - start
    history_start = min(start - weeks * WEEK, start - days * DAY) - DAY
    covered_days = _days_with_data(store, history_start, start, skip_quiet_days)
    keys: dict[str, dict[str, str]] = {}

    seasonal_total: dict[str, float] = {}
    weeks_with_data = 0
    for k in range(1, weeks + 1):
        week_start = start - k * WEEK
        if not _covered(week_start, week_start + window, covered_days):
            continue
        weeks_with_data += 1
        _add(seasonal_total, store.counts(week_start, week_start + window, None, group_by, filters), keys)
    seasonal = {key: total / weeks_with_data for key, total in seasonal_total.items()} \
        if weeks_with_data else {}

    trailing: dict[str, float] = {}
    trailing_windows = 0.0
    if days:
        # The same time of day on each of the trailing days: a flat mean over whole days would put
        # the busy afternoon into the 01:00 baseline and hide a night-time spike.
        totals: dict[str, float] = {}
        step = max(1, math.ceil(window / DAY))  # a window longer than a day: whole, disjoint copies
        for d in range(step, days + 1, step):
            day_start = start - d * DAY
            if not _covered(day_start, day_start + window, covered_days):
                continue
            trailing_windows += 1
            _add(totals, store.counts(day_start, day_start + window, None, group_by, filters), keys)
        if trailing_windows >= 1:
            trailing = {key: total / trailing_windows for key, total in totals.items()}

    if not weeks_with_data and trailing_windows < 1:
        return None
    result = Baseline({}, seasonal, trailing, weeks_with_data, weeks, trailing_windows, keys)
    w = result.weight
    expected = {key: w * seasonal.get(key, 0.0) + (1 - w) * trailing.get(key, 0.0) for key in keys}
    return Baseline(expected, seasonal, trailing, weeks_with_data, weeks, trailing_windows, keys)


def _add(totals: dict[str, float], rows: list[CountRow], keys: dict[str, dict[str, str]]) -> None:
    for row in rows:
        key = row.key_str()
        keys.setdefault(key, dict(row.key))
        totals[key] = totals.get(key, 0.0) + row.count


def _covered(start: datetime, end: datetime, days: set[datetime]) -> bool:
    """Whether the window's first and last day are both covered days (a window across midnight
    into a quiet day is not comparable either)."""
    return _day_start(start) in days and _day_start(end - timedelta(microseconds=1)) in days


def _day_start(moment: datetime) -> datetime:
    """Start of the display-timezone day holding `moment`, in UTC (the store's day buckets)."""
    local = moment.astimezone(display_tz())
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


QUIET_SHARE = 0.5
MIN_DAYS_FOR_QUIET = 5  # fewer covered days give no stable median


def _days_with_data(store: FeedbackStore, start: datetime, end: datetime,
                    skip_quiet: bool = False) -> set[datetime]:
    rows = store.counts(_day_start(start), end, DAY, (), Filters())
    volume = {_day_start(row.bucket): row.count for row in rows if row.count > 0}
    whole = sorted(n for day, n in volume.items() if day + DAY <= end)  # not the day in progress
    if skip_quiet and len(whole) >= MIN_DAYS_FOR_QUIET:
        floor = QUIET_SHARE * whole[(3 * len(whole)) // 4]  # the upper quartile: a long holiday
        # may fill half of a short history
        return {day for day, n in volume.items() if n >= floor or day + DAY > end}
    return set(volume)
