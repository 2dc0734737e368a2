"""`negative_share` on a real SQLite store: exact binomial tail, min_total floor, per-group Bonferroni,
the share series (`binom_sf` itself: tests/alerts/stats/test_tails.py)."""

from __future__ import annotations

import pytest
from support.alerts import HOUR, NOW, fill, record, spread

from alerts import build_rule
from alerts.stats.tails import binom_sf


def rule(**options):
    return build_rule({"name": "share", "type": "negative_share", "baseline_days": 3, **options})


def history(store, negatives=10, others=40, source="appstore", days=3):
    """`negatives` + `others` records in every hour of the `days` days before the window."""
    batch = []
    for h in range(1, days * 24 + 1):
        start = NOW - HOUR - h * HOUR
        batch += spread(start, negatives, source=source)
        batch += spread(start, others, label="neutral", source=source)
    fill(store, batch)


def test_fires_on_a_share_shift_at_steady_volume(store):
    history(store)
    fill(store, [*spread(NOW - HOUR, 25), *spread(NOW - HOUR, 25, label="neutral")])
    [alert] = rule().evaluate(store, NOW)
    base = (3 * 24 * 10 + 0.5) / (3 * 24 * 50 + 1)
    assert alert.key == "" and alert.count == 25
    assert alert.details["share"] == 0.5 and alert.details["baseline_share"] == pytest.approx(base)
    assert alert.p_value == pytest.approx(binom_sf(25, 50, base))
    assert alert.baseline == pytest.approx(50 * base)
    assert alert.title == "全部 负面占比 50%（25/50，1 小时），基线 20%"
    assert len(alert.samples) == 5 and all(s.negative for s in alert.samples)
    series = alert.details["series"]
    assert len(series) == 48 and series[-1]["count"] == 25
    assert series[-1]["baseline"] == pytest.approx(50 * base, abs=1e-3)  # the hour's volume x share
    assert series[-2]["count"] == 10


def test_steady_share_does_not_fire_even_when_volume_doubles(store):
    history(store)
    fill(store, [*spread(NOW - HOUR, 22), *spread(NOW - HOUR, 78, label="neutral")])
    assert rule().evaluate(store, NOW) == []


def test_min_total_floor_and_unclassified_records(store):
    history(store)
    window = [*spread(NOW - HOUR, 8), *spread(NOW - HOUR, 2, label="neutral")]
    unclassified = [r.with_(sentiment=None) for r in spread(NOW - HOUR, 40, label="neutral")]
    fill(store, [*window, *unclassified])
    assert rule().evaluate(store, NOW) == []  # 10 classified < min_total 30
    [alert] = rule(min_total=10).evaluate(store, NOW)
    assert alert.details["total"] == 10


def test_ratio_guard(store):
    history(store)
    fill(store, [*spread(NOW - HOUR, 130), *spread(NOW - HOUR, 370, label="neutral")])  # 26 %: p ~ 1e-4
    assert rule().evaluate(store, NOW) == []
    assert len(rule(min_ratio=1.2).evaluate(store, NOW)) == 1


def test_group_by_source_corrects_for_groups(store):
    history(store, source="appstore")
    history(store, source="weibo")
    fill(store, [*spread(NOW - HOUR, 10, source="appstore"),
                 *spread(NOW - HOUR, 40, label="neutral", source="appstore"),
                 *spread(NOW - HOUR, 18, source="weibo"),
                 *spread(NOW - HOUR, 32, label="neutral", source="weibo")])
    # 18 of 50 at a 20 % baseline: p ~ 0.0063, below alpha = 0.01 but above alpha / 2
    assert 0.005 < binom_sf(18, 50, (720.5) / 3601) < 0.01
    assert rule(group_by=["source"]).evaluate(store, NOW) == []
    [alone] = rule(group_by=["source"], sources=["weibo"]).evaluate(store, NOW)
    assert alone.key == "source=weibo" and alone.details["groups_tested"] == 1
    assert all(s.source == "weibo" for s in alone.samples)
    fill(store, spread(NOW - HOUR, 4, source="weibo"))  # 22 of 54: clear of the corrected level
    alerts = rule(group_by=["source"]).evaluate(store, NOW)
    assert [a.key for a in alerts] == ["source=weibo"] and alerts[0].details["groups_tested"] == 2


def test_no_history_no_alert(store):
    fill(store, [*spread(NOW - HOUR, 40), *record_list()])
    assert rule().evaluate(store, NOW) == []


def record_list():
    return [record(NOW - HOUR / 2, label="neutral") for _ in range(5)]


def test_windows_that_vary_more_than_chance_need_a_larger_shift(store):
    """The same hour (20 of 40 negative against a 20 % baseline) fires after a steady history, but
    not after one whose hours swing between 5 % and 35 % negative: the test divides both counts
    by the history's own dispersion."""
    def window():
        fill(store, spread(NOW - HOUR, 20) + spread(NOW - HOUR, 20, label="neutral"))

    history(store, negatives=8, others=32)  # 20 % every hour
    window()
    [alert] = rule().evaluate(store, NOW)
    assert alert.details["dispersion"] == pytest.approx(1.0)


def test_overdispersed_history_holds_back_the_same_shift(tmp_path):
    from indexer.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "swing.db")
    batch = []
    for h in range(1, 3 * 24 + 1):  # the same 20 % on average, but 5 % and 35 % hours in turn
        start = NOW - HOUR - h * HOUR
        negatives = 2 if h % 2 else 14
        batch += spread(start, negatives) + spread(start, 40 - negatives, label="neutral")
    fill(store, batch)
    fill(store, spread(NOW - HOUR, 20) + spread(NOW - HOUR, 20, label="neutral"))
    assert rule().evaluate(store, NOW) == []
    store.close()


def test_a_few_past_incident_hours_do_not_make_the_history_look_noisy(store):
    """Steady 20 % hours, six of them an earlier 60 % shift: the dispersion stays ~1 (a median,
    where a mean of the chi-squares would say 3.4 and hold today's shift back)."""
    batch = []
    for h in range(1, 3 * 24 + 1):
        start = NOW - HOUR - h * HOUR
        negatives = 24 if 30 <= h < 36 else 8
        batch += spread(start, negatives) + spread(start, 40 - negatives, label="neutral")
    fill(store, batch)
    fill(store, spread(NOW - HOUR, 20) + spread(NOW - HOUR, 20, label="neutral"))
    [alert] = rule().evaluate(store, NOW)
    assert alert.details["dispersion"] < 1.5


def test_checked_every_five_minutes_the_share_test_counts_its_new_alarms(store):
    from alerts.stats.tails import looks

    history(store)
    fill(store, [*spread(NOW - HOUR, 25), *spread(NOW - HOUR, 25, label="neutral")])
    [once] = rule().evaluate(store, NOW)
    [often] = rule(check_every="5m").evaluate(store, NOW)
    base = once.details["baseline_share"]
    assert often.p_value == pytest.approx(once.p_value * looks(25, 50 * base, 12))
    assert often.details["looks"] > 1.0 == once.details["looks"]
    assert rule(alpha=once.p_value * 1.5, check_every="5m").evaluate(store, NOW) == []
