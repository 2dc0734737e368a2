"""The base of the chat-robot notifiers: POST a markdown message as JSON, check the robot's reply.

    WeComNotifier("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...", severities=["critical"])
    DingTalkNotifier("https://oapi.dingtalk.com/robot/send?access_token=...")

The robots are `alerts/notify/wecom.py` (企业微信) and `alerts/notify/dingtalk.py` (钉钉); each shapes
its payload (`payload`, abstract) and its request URL, and registers itself by its `flavor`. The
message text is `alerts.render.markdown` (an alert) or `alerts.render.digest` (the digest).

Both POST JSON and read the robot's JSON reply `{"errcode": 0, "errmsg": "ok"}`; a non-zero errcode,
an HTTP error status, a reply that is not that JSON, a refused connection or a timeout raise
`DeliveryError`, so the runner keeps the alert queued.

- WeCom: `{"msgtype": "markdown", "markdown": {"content": ...}}`, content at most 4096 bytes. When
  the URL has no `key=`, the robot key comes from VOC_WECOM_KEY (`key=`, from Settings.secrets).
- DingTalk: `{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {...nobody}}`. When
  VOC_DINGTALK_SECRET is set the request is signed: `&timestamp=<ms>&sign=<urlencoded base64
  HMAC-SHA256(key=secret, msg="<ms>\\n<secret>")>`; the robot rejects timestamps over an hour off.

`severities` routes: a robot takes only alerts of those tiers (default all). Secrets (the key, the
access token, the signing secret) never appear in repr, logs or errors: those name the host only.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from abc import abstractmethod
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from alerts.alert import Alert
from alerts.digest import Digest
from alerts.errors import DeliveryError, NotifierConfigError
from alerts.notify.base import DigestNotifier, check_severities
from alerts.render.digest import digest_markdown, digest_subject
from alerts.render.links import Link, resolve_link
from alerts.render.markdown import alert_markdown
from alerts.render.text import subject_for

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 64 * 1024


class WebhookNotifier(DigestNotifier):
    """POST a JSON payload to a robot URL and check its errcode; subclasses shape the payload."""

    flavor = ""
    limit = 0
    secret_name = ""  # the Settings.secrets field the robot's constructor takes as `secret`, if any

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
        text = alert_markdown(alert, resolve_link(self.link, alert), self.flavor, self.limit, self.link)
        self.post(self.payload(subject_for(alert), text), what=f"alert={alert.id}")

    def send_digest(self, digest: Digest) -> None:
        text = digest_markdown(digest, self.flavor, self.limit)
        self.post(self.payload(digest_subject(digest), text), what=f"digest={digest.day}")

    @abstractmethod
    def payload(self, title: str, text: str) -> dict[str, Any]:
        """The JSON body the robot takes for a message titled `title` with markdown `text`."""

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
