"""The alert email through a real local SMTP server (aiosmtpd) and the outbox: subject encoding,
both MIME parts and the inline chart, escaping of untrusted text, Beijing times, severity routing,
recovery/escalation rendering, links, the password's source."""

from __future__ import annotations

import logging
import re
from datetime import UTC
from email import message_from_bytes
from email.policy import default
from urllib.parse import unquote

import pytest
from support.alerts import HOUR, NOW, fill, hourly_history, record, spread
from support.smtp import free_port, self_signed, start_server, start_tls_server

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
from alerts.webhooks import DingTalkNotifier, WeComNotifier
from indexer.store import Filters

EVIL = "<script>alert('x')</script> 客服态度差 & 不退款"
ROUTES = {"warning": ["pr@bank.example", "duty@bank.example"], "critical": ["cto@bank.example"]}


@pytest.fixture
def alert(store) -> Alert:
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


def series(store, hours=48, baseline=4.0):
    """What the rules put in details["series"]: the group's hourly negative counts, from the store."""
    filters = Filters(sentiment=("negative",), topics=("手机银行",), distinct_clusters=True)
    rows = store.counts(NOW - hours * HOUR, NOW, HOUR, ["topic"], filters)
    counts = {row.bucket: row.count for row in rows}
    return [{"t": (NOW - h * HOUR).astimezone(UTC).isoformat(), "count": counts.get(NOW - h * HOUR, 0),
             "baseline": baseline} for h in range(hours, 0, -1)]


def parts(msg):
    return {part.get_content_type(): part.get_content() for part in msg.walk()
            if not part.is_multipart()}


def check_chart(msg, html):
    """The PNG is an inline part of a multipart/related beside the HTML, and the HTML shows it by cid."""
    [text_part, related] = msg.get_payload()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    [html_part, image] = related.get_payload()
    assert html_part.get_content_type() == "text/html" and image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline"
    png = image.get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 2_000 < len(png) < 60_000
    cid = image["Content-ID"].strip("<>")
    assert f'<img src="cid:{cid}"' in html


def check_message(raw: bytes, alert: Alert):
    assert b"<script>" not in raw
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head.lower()  # the Chinese subject is RFC 2047-encoded
    msg = message_from_bytes(raw, policy=default)
    assert msg["Subject"] == "[警告] 手机银行 负面 1 小时 38 条，基线 4"
    assert msg.get_content_type() == "multipart/alternative"
    content = parts(msg)
    assert set(content) == {"text/plain", "text/html", "image/png"}
    html, text = content["text/html"], content["text/plain"]
    check_chart(msg, html)
    assert "alert(&#x27;x&#x27;) 客服态度差 &amp; 不退款" in html  # tags dropped, the rest escaped
    assert '<span style="color:#b00">×3</span>' in html  # its cluster size
    assert "appstore ×3] alert('x')" in text
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
    assert NOTIFIERS == {"outbox": OutboxNotifier, "email": EmailNotifier, "wecom": WeComNotifier,
                         "dingtalk": DingTalkNotifier}


def test_kibana_link_replaces_the_search_command(alert):
    msg = build_message(alert, "v@b.example", ["a@b.example"], link="https://kibana.example/app/discover#/x")
    content = parts(msg)
    assert '<a href="https://kibana.example/app/discover#/x">' in content["text/html"]
    assert "voc search" not in content["text/plain"]


def test_link_for_is_called_with_the_alert(alert):
    seen = []

    def link_for(a):
        seen.append(a.id)
        return f"https://kibana.example/app/discover#/?_a=(query:'{a.key}')"

    content = parts(build_message(alert, "v@b.example", link=link_for))
    assert seen == [alert.id]
    expected = "https://kibana.example/app/discover#/?_a=(query:&#x27;topic=手机银行&#x27;)"
    assert f'<a href="{expected}">' in content["text/html"]
    # a link builder that returns nothing (no Kibana for this rule) falls back to the search command
    content = parts(build_message(alert, "v@b.example", link=lambda a: None))
    assert "voc search" in content["text/plain"]


def test_without_a_series_there_is_no_chart(alert):
    del alert.details["series"]
    msg = build_message(alert, "v@b.example")
    assert [p.get_content_type() for p in msg.get_payload()] == ["text/plain", "text/html"]
    assert "cid:" not in parts(msg)["text/html"]


def test_an_unreadable_series_skips_the_chart_with_a_warning(alert, caplog):
    alert.details["series"] = [{"t": "2024-05-06T01:00:00+00:00", "count": -3, "baseline": 4.0}]
    caplog.set_level(logging.WARNING)
    msg = build_message(alert, "v@b.example")
    assert "image/png" not in parts(msg)
    assert "chart=skipped" in caplog.text and "series[0].count" in caplog.text


def test_escalation_and_recovery_render_distinctly(alert):
    alert.kind = "escalation"
    alert.details["previous_count"] = 12
    msg = build_message(alert, "v@b.example")
    assert msg["Subject"].startswith("[警告·升级] ")
    text = parts(msg)["text/plain"]
    assert "升级：数量自上次告警以来至少翻倍（上次告警 12 条），现为 38 条。" in text
    assert msg["Message-ID"] != build_message(alert.__class__(**{**vars(alert), "kind": "alert"}),
                                              "v@b.example")["Message-ID"]

    alert.kind, alert.count, alert.samples, alert.cluster_sizes = "recovery", 3, [], {}
    msg = build_message(alert, "v@b.example")
    assert msg["Subject"].startswith("[已恢复正常] ")
    content = parts(msg)
    assert "已恢复正常：当前 3 条，基线 " in content["text/plain"]
    assert "background:#dff0d8" in content["text/html"]  # the green banner
    assert "代表性负面评论" not in content["text/plain"]  # a recovery has no comments to show
    assert "image/png" in content  # the chart shows the way back to the baseline


def test_identical_comments_from_different_clusters_are_shown_once(alert):
    first, second = alert.samples[0], alert.samples[1]
    twin = second.with_(text=" ".join(first.text.split()) + "  ")
    alert.samples[1] = twin
    alert.cluster_sizes[twin.id] = 2
    text = parts(build_message(alert, "v@b.example"))["text/plain"]
    assert text.count(first.text.split("</script>")[1].strip()) == 1
    assert f"×{alert.cluster_sizes[first.id] + 2}]" in text


def test_discover_link_for_an_alert(alert):
    from alerts.notifier import discover_link_for

    html = parts(build_message(alert, "v@b.example", link=discover_link_for("https://kibana.bank/")))["text/html"]
    [href] = re.findall(r'<a href="(https://kibana\.bank/[^"]+)">打开数据视图</a>', html)
    fragment = unquote(href.replace("&amp;", "&"))
    assert "/app/discover#/?_g=" in href and "2024-05-06T01:00:00.000Z" in fragment
    assert "手机银行" in fragment and "negative" in fragment
