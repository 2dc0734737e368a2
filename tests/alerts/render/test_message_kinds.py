"""Every kind of message as a reader gets it (email text + HTML, robot markdown): the summary
sentence says the numbers the rule tested, clusters come biggest first with copies and authors,
and the coverage line names a blocked or silent source. Evidence is gathered from a real SQLite
store (alerts/evidence.py); the spike comes from a real check."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from support.alerts import HOUR, NOW, fill, hourly_history, parts, record, spread

from alerts import Alert, OutboxNotifier, build_message, build_rule, run_rules
from alerts.evidence import gather_evidence
from alerts.render.markdown import alert_markdown
from alerts.render.view import summary_for
from core.record import as_utc


@pytest.fixture
def world(store):
    """A week of app reviews and 黑猫投诉 complaints, then a spike of app reviews in which one old
    post is copied 6 times by 6 authors and a newer one 3 times by 2 authors."""
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 4))
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 2, topic="信用卡", source="tousu"))
    old = record(NOW - 30 * HOUR, text="手机银行转账失败，钱扣了没到账")
    fill(store, [old])
    new = record(NOW - HOUR / 2, text="APP 一打开就闪退，客服电话 13812345678 打不通")
    copies = [record(NOW - HOUR + i * timedelta(minutes=5), text=old.text + "，+1", duplicate_of=old.id)
              for i in range(6)]
    for i, c in enumerate(copies):
        c.author = f"user{i}"
    near = [record(NOW - HOUR / 3, text=new.text + "!", duplicate_of=new.id) for _ in range(2)]
    near[0].author, near[1].author, new.author = "a", "a", "b"
    fill(store, [new, *copies, *near, *spread(NOW - HOUR, 30)])
    return {"old": old, "new": new}


def _evidenced(alert: Alert, store, ids: list[str]) -> Alert:
    alert.evidence = {"ids": ids}
    gather_evidence(alert, store, NOW)
    return alert


def _all_forms(alert: Alert) -> tuple[str, str, str]:
    content = parts(build_message(alert, "voc@bank.example", ["pr@bank.example"], chart=False))
    return content["text/plain"], content["text/html"], alert_markdown(alert, None, "wecom", 4096)


def test_spike_summary_clusters_and_coverage(store, world, tmp_path):
    store.put_state("crawl_health", "tousu", {"status": "blocked", "sources": ["tousu"],
                                              "finished_at": (NOW - 2 * HOUR).isoformat(),
                                              "reason": "HTTP 403"})
    rule = build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"],
                       "baseline_weeks": 1})
    [message] = run_rules([rule], store, [OutboxNotifier(tmp_path / "outbox")], NOW).fired
    summary = summary_for(message)
    used = message.details["baseline_used"]
    # every number is the rule's: the count, the baseline, the ratio count / baseline
    ratio = f"{message.count / used:.1f} 倍".replace(".0 倍", " 倍")
    assert summary.startswith(f"手机银行 负面评论 1 小时 {message.count} 条（平常约 "
                              f"{message.baseline:.0f} 条，{ratio}")
    assert message.ratio == pytest.approx(message.count / used)
    assert "主要来自App Store" in summary
    clusters = message.evidence["clusters"]
    assert [(c["head"]["id"], c["copies"], c["authors"]) for c in clusters] == [
        (world["old"].id, 6, 6), (world["new"].id, 3, 2)]
    assert clusters[0]["head_in_window"] is False  # the first post is older than the window
    text, html, markdown = _all_forms(message)
    for form in (text, html, markdown):
        assert summary.split("（")[0] in form
        assert form.index("钱扣了没到账") < form.index("一打开就闪退")  # the bigger cluster first
        assert "13812345678" not in form  # masked in every sample
    assert "（×6，6 位作者，原帖早于时间窗）" in text and "6 位作者" in html
    assert "黑猫投诉 采集受阻（最近一次采集 2024-05-06 08:00：HTTP 403），数字可能偏低" in text
    assert "黑猫投诉 采集受阻" in html and "黑猫投诉 采集受阻" in markdown


def test_a_silent_source_is_named_and_a_quiet_day_is_not_blind(store, world):
    alert = Alert(rule="spike", key="topic=手机银行", severity="warning", window_start=NOW - HOUR,
                  window_end=NOW, count=40, baseline=4.0, ratio=10.0, p_value=1e-9, title="t",
                  fired_at=NOW, group={"topic": "手机银行"}, details={"rule_type": "negative_spike"})
    _evidenced(alert, store, [])
    # 黑猫投诉 sent 3 an hour all week (2 negative + 1 neutral), nothing in the last hour
    store.delete_state("crawl_health", "tousu")
    lines = alert.evidence["coverage"]
    assert lines == []  # tousu did yield records in the window (the fixture's last hour)
    late = alert.window_end + 3 * HOUR
    quiet = Alert(rule="spike", key="", severity="warning", window_start=late - HOUR, window_end=late,
                  count=0, baseline=4.0, ratio=0.0, p_value=1.0, title="t", fired_at=late,
                  details={"rule_type": "negative_spike"})
    _evidenced(quiet, store, [])
    # 3 hours later nothing came from anywhere: App Store (4 an hour) is named, weibo (1) is not
    [line] = quiet.evidence["coverage"]
    assert re.fullmatch(r"App Store 时间窗内无新数据（平常约 4 条），数字可能偏低", line)


def _share(store) -> Alert:
    a = Alert(rule="share", key="", severity="warning", window_start=NOW - HOUR, window_end=NOW,
              count=42, baseline=17.2, ratio=2.4, p_value=1e-5,
              title="全部 负面占比 81%（42/52，1 小时），基线 33%", fired_at=NOW,
              details={"rule_type": "negative_share", "total": 52, "baseline_share": 0.33, "share": 42 / 52})
    return _evidenced(a, store, [])


def _term() -> Alert:
    return Alert(rule="term", key="term=闪退", severity="warning", window_start=NOW - HOUR, window_end=NOW,
                 count=9, baseline=0.5, ratio=18.0, p_value=1e-6,
                 title="新词「闪退」负面 1 小时 9 条，基线 0.5", fired_at=NOW, group={"term": "闪退"},
                 details={"rule_type": "emerging_term"})


def _risk() -> Alert:
    return Alert(rule="risk", key="", severity="critical", window_start=NOW - HOUR, window_end=NOW,
                 count=2, baseline=0.0, ratio=0.0, p_value=0.0, title="风险 挤兑 2 条（严重）", fired_at=NOW,
                 details={"rule_type": "risk_term", "flags": {"挤兑": 2}})


def _health() -> Alert:
    return Alert(rule="silent", key="source=tousu", severity="warning", window_start=NOW - 3 * HOUR,
                 window_end=NOW, count=0, baseline=9.0, ratio=0.0, p_value=1e-4,
                 title="来源 tousu 3 小时无新数据（基线 9）", fired_at=NOW, group={"source": "tousu"},
                 details={"rule_type": "source_silent", "audience": "operators"})


@pytest.mark.parametrize("make, expect", [
    (_share, "全部 负面占比 81%（42/52 条，1 小时；平常约 33%）"),
    (_term, "新词「闪退」负面 1 小时 9 条（平常约 0.5 条，18 倍）"),
    (_risk, "风险 挤兑 2 条（严重）"),
    (_health, "来源 tousu 3 小时无新数据（基线 9）"),
])
def test_each_kind_says_its_own_numbers(store, world, make, expect):
    alert = make(store) if make is _share else make()
    assert summary_for(alert).startswith(expect)
    for form in _all_forms(alert):
        assert expect.split("（")[0] in form


def test_the_related_terms_and_the_incident_line(store, world):
    lead = Alert(rule="spike", key="topic=手机银行", severity="warning", window_start=NOW - HOUR,
                 window_end=NOW, count=40, baseline=4.0, ratio=10.0, p_value=1e-9, title="手机银行 负面",
                 fired_at=NOW, group={"topic": "手机银行"}, details={"rule_type": "negative_spike"},
                 related=[_term()], incident="abc123")
    summary = summary_for(_evidenced(lead, store, []))
    assert summary.startswith("手机银行 负面评论 1 小时 40 条（平常约 4 条，10 倍）")
    assert summary.endswith("；高频词：闪退")
    text, html, markdown = _all_forms(lead)
    assert "事件 abc123 · 首次通知 · 涉及 2 条规则" in text and "新词「闪退」" in html
    assert "voc alerts silence incident:abc123 --for 24h" in text


def test_escalation_and_recovery_messages(store, world):
    rise = Alert(rule="spike", key="topic=手机银行", severity="warning", window_start=NOW - HOUR,
                 window_end=NOW, count=80, baseline=4.0, ratio=20.0, p_value=1e-20, title="手机银行 负面",
                 fired_at=NOW, group={"topic": "手机银行"}, kind="escalation",
                 details={"rule_type": "negative_spike", "previous_count": 40}, incident="abc123",
                 thread="first0000")
    text, html, markdown = _all_forms(rise)
    assert "升级：数量自上次告警以来至少翻倍（上次告警 40 条），现为 80 条。" in text
    assert "事件 abc123 · 升级通知" in text and "升级" in markdown
    msg = build_message(rise, "voc@bank.example", chart=False)
    assert msg["In-Reply-To"] == "<first0000.alert@voc-monitor>" == msg["References"]
    back = Alert(rule="spike", key="topic=手机银行", severity="warning", window_start=NOW - HOUR,
                 window_end=NOW, count=3, baseline=4.0, ratio=0.0, p_value=1.0,
                 title="已恢复正常：手机银行 负面", fired_at=NOW, group={"topic": "手机银行"},
                 kind="recovery",
                 details={"previous_count": 80, "alerted_at": as_utc(NOW - 5 * HOUR).isoformat()},
                 incident="abc123", thread="first0000")
    summary = summary_for(back)
    assert summary == "手机银行 已恢复正常（2024-05-06 05:00 起的事件）：当前 3 条，平常约 4 条。"
    text, html, markdown = _all_forms(back)
    assert summary in text and "恢复通知" in text and "数据覆盖" not in text
    assert re.search(r"已恢复正常", markdown)


def test_a_spike_of_likely_negatives_shows_them(store, tmp_path):
    """A rule with negative_score fires on records the model labelled neutral at P(negative) 0.35:
    the message shows those records, not an empty list of 'negative' ones."""
    unsure = {"negative": 0.35, "neutral": 0.5, "positive": 0.15}
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 1, label="neutral", scores=unsure))
    burst = [record(NOW - HOUR + i * HOUR / 12, label="neutral", scores=unsure,
                    text=f"第{i}次转账失败了，页面一直报错，钱也没退回来") for i in range(12)]
    fill(store, burst)
    rule = build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"],
                       "baseline_weeks": 1, "negative_score": 0.3})
    [message] = run_rules([rule], store, [OutboxNotifier(tmp_path / "outbox")], NOW).fired
    assert message.title.startswith("手机银行 负面（含疑似） 1 小时 12 条")
    shown = {r["id"] for r in message.evidence["originals"]}
    assert shown and shown <= {r.id for r in burst}
    text, html, markdown = _all_forms(message)
    for form in (text, html, markdown):
        assert "转账失败了，页面一直报错" in form and "代表性负面（含疑似）评论" in form
    assert "--min-negative 0.3" in text
