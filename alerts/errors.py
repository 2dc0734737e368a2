"""Every error the alerts package raises, so callers catch one family.

    AlertError                 base of everything below
    ├── RuleConfigError        a `[[alerts.rules]]` table is invalid; names the rule and the key
    ├── NotifierConfigError    a notifier was built with unusable values (security mode, recipients)
    ├── CheckInProgress        another process holds the store's alert-check lock: this check skips
    └── DeliveryError          a notifier could not hand an alert over (SMTP refused, disk full);
        │                      the alert stays pending in the send journal and is retried
        └── PartialDelivery    some recipients have it, some refused it: only the temporarily
                               refused are retried (the journal keeps who has it)

Library errors (smtplib, OSError) are wrapped with `raise ... from exc`, so the cause stays visible.
"""

from __future__ import annotations


class AlertError(Exception):
    """Base class of the alerts package's errors."""


class RuleConfigError(AlertError):
    """A rule's settings table is invalid. `rule` is its name (or `#N` when it has none)."""

    def __init__(self, rule: str, key: str, message: str) -> None:
        self.rule = rule
        self.key = key
        super().__init__(f"alerts.rules[{rule}].{key}: {message}")


class NotifierConfigError(AlertError):
    """A notifier was configured with values it cannot work with; the message names the value."""


class DeliveryError(AlertError):
    """An alert could not be delivered by one notifier; it stays queued for the next run."""


class PartialDelivery(DeliveryError):
    """Some recipients took the alert and some refused it. `delivered` have it; `retry` refused
    it for now (SMTP 4xx) and get it again on the next attempt; `refused` (5xx) never will."""

    def __init__(self, message: str, delivered: list[str], retry: dict[str, str],
                 refused: dict[str, str]) -> None:
        super().__init__(message)
        self.delivered, self.retry, self.refused = delivered, retry, refused


class CheckInProgress(AlertError):
    """Another process is running an alert check on this store (it holds the "alerts:check" lock):
    two checks at once would both deliver what fired."""
