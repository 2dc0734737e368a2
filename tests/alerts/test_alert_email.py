"""The alert email through a real local SMTP server (aiosmtpd) and the outbox: subject encoding,
both MIME parts, escaping of untrusted text, Beijing times, severity routing, the password's source."""

from __future__ import annotations

import logging
from email import message_from_bytes
from email.policy import default

import pytest
from alert_fixtures import HOUR, NOW, fill, hourly_history, record, spread
from alert_smtp import free_port, self_signed, start_server, start_tls_server

from alerts import (
    Alert,
    DeliveryError,
    EmailNotifier,
    NotifierConfigError,
    OutboxNotifier,
    build_message,
    build_rule,
)
from alerts.notifiers import NOTIFIERS

EVIL = "<script>alert('x')</script> 客服态度差 & 不退款"
ROUTES = {"warning": ["pr@bank.example", "duty@bank.example"], "critical": ["cto@bank.example"]}


@pytest.fixture
def alert(store) -> Alert:
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 4))
    fill(store, spread(NOW - HOUR, 36))
    fill(store, [record(NOW - HOUR / 4, text=EVIL, url="https://tousu.example/c/1?a=1&b=<2>"),
                 record(NOW - HOUR / 5, text="看看 javascript 链接", url="javascript:alert(1)")])
    rule = build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"],
                       "baseline_weeks": 1, "samples": 40})
    [fired] = rule.evaluate(store, NOW)
    return fired


def parts(msg):
    return {part.get_content_type(): part.get_content() for part in msg.walk()
            if not part.is_multipart()}


def check_message(raw: bytes, alert: Alert):
    assert b"<script>" not in raw
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head.lower()  # the Chinese subject is RFC 2047-encoded
    msg = message_from_bytes(raw, policy=default)
    assert msg["Subject"] == "[警告] 手机银行 负面 1 小时 38 条，基线 4"
    assert msg.get_content_type() == "multipart/alternative"
    content = parts(msg)
    assert set(content) == {"text/plain", "text/html"}
    html, text = content["text/html"], content["text/plain"]
    assert "alert(&#x27;x&#x27;) 客服态度差 &amp; 不退款" in html  # tags dropped, the rest escaped
    assert "<script>" not in html
    assert 'href="https://tousu.example/c/1?a=1&amp;b=&lt;2&gt;"' in html
    assert "javascript:alert" not in html.split("看看 javascript 链接")[1].split("</tr>")[0]
    assert "alert('x') 客服态度差 & 不退款" in text  # plain text: tags dropped, nothing escaped
    # times in Beijing: the window 09:00-10:00 on 2024-05-06 (01:00-02:00 UTC)
    assert "2024-05-06 09:00 – 2024-05-06 10:00（北京时间）" in text
    assert "2024-05-06 09:00" in html and "+0800" in msg["Date"]
    assert "voc search '' --sentiment negative --since 2024-05-06T09:00" in text
    assert msg["X-VOC-Alert-Id"] == alert.id
    return msg


def test_email_through_real_smtp_server(alert):
    controller, collector = start_server()
    try:
        notifier = EmailNotifier("127.0.0.1", controller.port, "voc@bank.example", ROUTES, security="none")
        notifier.send(alert)
    finally:
        controller.stop()
    [received] = collector.messages
    assert received.mail_from == "voc@bank.example"
    assert received.rcpt_tos == ROUTES["warning"]
    msg = check_message(received.data, alert)
    assert msg["To"] == "pr@bank.example, duty@bank.example"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls(alert, tmp_path, security):
    server_context, client_context = self_signed(tmp_path)
    controller, collector = start_tls_server(server_context, implicit=security == "ssl")
    try:
        notifier = EmailNotifier("127.0.0.1", controller.port, "voc@bank.example", ROUTES,
                                 security=security, timeout=5, ssl_context=client_context)
        notifier.send(alert)
        # an untrusted certificate is refused, not silently accepted
        strict = EmailNotifier("127.0.0.1", controller.port, "voc@bank.example", ROUTES,
                               security=security, timeout=5)
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            strict.send(alert)
    finally:
        controller.stop()
    [received] = collector.messages
    check_message(received.data, alert)


def test_login_uses_the_password_from_the_environment_only(alert, monkeypatch, caplog):
    monkeypatch.setenv("VOC_SMTP_PASSWORD", "s3cret-pw")
    controller, collector = start_server(with_auth=True)
    caplog.set_level(logging.DEBUG)
    try:
        notifier = EmailNotifier("127.0.0.1", controller.port, "voc@bank.example", ROUTES,
                                 security="none", username="alerts", timeout=3)
        assert "s3cret" not in repr(notifier) and "s3cret" not in repr(vars(notifier))
        notifier.send(alert)
        monkeypatch.setenv("VOC_SMTP_PASSWORD", "wrong")
        with pytest.raises(DeliveryError, match="SMTPAuthenticationError") as info:
            notifier.send(alert)
        assert "wrong" not in str(info.value)
    finally:
        controller.stop()
    # smtplib tries each offered mechanism (PLAIN, then LOGIN) before giving up
    assert collector.logins[0] == ("alerts", "s3cret-pw")
    assert set(collector.logins[1:]) == {("alerts", "wrong")}
    assert len(collector.messages) == 1
    assert "s3cret" not in caplog.text


def test_username_without_password_is_a_config_error(monkeypatch):
    monkeypatch.delenv("VOC_SMTP_PASSWORD", raising=False)
    with pytest.raises(NotifierConfigError, match="VOC_SMTP_PASSWORD"):
        EmailNotifier("smtp.example", 587, "v@b.example", ROUTES, username="alerts")


@pytest.mark.parametrize("kwargs,words", [
    ({"security": "tls"}, "smtp_security"),
    ({"recipients_by_severity": {"urgent": ["a@b.example"]}}, "unknown severity"),
    ({"recipients_by_severity": {"warning": "a@b.example"}}, "list of email addresses"),
    ({"recipients_by_severity": {"warning": []}}, "no email address"),
])
def test_email_config_errors(kwargs, words):
    options = {"host": "smtp.example", "port": 587, "sender": "v@b.example",
               "recipients_by_severity": ROUTES, **kwargs}
    with pytest.raises(NotifierConfigError, match=words):
        EmailNotifier(**options)


def test_nothing_listening_is_a_delivery_error(alert):
    notifier = EmailNotifier("127.0.0.1", free_port(), "v@b.example", ROUTES, security="none", timeout=2)
    with pytest.raises(DeliveryError, match="ConnectionRefusedError"):
        notifier.send(alert)


def test_severity_routing(alert):
    notifier = EmailNotifier("smtp.example", 25, "v@b.example", {"critical": ["cto@bank.example"]})
    assert not notifier.wants(alert)
    alert.severity = "critical"
    assert notifier.wants(alert)
    fallback = EmailNotifier("smtp.example", 25, "v@b.example", {"default": ["all@bank.example"]})
    alert.severity = "info"
    assert fallback.wants(alert)


def test_outbox_writes_one_parseable_eml_per_alert(alert, tmp_path):
    outbox = OutboxNotifier(tmp_path / "outbox", sender="voc@bank.example", recipients_by_severity=ROUTES)
    outbox.send(alert)
    outbox.send(alert)  # a retried delivery rewrites the same file
    [path] = (tmp_path / "outbox").iterdir()
    assert path.name.isascii() and path.suffix == ".eml" and alert.id in path.name
    msg = check_message(path.read_bytes(), alert)
    assert msg["To"] == "pr@bank.example, duty@bank.example"


def test_outbox_failure_is_a_delivery_error(alert, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(DeliveryError, match="notifier=outbox"):
        OutboxNotifier(blocker).send(alert)


def test_registry_and_link():
    assert NOTIFIERS == {"outbox": OutboxNotifier, "email": EmailNotifier}


def test_kibana_link_replaces_the_search_command(alert):
    msg = build_message(alert, "v@b.example", ["a@b.example"], link="https://kibana.example/app/discover#/x")
    content = parts(msg)
    assert '<a href="https://kibana.example/app/discover#/x">' in content["text/html"]
    assert "voc search" not in content["text/plain"]
