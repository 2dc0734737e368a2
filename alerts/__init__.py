"""Alerts: rules that notice rising negative feedback, state that survives restarts, notifiers.

Public surface (what the pipeline, CLI, scheduler and demo call):

    rules = build_rules(settings.alerts.rules)           # or build_rule(table); RULE_TYPES registry
    notifiers = [OutboxNotifier("var/outbox"), EmailNotifier(host, port, sender, recipients, ...)]
    report = run_rules(rules, store, notifiers, now, realert=timedelta(hours=6))
    silence(store, "negative_spike:topic=信用卡", until)

See alerts/runner.py for the order of decisions and alerts/state.py for what is kept in the store.
"""

from alerts.alert import Alert
from alerts.duration import parse_duration
from alerts.errors import AlertError, DeliveryError, NotifierConfigError, RuleConfigError
from alerts.message import build_message
from alerts.negative_spike import NegativeSpike
from alerts.notifiers import NOTIFIERS, EmailNotifier, Notifier, OutboxNotifier
from alerts.rule import Rule
from alerts.rules import RULE_TYPES, build_rule, build_rules
from alerts.runner import RunReport, run_rules
from alerts.state import SendJournal, silence, silenced_until

__all__ = [
    "Alert", "AlertError", "DeliveryError", "EmailNotifier", "NOTIFIERS", "NegativeSpike", "Notifier",
    "NotifierConfigError", "OutboxNotifier", "RULE_TYPES", "Rule", "RuleConfigError", "RunReport",
    "SendJournal", "build_message", "build_rule", "build_rules", "parse_duration", "run_rules",
    "silence", "silenced_until",
]
