"""One alert check: evaluate every rule, decide what to send, journal it, deliver it.

The runner ties the parts together: the rules (`alerts.rules`) decide what fires, the state
(`alerts.state`: last alert per key, silences, the send journal) decides what goes out, and the
notifiers (`alerts.notify`) deliver it.

`run_rules(rules, store, notifiers, now)` is what `voc alerts check`, the scheduler's alert job and
the demo call. Per alert, in this order (each step is a store write, so a crash between two steps
leaves something the next run completes, never a lost or doubled alert):

1. finish what an earlier run left pending in the send journal;
2. skip alerts whose `rule:key` is silenced;
3. suppress a repeat inside the realert window (default 6 h) unless the count at least doubled since
   the last alert (then it goes out as an "escalation");
4. journal the alert as pending (all of a rule's alerts, then the rule's cursor, see
   `Rule.commit`), record it as the key's last alert and in the store's history;
5. hand it to each notifier that wants it and does not have it yet; mark it sent when all have it.
   A DeliveryError leaves it pending with `next_attempt_at` backing off (1, 2, 4 ... 60 min); after
   `max_attempts` tries it is marked failed (shown by `voc alerts list`). A partial refusal
   (`PartialDelivery`: some SMTP recipients accepted) records who has it; the retry goes only to
   the recipients refused with a temporary (4xx) code. Any other exception from
   a notifier (a bug, an alert it cannot render) marks the entry failed at once with its reason,
   so one poisoned entry never stops the others.

Recovery: a key whose last message was an alert, that did not fire this check (not even held
back) and has been quiet for the rule's window since, gets a "recovery" notice through the same
journal; a later rise then alerts at once, whatever the realert window says.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.errors import AlertError, DeliveryError, PartialDelivery
from alerts.evidence import gather_evidence
from alerts.incidents import Firing, Incident, IncidentBook, evidence_ids, plan_check
from alerts.notify.base import Notifier
from alerts.notify.retry import due, next_attempt
from alerts.rules.rule import Rule
from alerts.state import AlertState, LastAlert, SendJournal, counted_as, silenced_until
from core.record import as_utc
from indexer.store import FeedbackStore

log = logging.getLogger(__name__)

DEFAULT_REALERT = timedelta(hours=6)
DEFAULT_MAX_ATTEMPTS = 10


@dataclass
class RunReport:
    """What one check did; alerts by outcome, journal ids for deliveries."""

    fired: list[Alert] = field(default_factory=list)  # messages decided this run, lead firings
    merged: list[Alert] = field(default_factory=list)  # firings carried in a message or an incident
    incidents: list[Incident] = field(default_factory=list)  # incidents opened or updated
    recorded: list[Alert] = field(default_factory=list)  # firings written to the alert history
    suppressed: list[Alert] = field(default_factory=list)
    silenced: list[Alert] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # alert ids every notifier now has
    pending: list[str] = field(default_factory=list)  # still queued after this run
    failed: list[str] = field(default_factory=list)  # given up after max_attempts
    errors: list[str] = field(default_factory=list)  # rules that could not be evaluated

    @property
    def ok(self) -> bool:
        return not self.errors


def decide(alert: Alert, state: AlertState, now: datetime, realert: timedelta,
           suppress_repeats: bool = True) -> str:
    """"alert", "escalation" or "suppressed" for an alert given its key's last alert."""
    if not suppress_repeats:
        return "alert"
    last = state.last(alert.state_key)
    if last is None or last.recovered or as_utc(now) >= last.fired_at + realert:
        return "alert"
    if last.count > 0 and alert.count >= 2 * last.count:  # 0 >= 2 * 0: a silence never "doubles"
        alert.details.setdefault("previous_count", last.count)
        return "escalation"
    return "suppressed"


def run_rules(rules: Sequence[Rule], store: FeedbackStore, notifiers: Sequence[Notifier],
              now: datetime, *, realert: timedelta = DEFAULT_REALERT, dry_run: bool = False,
              max_attempts: int = DEFAULT_MAX_ATTEMPTS, recovery: bool = True) -> RunReport:
    """Evaluate `rules` as of `now` and deliver what fires; `dry_run` decides but writes nothing."""
    now = as_utc(now)
    names = [n.name for n in notifiers]
    if len(set(names)) != len(names):
        raise AlertError(f"notifier names must be unique, got {names}")
    report = RunReport()
    state = AlertState(store)
    journal = SendJournal(store)
    book = IncidentBook(store)
    if not dry_run:
        for alert_id, entry in journal.pending().items():
            if not due(entry, now):  # backing off after a failed delivery
                report.pending.append(alert_id)
                continue
            _deliver(alert_id, entry, store, state, journal, book, notifiers, now, max_attempts, report)

    firings: list[Firing] = []
    recoveries: list[Alert] = []
    evaluated: list[Rule] = []
    for rule in rules:
        try:
            rule.write_cursor = not dry_run
            alerts = rule.evaluate(store, now)
        except Exception as exc:  # one broken rule must not silence the others; reported, not hidden
            log.exception("rule=%s at=%s error=%s", rule.name, now.isoformat(), type(exc).__name__)
            report.errors.append(f"{rule.name}: {type(exc).__name__}: {exc}")
            continue
        evaluated.append(rule)
        if recovery and rule.recovers:
            elevated = {a.state_key for a in alerts}
            recoveries += [_recovery(rule.name, last, now)
                           for key, last in state.open_keys(rule.name).items()
                           if key not in elevated and now >= last.fired_at + rule.quiet_period()]
        for alert in alerts:
            alert.details.setdefault("rule_type", rule.type_name)  # how the message words it
            until = silenced_until(store, alert.state_key, now)
            if until is not None:
                log.info("rule=%s key=%s silenced_until=%s", alert.rule, alert.key, until.isoformat())
                report.silenced.append(alert)
                continue
            outcome = decide(alert, state, now, realert, rule.suppress_repeats)
            if outcome == "suppressed":
                log.info("rule=%s key=%s count=%d suppressed=realert", alert.rule, alert.key, alert.count)
                report.suppressed.append(alert)
            else:
                alert.kind = outcome
            firings.append(Firing(alert, outcome, _evidence(rule, alert, store), rule.joins_incidents,
                                  rule.recovers, rule.quiet_period(), news=not rule.suppress_repeats))

    plan = plan_check(firings, recoveries, book, book.open(), now, stale_after=realert)
    for message in plan.messages:
        gather_evidence(message, store, now)
        report.fired.append(message)
        report.merged += message.related
        log.info("incident=%s rule=%s key=%s kind=%s count=%d baseline=%.2f p=%.3g related=%d",
                 message.incident or "-", message.rule, message.key, message.kind, message.count,
                 message.baseline, message.p_value, len(message.related))
    report.merged += plan.carried
    report.incidents = list(plan.incidents.values())
    if dry_run:
        return report
    # The messages are journaled first, then the incidents, then the rules' cursors (risk_term's
    # "checked up to"), so a failure before the cursor line re-finds the records next check, and
    # a crash before the incident line is mended when the journal entry is recorded.
    entries = [(message, journal.get(message.id) or journal.open(message, now)) for message in plan.messages]
    for incident in plan.incidents.values():
        book.save(incident)
    for alert in [*plan.quiet_updates, *plan.key_recoveries]:
        _record(alert, store, state, report)
    for rule in evaluated:
        rule.commit(store)
    for message, entry in entries:
        if entry["status"] == "pending" and due(entry, now):
            _deliver(message.id, entry, store, state, journal, book, notifiers, now, max_attempts, report)
        elif entry["status"] == "pending":
            report.pending.append(message.id)
    journal.prune(now)
    return report


def _evidence(rule: Rule, alert: Alert, store: FeedbackStore) -> frozenset[str]:
    try:
        return evidence_ids(rule, alert, store)
    except Exception:  # grouping is a courtesy; an alert is never held back for it
        log.exception("rule=%s key=%s evidence=failed", alert.rule, alert.key)
        return frozenset(r.id for r in alert.samples)


RECORDED_KINDS = ("alert", "escalation", "recovery")  # "update": carried as evidence only


def _record(alert: Alert, store: FeedbackStore, state: AlertState, report: RunReport) -> None:
    """The firing as its key's last alert and in the store's alert history."""
    if alert.kind not in RECORDED_KINDS:
        return
    report.recorded.append(alert)
    state.record(alert)
    store.add_alert({**alert.history_entry(), "created_at": alert.fired_at.isoformat()})


def _recovery(rule: str, last: LastAlert, now: datetime) -> Alert:
    """The notice that `rule:key` is back to normal, built from its last alert's state document."""
    doc = last.doc or {}
    key = doc.get("key", "")
    window = timedelta(minutes=float(doc.get("window_minutes", 60)))
    baseline = float(doc.get("baseline", 0.0))
    title = doc.get("title", f"{rule} {key}")
    return Alert(rule=rule, key=key, severity=doc.get("severity", "info"), window_start=now - window,
                 window_end=now, count=last.count, baseline=baseline, ratio=0.0, p_value=1.0,
                 title=f"已恢复正常：{title}", fired_at=now, group=dict(doc.get("group", {})),
                 kind="recovery", details={"previous_count": last.count,
                                           "alerted_at": last.fired_at.isoformat(), **counted_as(doc)})


def _deliver(alert_id: str, entry: dict[str, Any], store: FeedbackStore, state: AlertState,
             journal: SendJournal, book: IncidentBook, notifiers: Sequence[Notifier], now: datetime,
             max_attempts: int, report: RunReport) -> None:
    alert = Alert.from_dict(entry["alert"])
    if not entry.get("recorded"):
        for firing in alert.firings:
            _record(firing, store, state, report)
        if alert.incident:
            book.apply_message(alert, now)
        entry["recorded"] = True
        journal.save(alert_id, entry, now)
    delivered: list[str] = entry.setdefault("delivered", [])
    errors: list[str] = []
    broken: list[str] = []  # failures no retry can mend: the entry is marked failed at once
    for notifier in notifiers:
        if notifier.name in delivered:
            continue
        if not notifier.wants(alert):
            log.info("alert=%s notifier=%s skipped=not_routed severity=%s", alert_id, notifier.name,
                     alert.severity)
            continue
        done = entry.get("recipients", {}).get(notifier.name, {}).get("done")
        try:
            if done:  # an earlier attempt reached some recipients: only the others now
                notifier.send(alert, skip=frozenset(done))  # type: ignore[call-arg]  # see Notifier.send
            else:
                notifier.send(alert)
        except PartialDelivery as exc:
            mine = entry.setdefault("recipients", {}).setdefault(notifier.name, {"done": [], "refused": {}})
            mine["done"] = sorted({*mine["done"], *exc.delivered, *exc.refused})
            mine["refused"].update(exc.refused)  # refused for good (5xx): not retried, kept as said
            journal.save(alert_id, entry, now)  # who has it, before anything else can fail
            if exc.retry:
                log.warning("alert=%s notifier=%s partly_delivered=%d retry=%s", alert_id, notifier.name,
                            len(exc.delivered), ",".join(exc.retry))
                errors.append(f"{notifier.name}: {exc}")
                continue
            log.warning("alert=%s notifier=%s refused_for_good=%s", alert_id, notifier.name,
                        ",".join(exc.refused))
        except DeliveryError as exc:
            log.warning("alert=%s notifier=%s delivery_failed=%s", alert_id, notifier.name, exc)
            errors.append(f"{notifier.name}: {exc}")
            continue
        except Exception as exc:  # a bug or a poisoned alert: retrying cannot help, and it must not
            # stop the entries after it (every later check replays pending entries first)
            log.exception("alert=%s notifier=%s delivery_broken=%s", alert_id, notifier.name,
                          type(exc).__name__)
            broken.append(f"{notifier.name}: {type(exc).__name__}: {exc}")
            continue
        delivered.append(notifier.name)
        journal.save(alert_id, entry, now)  # each success at once, so a crash cannot resend it
        log.info("alert=%s notifier=%s delivered", alert_id, notifier.name)
    if broken:
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        entry["last_error"] = "; ".join(broken + errors)
        entry["status"] = "failed"
        report.failed.append(alert_id)
        log.error("alert=%s status=failed reason=%s", alert_id, entry["last_error"][:300])
    elif not errors:
        entry["status"] = "sent"
        report.sent.append(alert_id)
    else:
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        entry["last_error"] = "; ".join(errors)
        entry["next_attempt_at"] = next_attempt(entry["attempts"], now).isoformat()
        if entry["attempts"] >= max_attempts:
            entry["status"] = "failed"
            report.failed.append(alert_id)
            log.error("alert=%s status=failed attempts=%d", alert_id, entry["attempts"])
        else:
            report.pending.append(alert_id)
    journal.save(alert_id, entry, now)
