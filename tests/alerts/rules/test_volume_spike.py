"""`volume_spike` on a real SQLite store: mentions far above their baseline whatever the sentiment,
and words that claim negative feedback only when the negatives rose too."""

from __future__ import annotations

import math

import pytest
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
    assert alert.details["negative_volume_adjustment"] == 0.0  # no positives in the group
    assert alert.title.endswith("其中负面 12 条（平常约 1 条）")


def test_negatives_that_only_keep_pace_with_a_positive_surge_are_not_claimed(store):
    # 12 negatives against 1, but 60 positives against 2 are 58 - 2 sqrt(2) beyond chance and bring
    # 0.2 of that (the share cap; usually 1 negative per 2 positives), 11 more: 3 x 12 is not
    # reached, no 负面 claim
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 4, label="neutral", topic="信用卡"))
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 2, label="positive", topic="信用卡"))
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1, label="negative", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 60, label="positive", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 12, label="negative", topic="信用卡"))
    [alert] = rule(min_ratio=3.0).evaluate(store, NOW)
    assert alert.details["negative_volume_adjustment"] == pytest.approx((58 - 2 * math.sqrt(2)) * 0.2)
    assert not alert.details["claims_negative"]
    [plain] = rule(min_ratio=3.0, volume_adjusted=False).evaluate(store, NOW)
    assert plain.details["claims_negative"]


def test_ordinary_volume_stays_quiet(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 5, label="neutral", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 7, label="neutral", topic="信用卡"))
    assert rule().evaluate(store, NOW) == []


def test_with_negative_score_the_likely_negatives_make_the_claim(store):
    # 12 complaints the model labelled neutral at P(negative) 0.35: by label no negative rose; counted
    # by score (negative_score 0.3) they did, and the words say 负面（含疑似）
    unsure = {"negative": 0.35, "neutral": 0.5, "positive": 0.15}
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 4, label="neutral", topic="信用卡"))
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1, label="negative", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 20, label="neutral", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 12, label="neutral", scores=unsure, topic="信用卡"))
    [labelled] = rule().evaluate(store, NOW)
    assert not labelled.details["claims_negative"] and labelled.details["negative_count"] == 0
    [scored] = rule(negative_score=0.3).evaluate(store, NOW)
    assert scored.details["claims_negative"] and scored.details["negative_count"] == 12
    assert scored.title.endswith("其中负面（含疑似） 12 条（平常约 1 条）")
