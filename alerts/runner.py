"""One alert check: evaluate every rule, decide what to send, journal it, deliver it.

`run_rules(rules, store, notifiers, now)` is what `voc alerts check`, the scheduler's alert job and
the demo call. Per alert, in this order (each step is a store write, so a crash between two steps
leaves something the next run completes, never a lost or doubled alert):

1. finish what an earlier run left pending in the send journal;
2. skip alerts whose `rule:key` is silenced;
3. suppress a repeat inside the realert window (default 6 h) unless the count at least doubled since
   the last alert (then it goes out as an "escalation");
4. journal the alert as pending, record it as the key's last alert and in the store's history;
5. hand it to each notifier that wants it and does not have it yet; mark it sent when all have it.
   A DeliveryError leaves it pending for the next run; after `max_attempts` runs it is marked failed.

Extension points for later work: recovery notices hook in where a key's last alert is looked up and
the key did not fire this time; digests read the history the runner writes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.errors import AlertError, DeliveryError
from alerts.notifiers import Notifier
from alerts.rule import Rule
from alerts.state import AlertState, SendJournal, silenced_until
from indexer.store import FeedbackStore
from voc.record import as_utc

log = logging.getLogger(__name__)

DEFAULT_REALERT = timedelta(hours=6)
DEFAULT_MAX_ATTEMPTS = 10


@dataclass
class RunReport:
    """What one check did; alerts by outcome, journal ids for deliveries."""

    fired: list[Alert] = field(default_factory=list)  # decided this run (new or escalation)
    suppressed: list[Alert] = field(default_factory=list)
    silenced: list[Alert] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # alert ids every notifier now has
    pending: list[str] = field(default_factory=list)  # still queued after this run
    failed: list[str] = field(default_factory=list)  # given up after max_attempts
    errors: list[str] = field(default_factory=list)  # rules that could not be evaluated

    @property
    def ok(self) -> bool:
        return not self.errors


def decide(alert: Alert, state: AlertState, now: datetime, realert: timedelta) -> str:
    """"alert", "escalation" or "suppressed" for an alert given its key's last alert."""
    last = state.last(alert.state_key)
    if last is None or as_utc(now) >= last.fired_at + realert:
        return "alert"
    if alert.count >= 2 * last.count:
        return "escalation"
    return "suppressed"


def run_rules(rules: Sequence[Rule], store: FeedbackStore, notifiers: Sequence[Notifier],
              now: datetime, *, realert: timedelta = DEFAULT_REALERT, dry_run: bool = False,
              max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> RunReport:
    """Evaluate `rules` as of `now` and deliver what fires; `dry_run` decides but writes nothing."""
    now = as_utc(now)
    names = [n.name for n in notifiers]
    if len(set(names)) != len(names):
        raise AlertError(f"notifier names must be unique, got {names}")
    report = RunReport()
    state = AlertState(store)
    journal = SendJournal(store)
    if not dry_run:
        for alert_id, entry in journal.pending().items():
            _deliver(alert_id, entry, store, state, journal, notifiers, now, max_attempts, report)

    for rule in rules:
        try:
            alerts = rule.evaluate(store, now)
        except Exception as exc:  # one broken rule must not silence the others; reported, not hidden
            log.exception("rule=%s at=%s error=%s", rule.name, now.isoformat(), type(exc).__name__)
            report.errors.append(f"{rule.name}: {type(exc).__name__}: {exc}")
            continue
        for alert in alerts:
            until = silenced_until(store, alert.state_key, now)
            if until is not None:
                log.info("rule=%s key=%s silenced_until=%s", alert.rule, alert.key, until.isoformat())
                report.silenced.append(alert)
                continue
            outcome = decide(alert, state, now, realert)
            if outcome == "suppressed":
                log.info("rule=%s key=%s count=%d suppressed=realert", alert.rule, alert.key, alert.count)
                report.suppressed.append(alert)
                continue
            alert.kind = outcome
            report.fired.append(alert)
            log.info("rule=%s key=%s kind=%s count=%d baseline=%.2f p=%.3g", alert.rule, alert.key,
                     alert.kind, alert.count, alert.baseline, alert.p_value)
            if dry_run:
                continue
            entry = journal.get(alert.id) or journal.open(alert, now)
            if entry["status"] == "pending":
                _deliver(alert.id, entry, store, state, journal, notifiers, now, max_attempts, report)
    if not dry_run:
        journal.prune(now)
    return report


def _deliver(alert_id: str, entry: dict[str, Any], store: FeedbackStore, state: AlertState,
             journal: SendJournal, notifiers: Sequence[Notifier], now: datetime, max_attempts: int,
             report: RunReport) -> None:
    alert = Alert.from_dict(entry["alert"])
    if not entry.get("recorded"):
        state.record(alert)
        store.add_alert({**alert.history_entry(), "created_at": alert.fired_at.isoformat()})
        entry["recorded"] = True
        journal.save(alert_id, entry, now)
    delivered: list[str] = entry.setdefault("delivered", [])
    errors = []
    for notifier in notifiers:
        if notifier.name in delivered:
            continue
        if not notifier.wants(alert):
            log.info("alert=%s notifier=%s skipped=not_routed severity=%s", alert_id, notifier.name,
                     alert.severity)
            continue
        try:
            notifier.send(alert)
        except DeliveryError as exc:
            log.warning("alert=%s notifier=%s delivery_failed=%s", alert_id, notifier.name, exc)
            errors.append(f"{notifier.name}: {exc}")
            continue
        delivered.append(notifier.name)
        journal.save(alert_id, entry, now)  # each success at once, so a crash cannot resend it
        log.info("alert=%s notifier=%s delivered", alert_id, notifier.name)
    if not errors:
        entry["status"] = "sent"
        report.sent.append(alert_id)
    else:
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        entry["last_error"] = "; ".join(errors)
        if entry["attempts"] >= max_attempts:
            entry["status"] = "failed"
            report.failed.append(alert_id)
            log.error("alert=%s status=failed attempts=%d", alert_id, entry["attempts"])
        else:
            report.pending.append(alert_id)
    journal.save(alert_id, entry, now)
