"""Notifiers: hand an `Alert` (or a daily `Digest`) to people. Registered by name in `NOTIFIERS`.

The base class and its contract (`name`, `wants`, `send`, `send_digest`, `DeliveryError` when it
cannot deliver, so the runner keeps the alert queued) are in `alerts/notifier.py`. Email and outbox
build the same message (`alerts.message`).

- `OutboxNotifier(dir)`: one `.eml` file per alert, written atomically; re-sending the same alert
  rewrites the same file. Where email goes when no SMTP server is configured.
- `EmailNotifier(host, port, sender, recipients_by_severity, security, username)`: SMTP with
  STARTTLS, SSL or none; the password comes only from the VOC_SMTP_PASSWORD environment variable,
  read at send time and never stored or logged.
- `WeComNotifier`, `DingTalkNotifier`: chat robots (`alerts/webhooks.py`).

`link` (every notifier) is a URL to the data or `link_for(alert) -> URL | None`. Digests go to
`digest_recipients` (default: everyone who gets any alert).

Retries: `next_attempt(attempts, now)` is when a pending alert is tried again after its
`attempts`-th failed delivery (1, 2, 4, ... minutes, capped at 60); `due(entry, now)` tells the
runner whether a journal entry's `next_attempt_at` has come.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerts.alert import Alert
from alerts.errors import DeliveryError, NotifierConfigError, PartialDelivery
from alerts.message import build_message
from alerts.notifier import Link, Notifier
from alerts.webhooks import DingTalkNotifier, WeComNotifier
from core.record import SEVERITIES, as_utc, parse_time
from core.registry import registry

if TYPE_CHECKING:
    from alerts.digest import Digest

log = logging.getLogger(__name__)

PASSWORD_ENV = "VOC_SMTP_PASSWORD"
SECURITY_MODES = ("starttls", "ssl", "none")
BACKOFF_CAP = timedelta(minutes=60)


def next_attempt(attempts: int, now: datetime) -> datetime:
    """When to retry after the `attempts`-th failed delivery: 1, 2, 4, 8 ... minutes later, at most
    60 (a robot or mail server that is down for an hour is not hammered every check)."""
    if attempts <= 0:
        return as_utc(now)
    return as_utc(now) + min(timedelta(minutes=2 ** min(attempts - 1, 16)), BACKOFF_CAP)


def due(entry: Mapping[str, Any], now: datetime) -> bool:
    """Whether a send-journal entry may be tried at `now` (no `next_attempt_at` = at once)."""
    when = entry.get("next_attempt_at")
    return not when or parse_time(when, naive_tz=None) <= as_utc(now)


OPERATORS = "operators"  # a route key beside the severities (see `_route`)


def _check_recipients(recipients_by_severity: Mapping[str, Sequence[str]] | None,
                      required: bool) -> dict[str, tuple[str, ...]]:
    routes: dict[str, tuple[str, ...]] = {}
    for severity, addresses in (recipients_by_severity or {}).items():
        if severity not in (*SEVERITIES, "default", OPERATORS):
            raise NotifierConfigError(f"recipients: unknown severity {severity!r}; "
                                      f"use {list(SEVERITIES)}, 'default' or '{OPERATORS}'")
        if isinstance(addresses, str) or not all(isinstance(a, str) and "@" in a for a in addresses):
            raise NotifierConfigError(f"recipients.{severity}: expected a list of email addresses")
        routes[severity] = tuple(addresses)
    if required and not any(routes.values()):
        raise NotifierConfigError("recipients: no email address for any severity")
    return routes


def _route(routes: Mapping[str, tuple[str, ...]], alert: Alert) -> tuple[str, ...]:
    """Who gets `alert`: the operators for alerts meant for them (a source went silent or is
    blocked) when operators are configured, else the recipients of its severity."""
    if alert.details.get("audience") == OPERATORS and routes.get(OPERATORS):
        return routes[OPERATORS]
    return routes.get(alert.severity) or routes.get("default") or ()


def _everyone(routes: Mapping[str, tuple[str, ...]], chosen: Sequence[str] | None) -> tuple[str, ...]:
    """Digest recipients: `chosen`, else every address that gets some alert, each once."""
    if chosen is not None:
        if isinstance(chosen, str) or not all(isinstance(a, str) and "@" in a for a in chosen):
            raise NotifierConfigError("digest_recipients: expected a list of email addresses")
        return tuple(chosen)
    return tuple(dict.fromkeys(a for addresses in routes.values() for a in addresses))


class OutboxNotifier(Notifier):
    """Writes each alert as `<time>-<rule>-<alert id>.eml` into `directory`."""

    def __init__(self, directory: str | Path, sender: str = "voc-monitor@localhost",
                 recipients_by_severity: Mapping[str, Sequence[str]] | None = None,
                 link: Link = None, name: str = "outbox",
                 digest_recipients: Sequence[str] | None = None) -> None:
        self.directory = Path(directory)
        self.sender = sender
        self.routes = _check_recipients(recipients_by_severity, required=False)
        self.digest_recipients = _everyone(self.routes, digest_recipients)
        self.link = link
        self.name = name

    def path_for(self, alert: Alert) -> Path:
        rule = re.sub(r"[^A-Za-z0-9_-]", "_", alert.rule)[:40] or "rule"
        return self.directory / f"{alert.fired_at:%Y%m%dT%H%M%SZ}-{rule}-{alert.id}.eml"

    def digest_path_for(self, digest: Digest) -> Path:
        return self.directory / f"digest-{digest.day:%Y%m%d}.eml"

    def send(self, alert: Alert) -> None:
        msg = build_message(alert, self.sender, _route(self.routes, alert), self.link)
        self._write(msg, self.path_for(alert), f"alert={alert.id}")

    def send_digest(self, digest: Digest) -> None:
        msg = digest.email(self.sender, self.digest_recipients)
        self._write(msg, self.digest_path_for(digest), f"digest={digest.day}")

    def _write(self, msg: EmailMessage, path: Path, what: str) -> None:
        tmp_name = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=self.directory, suffix=".tmp",
                                             delete=False) as tmp:
                tmp_name = tmp.name
                tmp.write(msg.as_bytes())
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, path)  # readers never see a half-written .eml
        except OSError as exc:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
            raise DeliveryError(f"notifier={self.name} path={path}: {exc}") from exc
        log.info("notifier=%s %s path=%s", self.name, what, path)


class EmailNotifier(Notifier):
    """SMTP delivery; recipients chosen by the alert's severity (or the "default" list)."""

    def __init__(self, host: str, port: int, sender: str,
                 recipients_by_severity: Mapping[str, Sequence[str]], security: str = "starttls",
                 username: str | None = None, timeout: float = 10, link: Link = None,
                 name: str = "email", ssl_context: ssl.SSLContext | None = None,
                 digest_recipients: Sequence[str] | None = None) -> None:
        if security not in SECURITY_MODES:
            raise NotifierConfigError(f"smtp_security {security!r} not in {list(SECURITY_MODES)}")
        if not host:
            raise NotifierConfigError("smtp_host is empty")
        if username and not os.environ.get(PASSWORD_ENV):
            raise NotifierConfigError(f"smtp_user is set but {PASSWORD_ENV} is not in the environment")
        self.host, self.port, self.sender = host, int(port), sender
        self.routes = _check_recipients(recipients_by_severity, required=True)
        self.digest_recipients = _everyone(self.routes, digest_recipients)
        self.security, self.username, self.timeout = security, username, timeout
        self.link = link
        self.name = name
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        return (f"EmailNotifier(host={self.host!r}, port={self.port}, security={self.security!r}, "
                f"username={self.username!r})")

    def wants(self, alert: Alert) -> bool:
        return bool(_route(self.routes, alert))

    def send(self, alert: Alert, skip: frozenset[str] = frozenset()) -> None:
        """Mail the alert to its severity's recipients except `skip` (those an earlier, partly
        refused attempt reached: the runner passes them from the send journal)."""
        routed = _route(self.routes, alert)
        if not routed:
            raise DeliveryError(f"notifier={self.name} no recipients for severity={alert.severity}")
        recipients = [r for r in routed if r not in skip]
        if not recipients:
            return
        self._deliver(build_message(alert, self.sender, recipients, self.link), recipients,
                      f"alert={alert.id}")

    def send_digest(self, digest: Digest) -> None:
        if not self.digest_recipients:
            raise DeliveryError(f"notifier={self.name} no recipients for the digest")
        self._deliver(digest.email(self.sender, self.digest_recipients), self.digest_recipients,
                      f"digest={digest.day}")

    def _deliver(self, msg: EmailMessage, recipients: Sequence[str], what: str) -> None:
        context = self.ssl_context or ssl.create_default_context()
        try:
            if self.security == "ssl":
                connection = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with connection as smtp:  # quits and closes even when a command below fails
                if self.security == "starttls":
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, os.environ.get(PASSWORD_ENV, ""))
                refused = smtp.send_message(msg, from_addr=self.sender, to_addrs=list(recipients))
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"notifier={self.name} host={self.host} port={self.port}: "
                                f"{type(exc).__name__}: {exc}") from exc
        for address, (code, _reply) in refused.items():
            log.warning("notifier=%s %s refused=%s code=%s", self.name, what, address, code)
        log.info("notifier=%s %s host=%s recipients=%d", self.name, what, self.host,
                 len(recipients) - len(refused))
        if refused:  # accepted by some: say who has it, so a retry goes only to the others
            def reason(item: tuple[int, bytes]) -> str:
                return f"{item[0]} {item[1].decode('utf-8', 'replace')}"[:200]

            retry = {a: reason(v) for a, v in refused.items() if 400 <= v[0] < 500}
            final = {a: reason(v) for a, v in refused.items() if a not in retry}
            named = ", ".join(f"{a} ({r})" for a, r in {**retry, **final}.items())
            raise PartialDelivery(f"notifier={self.name} refused: {named}",
                                  delivered=[r for r in recipients if r not in refused], retry=retry,
                                  refused=final)


NOTIFIERS: dict[str, type[Notifier]] = {
    "outbox": OutboxNotifier,
    "email": EmailNotifier,
    "wecom": WeComNotifier,
    "dingtalk": DingTalkNotifier,
}
# The chat robots [notify.webhooks] may name; the settings schema reads them from this registry.
WEBHOOKS = registry("webhook")
for _robot in (WeComNotifier, DingTalkNotifier):
    WEBHOOKS.add(_robot.flavor, _robot)
