"""The weekly service report (care.report), made from settings and sent as an email, beside the
daily digest (`voc.alerting.send_daily_digest`): what `voc report weekly` and `voc run` call.

    report = build_weekly_report(settings, store, now)
    lines = report_text(report)                        # voc.cli.cases: the table, by display width
    delivery = send_report(settings, report, "\n".join(lines), now)   # the outbox .eml, and SMTP

The email goes through the configured notifiers' own delivery (`notifiers_from_settings`): the
outbox writes `weekly-report-<monday>.eml`, the SMTP notifier sends it. It goes to every team's
lead and the digest's recipients (`[notify] digest_recipients`, else everyone who gets alerts). A
failed delivery is reported, not retried: next week's report is the next news.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from alerts import EmailNotifier, OutboxNotifier
from alerts.errors import DeliveryError
from alerts.notify.digest import DigestReport
from care.cases import CaseBook
from care.report import WeeklyReport, last_week, report_email, weekly_report
from care.sla import WorkingCalendar
from core.settings import Settings
from indexer.store import FeedbackStore
from voc.alerting import notifiers_from_settings

log = logging.getLogger(__name__)


def build_weekly_report(settings: Settings, store: FeedbackStore, now: datetime | None = None,
                        start: datetime | None = None, end: datetime | None = None) -> WeeklyReport:
    """The report of the full week before `now` (or [start, end)), every configured team listed."""
    tz = settings.display_tz
    week = last_week(now or datetime.now(UTC), tz)
    calendar = WorkingCalendar(settings.cases.working_hours, tz)
    return weekly_report(CaseBook.from_settings(settings, store).all(), start or week[0], end or week[1],
                         calendar, teams=tuple(settings.cases.teams))


def report_recipients(settings: Settings) -> tuple[str, ...]:
    leads = [a for team in settings.cases.teams.values() for a in team["lead"]]
    others = settings.notify.digest_recipients or [a for addresses in settings.notify.recipients.values()
                                                   for a in addresses]
    return tuple(dict.fromkeys([*leads, *others]))


def send_report(settings: Settings, report: WeeklyReport, text: str, now: datetime | None = None,
                outbox: str | Path | None = None) -> DigestReport:
    """Hand the report email (`text` and its HTML table) to the outbox and, when configured, SMTP;
    one failure does not stop the other."""
    delivery = DigestReport()
    recipients = report_recipients(settings)
    msg = report_email(report, text, settings.notify.smtp_from, recipients, now or datetime.now(UTC))
    for notifier in notifiers_from_settings(settings, outbox):
        try:
            if isinstance(notifier, OutboxNotifier):
                path = notifier.directory / f"weekly-report-{report.start.astimezone(report.tz):%Y%m%d}.eml"
                notifier._write(msg, path, f"report={report.label}")  # the outbox's atomic write
            elif isinstance(notifier, EmailNotifier) and recipients:
                notifier._deliver(msg, recipients, f"report={report.label}")  # its SMTP session
            else:
                delivery.skipped.append(notifier.name)
                continue
        except DeliveryError as exc:
            log.warning("report=%s notifier=%s delivery_failed=%s", report.label, notifier.name, exc)
            delivery.failed[notifier.name] = str(exc)
            continue
        delivery.sent.append(notifier.name)
    return delivery
