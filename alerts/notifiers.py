"""Notifiers: hand an `Alert` to people. Registered by name in `NOTIFIERS`.

Each notifier has a `name` (unique among those configured; the send journal records who already has
an alert), `wants(alert)` (severity routing) and `send(alert)`, which raises `DeliveryError` when it
cannot deliver, so the runner keeps the alert queued. Both build the same message (`alerts.message`).

- `OutboxNotifier(dir)`: one `.eml` file per alert, written atomically; re-sending the same alert
  rewrites the same file. Where email goes when no SMTP server is configured.
- `EmailNotifier(host, port, sender, recipients_by_severity, security, username)`: SMTP with
  STARTTLS, SSL or none; the password comes only from the VOC_SMTP_PASSWORD environment variable,
  read at send time and never stored or logged.

WeCom/DingTalk webhooks are later work and register here.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from alerts.alert import Alert
from alerts.errors import DeliveryError, NotifierConfigError
from alerts.message import build_message
from voc.record import SEVERITIES

log = logging.getLogger(__name__)

PASSWORD_ENV = "VOC_SMTP_PASSWORD"
SECURITY_MODES = ("starttls", "ssl", "none")


class Notifier:
    name = "notifier"

    def wants(self, alert: Alert) -> bool:
        """Whether this notifier should get `alert` at all (e.g. has recipients for its severity)."""
        return True

    def send(self, alert: Alert) -> None:
        raise NotImplementedError


def _check_recipients(recipients_by_severity: Mapping[str, Sequence[str]] | None,
                      required: bool) -> dict[str, tuple[str, ...]]:
    routes: dict[str, tuple[str, ...]] = {}
    for severity, addresses in (recipients_by_severity or {}).items():
        if severity not in (*SEVERITIES, "default"):
            raise NotifierConfigError(f"recipients: unknown severity {severity!r}; "
                                      f"use {list(SEVERITIES)} or 'default'")
        if isinstance(addresses, str) or not all(isinstance(a, str) and "@" in a for a in addresses):
            raise NotifierConfigError(f"recipients.{severity}: expected a list of email addresses")
        routes[severity] = tuple(addresses)
    if required and not any(routes.values()):
        raise NotifierConfigError("recipients: no email address for any severity")
    return routes


def _route(routes: Mapping[str, tuple[str, ...]], severity: str) -> tuple[str, ...]:
    return routes.get(severity) or routes.get("default") or ()


class OutboxNotifier(Notifier):
    """Writes each alert as `<time>-<rule>-<alert id>.eml` into `directory`."""

    def __init__(self, directory: str | Path, sender: str = "voc-monitor@localhost",
                 recipients_by_severity: Mapping[str, Sequence[str]] | None = None,
                 link: str | None = None, name: str = "outbox") -> None:
        self.directory = Path(directory)
        self.sender = sender
        self.routes = _check_recipients(recipients_by_severity, required=False)
        self.link = link
        self.name = name

    def path_for(self, alert: Alert) -> Path:
        rule = re.sub(r"[^A-Za-z0-9_-]", "_", alert.rule)[:40] or "rule"
        return self.directory / f"{alert.fired_at:%Y%m%dT%H%M%SZ}-{rule}-{alert.id}.eml"

    def send(self, alert: Alert) -> None:
        msg = build_message(alert, self.sender, _route(self.routes, alert.severity), self.link)
        path = self.path_for(alert)
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
        log.info("notifier=%s alert=%s path=%s", self.name, alert.id, path)


class EmailNotifier(Notifier):
    """SMTP delivery; recipients chosen by the alert's severity (or the "default" list)."""

    def __init__(self, host: str, port: int, sender: str,
                 recipients_by_severity: Mapping[str, Sequence[str]], security: str = "starttls",
                 username: str | None = None, timeout: float = 10, link: str | None = None,
                 name: str = "email", ssl_context: ssl.SSLContext | None = None) -> None:
        if security not in SECURITY_MODES:
            raise NotifierConfigError(f"smtp_security {security!r} not in {list(SECURITY_MODES)}")
        if not host:
            raise NotifierConfigError("smtp_host is empty")
        if username and not os.environ.get(PASSWORD_ENV):
            raise NotifierConfigError(f"smtp_user is set but {PASSWORD_ENV} is not in the environment")
        self.host, self.port, self.sender = host, int(port), sender
        self.routes = _check_recipients(recipients_by_severity, required=True)
        self.security, self.username, self.timeout = security, username, timeout
        self.link = link
        self.name = name
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        return (f"EmailNotifier(host={self.host!r}, port={self.port}, security={self.security!r}, "
                f"username={self.username!r})")

    def wants(self, alert: Alert) -> bool:
        return bool(_route(self.routes, alert.severity))

    def send(self, alert: Alert) -> None:
        recipients = _route(self.routes, alert.severity)
        if not recipients:
            raise DeliveryError(f"notifier={self.name} no recipients for severity={alert.severity}")
        msg = build_message(alert, self.sender, recipients, self.link)
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
            log.warning("notifier=%s alert=%s refused=%s code=%s", self.name, alert.id, address, code)
        log.info("notifier=%s alert=%s host=%s recipients=%d", self.name, alert.id, self.host,
                 len(recipients) - len(refused))


NOTIFIERS: dict[str, type[Notifier]] = {
    "outbox": OutboxNotifier,
    "email": EmailNotifier,
}
