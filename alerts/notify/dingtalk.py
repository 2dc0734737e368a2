"""The DingTalk (钉钉) group robot: markdown messages, signed when VOC_DINGTALK_SECRET is set.

    DingTalkNotifier("https://oapi.dingtalk.com/robot/send?access_token=...")

Payload `{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {...nobody}}`. When
VOC_DINGTALK_SECRET is set the request is signed: `&timestamp=<ms>&sign=<urlencoded base64
HMAC-SHA256(key=secret, msg="<ms>\\n<secret>")>`; the robot rejects timestamps over an hour off.
Registered as the `dingtalk` webhook and notifier kind.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlsplit

from pydantic import SecretStr

from alerts.notify.base import register_webhook
from alerts.notify.webhook import WebhookNotifier
from alerts.render.markdown import DINGTALK_LIMIT


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's signature: base64(HMAC-SHA256(key=secret, msg="<ms>\\n<secret>")), not yet URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@register_webhook
class DingTalkNotifier(WebhookNotifier):
    """DingTalk group robot; signed when `secret` (VOC_DINGTALK_SECRET, through the settings) is
    given. `clock` returns epoch seconds (injected by tests)."""

    flavor = "dingtalk"
    limit = DINGTALK_LIMIT - 1000  # room for the title and the JSON around the text
    secret_name = "dingtalk_secret"

    def __init__(self, url: str, *, secret: str | None = None, clock: Callable[[], float] = time.time,
                 **options: Any) -> None:
        super().__init__(url, **options)
        self.clock = clock
        # VOC_DINGTALK_SECRET through Settings.secrets; never in repr or logs
        self._secret = SecretStr(secret) if secret else None

    def request_url(self) -> str:
        secret = self._secret.get_secret_value() if self._secret else ""
        if not secret:
            return self._url  # a robot secured by keyword or IP list instead of a signature
        timestamp = int(self.clock() * 1000)
        joiner = "&" if urlsplit(self._url).query else "?"
        return f"{self._url}{joiner}timestamp={timestamp}&sign={quote_plus(dingtalk_sign(timestamp, secret))}"

    def payload(self, title: str, text: str) -> dict[str, Any]:
        # "at" spelled out: this robot never mentions anyone, whatever the text says
        return {"msgtype": "markdown", "markdown": {"title": title[:64], "text": text},
                "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False}}
