"""The alert email: one MIME message that the SMTP notifier sends and the outbox stores.

Structure (the chart part only when the alert carries `details["series"]`):

    multipart/alternative
    ├── text/plain
    └── multipart/related
        ├── text/html        <img src="cid:chart.<alert id>@voc-monitor">
        └── image/png        inline, Content-ID <chart.<alert id>@voc-monitor>

The Chinese subject is RFC 2047-encoded by the `email.policy.SMTP` policy; times are shown in
Asia/Shanghai; every piece of text that came from the internet (comments, titles, authors, URLs) is
HTML-escaped, and only http(s) links become links. Comments are the rule's cluster heads, with
identical texts from different clusters merged and their cluster sizes added. Recovery notices
("已恢复正常") and escalations ("升级") carry their own subject tag and banner. The "where to look"
line is the caller's link (a URL, or `link_for(alert)`, e.g. a Kibana Discover view), else the
`voc search` command that lists the same records.
"""

from __future__ import annotations

import logging
import shlex
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from html import escape

from alerts.alert import Alert
from alerts.chart import chart_png
from alerts.notifier import Link, resolve_link
from core.record import DISPLAY_TZ, Feedback, to_display
from nlp.mask import mask_pii
from nlp.normalize import strip_controls, strip_html

log = logging.getLogger(__name__)

MAX_SAMPLE_CHARS = 400
KIND_TAGS = {"escalation": "升级", "recovery": "已恢复正常"}


def one_line(text: str) -> str:
    """`text` as one line of plain characters: CR, LF and every other control, format (U+202E and
    friends) or line/paragraph separator becomes a space, and runs of spaces become one. Titles
    carry untrusted text (a source name, a term, a comment) into mail headers and chat titles."""
    cleaned = "".join(" " if unicodedata.category(c) in _NOT_INLINE else c for c in str(text))
    return " ".join(cleaned.split())


_NOT_INLINE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def subject_for(alert: Alert) -> str:
    """The one-line subject of the alert's email and chat message."""
    if alert.kind == "recovery":
        return one_line(f"[{KIND_TAGS['recovery']}] {alert.title}")
    tag = alert.severity_label + (f"·{KIND_TAGS['escalation']}" if alert.kind == "escalation" else "")
    return one_line(f"[{tag}] {alert.title}")


def banner_for(alert: Alert) -> str | None:
    """One sentence saying why this is not an ordinary alert, or None."""
    if alert.kind == "escalation":
        before = alert.details.get("previous_count")
        since = f"（上次告警 {before} 条）" if isinstance(before, int) else ""
        return f"升级：数量自上次告警以来至少翻倍{since}，现为 {alert.count} 条。"
    if alert.kind == "recovery":
        return f"已恢复正常：当前 {alert.count} 条，基线 {alert.baseline:.1f} 条。"
    return None


def search_command(alert: Alert) -> str:
    """The `voc search` command that lists the alert's records (naive times mean Asia/Shanghai)."""
    fmt = "%Y-%m-%dT%H:%M"
    parts = ["voc", "search", "", "--sentiment", "negative",
             "--since", alert.window_start.astimezone(DISPLAY_TZ).strftime(fmt),
             "--until", alert.window_end.astimezone(DISPLAY_TZ).strftime(fmt)]
    for field, flag in (("source", "--source"), ("topic", "--topic")):
        if field in alert.group and alert.group[field] != "(none)":
            parts += [flag, alert.group[field]]
    return " ".join(shlex.quote(p) for p in parts)


def new_message(subject: str, sender: str, recipients: Sequence[str], date: datetime,
                message_id: str) -> EmailMessage:
    """An empty message with the headers every voc email has (`date` tz-aware; shown in Beijing)."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = one_line(subject)  # a header: never a line break from untrusted text
    msg["From"] = sender
    if recipients:
        msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(date.astimezone(DISPLAY_TZ))
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
        html_part = msg.get_payload()[1]
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{chart_cid(alert)}>",
                              disposition="inline", filename="chart.png")
    return msg


def _window(alert: Alert) -> str:
    return f"{to_display(alert.window_start)} – {to_display(alert.window_end)}（北京时间）"


def figures(alert: Alert) -> list[tuple[str, str]]:
    return [("规则", alert.rule), ("分组", alert.key or "全部"), ("级别", alert.severity_label),
            ("时间窗", _window(alert)), ("数量", f"{alert.count} 条"),
            ("基线", f"{alert.baseline:.1f} 条"), ("倍数", f"{alert.ratio:.1f}×"),
            ("p 值", f"{alert.p_value:.2g}")]


def clip(text: str, limit: int = MAX_SAMPLE_CHARS) -> str:
    # People read the comment as text: Weibo HTML becomes its emoji alt text and topic names
    # (the HTML part escapes the result again; nothing from the internet is rendered as markup).
    text = " ".join(mask_pii(strip_html(strip_controls(text))).split())  # leaves the store: masked
    return text if len(text) <= limit else text[:limit] + "…"


def safe_url(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("https://", "http://")) else None


def representative(alert: Alert) -> list[tuple[Feedback, int]]:
    """The alert's comments with their cluster sizes, a text shown once (sizes of repeats added):
    the same complaint pasted by different accounts is one point, however many clusters it spans."""
    seen: dict[str, int] = {}
    out: list[tuple[Feedback, int]] = []
    for record in alert.samples:
        size = max(1, int(alert.cluster_sizes.get(record.id, 1)))
        key = "".join(clip(record.text).split()).lower()
        if key in seen:
            first, total = out[seen[key]]
            out[seen[key]] = (first, total + size)
            continue
        seen[key] = len(out)
        out.append((record, size))
    return out


def render_text(alert: Alert, link: str | None = None) -> str:
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


def _sample_html(record: Feedback, size: int) -> str:
    url = safe_url(record.url)
    text = escape(clip(record.text))
    if record.title:
        text = f"<b>{escape(clip(record.title))}</b><br>{text}"
    link = f' <a href="{escape(url, quote=True)}">原文</a>' if url else ""
    copies = f' <span style="color:#b00">×{size}</span>' if size > 1 else ""
    return (f"<tr><td style=\"white-space:nowrap;color:#666\">{escape(to_display(record.created_at))}<br>"
            f"{escape(record.source)}{copies}</td><td>{text}{link}</td></tr>")


_BANNER_STYLE = {"escalation": "background:#f2dede;color:#a94442;border:1px solid #ebccd1",
                 "recovery": "background:#dff0d8;color:#3c763d;border:1px solid #d6e9c6"}


def render_html(alert: Alert, link: str | None = None, cid: str | None = None) -> str:
    rows = "".join(f"<tr><th align=\"left\">{escape(n)}</th><td>{escape(v)}</td></tr>"
                   for n, v in figures(alert))
    banner = banner_for(alert)
    banner_html = (f"<p style=\"padding:8px;{_BANNER_STYLE[alert.kind]}\">{escape(banner)}</p>"
                   if banner else "")
    chart = (f"<p><img src=\"cid:{escape(cid, quote=True)}\" alt=\"近 48 小时负面数量与基线\" "
             f"width=\"640\" height=\"260\"></p>" if cid else "")
    comments = representative(alert)
    samples = ""
    if comments or alert.kind != "recovery":
        body = "".join(_sample_html(r, size) for r, size in comments) \
            or "<tr><td colspan=\"2\">（无）</td></tr>"
        samples = ("<h3>代表性负面评论（相似评论合并计数）</h3>"
                   f"<table cellpadding=\"4\" border=\"1\" style=\"border-collapse:collapse\">{body}</table>")
    url = safe_url(link)
    where = (f'<a href="{escape(url, quote=True)}">打开数据视图</a>' if url
             else f"<code>{escape(link or search_command(alert))}</code>")
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>"
        f"<h2>{escape(subject_for(alert))}</h2>{banner_html}"
        f"<table cellpadding=\"4\">{rows}</table>{chart}{samples}"
        f"<p>查看数据：{where}</p></body></html>"
    )
