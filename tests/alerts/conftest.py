"""Fixtures for the alerts tests (tests/alerts/ and every folder below it): a real SQLite store in
the test's tmp_path, an alert with hostile comment text as the email tests need it, and a day of
alert history for the digest tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.alerts import DAY, EVIL, EVIL_TITLE, HOUR, NOW, fill, hourly_history, record, series, spread

from alerts import Alert, OutboxNotifier, build_rule, run_rules
from indexer.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "voc.db")
    yield s
    s.close()


@pytest.fixture
def alert(store) -> Alert:
    """A negative_spike alert (38 vs 4) whose comments hold a script tag, an ampersand, a link with
    `&` and `<` in it, a javascript: link, and a cluster of 3; with a 48 h series for the chart."""
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 4))
    fill(store, spread(NOW - HOUR, 36))
    evil = record(NOW - HOUR / 4, text=EVIL, url="https://tousu.example/c/1?a=1&b=<2>")
    fill(store, [evil, record(NOW - HOUR / 5, text="看看 javascript 链接", url="javascript:alert(1)")])
    # two near-duplicates of the evil comment: counted once by the rule, shown as a cluster of 3
    fill(store, [record(NOW - HOUR / 6, text=EVIL + "!", duplicate_of=evil.id) for _ in range(2)])
    rule = build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"],
                       "baseline_weeks": 1, "samples": 40})
    [fired] = rule.evaluate(store, NOW)
    fired.details["series"] = series(store)
    return fired


@pytest.fixture
def day(store, tmp_path):
    """The store after a day (DAY) with one real alert check, two more history entries that day
    (one with a script tag in its title, one recovery) and one the day after."""
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 4))  # 4 negative 手机银行 records an hour
    fill(store, spread(NOW - HOUR, 37))
    fill(store, spread(DAY + 3 * HOUR, 5, topic="信用卡"))
    fill(store, spread(DAY - 5 * HOUR, 2, topic="信用卡"))
    rule = build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"], "baseline_weeks": 1})
    report = run_rules([rule], store, [OutboxNotifier(tmp_path / "outbox")], NOW)
    assert len(report.fired) == 1
    store.add_alert({"rule": "wealth", "key": "topic=理财", "severity": "critical", "kind": "alert",
                     "count": 12, "baseline": 1.5, "title": EVIL_TITLE, "created_at": NOW + 2 * HOUR})
    store.add_alert({"rule": "spike", "key": "topic=手机银行", "severity": "warning", "kind": "recovery",
                     "count": 4, "baseline": 4.0, "title": "手机银行 已恢复正常",
                     "created_at": NOW + 3 * HOUR})
    # outside the day: neither in the table nor in the counts
    store.add_alert({"rule": "spike", "key": "topic=信用卡", "severity": "warning", "count": 20,
                     "baseline": 2.0, "title": "次日", "created_at": DAY + timedelta(days=1, hours=1)})
    return store
