"""The daily digest on a real SQLite store: alert history written by a real check, topic counts against
the day before, the day's bounds; its text (alerts.render.digest). Delivery: tests/alerts/notify/."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from support.alerts import DAY

from alerts.digest import build_digest
from alerts.render.digest import digest_html, digest_subject, digest_text


def test_digest_content(day):
    digest = build_digest(day, DAY, DAY + timedelta(days=1), "Asia/Shanghai")
    assert str(digest.day) == "2024-05-06"
    assert [(r.rule, r.kind) for r in digest.rows] == [("spike", "alert"), ("wealth", "alert"),
                                                       ("spike", "recovery")]
    assert digest.by_rule == {"spike": 2, "wealth": 1}
    assert digest.by_severity == {"warning": 1, "critical": 1}  # a recovery is not an alert
    # 00:00-09:00: 9 hours x 4, plus the 37 of the spike hour; the day before: 24 x 4
    assert digest.topics == [("手机银行", 9 * 4 + 37, 24 * 4), ("信用卡", 5, 2)]
    assert digest.negative == 9 * 4 + 37 + 5 and digest.total == digest.negative + 9
    assert digest.negative_before == 24 * 4 + 2
    # read the morning after: 「昨日」 with the date, never 「今日」
    assert digest_subject(digest) == (f"[日报] 昨日（2024-05-06）舆情事件 1 个，告警 2 条，"
                                      f"负面反馈 {digest.negative} 条")
    [incident] = digest.incidents  # the real check's incident, with its state
    text = digest_text(digest)
    assert f"{incident.id}  进行中  警告  05-06 10:00" in text and "今日" not in text
    assert incident.id in digest_html(digest)
    assert "2024-05-06 00:00 – 2024-05-07 00:00（北京时间）" in text
    assert "严重 1 ｜ 警告 1 ｜ 提示 0" in text and "1. 手机银行：73 / 96" in text
    assert "10:00  警告  告警  spike  topic=手机银行  37  4.0" in text
    assert "次日" not in text


def test_an_empty_day_still_has_a_digest(store):
    digest = build_digest(store, DAY, DAY + timedelta(days=1))
    assert digest.rows == [] and digest.topics == [] and digest.negative == 0
    assert "（无告警）" in digest_text(digest) and "（无告警）" in digest_html(digest)


def test_naive_bounds_mean_the_timezone_and_must_be_ordered(day):
    digest = build_digest(day, datetime(2024, 5, 6), datetime(2024, 5, 7))
    assert digest.day_start == DAY and len(digest.rows) == 3
    with pytest.raises(ValueError, match="not after"):
        build_digest(day, DAY, DAY)
