"""`source_silent` on a real SQLite store: silence against the seasonal baseline, crawl_health
statuses, the operators' audience."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.alerts import HOUR, NOW, fill, spread

from alerts import RuleConfigError, build_rule

DAYS3 = 3 * 24


def rule(**options):
    return build_rule({"name": "silent", "type": "source_silent", **options})


def history(store, source, per_hour, hours=DAYS3 + 10, quiet_last=0):
    """`per_hour` records from `source` every hour since Friday 00:00 (whole days, so the trailing
    mean is exact), except the last `quiet_last` hours before NOW."""
    batch = []
    for h in range(quiet_last + 1, hours + 1):
        batch += spread(NOW - h * HOUR, per_hour, label="neutral", source=source)
    fill(store, batch)


def health(store, spider, status, finished, sources=None, reason="HTTP 403"):
    store.put_state("crawl_health", spider, {
        "spider": spider, "sources": sources if sources is not None else [spider], "status": status,
        "reason": reason, "started_at": (finished - 5 * timedelta(minutes=1)).isoformat(),
        "finished_at": finished.isoformat(), "pages": 3, "items": 0, "new": 0, "updated": 0,
        "duplicates": 0, "dropped": 0})


def test_a_busy_source_gone_quiet_fires_for_operators(store):
    history(store, "weibo", 6, quiet_last=3)
    history(store, "appstore", 6)
    history(store, "rss:caixin", 1, quiet_last=3)  # expects 3 in 3 h: below min_expected
    [alert] = rule().evaluate(store, NOW)
    assert alert.key == "source=weibo" and alert.group == {"source": "weibo"}
    assert alert.severity == "warning" and alert.details["audience"] == "operators"
    assert alert.count == 0 and alert.baseline == pytest.approx(18.0)
    assert alert.details["silent"] is True and alert.details["crawl_health"] is None
    assert alert.title == "来源 weibo 3 小时无新数据，基线 18 条"
    series = alert.details["series"]
    assert len(series) == 48 and [p["count"] for p in series[-3:]] == [0, 0, 0]
    assert series[-4]["count"] == 6


def test_not_silent_when_the_window_has_a_record(store):
    history(store, "weibo", 6, quiet_last=3)
    fill(store, spread(NOW - HOUR, 1, source="weibo"))
    assert rule().evaluate(store, NOW) == []
    assert len(rule(window="30m", min_expected=2.0).evaluate(store, NOW + HOUR)) == 1


def test_blocked_crawl_fires_even_with_recent_data(store):
    history(store, "appstore", 6)
    history(store, "weibo", 6)
    health(store, "weibo", "blocked", NOW - 10 * timedelta(minutes=1), sources=["weibo"])
    health(store, "site:forum", "layout_changed", NOW - HOUR, sources=["site:forum", "site:forum2"],
           reason="no items matched")
    health(store, "appstore", "ok", NOW - HOUR)
    alerts = rule(audience="ops-oncall").evaluate(store, NOW)
    assert [a.key for a in alerts] == ["source=site:forum", "source=site:forum2", "source=weibo"]
    weibo = alerts[-1]
    assert weibo.count > 0 and weibo.details["silent"] is False
    assert weibo.details["crawl_health"]["status"] == "blocked" and weibo.details["audience"] == "ops-oncall"
    assert weibo.title == "来源 weibo 抓取被封禁（HTTP 403）"
    assert alerts[0].title == "来源 site:forum 抓取页面结构变化（no items matched）"


def test_blocked_and_silent_is_one_alert(store):
    history(store, "weibo", 6, quiet_last=4)
    health(store, "weibo", "blocked", NOW - 2 * HOUR)
    [alert] = rule().evaluate(store, NOW)
    assert alert.details["silent"] and alert.details["crawl_health"]["spider"] == "weibo"
    assert alert.title == "来源 weibo 抓取被封禁（HTTP 403），3 小时无新数据，基线 18 条"


def test_health_documents_out_of_time_or_filtered_are_ignored(store):
    history(store, "appstore", 6)
    health(store, "weibo", "blocked", NOW + HOUR)  # after `now`: a replay of the past
    health(store, "tousu", "blocked", NOW - 4 * timedelta(days=1))  # older than health_max_age
    health(store, "rss", "failed", NOW - HOUR, sources=["rss:caixin"])  # not a status that fires
    assert rule().evaluate(store, NOW) == []
    assert [a.key for a in rule(statuses=["failed"]).evaluate(store, NOW)] == ["source=rss:caixin"]
    health(store, "weibo", "blocked", NOW - HOUR)
    assert rule(ignore_sources=["weibo"]).evaluate(store, NOW) == []
    assert rule(sources=["appstore"]).evaluate(store, NOW) == []


def test_no_history_no_silence_alert(store):
    assert rule().evaluate(store, NOW) == []


def test_options_are_validated():
    with pytest.raises(RuleConfigError, match=r"\[silent\]\.min_expected"):
        rule(min_expected=0)
    with pytest.raises(RuleConfigError, match=r"\[silent\]\.audience"):
        rule(audience=["ops"])


def test_a_holiday_low_volume_is_not_read_as_a_silence(store):
    """Weeks ago the source gave 6 an hour; the last week (a holiday) gives 1 an hour. Three silent
    hours now expect the lower, trailing figure (3), below min_expected: no alert. The same
    silence after a normal week fires."""
    batch = []
    for h in range(8 * 24, 15 * 24):   # the week before the holiday, 6 an hour
        batch += spread(NOW - h * HOUR, 6, label="neutral", source="weibo")
    for h in range(4, 8 * 24):         # the holiday week: 1 an hour, silent the last 3 h
        batch += spread(NOW - h * HOUR, 1, label="neutral", source="weibo")
    fill(store, batch)
    assert rule(baseline_weeks=2).evaluate(store, NOW) == []
    fill(store, [r for h in range(4, 8 * 24) for r in spread(NOW - h * HOUR, 5, label="neutral",
                                                               source="weibo")])
    [alert] = rule(baseline_weeks=2).evaluate(store, NOW)
    assert alert.key == "source=weibo" and alert.details["silent"]


def test_the_first_days_of_a_holiday_expect_the_holiday_level(store):
    """Two weeks at 6 an hour, then two days of a holiday at 1 an hour, silent the last 3 h. The
    trailing week still holds five normal days (it expects ~14 in 3 h), but the 24 h before the
    silence gave a sixth of their baseline: the expectation follows that level, below min_expected.
    Without the level (level_hours = 0) the same hours read as a silence."""
    batch = []
    for h in range(2 * 24, 16 * 24):
        batch += spread(NOW - h * HOUR, 6, label="neutral", source="weibo")
    for h in range(4, 2 * 24):
        batch += spread(NOW - h * HOUR, 1, label="neutral", source="weibo")
    fill(store, batch)
    assert rule(baseline_weeks=2, min_expected=8.0).evaluate(store, NOW) == []
    [alert] = rule(baseline_weeks=2, min_expected=8.0, level_hours=0).evaluate(store, NOW)
    assert alert.details["silent"] and alert.baseline > 12


def test_a_dead_source_stays_silent_at_the_level_it_had_before_it_died(store):
    """A source dead for 30 hours: the level is measured before its last record, so the
    expectation does not sink with the silence and the alert does not turn into a recovery."""
    history(store, "weibo", 6, hours=16 * 24, quiet_last=30)
    [alert] = rule(baseline_weeks=2, min_expected=8.0).evaluate(store, NOW)
    assert alert.details["silent"] and alert.details["level_ratio"] == 1.0
    assert alert.baseline > 8.0  # the trailing days' own dip (the 30 dead hours), not the level's
    assert alert.details["level_records"] == 24 * 6
