"""WeCom and DingTalk robots against a real local HTTP server (tests/support/http_sink.py): the request
shape, DingTalk's signature checked from the recorded query string, errcode/HTTP/timeout failures,
severity routing, markdown that a hostile comment cannot turn into links or mentions, size limits,
secrets kept out of repr, errors and logs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from urllib.parse import quote_plus

import pytest
from support.alerts import HOUR, NOW, record
from support.http_sink import HttpSink
from support.smtp import free_port

from alerts import Alert, DeliveryError, NotifierConfigError
from alerts.notify import DingTalkNotifier, WeComNotifier
from alerts.render.markdown import WECOM_LIMIT

HOSTILE = ("[点我领奖](http://evil.example/x) <@all> @所有人 ![img](http://evil.example/p.png) "
           "**加粗** `code` # 标题\n> 引用 www.evil.example http://evil.example/raw")
CLOCK = 1714960800.123  # 2024-05-06 10:00:00.123 Beijing time


def make_alert(severity: str = "warning", kind: str = "alert", samples: int = 3,
               text: str = HOSTILE) -> Alert:
    records = [record(NOW - HOUR / (i + 2), text=f"{text} #{i}", url=f"https://tousu.example/c/{i}?a=(1)")
               for i in range(samples)]
    return Alert(rule="spike", key="topic=手机银行", severity=severity, window_start=NOW - HOUR,
                 window_end=NOW, count=38, baseline=4.0, ratio=9.5, p_value=1e-9,
                 title="手机银行 负面 1 小时 38 条，基线 4", fired_at=NOW, samples=records,
                 cluster_sizes={r.id: 3 - i for i, r in enumerate(records)}, group={"topic": "手机银行"},
                 kind=kind)


@pytest.fixture
def sink():
    with HttpSink() as s:
        yield s


def assert_inert(markdown: str):
    """No link, image or mention can come from the comment text."""
    links = re.findall(r"\]\((\S+?)\)", markdown)  # every link target: only ours
    assert links and all(url.startswith(("https://tousu.example/", "https://kibana.example/"))
                         for url in links)
    assert "<@" not in markdown and "@所有人" not in markdown and "![" not in markdown
    assert "http://evil" not in markdown and "www.evil" not in markdown
    assert "[点我领奖]" not in markdown and "**加粗**" not in markdown and "`code`" not in markdown
    assert "\n> 引用" not in markdown and "\n# 标题" not in markdown


def test_wecom_posts_markdown_and_checks_errcode(sink, monkeypatch):
    monkeypatch.delenv("VOC_WECOM_KEY", raising=False)
    notifier = WeComNotifier(sink.url("/cgi-bin/webhook/send?key=robot-key-1"),
                             link="https://kibana.example/app/discover#/view/x")
    notifier.send(make_alert())
    [request] = sink.requests
    assert request.method == "POST" and request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": ["robot-key-1"]}
    assert request.headers["Content-Type"].startswith("application/json")
    body = request.json()
    assert set(body) == {"msgtype", "markdown"} and body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith('### <font color="warning">［警告］ 手机银行 负面 1 小时 38 条，基线 4</font>')
    assert "**数量** 38 条 ｜ **基线** 4.0 条" in content
    assert "05-06 09:00 – 05-06 10:00（北京时间）" in content
    assert "App Store（×3）：" in content  # cluster size shown
    assert "[原文](https://tousu.example/c/0?a=%281%29)" in content  # parentheses cannot end the link
    assert "\n[查看数据](https://kibana.example/app/discover#/view/x)\n暂停通知：" in content
    assert_inert(content)


def test_wecom_key_from_the_environment_through_the_settings(sink, monkeypatch, caplog, tmp_path):
    from core.settings import load_settings
    from voc.alerting import notifiers_from_settings

    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    settings = load_settings(env={"VOC_WECOM_KEY": "env-key/+=",
                                  "VOC_NOTIFY__WEBHOOKS__WECOM": sink.url("/cgi-bin/webhook/send")})
    notifier = notifiers_from_settings(settings)[-1]
    notifier.send(make_alert())
    assert sink.requests[0].query == {"key": ["env-key/+="]}
    assert "env-key" not in repr(notifier) and "env-key" not in caplog.text
    monkeypatch.setenv("VOC_WECOM_KEY", "not-read")  # the notifier never reads the environment
    with pytest.raises(NotifierConfigError, match="VOC_WECOM_KEY"):
        WeComNotifier(sink.url("/cgi-bin/webhook/send"))
    # a key in the URL wins; the environment is not needed then
    WeComNotifier(sink.url("/send?key=k")).send(make_alert())
    assert sink.requests[1].query == {"key": ["k"]}


def test_dingtalk_signature_verifies_from_the_recorded_query(sink, monkeypatch):
    secret = "SECtest0123456789abcdef"
    notifier = DingTalkNotifier(sink.url("/robot/send?access_token=tok123"), secret=secret,
                                clock=lambda: CLOCK)
    notifier.send(make_alert())
    [request] = sink.requests
    assert request.query["access_token"] == ["tok123"]
    assert request.query["timestamp"] == ["1714960800123"]
    # recompute as DingTalk does, from what arrived; the raw query carries it URL-encoded
    timestamp = request.query["timestamp"][0]
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert request.query["sign"] == [expected]
    # base64 of 32 bytes ends in "=", so the raw query shows the URL-encoding at work
    assert request.raw_query.split("sign=")[1].split("&")[0] == quote_plus(expected)
    assert quote_plus(expected).endswith("%3D")
    body = request.json()
    assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"title", "text"}
    assert body["markdown"]["title"] == "[警告] 手机银行 负面 1 小时 38 条，基线 4"
    assert body["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    text = body["markdown"]["text"]
    assert "\n\n" in text and text.endswith("`")  # no link given: the voc search command
    assert "voc search '' --sentiment negative --since 2024-05-06T09:00" in text
    assert_inert(text)
    assert secret not in repr(notifier)


def test_dingtalk_without_secret_is_unsigned(sink, monkeypatch):
    monkeypatch.delenv("VOC_DINGTALK_SECRET", raising=False)
    DingTalkNotifier(sink.url("/robot/send?access_token=t")).send(make_alert())
    assert set(sink.requests[0].query) == {"access_token"}


@pytest.mark.parametrize("reply,words", [
    ((200, {"errcode": 93000, "errmsg": "invalid webhook url"}), "errcode=93000 errmsg=invalid webhook url"),
    ((200, {"errcode": 310000, "errmsg": "sign not match"}), "errcode=310000"),
    ((500, {"errcode": 0}), "HTTP 500"),
    ((200, b"<html>gateway</html>"), "not the robot's JSON"),
    ((200, {"ok": True}), "not the robot's JSON"),
])
def test_robot_errors_are_delivery_errors(sink, reply, words):
    sink.reply = reply
    for notifier in (WeComNotifier(sink.url("/send?key=secret-key")),
                     DingTalkNotifier(sink.url("/robot/send?access_token=secret-token"))):
        with pytest.raises(DeliveryError, match=re.escape(words)) as info:
            notifier.send(make_alert())
        assert "secret-" not in str(info.value) and "host=127.0.0.1" in str(info.value)


def test_timeout_and_refused_connection_are_delivery_errors(sink):
    sink.hold()  # the server reads the request and does not answer until released
    notifier = WeComNotifier(sink.url("/send?key=k"), timeout=0.3)
    with pytest.raises(DeliveryError, match="(?i)timed? ?out"):
        notifier.send(make_alert())
    sink.release()
    refused = DingTalkNotifier(f"http://127.0.0.1:{free_port()}/robot/send?access_token=t", timeout=2)
    with pytest.raises(DeliveryError, match="ConnectionRefusedError"):
        refused.send(make_alert())


def test_severity_routing_and_config_errors():
    notifier = WeComNotifier("https://qyapi.example/send?key=k", severities=["critical"])
    assert not notifier.wants(make_alert("warning")) and notifier.wants(make_alert("critical"))
    assert DingTalkNotifier("https://oapi.example/robot/send").wants(make_alert("info"))
    with pytest.raises(NotifierConfigError, match="unknown severity 'urgent'"):
        DingTalkNotifier("https://oapi.example/robot/send", severities=["urgent"])
    with pytest.raises(NotifierConfigError, match="list of severities"):
        DingTalkNotifier("https://oapi.example/robot/send", severities="critical")
    with pytest.raises(NotifierConfigError, match="http"):
        DingTalkNotifier("ftp://oapi.example/robot/send")


def test_wecom_message_stays_under_4096_bytes(sink):
    alert = make_alert(samples=60, text="网银转账失败，客服不处理，" * 20)
    WeComNotifier(sink.url("/send?key=k")).send(alert)
    content = sink.requests[0].json()["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_LIMIT
    assert "…另有" in content and content.endswith("`")  # comments dropped, the data link kept
    assert content.count("\n1. ") == 1


def test_recovery_and_escalation_headings(sink):
    notifier = WeComNotifier(sink.url("/send?key=k"))
    notifier.send(make_alert(kind="recovery", samples=0))
    notifier.send(make_alert(kind="escalation"))
    recovery, escalation = (r.json()["markdown"]["content"] for r in sink.requests)
    assert recovery.startswith('### <font color="info">［已恢复正常］')
    assert "> 已恢复正常：当前 38 条" in recovery
    assert "代表性负面评论" not in recovery
    assert escalation.startswith('### <font color="warning">［警告·升级］') and "> 升级：" in escalation
