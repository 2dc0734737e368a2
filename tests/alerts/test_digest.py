"""The daily digest on a real SQLite store: alert history written by a real check, topic counts against
the day before, the email through a real SMTP server (aiosmtpd), the outbox file, the robot markdown
within WeCom's limit, and one failing notifier not stopping the others."""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from support.alerts import HOUR, NOW, fill, hourly_history, spread
from support.http_sink import HttpSink
from support.smtp import free_port, start_server

from alerts import EmailNotifier, OutboxNotifier, build_rule, run_rules
from alerts.digest import build_digest, send_digest
from alerts.markdown import WECOM_LIMIT
from alerts.notifier import Notifier
from alerts.webhooks import WeComNotifier
from core.record import DISPLAY_TZ

DAY = datetime(2024, 5, 6, tzinfo=DISPLAY_TZ)
EVIL_TITLE = "<script>x()</script> 理财 负面"


@pytest.fixture
def day(store, tmp_path):
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
    assert digest.subject == f"[日报] 2024-05-06 舆情告警 2 条，负面反馈 {digest.negative} 条"
    text = digest.text()
    assert "2024-05-06 00:00 – 2024-05-07 00:00（北京时间）" in text
    assert "严重 1 ｜ 警告 1 ｜ 提示 0" in text and "1. 手机银行：73 / 96" in text
    assert "10:00  警告  告警  spike  topic=手机银行  37  4.0" in text
    assert "次日" not in text


def test_an_empty_day_still_has_a_digest(store):
    digest = build_digest(store, DAY, DAY + timedelta(days=1))
    assert digest.rows == [] and digest.topics == [] and digest.negative == 0
    assert "（无告警）" in digest.text() and "（无告警）" in digest.html()


def test_naive_bounds_mean_the_timezone_and_must_be_ordered(day):
    digest = build_digest(day, datetime(2024, 5, 6), datetime(2024, 5, 7))
    assert digest.day_start == DAY and len(digest.rows) == 3
    with pytest.raises(ValueError, match="not after"):
        build_digest(day, DAY, DAY)


def test_digest_email_through_real_smtp_server_and_outbox(day, tmp_path):
    digest = build_digest(day, DAY, DAY + timedelta(days=1))
    controller, collector = start_server()
    try:
        routes = {"warning": ["pr@bank.example"], "critical": ["pr@bank.example", "cto@bank.example"]}
        email = EmailNotifier("127.0.0.1", controller.port, "voc@bank.example", routes, security="none")
        outbox = OutboxNotifier(tmp_path / "digests", sender="voc@bank.example")
        report = send_digest(digest, [email, outbox])
    finally:
        controller.stop()
    assert report.sent == ["email", "outbox"] and not report.failed
    [received] = collector.messages
    assert received.rcpt_tos == ["pr@bank.example", "cto@bank.example"]  # everyone, once each
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    msg = message_from_bytes(received.data, policy=default)
    assert msg["Subject"] == digest.subject and msg["X-VOC-Digest"] == "2024-05-06"
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;x()&lt;/script&gt; 理财 负面" in html
    assert "<td>手机银行</td><td align=\"right\">73</td>" in html
    [path] = (tmp_path / "digests").iterdir()
    assert path.name == "digest-20240506.eml"
    assert message_from_bytes(path.read_bytes(), policy=default)["Subject"] == digest.subject


def test_digest_markdown_fits_wecom(day):
    for i in range(200):
        day.add_alert({"rule": f"rule{i}", "key": f"topic=t{i}", "severity": "info", "count": 10,
                       "baseline": 1.0, "title": f"话题{i} 负面 [link](http://evil.example)",
                       "created_at": DAY + timedelta(minutes=i)})
    digest = build_digest(day, DAY, DAY + timedelta(days=1))
    with HttpSink() as sink:
        WeComNotifier(sink.url("/send?key=k")).send_digest(digest)
        content = sink.requests[0].json()["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_LIMIT
    assert content.startswith('### <font color="comment">［日报］ 2024-05-06')
    assert "**负面最多的话题**" in content and "1. 手机银行：73 / 96" in content
    assert "…另有" in content and "http://evil" not in content and "](" not in content


class _NoDigest(Notifier):
    name = "nodigest"

    def send(self, alert):
        raise AssertionError("not called")


def test_one_failing_notifier_does_not_stop_the_others(day, tmp_path):
    digest = build_digest(day, DAY, DAY + timedelta(days=1))
    down = EmailNotifier("127.0.0.1", free_port(), "v@b.example", {"default": ["a@b.example"]},
                         security="none", timeout=2)
    outbox = OutboxNotifier(tmp_path / "o")
    report = send_digest(digest, [down, _NoDigest(), outbox])
    assert report.sent == ["outbox"] and report.skipped == ["nodigest"]
    assert "ConnectionRefusedError" in report.failed["email"]
