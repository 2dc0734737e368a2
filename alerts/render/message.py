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
from alerts.render.text import (
    banner_for,
    clip,
    figures,
    one_line,
    representative,
    safe_url,
    search_command,
    subject_for,
)
from core.record import Feedback, display_tz, to_display

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
    """The email for `alert`; `link` is a URL to the data or `link_for(alert) -> URL | None`."""
    url = resolve_link(link, alert)
    # deterministic, so a retried delivery is recognisable as the same message
    msg = new_message(subject_for(alert), sender, recipients, alert.fired_at,
                      f"<{alert.id}.{alert.kind}@voc-monitor>")
    msg["X-VOC-Alert-Id"] = alert.id
    msg["X-VOC-Rule"] = alert.rule
    msg["X-VOC-Severity"] = alert.severity
    msg["X-VOC-Kind"] = alert.kind
    png = alert_chart(alert) if chart else None
    msg.set_content(render_text(alert, url))
    msg.add_alternative(render_html(alert, url, chart_cid(alert) if png else None), subtype="html")
    if png:
        html_part = list(msg.iter_parts())[1]  # the html alternative just added
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{chart_cid(alert)}>",
                              disposition="inline", filename="chart.png")
    return msg


def render_text(alert: Alert, link: str | None = None) -> str:
    """The text/plain part."""
    lines = [subject_for(alert), ""]
    banner = banner_for(alert)
    if banner:
        lines += [banner, ""]
    lines += [f"{name}：{value}" for name, value in figures(alert)]
    comments = representative(alert)
    if comments or alert.kind != "recovery":
        lines += ["", "代表性负面评论（相似评论合并计数）："]
    for i, (record, size) in enumerate(comments, 1):
        copies = f" ×{size}" if size > 1 else ""
        lines.append(f"{i}. [{to_display(record.created_at)} {record.source}{copies}] {clip(record.text)}")
        if safe_url(record.url):
            lines.append(f"   {record.url}")
    if not comments and alert.kind != "recovery":
        lines.append("（无）")
    lines += ["", "查看数据：" + (link or search_command(alert))]
    return "\n".join(lines) + "\n"


def comment_row(record: Feedback, size: int) -> dict[str, Any]:
    """One comment as the `comments_table` macro shows it (plain values; the template escapes)."""
    return {"time": to_display(record.created_at), "source": record.source, "copies": size,
            "title": clip(record.title) if record.title else None, "text": clip(record.text),
            "url": safe_url(record.url)}


BANNER_STYLE = {"escalation": "background:#f2dede;color:#a94442;border:1px solid #ebccd1",
                "recovery": "background:#dff0d8;color:#3c763d;border:1px solid #d6e9c6"}


def render_html(alert: Alert, link: str | None = None, cid: str | None = None) -> str:
    """The text/html part (`templates/alert_email.html`); `cid` names the inline chart, if any."""
    comments = representative(alert)
    banner = banner_for(alert)
    return render(
        "alert_email.html",
        subject=subject_for(alert),
        banner=banner,
        banner_style=BANNER_STYLE[alert.kind] if banner else "",
        figures=figures(alert),
        chart_cid=cid,
        show_comments=bool(comments) or alert.kind != "recovery",
        comments=[comment_row(record, size) for record, size in comments],
        link_url=safe_url(link),
        command=link or search_command(alert),
    )
