"""Delivery: notifiers hand an `Alert` (or the daily digest) to people.

    base.py        the `Notifier` contract (`send` abstract, `wants` routing), `DigestNotifier`
                   (also sends digests), the registries `NOTIFIERS` / `WEBHOOKS`, severity checks
    outbox.py      `OutboxNotifier(dir)`: one `.eml` per alert, written atomically
    smtp.py        `EmailNotifier(host, port, sender, recipients_by_severity, ...)`: SMTP email
    recipients.py  who gets an email: recipients by severity, operators, digest recipients
    webhook.py     `WebhookNotifier`: POST JSON to a chat robot, check its errcode
    wecom.py       `WeComNotifier` (企业微信), dingtalk.py `DingTalkNotifier` (钉钉)
    retry.py       `next_attempt` / `due`: the backoff of failed deliveries
    digest.py      `send_digest(digest, notifiers)` -> `DigestReport`

Every notifier raises `DeliveryError` when it cannot deliver, so the runner keeps the alert queued.
The notifier modules register themselves when imported; this package imports them all, in the
order their kinds are listed. `notifier_kinds()` gives the kinds, `webhook_flavors()` the chat
robots `[notify.webhooks]` may name (what the settings schema accepts).
"""

from __future__ import annotations

from alerts.notify.base import NOTIFIERS, WEBHOOKS, DigestNotifier, Notifier, check_severities

# isort: off
# Each import registers its notifier kind; this order is the order the kinds are listed in.
from alerts.notify.outbox import OutboxNotifier
from alerts.notify.smtp import EmailNotifier
from alerts.notify.wecom import WeComNotifier
from alerts.notify.dingtalk import DingTalkNotifier
# isort: on
from alerts.notify.digest import DigestReport, send_digest
from alerts.notify.retry import due, next_attempt
from alerts.notify.webhook import WebhookNotifier

__all__ = ["NOTIFIERS", "WEBHOOKS", "DigestNotifier", "DigestReport", "DingTalkNotifier", "EmailNotifier",
           "Notifier", "OutboxNotifier", "WeComNotifier", "WebhookNotifier", "check_severities", "due",
           "next_attempt", "notifier_kinds", "send_digest", "webhook_flavors"]


def notifier_kinds() -> tuple[str, ...]:
    """The registered notifier kinds (`outbox`, `email`, `wecom`, `dingtalk`), in registration order."""
    return tuple(NOTIFIERS)


def webhook_flavors() -> tuple[str, ...]:
    """The registered chat robots (`wecom`, `dingtalk`): the keys `[notify.webhooks]` may name."""
    return WEBHOOKS.names()
