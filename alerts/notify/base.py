"""The `Notifier` contract every delivery shares, severity routing, and the notifier registries.

A notifier has a `name` (unique among those configured; the send journal records who already has an
alert), `wants(alert)` (severity routing) and `send(alert)` (abstract), which raises `DeliveryError`
when it cannot deliver, so the runner keeps the alert queued. A notifier that also delivers the
daily digest is a `DigestNotifier`, with an abstract `send_digest(digest)`; `send_digest` in
`alerts.notify.digest` skips the others (a capability, checked by type, not an exception).

Registries, filled by the notifier modules themselves (`@register_notifier`, `@register_webhook`):
`NOTIFIERS` maps a notifier kind (`outbox`, `email`, `wecom`, `dingtalk`) to its class; `WEBHOOKS`
(`core.registry("webhook")`) the chat robots `[notify.webhooks]` may name, which the settings schema
reads. `alerts.notify.notifier_kinds()` / `webhook_flavors()` give the names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TypeVar

from alerts.alert import Alert
from alerts.digest import Digest
from alerts.errors import NotifierConfigError
from core.record import SEVERITIES
from core.registry import registry


class Notifier(ABC):
    """Hands an alert to people. Subclasses implement `send`; `wants` routes by severity."""

    name = "notifier"

    def wants(self, alert: Alert) -> bool:
        """Whether this notifier should get `alert` at all (e.g. has recipients for its severity)."""
        return True

    @abstractmethod
    def send(self, alert: Alert) -> None:
        """Hand the alert over or raise DeliveryError. A notifier that raises PartialDelivery (some
        recipients have it) also takes `skip`, the recipients the journal says already have it."""


class DigestNotifier(Notifier):
    """A notifier that also delivers the daily digest."""

    @abstractmethod
    def send_digest(self, digest: Digest) -> None:
        """Hand the digest over or raise DeliveryError."""


NotifierClass = TypeVar("NotifierClass", bound=type[Notifier])

# notifier kind -> class, in registration order (see alerts/notify/__init__.py)
NOTIFIERS: dict[str, type[Notifier]] = {}
# The chat robots [notify.webhooks] may name; the settings schema reads them from this registry.
WEBHOOKS = registry("webhook")


def register_notifier(kind: str) -> Callable[[NotifierClass], NotifierClass]:
    """Class decorator: register a notifier class under `kind` in `NOTIFIERS`."""
    def add(cls: NotifierClass) -> NotifierClass:
        if NOTIFIERS.get(kind, cls) is not cls:
            raise ValueError(f"notifier kind {kind!r} is registered twice")
        NOTIFIERS[kind] = cls
        return cls
    return add


def register_webhook(cls: NotifierClass) -> NotifierClass:
    """Class decorator: a chat robot, registered by its `flavor` as a webhook and a notifier kind."""
    flavor: str = getattr(cls, "flavor", "")
    if not flavor:
        raise ValueError(f"{cls.__name__} has no flavor to register")
    WEBHOOKS.add(flavor, cls)
    return register_notifier(flavor)(cls)


def check_severities(severities: Iterable[str] | None, option: str = "severities") -> frozenset[str]:
    """The set of severities a notifier takes (None = all); an unknown tier is a config error."""
    if severities is None:
        return frozenset(SEVERITIES)
    if isinstance(severities, str):
        raise NotifierConfigError(f"{option}: expected a list of severities, got the string {severities!r}")
    chosen = frozenset(severities)
    unknown = sorted(chosen - set(SEVERITIES))
    if unknown:
        raise NotifierConfigError(f"{option}: unknown severity {unknown[0]!r}; use {list(SEVERITIES)}")
    if not chosen:
        raise NotifierConfigError(f"{option}: empty; leave it out to take every severity")
    return chosen
