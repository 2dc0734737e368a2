"""Settings → alert rules and notifiers, one check run and the daily digest: what `voc alerts`,
the scheduler and the demo call.

The alerts package takes plain values; this module is the one place that reads `[alerts]` and
`[notify]` for it. The outbox notifier is always on (every alert is also an .eml file); email is
added when `[notify] smtp_host` is set, and a chat robot for each URL in `[notify.webhooks]`.
Alert links go to the web console when `[web] url` is set, to Kibana Discover for the alert's
window and group on the Elasticsearch store when `[kibana] url` is set, else the message shows the
`voc search` command that lists the same records (`alert_link`).
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerts import EmailNotifier, Notifier, OutboxNotifier, RunReport, build_rules, run_rules
from alerts.digest import DigestSection, build_digest
from alerts.errors import CheckInProgress, NotifierConfigError, RuleConfigError
from alerts.notify.base import WEBHOOKS
from alerts.notify.digest import DigestReport, send_digest
from alerts.notify.webhook import WebhookNotifier
from alerts.render.links import ConsoleLinks, Link, discover_link_for
from core.errors import ConfigError
from core.settings import Settings
from indexer.store import FeedbackStore


def alert_link(settings: Settings) -> Link:
    """Where an alert message points a reader: the web console when `[web] url` is set; Kibana
    Discover when the store is Elasticsearch and `[kibana] url` is set (no Kibana runs beside the
    embedded store); else nothing, and the message shows the `voc search` command."""
    if settings.web.url:
        return ConsoleLinks(settings.web.url)
    if settings.store.backend == "elasticsearch" and settings.kibana.url:
        return discover_link_for(settings.kibana.url)
    return None


def notifiers_from_settings(settings: Settings, outbox: str | Path | None = None) -> list[Notifier]:
    notify = settings.notify
    link = alert_link(settings)
    recipients: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in notify.recipients.items()}
    if notify.operators:
        recipients["operators"] = tuple(notify.operators)
    digest_to = tuple(notify.digest_recipients) or None
    try:
        out: list[Notifier] = [OutboxNotifier(outbox or notify.outbox, sender=notify.smtp_from,
                                              recipients_by_severity=recipients, link=link,
                                              digest_recipients=digest_to)]
    except NotifierConfigError as exc:
        raise ConfigError(f"[notify] in {settings.source_path}: {exc}", key="notify") from exc
    if notify.smtp_host:
        try:
            out.append(EmailNotifier(notify.smtp_host, notify.smtp_port, notify.smtp_from, recipients,
                                     security=notify.smtp_security, username=notify.smtp_user or None,
                                     timeout=notify.smtp_timeout,
                                     password=settings.secrets.value("smtp_password"),
                                     link=link, digest_recipients=digest_to))
        except NotifierConfigError as exc:
            raise ConfigError(f"[notify] in {settings.source_path}: {exc}", key="notify") from exc
    for name, url in notify.webhooks.items():
        if not url:
            continue
        try:
            robot: type[WebhookNotifier] = WEBHOOKS[name]
            # a robot that takes a secret names its Settings.secrets field
            secret: dict[str, Any] = ({"secret": settings.secrets.value(robot.secret_name)}
                                      if robot.secret_name else {})
            out.append(robot(url, severities=notify.webhook_severities, link=link,
                             timeout=notify.webhook_timeout, **secret))
        except NotifierConfigError as exc:
            raise ConfigError(f"[notify.webhooks] {name} in {settings.source_path}: {exc}",
                              key=f"notify.webhooks.{name}") from exc
    return out


def rules_from_settings(settings: Settings) -> list[Any]:
    """The configured rules; `emerging_term` rules without `ignore` ignore our bank's own names (a
    bank monitor reads "江南银行" in every comment; it is never the news), and without `taxonomy`
    read the `[nlp] taxonomy` in use (its topic names and keywords are not new terms)."""
    names = [n for n in (settings.bank.name, *settings.bank.aliases) if n]
    taxonomy = str(settings.nlp.taxonomy) if settings.nlp.taxonomy else ""
    tables = []
    for table in settings.alerts.rules:
        if table.get("type") == "emerging_term":  # our names and the configured topics are no news
            table = {"ignore": names, **({"taxonomy": taxonomy} if taxonomy else {}), **table}
        tables.append(table)
    try:
        return build_rules(tables)
    except RuleConfigError as exc:
        raise ConfigError(f"[[alerts.rules]] in {settings.source_path}: {exc}", key="alerts.rules") from exc


CHECK_LOCK = "alerts:check"
CHECK_LOCK_TTL = timedelta(minutes=15)  # a check that died holding it frees it after this long


def run_configured_rules(settings: Settings, store: FeedbackStore, now: datetime | None = None,
                         outbox: str | Path | None = None, rules: list[Any] | None = None,
                         dry_run: bool = False) -> RunReport:
    """Evaluate the configured rules (or `rules`) once at `now` and deliver what fires, holding the
    store's alert-check lock (CheckInProgress while another process holds it). A dry run writes
    nothing, the lock included."""
    if dry_run:
        return _run_configured(settings, store, now, outbox, rules, dry_run)
    owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    if not store.lock(CHECK_LOCK, owner, CHECK_LOCK_TTL):
        raise CheckInProgress("another alert check is running on this store (lock alerts:check); "
                              "this one is skipped")
    try:
        return _run_configured(settings, store, now, outbox, rules, dry_run)
    finally:
        store.unlock(CHECK_LOCK, owner)


def _run_configured(settings: Settings, store: FeedbackStore, now: datetime | None,
                    outbox: str | Path | None, rules: list[Any] | None, dry_run: bool) -> RunReport:
    return run_rules(rules if rules is not None else rules_from_settings(settings), store,
                     notifiers_from_settings(settings, outbox), now or datetime.now(UTC),
                     realert=timedelta(hours=settings.alerts.realert_hours), dry_run=dry_run,
                     recovery=settings.alerts.recovery)


def send_daily_digest(settings: Settings, store: FeedbackStore, now: datetime | None = None,
                      outbox: str | Path | None = None) -> DigestReport:
    """The digest of the display-timezone day before `now`, to every notifier that takes digests."""
    tz = settings.display_tz
    today = (now or datetime.now(UTC)).astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    digest = build_digest(store, today - timedelta(days=1), today, tz)
    digest.sections.append(satisfaction_section(settings, store, today))
    return send_digest(digest, notifiers_from_settings(settings, outbox))


def satisfaction_section(settings: Settings, store: FeedbackStore, today: datetime) -> DigestSection:
    """The digest's satisfaction: CSAT by branch over the 30 days before `today` (care/)."""
    from care.satisfaction import csat_table

    table = csat_table(store, ["branch"], since=today - timedelta(days=30), until=today,
                       min_n=settings.satisfaction.min_n, tz=settings.display_tz)
    rows = [[("* " if g["small"] else "") + g["key"]["branch"], str(g["n"]), f"{g['csat']:.0%}",
             f"{g['csat_ci'][0]:.0%} – {g['csat_ci'][1]:.0%}"] for g in table.groups]
    return DigestSection("满意度（近 30 天，按网点）", ("网点", "回答数", "CSAT", "95% 区间"), rows,
                         note=f"{table.responses} 份问卷回答；"
                              "CSAT = 1-5 分制中 4-5 分的占比（其他量表取前 30 %）；"
                              f"* 少于 {settings.satisfaction.min_n} 份，不排名")


def describe_fired(report: RunReport, outbox: str | Path) -> list[dict[str, Any]]:
    """One plain dict per message decided (its lead firing; `related` counts the firings it
    carries), with the .eml the outbox notifier wrote for it."""
    out_notifier = OutboxNotifier(outbox)
    fired = []
    for a in report.fired:
        eml = out_notifier.path_for(a)
        fired.append({"id": a.id, "rule": a.rule, "key": a.key, "severity": a.severity,
                      "title": a.title, "count": a.count, "baseline": round(a.baseline, 2),
                      "kind": a.kind, "incident": a.incident, "related": len(a.related),
                      "related_keys": [r.state_key for r in a.related],
                      "sample_ids": [r.id for r in a.samples],
                      "eml": str(eml) if eml.exists() else None})
    return fired
