"""Settings → alert rules and notifiers, and one check run: what `voc alerts run` and the demo call.

The alerts package takes plain values; this module is the one place that reads `[alerts]` and
`[notify]` for it. The outbox notifier is always on (every alert is also an .eml file); email is
added when `[notify] smtp_host` is set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerts import EmailNotifier, Notifier, OutboxNotifier, RunReport, build_rules, run_rules
from alerts.errors import NotifierConfigError, RuleConfigError
from indexer.store import FeedbackStore
from voc.errors import ConfigError


def notifiers_from_settings(settings: Any, outbox: str | Path | None = None) -> list[Notifier]:
    notify = settings.notify
    link = settings.kibana.url or None
    recipients = {k: tuple(v) for k, v in notify.recipients.items()}
    out: list[Notifier] = [OutboxNotifier(outbox or notify.outbox, sender=notify.smtp_from,
                                          recipients_by_severity=recipients, link=link)]
    if notify.smtp_host:
        try:
            out.append(EmailNotifier(notify.smtp_host, notify.smtp_port, notify.smtp_from, recipients,
                                     security=notify.smtp_security, username=notify.smtp_user or None,
                                     link=link))
        except NotifierConfigError as exc:
            raise ConfigError(f"[notify] in {settings.source_path}: {exc}", key="notify") from exc
    return out


def rules_from_settings(settings: Any) -> list[Any]:
    try:
        return build_rules(settings.alerts.rules)
    except RuleConfigError as exc:
        raise ConfigError(f"[[alerts.rules]] in {settings.source_path}: {exc}", key="alerts.rules") from exc


def run_configured_rules(settings: Any, store: FeedbackStore, now: datetime | None = None,
                         outbox: str | Path | None = None, rules: list[Any] | None = None) -> RunReport:
    """Evaluate the configured rules (or `rules`) once at `now` and deliver what fires."""
    return run_rules(rules if rules is not None else rules_from_settings(settings), store,
                     notifiers_from_settings(settings, outbox), now or datetime.now(UTC),
                     realert=timedelta(hours=settings.alerts.realert_hours))


def describe_fired(report: RunReport, outbox: str | Path) -> list[dict[str, Any]]:
    """One plain dict per alert fired, with the .eml the outbox notifier wrote for it."""
    out_notifier = OutboxNotifier(outbox)
    fired = []
    for a in report.fired:
        eml = out_notifier.path_for(a)
        fired.append({"rule": a.rule, "key": a.key, "severity": a.severity, "title": a.title,
                      "count": a.count, "baseline": round(a.baseline, 2), "kind": a.kind,
                      "eml": str(eml) if eml.exists() else None})
    return fired
