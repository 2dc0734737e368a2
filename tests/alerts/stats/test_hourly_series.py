"""`alerts.series`: the 48-hour chart series every alert carries (one counts call, seasonal baseline)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.alerts import HOUR, NOW, fill, hourly_history, spread

from alerts import build_rule
from alerts.stats.series import hourly_series
from indexer.store import Filters

NEG = Filters(sentiment=("negative",))


def test_hourly_series_same_hour_of_week_baseline(store):
    fill(store, hourly_history(NOW - HOUR, 15 * 24, 2))
    fill(store, spread(NOW - HOUR - 7 * 24 * HOUR, 6))  # one week ago, the window's hour: 8 that hour
    fill(store, spread(NOW - HOUR, 30))
    series = hourly_series(store, NOW, NEG)
    assert len(series) == 48
    assert series[-1]["t"] == "2024-05-06T01:00:00+00:00"
    assert series[-1]["count"] == 30
    assert series[-1]["baseline"] == pytest.approx((8 + 2) / 2)  # mean of the two weeks before
    assert series[-2]["count"] == 2 and series[-2]["baseline"] == pytest.approx(2.0)
    times = [p["t"] for p in series]
    assert times == sorted(times) and len(set(times)) == 48


def test_hourly_series_partial_hour_and_young_history(store):
    fill(store, hourly_history(NOW - HOUR, 3 * 24, 4))  # three days: no week back, daily fallback
    now = NOW + timedelta(minutes=45)
    fill(store, spread(NOW, 3))
    series = hourly_series(store, now, NEG)
    assert series[-1]["t"] == "2024-05-06T02:00:00+00:00" and series[-1]["count"] == 3
    assert series[-1]["baseline"] == pytest.approx(4 * 0.75)  # three quarters of the hour passed
    assert series[-3]["baseline"] == pytest.approx(4.0)


def test_negative_spike_alert_carries_the_series(store):
    fill(store, hourly_history(NOW - HOUR, 28 * 24, 4))
    fill(store, spread(NOW - HOUR, 37))
    rule = build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"]})
    [alert] = rule.evaluate(store, NOW)
    series = alert.details["series"]
    assert len(series) == 48 and series[-1]["count"] == 37 and series[-1]["baseline"] == pytest.approx(4.0)
