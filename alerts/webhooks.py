"""Chat-robot notifiers: WeCom (企业微信) and DingTalk (钉钉) group robots, markdown messages.

    WeComNotifier("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...", severities=["critical"])
    DingTalkNotifier("https://oapi.dingtalk.com/robot/send?access_token=...")

Both POST JSON and read the robot's JSON reply `{"errcode": 0, "errmsg": "ok"}`; a non-zero errcode,
an HTTP error status, a reply that is not that JSON, a refused connection or a timeout raise
`DeliveryError`, so the runner keeps the alert queued.

- WeCom: `{"msgtype": "markdown", "markdown": {"content": ...}}`, content at most 4096 bytes. When
  the URL has no `key=`, the robot key comes from VOC_WECOM_KEY (read at send time).
- DingTalk: `{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {...nobody}}`. When
  VOC_DINGTALK_SECRET is set the request is signed: `&timestamp=<ms>&sign=<urlencoded base64
  HMAC-SHA256(key=secret, msg="<ms>\\n<secret>")>`; the robot rejects timestamps over an hour off.

`severities` routes: a robot takes only alerts of those tiers (default all). Secrets (the key, the
access token, the signing secret) never appear in repr, logs or errors: those name the host only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote_plus, urlsplit

from alerts.alert import Alert
from alerts.errors import DeliveryError, NotifierConfigError
from alerts.markdown import DINGTALK_LIMIT, WECOM_LIMIT, alert_markdown
from alerts.message import subject_for
from alerts.notifier import Link, Notifier, check_severities, resolve_link

if TYPE_CHECKING:
    from alerts.digest import Digest

log = logging.getLogger(__name__)

WECOM_KEY_ENV = "VOC_WECOM_KEY"
DINGTALK_SECRET_ENV = "VOC_DINGTALK_SECRET"
MAX_REPLY_BYTES = 64 * 1024


class WebhookNotifier(Notifier):
    """POST a JSON payload to a robot URL and check its errcode; subclasses shape the payload."""

    flavor = ""
    limit = 0

    def __init__(self, url: str, *, severities: Iterable[str] | None = None, link: Link = None,
                 timeout: float = 10, name: str | None = None) -> None:
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotifierConfigError(f"webhooks.{self.flavor}: expected an http(s) URL")
        self._url = url  # holds the robot's token: never shown (see __repr__)
        self.host = parts.hostname
        self.severities = check_severities(severities, f"{self.flavor}.severities")
        self.link = link
        self.timeout = timeout
        self.name = name or self.flavor

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(host={self.host!r}, severities={sorted(self.severities)}, "
                f"name={self.name!r})")

    def wants(self, alert: Alert) -> bool:
        return alert.severity in self.severities

    def send(self, alert: Alert) -> None:
        text = alert_markdown(alert, resolve_link(self.link, alert), self.flavor, self.limit)
        self.post(self.payload(subject_for(alert), text), what=f"alert={alert.id}")

    def send_digest(self, digest: Digest) -> None:
        text = digest.markdown(self.flavor, self.limit)
        self.post(self.payload(digest.subject, text), what=f"digest={digest.day}")

    def payload(self, title: str, text: str) -> dict[str, Any]:
        raise NotImplementedError

    def request_url(self) -> str:
        return self._url

    def post(self, payload: dict[str, Any], what: str) -> None:
        """Send `payload`; DeliveryError unless the robot answers errcode 0."""
        where = f"notifier={self.name} host={self.host}"
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.request_url(), data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read(MAX_REPLY_BYTES)
        except urllib.error.HTTPError as exc:  # before URLError: it is one
            raise DeliveryError(f"{where} {what}: HTTP {exc.code}") from None  # its repr has the URL
        except urllib.error.URLError as exc:
            raise DeliveryError(f"{where} {what}: {type(exc.reason).__name__}: {exc.reason}") from exc
        except (TimeoutError, http.client.HTTPException, OSError) as exc:
            raise DeliveryError(f"{where} {what}: {type(exc).__name__}: {exc}") from exc
        try:
            reply = json.loads(raw)
            errcode = reply["errcode"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError(f"{where} {what}: reply is not the robot's JSON: {raw[:120]!r}") from exc
        if errcode != 0:
            message = str(reply.get("errmsg", ""))[:200]
            raise DeliveryError(f"{where} {what}: errcode={errcode} errmsg={message}")
        log.info("%s %s delivered bytes=%d", where, what, len(body))


class WeComNotifier(WebhookNotifier):
    """WeCom group robot; markdown content at most 4096 bytes."""

    flavor = "wecom"
    limit = WECOM_LIMIT

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._has_key = "key" in parse_qs(urlsplit(url).query)
        if not self._has_key and not os.environ.get(WECOM_KEY_ENV):
            raise NotifierConfigError(f"webhooks.wecom: the URL has no key= and {WECOM_KEY_ENV} "
                                      "is not in the environment")

    def request_url(self) -> str:
        if self._has_key:
            return self._url
        key = os.environ.get(WECOM_KEY_ENV, "")
        if not key:
            raise DeliveryError(f"notifier={self.name}: {WECOM_KEY_ENV} is no longer set")
        joiner = "&" if urlsplit(self._url).query else "?"
        return f"{self._url}{joiner}key={quote_plus(key)}"

    def payload(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": text}}


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's signature: base64(HMAC-SHA256(key=secret, msg="<ms>\\n<secret>")), not yet URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class DingTalkNotifier(WebhookNotifier):
    """DingTalk group robot; signed when VOC_DINGTALK_SECRET is set. `clock` returns epoch seconds
    (injected by tests)."""

    flavor = "dingtalk"
    limit = DINGTALK_LIMIT - 1000  # room for the title and the JSON around the text

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time, **options: Any) -> None:
        super().__init__(url, **options)
        self.clock = clock

    def request_url(self) -> str:
        secret = os.environ.get(DINGTALK_SECRET_ENV, "")
        if not secret:
            return self._url  # a robot secured by keyword or IP list instead of a signature
        timestamp = int(self.clock() * 1000)
        joiner = "&" if urlsplit(self._url).query else "?"
        return f"{self._url}{joiner}timestamp={timestamp}&sign={quote_plus(dingtalk_sign(timestamp, secret))}"

    def payload(self, title: str, text: str) -> dict[str, Any]:
        # "at" spelled out: this robot never mentions anyone, whatever the text says
        return {"msgtype": "markdown", "markdown": {"title": title[:64], "text": text},
                "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False}}
