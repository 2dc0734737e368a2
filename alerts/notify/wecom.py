"""The WeCom (企业微信) group robot: markdown messages of at most 4096 bytes.

    WeComNotifier("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...", severities=["critical"])

Payload `{"msgtype": "markdown", "markdown": {"content": ...}}`. When the URL has no `key=`, the
robot key comes from VOC_WECOM_KEY, read at send time and never shown (the base class's contract:
repr, logs and errors name the host only). Registered as the `wecom` webhook and notifier kind.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

from pydantic import SecretStr

from alerts.errors import NotifierConfigError
from alerts.notify.base import register_webhook
from alerts.notify.webhook import WebhookNotifier
from alerts.render.markdown import WECOM_LIMIT

WECOM_KEY_ENV = "VOC_WECOM_KEY"


@register_webhook
class WeComNotifier(WebhookNotifier):
    """WeCom group robot; markdown content at most 4096 bytes."""

    flavor = "wecom"
    limit = WECOM_LIMIT
    secret_name = "wecom_key"

    def __init__(self, url: str, *, secret: str | None = None, **options: Any) -> None:
        key = secret  # the robot key, when the URL carries no key=
        super().__init__(url, **options)
        self._has_key = "key" in parse_qs(urlsplit(url).query)
        # VOC_WECOM_KEY through Settings.secrets; never in repr or logs
        self._key = SecretStr(key) if key else None
        if not self._has_key and not key:
            raise NotifierConfigError(f"webhooks.wecom: the URL has no key= and {WECOM_KEY_ENV} "
                                      "is not in the environment")

    def request_url(self) -> str:
        if self._has_key:
            return self._url
        joiner = "&" if urlsplit(self._url).query else "?"
        return f"{self._url}{joiner}key={quote_plus(self._key.get_secret_value() if self._key else '')}"

    def payload(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": text}}
