"""The alert email: one MIME message that the SMTP notifier sends and the outbox stores.

Structure (the chart part only when the alert carries `details["series"]`):

    multipart/alternative
    ├── text/plain
    └── multipart/related
        ├── text/html        <img src="cid:chart.<alert id>@voc-monitor">
        └── image/png        inline, Content-ID <chart.<alert id>@voc-monitor>

The Chinese subject is RFC 2047-encoded by the `email.policy.SMTP` policy; times are shown in
Asia/Shanghai. The HTML part is the Jinja2 template `templates/alert_email.html` (autoescape on, see
`alerts.render.templates`): every piece of text that came from the internet (comments, titles,
authors, URLs) is escaped, and only http(s) links become links. The words (subject, banner, figures,
the representative comments, the `voc search` command) are `alerts.render.text`'s, shared with the
robot markdown. The "where to look" line is the caller's link (a URL, or `link_for(alert)`, e.g. a
Kibana Discover view), else the `voc search` command that lists the same records.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

from alerts.alert import Alert
from alerts.render.chart import chart_png
from alerts.render.links import Link, resolve_link
from alerts.render.templates import render
from alerts.render.text import one_line, subject_for
from alerts.render.view import MessageView, comment_notes, message_view
from core.record import display_tz

log = logging.getLogger(__name__)


def new_message(subject: str, sender: str, recipients: Sequence[str], date: datetime,
                message_id: str) -> EmailMessage:
    """An empty message with the headers every voc email has (`date` tz-aware; shown in Beijing)."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = one_line(subject)  # a header: never a line break from untrusted text
    msg["From"] = sender
    if recipients:
        msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(date.astimezone(display_tz()))
    msg["Message-ID"] = message_id
    return msg


def chart_cid(alert: Alert) -> str:
    return f"chart.{alert.id}.{alert.kind}@voc-monitor"


def alert_chart(alert: Alert) -> bytes | None:
    """The alert's 48 h chart, or None (no series, or a series the chart cannot read: logged, and
    the alert still goes out without it)."""
    series = alert.details.get("series")
    if not series:
        return None
    try:
        return chart_png(series, alert.window_start, alert.window_end)
    except ValueError as exc:
        log.warning("alert=%s rule=%s chart=skipped reason=%s", alert.id, alert.rule, exc)
        return None


def build_message(alert: Alert, sender: str, recipients: Sequence[str] = (),
                  link: Link = None, *, chart: bool = True) -> EmailMessage:
    """The email for `alert`; `link` is a URL to the data or `link_for(alert) -> URL | None`.
    A message of an incident's thread (escalation, recovery) answers its first message
    (In-Reply-To / References), so mail clients show the incident as one conversation."""
    url = resolve_link(link, alert)
    # deterministic, so a retried delivery is recognisable as the same message
    msg = new_message(subject_for(alert), sender, recipients, alert.fired_at,
                      f"<{alert.id}.{alert.kind}@voc-monitor>")
    if alert.thread and alert.thread != alert.id:
        first = f"<{alert.thread}.alert@voc-monitor>"
        msg["In-Reply-To"] = first
        msg["References"] = first
    msg["X-VOC-Alert-Id"] = alert.id
    msg["X-VOC-Rule"] = alert.rule
    msg["X-VOC-Severity"] = alert.severity
    msg["X-VOC-Kind"] = alert.kind
    if alert.incident:
        msg["X-VOC-Incident"] = alert.incident
    png = alert_chart(alert) if chart else None
    view = message_view(alert, url, link)
    msg.set_content(render_text(alert, url, view=view))
    msg.add_alternative(render_html(alert, url, chart_cid(alert) if png else None, view=view),
                        subtype="html")
    if png:
        html_part = list(msg.iter_parts())[1]  # the html alternative just added
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{chart_cid(alert)}>",
                              disposition="inline", filename="chart.png")
    return msg


def _comment_line(i: int, row: dict[str, Any]) -> list[str]:
    note = comment_notes(row)
    lines = [f"{i}. [{row['time']} {row['source']}]{note} {row['text']}"]
    if row["url"]:
        lines.append(f"   {row['url']}")
    return lines


def render_text(alert: Alert, link: str | None = None, *, view: MessageView | None = None) -> str:
    """The text/plain part: the same content as the HTML, in plain lines."""
    v = view or message_view(alert, link)
    lines = [v.subject, "", v.summary]
    if v.banner:
        lines += ["", v.banner]
    if v.incident_line:
        lines += [v.incident_line]
    if not v.recovery:
        lines += ["", "数据覆盖：" + ("" if v.coverage else "时间窗及基线期内各来源采集正常")]
        lines += [f"- {line}" for line in v.coverage]
    if v.clusters:
        lines += ["", "转发最多的帖子（相似评论合并计数）："]
        for i, row in enumerate(v.clusters, 1):
            lines += _comment_line(i, row)
    if v.originals or not v.recovery:
        lines += ["", f"{v.comments_heading}："]
        for i, row in enumerate(v.originals, 1):
            lines += _comment_line(i, row)
        if not v.originals:
            lines.append("（无）")
    if v.contributions:
        lines += ["", "构成："] + [f"{name}：{value}" for name, value in v.contributions]
    lines += ["", "下一步：", "查看数据：" + (v.link or v.command), "暂停通知：" + v.silence]
    lines += ["反馈：" + " ｜ ".join(f"{label} {target}" for label, target, _ in v.feedback)]
    lines += ["", "规则详情：", *(f"{name}：{value}" for name, value in v.figures)]
    if v.firings:
        lines += ["", "同一事件的其他信号："] + [f"- {line}" for line in v.firings]
    return "\n".join(lines) + "\n"


BANNER_STYLE = {"escalation": "background:#f2dede;color:#a94442;border:1px solid #ebccd1",
                "recovery": "background:#dff0d8;color:#3c763d;border:1px solid #d6e9c6"}


def render_html(alert: Alert, link: str | None = None, cid: str | None = None, *,
                view: MessageView | None = None) -> str:
    """The text/html part (`templates/alert_email.html`); `cid` names the inline chart, if any."""
    v = view or message_view(alert, link)
    return render("alert_email.html", v=v, banner_style=BANNER_STYLE.get(alert.kind, ""),
                  chart_cid=cid)
