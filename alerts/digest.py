"""The daily digest: what fired during one (Beijing) day, and where the negative feedback was.

    digest = build_digest(store, day_start, day_end, tz)      # e.g. yesterday 00:00 – today 00:00
    report = send_digest(digest, notifiers)                   # every notifier's send_digest

`build_digest` reads the alert history the runner writes (`store.alerts(since=...)`) and the store's
counts: alerts by rule, severity and kind, a table of every alert of the day, the topics with the
most negative records (against the span before, so "up from 12" is visible) and the day's totals.
A `Digest` renders itself as an email (text + HTML, built like the alert email) and as robot
markdown within a byte limit. A day without alerts still gets a digest: "nothing fired" is news
the PR team wants to know is true rather than guess from silence.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from alerts.alert import SEVERITY_LABELS
from alerts.errors import DeliveryError
from alerts.markdown import fit, heading, md_text
from alerts.message import KIND_TAGS, new_message
from alerts.notifier import Notifier
from core.record import DISPLAY_TZ, SEVERITIES, as_utc, parse_time
from indexer.store import NONE_KEY, FeedbackStore, Filters

log = logging.getLogger(__name__)

TOP_TOPICS = 10
MAX_ALERTS = 5000
KIND_LABELS = {"alert": "告警", **KIND_TAGS}
COLUMNS = ("时间", "级别", "类型", "规则", "分组", "数量", "基线", "标题")


@dataclass
class DigestRow:
    """One alert of the day, from the history entry the runner stored."""

    at: datetime
    rule: str
    key: str
    severity: str
    kind: str
    count: int
    baseline: float
    title: str


@dataclass
class Digest:
    day_start: datetime
    day_end: datetime
    tz: ZoneInfo
    rows: list[DigestRow] = field(default_factory=list)  # oldest first
    topics: list[tuple[str, int, int]] = field(default_factory=list)  # topic, negatives, before
    negative: int = 0
    total: int = 0
    negative_before: int = 0
    truncated: bool = False  # more alerts than MAX_ALERTS in the history; the table shows the newest

    @property
    def day(self) -> date:
        return self.day_start.astimezone(self.tz).date()

    @property
    def by_rule(self) -> Counter[str]:
        return Counter(r.rule for r in self.rows)

    @property
    def by_severity(self) -> Counter[str]:
        return Counter(r.severity for r in self.rows if r.kind != "recovery")

    @property
    def by_kind(self) -> Counter[str]:
        return Counter(r.kind for r in self.rows)

    @property
    def subject(self) -> str:
        fired = len(self.rows) - self.by_kind["recovery"]
        return f"[日报] {self.day:%Y-%m-%d} 舆情告警 {fired} 条，负面反馈 {self.negative} 条"

    def _span(self) -> str:
        fmt = "%Y-%m-%d %H:%M"
        return (f"{self.day_start.astimezone(self.tz):{fmt}} – {self.day_end.astimezone(self.tz):{fmt}}"
                f"（{'北京时间' if self.tz.key == 'Asia/Shanghai' else self.tz.key}）")

    def summary(self) -> list[tuple[str, str]]:
        severities = " ｜ ".join(f"{SEVERITY_LABELS[s]} {self.by_severity[s]}" for s in reversed(SEVERITIES))
        kinds = " ｜ ".join(f"{KIND_LABELS.get(k, k)} {n}" for k, n in sorted(self.by_kind.items()))
        rules = " ｜ ".join(f"{rule} {n}" for rule, n in self.by_rule.most_common()) or "—"
        return [("时间", self._span()), ("告警级别", severities), ("类型", kinds or "无告警"),
                ("按规则", rules),
                ("负面反馈", f"{self.negative} 条 / 全部 {self.total} 条"
                             f"（前一日负面 {self.negative_before} 条）")]

    def _row_cells(self, row: DigestRow) -> list[str]:
        return [row.at.astimezone(self.tz).strftime("%H:%M"), SEVERITY_LABELS.get(row.severity, row.severity),
                KIND_LABELS.get(row.kind, row.kind), row.rule, row.key or "全部", str(row.count),
                f"{row.baseline:.1f}", row.title]

    def text(self) -> str:
        lines = [self.subject, ""] + [f"{name}：{value}" for name, value in self.summary()]
        lines += ["", "负面最多的话题（今日 / 前一日）："]
        lines += [f"{i}. {t}：{n} / {b}" for i, (t, n, b) in enumerate(self.topics, 1)] or ["（无）"]
        lines += ["", f"当日告警（{' '.join(COLUMNS)}）："]
        lines += ["  ".join(self._row_cells(r)) for r in self.rows] or ["（无告警）"]
        if self.truncated:
            lines.append(f"（只列出最近 {MAX_ALERTS} 条）")
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        summary = "".join(f"<tr><th align=\"left\">{escape(n)}</th><td>{escape(v)}</td></tr>"
                          for n, v in self.summary())
        right = "<td align=\"right\">"
        topics = "".join(f"<tr><td>{escape(t)}</td>{right}{n}</td>{right}{b}</td></tr>"
                         for t, n, b in self.topics) or "<tr><td colspan=\"3\">（无）</td></tr>"
        head = "".join(f"<th>{h}</th>" for h in COLUMNS)
        rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in self._row_cells(r)) + "</tr>"
                       for r in self.rows) or "<tr><td colspan=\"8\">（无告警）</td></tr>"
        table = "cellpadding=\"4\" border=\"1\" style=\"border-collapse:collapse\""
        more = f"<p>（只列出最近 {MAX_ALERTS} 条）</p>" if self.truncated else ""
        return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>"
                f"<h2>{escape(self.subject)}</h2><table cellpadding=\"4\">{summary}</table>"
                f"<h3>负面最多的话题</h3><table {table}><tr><th>话题</th><th>今日</th><th>前一日</th></tr>"
                f"{topics}</table><h3>当日告警</h3><table {table}><tr>{head}</tr>{rows}</table>{more}"
                "</body></html>")

    def email(self, sender: str, recipients: Sequence[str] = ()) -> EmailMessage:
        msg = new_message(self.subject, sender, recipients, self.day_end,
                          f"<digest.{self.day:%Y%m%d}@voc-monitor>")
        msg["X-VOC-Digest"] = f"{self.day:%Y-%m-%d}"
        msg.set_content(self.text())
        msg.add_alternative(self.html(), subtype="html")
        return msg

    def markdown(self, flavor: str, limit: int) -> str:
        """Robot markdown of at most `limit` bytes: summary and topics always, alerts as room allows."""
        sep = "\n" if flavor == "wecom" else "\n\n"
        head = [heading(md_text(self.subject, 200), "info", "digest", flavor)]
        head += [f"**{name}** {md_text(value, 300)}" for name, value in self.summary()]
        if self.topics:
            head.append("**负面最多的话题**（今日 / 前一日）")
            head += [f"{i}. {md_text(t, 60)}：{n} / {b}" for i, (t, n, b) in enumerate(self.topics, 1)]
        body = [f"- {r.at.astimezone(self.tz):%H:%M} {KIND_LABELS.get(r.kind, r.kind)}·"
                f"{SEVERITY_LABELS.get(r.severity, r.severity)} {md_text(r.title, 80)}"
                for r in reversed(self.rows)]
        if body:
            head.append("**当日告警**（新的在前）")
        return fit(head, body, [], limit, sep)


def build_digest(store: FeedbackStore, day_start: datetime, day_end: datetime,
                 tz: ZoneInfo | str = DISPLAY_TZ, *, top: int = TOP_TOPICS) -> Digest:
    """The digest of [day_start, day_end) (naive times mean `tz`)."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    start, end = parse_time(day_start, naive_tz=tz), parse_time(day_end, naive_tz=tz)
    if end <= start:
        raise ValueError(f"day_end {end.isoformat()} is not after day_start {start.isoformat()}")
    history = store.alerts(since=start, limit=MAX_ALERTS)
    rows = [_row(entry) for entry in history]
    rows = sorted((r for r in rows if r.at < end), key=lambda r: r.at)
    negative = Filters(sentiment=("negative",))
    before = start - (end - start)
    today = _by_topic(store, start, end, negative)
    previous = _by_topic(store, before, start, negative)
    topics = sorted(((t, n, previous.get(t, 0)) for t, n in today.items() if t != NONE_KEY),
                    key=lambda item: (-item[1], item[0]))[:top]
    by_sentiment = {row.key["sentiment"]: row.count
                    for row in store.counts(start, end, None, ["sentiment"])}
    negative_before = sum(r.count for r in store.counts(before, start, None, (), negative))
    digest = Digest(start, end, tz, rows, topics, by_sentiment.get("negative", 0),
                    sum(by_sentiment.values()), negative_before, len(history) >= MAX_ALERTS)
    log.info("digest day=%s alerts=%d negative=%d topics=%d", digest.day, len(rows), digest.negative,
             len(topics))
    return digest


def _by_topic(store: FeedbackStore, start: datetime, end: datetime, filters: Filters) -> dict[str, int]:
    return {row.key["topic"]: row.count for row in store.counts(start, end, None, ["topic"], filters)}


def _row(entry: dict[str, Any]) -> DigestRow:
    try:
        return DigestRow(as_utc(parse_time(entry["created_at"], naive_tz=None)), entry["rule"],
                         entry.get("key", ""), entry.get("severity", "warning"), entry.get("kind", "alert"),
                         int(entry.get("count", 0)), float(entry.get("baseline", 0.0)),
                         entry.get("title", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"alert history entry {entry.get('id', '?')}: {type(exc).__name__}: {exc}") from exc


@dataclass
class DigestReport:
    sent: list[str] = field(default_factory=list)  # notifier names
    failed: dict[str, str] = field(default_factory=dict)  # notifier name -> error
    skipped: list[str] = field(default_factory=list)  # notifiers that do not send digests


def send_digest(digest: Digest, notifiers: Sequence[Notifier]) -> DigestReport:
    """Hand `digest` to every notifier; one failure does not stop the others (all are reported)."""
    report = DigestReport()
    for notifier in notifiers:
        try:
            notifier.send_digest(digest)
        except NotImplementedError:
            report.skipped.append(notifier.name)
            continue
        except DeliveryError as exc:
            log.warning("digest=%s notifier=%s delivery_failed=%s", digest.day, notifier.name, exc)
            report.failed[notifier.name] = str(exc)
            continue
        report.sent.append(notifier.name)
        log.info("digest=%s notifier=%s delivered", digest.day, notifier.name)
    return report
