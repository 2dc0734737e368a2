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
exactly what must not read as a silence). With them left out, the trailing part looks back up to
TRAILING_REACH x `days` days for its `days` covered days, so the day after a week-long holiday
rests on the working days before it rather than on one seasonal window.

Past incidents (with `robust`): a history window whose count is an outlier against the other
windows of its part (seasonal or trailing) is an earlier incident, not the group's normal level, and
is replaced by the mean of the part's ordinary windows, as surveillance systems reweight past
outbreaks (Farrington et al. 1996). Without it, a card outage on Thursday at 10:00 raises every
later 10:00 baseline of 信用卡 for a week, and the next outage that week is judged against the
first. A window is an outlier when it is at least OUTLIER_RATIO times the mean of the others
(floored at OUTLIER_FLOOR) and its predictive tail against them is at most OUTLIER_P; a part needs
OUTLIER_MIN_WINDOWS windows to tell one out. The rules that test for a rise use it;
`source_silent` does not (it asks whether a source went quiet, and an earlier burst there only makes
its expectation safer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alerts.stats.tails import predictive_sf
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
    outliers: dict[str, int] = field(default_factory=dict)  # key -> history windows replaced (robust)

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
                      skip_quiet_days: bool = False, robust: bool = False) -> Baseline | None:
    """The blended baseline for the window [start, end), per group key (see the module docstring).

    `skip_quiet_days` leaves out history days whose whole volume (all records) is below
    QUIET_SHARE of the upper-quartile covered day: a week-long holiday at a third of the usual volume
    would otherwise make the first working day after it look like a spike everywhere.
    `robust` replaces the history windows that were incidents themselves (see the module docstring)."""
    window = end - start
    # with quiet days left out, the trailing part reaches back up to TRAILING_REACH x `days` for its
    # `days` covered days: the first working day after a week-long holiday is compared with the
    # working days before it, not with one seasonal window
    reach = days * (TRAILING_REACH if skip_quiet_days else 1)
    history_start = min(start - weeks * WEEK, start - reach * DAY) - DAY
    covered_days = _days_with_data(store, history_start, start, skip_quiet_days)
    keys: dict[str, dict[str, str]] = {}

    seasonal_rows: list[dict[str, float]] = []  # one per covered week: key -> count
    for k in range(1, weeks + 1):
        week_start = start - k * WEEK
        if not _covered(week_start, week_start + window, covered_days):
            continue
        seasonal_rows.append(_add(store.counts(week_start, week_start + window, None, group_by, filters),
                                  keys))
    weeks_with_data = len(seasonal_rows)

    trailing_rows: list[dict[str, float]] = []  # one per covered trailing day
    if days:
        # The same time of day on each of the trailing days: a flat mean over whole days would put
        # the busy afternoon into the 01:00 baseline and hide a night-time spike.
        step = max(1, math.ceil(window / DAY))  # a window longer than a day: whole, disjoint copies
        wanted = len(range(step, days + 1, step))
        for d in range(step, reach + 1, step):
            if len(trailing_rows) >= wanted:
                break
            day_start = start - d * DAY
            if not _covered(day_start, day_start + window, covered_days):
                continue
            trailing_rows.append(_add(store.counts(day_start, day_start + window, None, group_by,
                                                   filters), keys))
    trailing_windows = float(len(trailing_rows))

    if not weeks_with_data and trailing_windows < 1:
        return None
    outliers: dict[str, int] = {}
    seasonal = _means(seasonal_rows, keys, outliers if robust else None)
    trailing = _means(trailing_rows, keys, outliers if robust else None)
    result = Baseline({}, seasonal, trailing, weeks_with_data, weeks, trailing_windows, keys)
    w = result.weight
    expected = {key: w * seasonal.get(key, 0.0) + (1 - w) * trailing.get(key, 0.0) for key in keys}
    return Baseline(expected, seasonal, trailing, weeks_with_data, weeks, trailing_windows, keys, outliers)


OUTLIER_RATIO = 3.0
OUTLIER_P = 1e-3
OUTLIER_FLOOR = 0.5
OUTLIER_MIN_WINDOWS = 3


def _means(rows: list[dict[str, float]], keys: dict[str, dict[str, str]],
           outliers: dict[str, int] | None) -> dict[str, float]:
    """Each key's mean over the windows of one part; with `outliers` (robust), windows that stand
    out from the others are first replaced by the mean of the ordinary ones, and counted there."""
    if not rows:
        return {}
    n = len(rows)
    means: dict[str, float] = {}
    for key in keys:
        counts = [row.get(key, 0.0) for row in rows]
        total = sum(counts)
        if outliers is not None and n >= OUTLIER_MIN_WINDOWS and total:
            odd = [i for i, c in enumerate(counts) if _stands_out(c, (total - c) / (n - 1), n - 1)]
            if odd and len(odd) < n:
                ordinary = [c for i, c in enumerate(counts) if i not in odd]
                typical = sum(ordinary) / len(ordinary)
                counts = [typical if i in odd else c for i, c in enumerate(counts)]
                outliers[key] = outliers.get(key, 0) + len(odd)
        means[key] = sum(counts) / n
    return means


def _stands_out(count: float, others: float, windows: int) -> bool:
    lam = max(others, OUTLIER_FLOOR)
    return count >= OUTLIER_RATIO * lam and predictive_sf(int(count), lam, windows) <= OUTLIER_P


def _add(rows: list[CountRow], keys: dict[str, dict[str, str]]) -> dict[str, float]:
    """One window's counts by key string, noting every key seen."""
    counts: dict[str, float] = {}
    for row in rows:
        key = row.key_str()
        keys.setdefault(key, dict(row.key))
        counts[key] = counts.get(key, 0.0) + row.count
    return counts


def _covered(start: datetime, end: datetime, days: set[datetime]) -> bool:
    """Whether the window's first and last day are both covered days (a window across midnight
    into a quiet day is not comparable either)."""
    return _day_start(start) in days and _day_start(end - timedelta(microseconds=1)) in days


def _day_start(moment: datetime) -> datetime:
    """Start of the display-timezone day holding `moment`, in UTC (the store's day buckets)."""
    local = moment.astimezone(display_tz())
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


QUIET_SHARE = 0.5
TRAILING_REACH = 2  # how far back (x `days`) the trailing part looks for covered days past quiet ones
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
