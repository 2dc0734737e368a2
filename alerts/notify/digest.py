"""Delivering the daily digest: hand it to every notifier that takes digests, report who has it.

    report = send_digest(build_digest(store, day_start, day_end), notifiers)

A notifier takes digests when it is a `DigestNotifier` (outbox, email, the chat robots); the others
are listed in `report.skipped`, without being called. One failing delivery does not stop the others:
each `DeliveryError` is logged and kept in `report.failed`. Digests are not journaled: a failed one
is not retried (the next day's digest is the next news).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from alerts.digest import Digest
from alerts.errors import DeliveryError
from alerts.notify.base import DigestNotifier, Notifier

log = logging.getLogger(__name__)


@dataclass
class DigestReport:
    sent: list[str] = field(default_factory=list)  # notifier names
    failed: dict[str, str] = field(default_factory=dict)  # notifier name -> error
    skipped: list[str] = field(default_factory=list)  # notifiers that do not send digests


def send_digest(digest: Digest, notifiers: Sequence[Notifier]) -> DigestReport:
    """Hand `digest` to every notifier that sends digests; one failure does not stop the others."""
    report = DigestReport()
    for notifier in notifiers:
        if not isinstance(notifier, DigestNotifier):
            report.skipped.append(notifier.name)
            continue
        try:
            notifier.send_digest(digest)
        except DeliveryError as exc:
            log.warning("digest=%s notifier=%s delivery_failed=%s", digest.day, notifier.name, exc)
            report.failed[notifier.name] = str(exc)
            continue
        report.sent.append(notifier.name)
        log.info("digest=%s notifier=%s delivered", digest.day, notifier.name)
    return report
