"""`volume_spike` on a real SQLite store: mentions far above their baseline whatever the sentiment,
and words that claim negative feedback only when the negatives rose too."""

from __future__ import annotations

from support.alerts import HOUR, NOW, fill, hourly_history, spread

from alerts import build_rule

WEEKS4 = 28 * 24


def rule(**options):
    return build_rule({"name": "volume", "type": "volume_spike", "group_by": ["topic"], **options})


def test_a_positive_burst_is_news_but_not_negative_feedback(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 4, label="neutral", topic="信用卡"))
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1, label="negative", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 40, label="positive", topic="信用卡"))
    [alert] = rule().evaluate(store, NOW)
    assert alert.key == "topic=信用卡" and alert.count == 40
    assert not alert.details["claims_negative"] and alert.details["negative_count"] == 0
    assert alert.title == "信用卡 讨论量 1 小时 40 条，基线 5；负面占比 0%，未见上升"


def test_a_rise_with_negatives_says_so(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 4, label="neutral", topic="信用卡"))
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1, label="negative", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 20, label="neutral", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 12, label="negative", topic="信用卡"))
    [alert] = rule().evaluate(store, NOW)
    assert alert.details["claims_negative"] and alert.details["negative_count"] == 12
    assert alert.title.endswith("其中负面 12 条（平常约 1 条）")


def test_ordinary_volume_stays_quiet(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 5, label="neutral", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 7, label="neutral", topic="信用卡"))
    assert rule().evaluate(store, NOW) == []
