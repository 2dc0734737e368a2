"""`cluster_growth` on a real SQLite store: a viral repost wave of an old post, distinct authors,
the source's usual gain, the first post's sentiment carried to unsure copies, and the words used."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from support.alerts import HOUR, NOW, fill, record

from alerts import build_rule
from core.record import Sentiment

UNSURE = Sentiment("neutral", {"negative": 0.35, "neutral": 0.45, "positive": 0.2}, "test")
SURE_NEUTRAL = Sentiment("neutral", {"negative": 0.05, "neutral": 0.9, "positive": 0.05}, "test")


def rule(**options):
    return build_rule({"name": "viral", "type": "cluster_growth", **options})


def wave(first, n, *, start=NOW - 2 * HOUR, span=2 * HOUR, authors=None, sentiment=UNSURE):
    out = []
    for i in range(n):
        r = record(start + span * (i + 0.5) / n, source=first.source, duplicate_of=first.id,
                   text=f"转发微博 //@原作者: {first.text}")
        out.append(replace(r, author=f"fan{i if authors is None else i % authors}", sentiment=sentiment))
    return out


def test_a_two_day_old_post_reposted_30_times_fires_once_with_its_age(store):
    first = replace(record(NOW - timedelta(days=2), source="weibo", text="信用卡被盗刷，银行不管不问"),
                    author="原作者")
    fill(store, [first, *wave(first, 30)])
    [alert] = rule().evaluate(store, NOW)
    assert alert.key == f"source=weibo,cluster={first.id}"
    assert alert.count == 30 and alert.details["authors"] == 30
    assert alert.details["first_post_age_hours"] == 48.0
    assert alert.samples[0].id == first.id and alert.cluster_sizes == {first.id: 30}
    # the first post is negative, so the copies the model is unsure of count as negative
    assert alert.details["negative_copies"] == 30 and alert.details["claims_negative"]
    assert alert.title.startswith(
        "weibo 负面帖子转发扩散：2 小时新增 30 条转发（30 位作者），原帖发布于 2 天前")


def test_one_account_pasting_is_not_reach(store):
    first = record(NOW - timedelta(days=1), source="weibo")
    fill(store, [first, *wave(first, 30, authors=3)])
    assert rule().evaluate(store, NOW) == []
    assert len(rule(min_authors=3).evaluate(store, NOW)) == 1


def test_a_source_where_everything_is_reposted_needs_more(store):
    first = record(NOW - timedelta(days=5), source="weibo")
    fill(store, [first, *wave(first, 12)])
    assert len(rule().evaluate(store, NOW)) == 1
    # the same window of the day before: another post gained 8 copies, so 12 is no longer 3x usual
    other = record(NOW - timedelta(days=4), source="weibo")
    fill(store, [other, *wave(other, 8, start=NOW - timedelta(days=1, hours=2))])
    assert rule().evaluate(store, NOW) == []
    assert len(rule(min_ratio=1.5).evaluate(store, NOW)) == 1


def test_a_neutral_post_going_viral_does_not_claim_negative_feedback(store):
    first = replace(record(NOW - timedelta(days=2), source="weibo", label="positive"), author="x")
    fill(store, [first, *wave(first, 20, sentiment=SURE_NEUTRAL)])
    [alert] = rule().evaluate(store, NOW)
    assert not alert.details["claims_negative"] and "负面" not in alert.title
    assert alert.title.startswith("weibo 帖子转发扩散")


def test_copies_outside_the_window_and_too_few_copies_do_not_fire(store):
    first = record(NOW - timedelta(days=2), source="weibo")
    fill(store, [first, *wave(first, 30, start=NOW - 5 * HOUR)])  # all before the 2 h window
    assert rule().evaluate(store, NOW) == []
    fill(store, wave(first, 9))
    assert rule().evaluate(store, NOW) == []
    assert len(rule(min_copies=9).evaluate(store, NOW)) == 1
