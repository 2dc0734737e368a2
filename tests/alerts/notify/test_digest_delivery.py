"""Delivering the daily digest: the email through a real SMTP server (aiosmtpd), the outbox file, the
robot markdown within WeCom's limit (a real local HTTP server), and one failing notifier not
stopping the others; a notifier that does not send digests is skipped, not called."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.policy import default

from support.alerts import DAY
from support.http_sink import HttpSink
from support.smtp import free_port, start_server

from alerts import EmailNotifier, OutboxNotifier
from alerts.digest import build_digest
from alerts.notify import Notifier, WeComNotifier, send_digest
from alerts.render.digest import digest_subject
from alerts.render.markdown import WECOM_LIMIT


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
    assert msg["Subject"] == digest_subject(digest) and msg["X-VOC-Digest"] == "2024-05-06"
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;x()&lt;/script&gt; 理财 负面" in html
    assert "<td>手机银行</td><td align=\"right\">73</td>" in html
    [path] = (tmp_path / "digests").iterdir()
    assert path.name == "digest-20240506.eml"
    assert message_from_bytes(path.read_bytes(), policy=default)["Subject"] == digest_subject(digest)


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
    assert content.startswith('### <font color="comment">［日报］ 昨日（2024-05-06）')
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
