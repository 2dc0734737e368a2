"""`EmailNotifier` through a real local SMTP server (aiosmtpd): the delivered bytes (subject encoding,
both MIME parts and the inline chart, escaped comments, Beijing times), STARTTLS and SSL with a
certificate check, the password's source, config errors, severity routing."""

from __future__ import annotations

import logging

import pytest
from support.alerts import ROUTES, check_message
from support.smtp import free_port, self_signed, start_server, start_tls_server

from alerts import DeliveryError, EmailNotifier, NotifierConfigError


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


def test_login_uses_the_password_from_the_environment_only(alert, monkeypatch, caplog, tmp_path):
    from core.settings import load_settings
    from voc.alerting import notifiers_from_settings

    monkeypatch.chdir(tmp_path)
    controller, collector = start_server(with_auth=True)
    caplog.set_level(logging.DEBUG)
    try:
        settings = load_settings(env={
            "VOC_SMTP_PASSWORD": "s3cret-pw", "VOC_NOTIFY__SMTP_HOST": "127.0.0.1",
            "VOC_NOTIFY__SMTP_PORT": str(controller.port), "VOC_NOTIFY__SMTP_USER": "alerts",
            "VOC_NOTIFY__SMTP_SECURITY": "none", "VOC_NOTIFY__RECIPIENTS__WARNING": '["pr@bank.example"]'})
        notifier = notifiers_from_settings(settings)[1]
        assert "s3cret" not in repr(notifier) and "s3cret" not in repr(vars(notifier))
        notifier.send(alert)
        monkeypatch.setenv("VOC_SMTP_PASSWORD", "not-read")  # the notifier never reads the environment
        notifier.send(alert)
        wrong = EmailNotifier("127.0.0.1", controller.port, "voc@bank.example", ROUTES,
                              security="none", username="alerts", timeout=3, password="wrong")
        with pytest.raises(DeliveryError, match="SMTPAuthenticationError") as info:
            wrong.send(alert)
        assert "wrong" not in str(info.value)
    finally:
        controller.stop()
    # smtplib tries each offered mechanism (PLAIN, then LOGIN) before giving up
    assert collector.logins[:2] == [("alerts", "s3cret-pw")] * 2
    assert set(collector.logins[2:]) == {("alerts", "wrong")}
    assert len(collector.messages) == 2
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
