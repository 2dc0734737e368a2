"""The weekly service report: per team, what came in, what was resolved, how fast, and what 回访 did.

    report = weekly_report(book.all(), *last_week(now, tz), calendar)
    report_lines(report)        the text `voc report weekly` prints and the email carries
    report.to_dict()            `voc report weekly --json`
    report_email(report, sender, recipients)

For each team (and 合计, every team together), over the week [start, end):

- opened: cases created in the week; resolved: cases first resolved in the week;
- median time to resolve: of those resolved, first resolution minus opening, in hours and in
  working hours (the SLA's own clock);
- SLA met %: of the cases resolved in the week and the cases whose deadline fell in the week and
  that were still not resolved at its end (breaches count even before they are resolved), the
  share resolved by their deadline;
- called back: of the cases resolved in the week, the share with at least one 回访 (any outcome)
  by the time the report is made; reached: with one that reached the customer;
- satisfaction before and after 回访: the cases with a 回访 in the week that recorded the
  customer's satisfaction (1-5) and whose opening survey answer had a rating: the mean rating
  before, the mean satisfaction after, and how many (n). A survey on another scale than 1-5 is
  not comparable and is left out.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from alerts.render.message import new_message
from care.cases import Case
from care.sla import WorkingCalendar
from core.record import parse_time

TOTAL = "合计"
COLUMNS = ("团队", "新建", "解决", "解决时长中位数(小时)", "工作时长中位数", "SLA 达标", "回访率",
           "回访前满意度", "回访后满意度")


@dataclass
class TeamRow:
    team: str
    opened: int = 0
    resolved: int = 0
    median_hours: float | None = None
    median_working_hours: float | None = None
    sla_met: int = 0
    sla_counted: int = 0
    called_back: int = 0
    reached: int = 0
    satisfaction_before: float | None = None
    satisfaction_after: float | None = None
    satisfaction_n: int = 0

    @property
    def sla_met_share(self) -> float | None:
        return self.sla_met / self.sla_counted if self.sla_counted else None

    @property
    def called_back_share(self) -> float | None:
        return self.called_back / self.resolved if self.resolved else None


@dataclass
class WeeklyReport:
    start: datetime
    end: datetime
    tz: ZoneInfo
    teams: list[TeamRow]
    total: TeamRow

    @property
    def label(self) -> str:
        last = (self.end - timedelta(seconds=1)).astimezone(self.tz)
        return f"{self.start.astimezone(self.tz):%Y-%m-%d} – {last:%Y-%m-%d}"

    def to_dict(self) -> dict[str, Any]:
        def row(r: TeamRow) -> dict[str, Any]:
            return {**asdict(r), "sla_met_share": r.sla_met_share, "called_back_share": r.called_back_share}
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "week": self.label,
                "teams": [row(r) for r in self.teams], "total": row(self.total)}


def last_week(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to Monday 00:00 of the full week before `now`'s week, in `tz`."""
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday - timedelta(days=7), monday


def _within(value: datetime | None, start: datetime, end: datetime) -> bool:
    return value is not None and start <= value < end


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def team_row(team: str, cases: Sequence[Case], start: datetime, end: datetime,
             calendar: WorkingCalendar) -> TeamRow:
    row = TeamRow(team)
    row.opened = sum(_within(c.created_at, start, end) for c in cases)
    resolved = [c for c in cases if _within(c.first_resolved_at, start, end)]
    row.resolved = len(resolved)
    row.median_hours = _median([((c.first_resolved_at or c.created_at) - c.created_at).total_seconds() / 3600
                                for c in resolved])
    row.median_working_hours = _median([calendar.between(c.created_at, c.first_resolved_at or c.created_at)
                                        for c in resolved])
    breached = [c for c in cases if c.first_resolved_at is None and _within(c.due_at, start, end)]
    row.sla_counted = len(resolved) + len(breached)
    row.sla_met = sum(1 for c in resolved if c.sla_met)
    row.called_back = sum(1 for c in resolved if c.callbacks)
    row.reached = sum(1 for c in resolved if any(b["outcome"] == "reached" for b in c.callbacks))
    before, after = [], []
    for case in cases:
        rated = [b for b in case.callbacks if b.get("satisfaction") is not None
                 and _within(parse_time(b["at"], naive_tz=None), start, end)]
        if rated and case.rating_before is not None and 1 <= case.rating_before <= 5:
            before.append(float(case.rating_before))
            after.append(float(rated[-1]["satisfaction"]))
    row.satisfaction_before, row.satisfaction_after = _mean(before), _mean(after)
    row.satisfaction_n = len(after)
    return row


def weekly_report(cases: Sequence[Case], start: datetime, end: datetime, calendar: WorkingCalendar,
                  teams: Sequence[str] = ()) -> WeeklyReport:
    """The report of [start, end) for every team that has a case (and each of `teams`)."""
    names = sorted({*teams, *(c.team for c in cases)})
    rows = [team_row(name, [c for c in cases if c.team == name], start, end, calendar) for name in names]
    return WeeklyReport(start, end, calendar.tz, rows, team_row(TOTAL, cases, start, end, calendar))


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def cells(row: TeamRow) -> list[str]:
    satisfaction = (_num(row.satisfaction_before), f"{_num(row.satisfaction_after)} (n={row.satisfaction_n})")
    return [row.team, str(row.opened), str(row.resolved), _num(row.median_hours),
            _num(row.median_working_hours),
            f"{_share(row.sla_met_share)} ({row.sla_met}/{row.sla_counted})",
            f"{_share(row.called_back_share)} ({row.called_back}/{row.resolved})", *satisfaction]


def report_subject(report: WeeklyReport) -> str:
    t = report.total
    return (f"[周报] 工单 {report.label}：新建 {t.opened}，解决 {t.resolved}，"
            f"SLA 达标 {_share(t.sla_met_share)}，回访率 {_share(t.called_back_share)}")


def report_rows(report: WeeklyReport) -> list[list[str]]:
    """The table: the header, one row per team, then 合计."""
    return [list(COLUMNS), *(cells(r) for r in report.teams), cells(report.total)]


def report_email(report: WeeklyReport, text: str, sender: str, recipients: Sequence[str],
                 now: datetime) -> EmailMessage:
    """The report as an email: `text` (the printed table) and the same table in HTML."""
    msg = new_message(report_subject(report), sender, recipients, now,
                      f"<weekly-report.{report.start:%Y%m%d}@voc-monitor>")
    msg.set_content(text)
    head, *body = report_rows(report)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    msg.add_alternative(
        "<!DOCTYPE html><html><body style=\"font-family: 'PingFang SC', 'Noto Sans CJK SC', sans-serif\">"
        f"<h2>{html.escape(report_subject(report))}</h2><table border=\"1\" cellpadding=\"4\" "
        "style=\"border-collapse: collapse\"><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head)
        + f"</tr>{rows}</table><p>{html.escape(NOTE)}</p></body></html>", subtype="html")
    return msg


NOTE = ("SLA 达标：本周解决的工单与本周到期仍未解决的工单中，按期解决的比例；"
        "回访率：本周解决的工单中有回访记录的比例；满意度：本周回访记录了满意度（1-5）且有原始评分的工单，回访前后的平均分。")
