"""Alerts: rules that notice rising negative feedback, state that survives restarts, notifiers.

Public surface (what the pipeline, CLI, scheduler and demo call):

    rules = build_rules(settings.alerts.rules)           # or build_rule(table); RULE_TYPES registry
    notifiers = [OutboxNotifier("var/outbox"), EmailNotifier(host, port, sender, recipients, ...)]
    report = run_rules(rules, store, notifiers, now, realert=timedelta(hours=6))
    silence(store, "negative_spike:topic=信用卡", until)

The map (each layer imports only the ones above it; nothing here imports `voc`):

    alert.py, errors.py, duration.py   the `Alert` value, the error family, "1h"/"30m" durations
    digest.py                          the daily digest's data (`build_digest`)
    stats/       tails (Poisson, negative binomial, binomial), seasonal baselines, 48 h series
    rules/       the rule types, each registering itself (`Rule`, `RULE_TYPES`, `build_rule`,
                 `rule_types()`), and their helpers (groups, terms)
    render/      the words, the email (Jinja2 templates in render/templates/), the robot
                 markdown, the chart, the digest's forms, links to the data
    notify/      delivery: the `Notifier` base, outbox, email (SMTP), webhook robots (WeCom,
                 DingTalk), retry backoff, `send_digest`; `notifier_kinds()`, `webhook_flavors()`
    state.py     last alert per key, silences, the send journal (all in the store)
    runner.py    one check: rules -> state -> journal -> notifiers (`run_rules`)
    backtest.py  replays past checks through `run_rules`, writing nothing

See alerts/runner.py for the order of decisions and alerts/state.py for what is kept in the store.
"""

from alerts.alert import Alert
from alerts.duration import parse_duration
from alerts.errors import AlertError, DeliveryError, NotifierConfigError, RuleConfigError
from alerts.notify import NOTIFIERS, EmailNotifier, Notifier, OutboxNotifier, notifier_kinds
from alerts.render.message import build_message
from alerts.rules import RULE_TYPES, NegativeSpike, Rule, build_rule, build_rules, rule_types
from alerts.runner import RunReport, run_rules
from alerts.state import SendJournal, silence, silenced_until

__all__ = [
    "Alert", "AlertError", "DeliveryError", "EmailNotifier", "NOTIFIERS", "NegativeSpike", "Notifier",
    "NotifierConfigError", "OutboxNotifier", "RULE_TYPES", "Rule", "RuleConfigError", "RunReport",
    "SendJournal", "build_message", "build_rule", "build_rules", "notifier_kinds", "parse_duration",
    "rule_types", "run_rules", "silence", "silenced_until",
]
