"""The 48-hour series every alert carries for its chart: hourly counts against a baseline.

`alert.details["series"]` is a list of `{"t": ISO-8601 UTC hour start, "count": int, "baseline":
float}`, oldest first, the last entry being the hour that holds `now` (counted so far, its baseline
scaled to the part of the hour that has passed). alerts/render/chart.py draws it.

Cheap by design: one `counts(interval=1h)` call over the 48 hours plus the lookback. The baseline
of an hour is the mean of the same hour of the week over the previous `weeks` weeks, or, where the
group has no data that far back, the mean of the same hour of the day over the previous `days`
days ("no data" = before the first hour in the lookback in which the group had any record, so a
young installation does not draw a baseline of zeros). `share_series` serves `negative_share`: its
baseline is the hour's classified volume times the baseline share.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from core.record import as_utc
from indexer.store import NONE_KEY, FeedbackStore, Filters

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
HOURS = 48


def _hours(now: datetime, hours: int) -> tuple[datetime, datetime, float]:
    """First hour start, last (current) hour start, and the fraction of the last hour passed."""
    end = as_utc(now)
    last = end.replace(minute=0, second=0, microsecond=0)
    fraction = (end - last) / HOUR
    if fraction == 0:  # `now` on the hour: the last full hour is the current one
        last -= HOUR
        fraction = 1.0
    return last - (hours - 1) * HOUR, last, fraction


def hourly_series(store: FeedbackStore, now: datetime, filters: Filters, hours: int = HOURS,
                  weeks: int = 2, days: int = 7) -> list[dict[str, Any]]:
    """Hourly counts of `filters` for the `hours` hours ending at `now`, with a seasonal baseline."""
    first, last, fraction = _hours(now, hours)
    lookback = max(weeks * WEEK, days * DAY)
    scope = replace(filters, since=None, until=None)
    rows = store.counts(first - lookback, as_utc(now), HOUR, (), scope)
    by_hour = {row.bucket: row.count for row in rows}
    earliest = min(by_hour) if by_hour else None
    series = []
    for i in range(hours):
        t = first + i * HOUR
        baseline = 0.0
        if earliest is not None:
            weekly = [by_hour.get(t - k * WEEK, 0) for k in range(1, weeks + 1) if t - k * WEEK >= earliest]
            daily = [by_hour.get(t - k * DAY, 0) for k in range(1, days + 1) if t - k * DAY >= earliest]
            past = weekly or daily
            baseline = sum(past) / len(past) if past else 0.0
        if t == last:
            baseline *= fraction
        series.append({"t": t.isoformat(), "count": by_hour.get(t, 0), "baseline": round(baseline, 3)})
    return series


def share_series(store: FeedbackStore, now: datetime, filters: Filters, share: float,
                 hours: int = HOURS) -> list[dict[str, Any]]:
    """Hourly negative counts of `filters` against `share` times each hour's classified volume."""
    first, _, _ = _hours(now, hours)
    scope = replace(filters, since=None, until=None, sentiment=())
    rows = store.counts(first, as_utc(now), HOUR, ("sentiment",), scope)
    negative: dict[datetime, int] = {}
    classified: dict[datetime, int] = {}
    for row in rows:
        label = row.key["sentiment"]
        if label == NONE_KEY:
            continue
        classified[row.bucket] = classified.get(row.bucket, 0) + row.count
        if label == "negative":
            negative[row.bucket] = row.count
    return [{"t": (t := first + i * HOUR).isoformat(), "count": negative.get(t, 0),
             "baseline": round(share * classified.get(t, 0), 3)} for i in range(hours)]
