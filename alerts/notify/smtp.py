"""Email over SMTP: `EmailNotifier`, with STARTTLS, SSL or none, recipients by severity.

    EmailNotifier(host, port, sender, recipients_by_severity, security="starttls", username=None)

The password comes only from the VOC_SMTP_PASSWORD environment variable, read at send time and
never stored or logged. The message is `alerts.render.message.build_message` (the digest's
`alerts.render.digest.digest_email`), the one the outbox stores. Recipients are chosen by the
alert's severity (`alerts.notify.recipients`); digests go to `digest_recipients` (default: everyone
who gets any alert). A server that accepts some recipients and refuses others raises
`PartialDelivery`: the runner records who has it and retries only the temporarily refused (4xx).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage

from pydantic import SecretStr

from alerts.alert import Alert
from alerts.digest import Digest
from alerts.errors import DeliveryError, NotifierConfigError, PartialDelivery
from alerts.notify.base import DigestNotifier, register_notifier
from alerts.notify.recipients import check_recipients, everyone, route
from alerts.render.digest import digest_email
from alerts.render.links import Link
from alerts.render.message import build_message

log = logging.getLogger(__name__)

PASSWORD_ENV = "VOC_SMTP_PASSWORD"
SECURITY_MODES = ("starttls", "ssl", "none")


@register_notifier("email")
class EmailNotifier(DigestNotifier):
    """SMTP delivery; recipients chosen by the alert's severity (or the "default" list)."""

    def __init__(self, host: str, port: int, sender: str,
                 recipients_by_severity: Mapping[str, Sequence[str]], security: str = "starttls",
                 username: str | None = None, timeout: float = 10, link: Link = None,
                 name: str = "email", ssl_context: ssl.SSLContext | None = None,
                 digest_recipients: Sequence[str] | None = None, password: str | None = None) -> None:
        if security not in SECURITY_MODES:
            raise NotifierConfigError(f"smtp_security {security!r} not in {list(SECURITY_MODES)}")
        if not host:
            raise NotifierConfigError("smtp_host is empty")
        if username and not password:
            raise NotifierConfigError(f"smtp_user is set but {PASSWORD_ENV} is not in the environment")
        # from Settings.secrets; never in repr or logs
        self._password = SecretStr(password) if password else None
        self.host, self.port, self.sender = host, int(port), sender
        self.routes = check_recipients(recipients_by_severity, required=True)
        self.digest_recipients = everyone(self.routes, digest_recipients)
        self.security, self.username, self.timeout = security, username, timeout
        self.link = link
        self.name = name
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        return (f"EmailNotifier(host={self.host!r}, port={self.port}, security={self.security!r}, "
                f"username={self.username!r})")

    def wants(self, alert: Alert) -> bool:
        return bool(route(self.routes, alert))

    def send(self, alert: Alert, skip: frozenset[str] = frozenset()) -> None:
        """Mail the alert to its severity's recipients except `skip` (those an earlier, partly
        refused attempt reached: the runner passes them from the send journal)."""
        routed = route(self.routes, alert)
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
        self._deliver(digest_email(digest, self.sender, self.digest_recipients), self.digest_recipients,
                      f"digest={digest.day}")

    def _deliver(self, msg: EmailMessage, recipients: Sequence[str], what: str) -> None:
        context = self.ssl_context or ssl.create_default_context()
        try:
            connection: smtplib.SMTP
            if self.security == "ssl":
                connection = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with connection as smtp:  # quits and closes even when a command below fails
                if self.security == "starttls":
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self._password.get_secret_value() if self._password else "")
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
