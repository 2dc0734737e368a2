"""The alert email: one MIME message that the SMTP notifier sends and the outbox stores.

multipart/alternative with a plain-text and an HTML part; the Chinese subject is RFC 2047-encoded by
the `email.policy.SMTP` policy; times are shown in Asia/Shanghai; every piece of text that came from
the internet (comments, titles, authors, URLs) is HTML-escaped, and only http(s) links become links.
The "where to look" line is the Kibana/search URL when the caller has one, else the `voc search`
command that lists the same records. (The inline 48 h chart is later work: it attaches here, as a
related part of the HTML alternative.)
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from html import escape

from alerts.alert import Alert
from nlp.normalize import strip_html
from voc.record import DISPLAY_TZ, Feedback, to_display

MAX_SAMPLE_CHARS = 400


def subject_for(alert: Alert) -> str:
    tag = alert.severity_label + ("·升级" if alert.kind == "escalation" else "")
    return f"[{tag}] {alert.title}"


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


def build_message(alert: Alert, sender: str, recipients: Sequence[str] = (),
                  link: str | None = None) -> EmailMessage:
    """The email for `alert`; `link` is a URL to the data (e.g. a Kibana Discover view)."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = subject_for(alert)
    msg["From"] = sender
    if recipients:
        msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(alert.fired_at.astimezone(DISPLAY_TZ))
    # deterministic, so a retried delivery is recognisable as the same message
    msg["Message-ID"] = f"<{alert.id}.{alert.kind}@voc-monitor>"
    msg["X-VOC-Alert-Id"] = alert.id
    msg["X-VOC-Rule"] = alert.rule
    msg["X-VOC-Severity"] = alert.severity
    msg.set_content(render_text(alert, link))
    msg.add_alternative(render_html(alert, link), subtype="html")
    return msg


def _window(alert: Alert) -> str:
    return f"{to_display(alert.window_start)} – {to_display(alert.window_end)}（北京时间）"


def _figures(alert: Alert) -> list[tuple[str, str]]:
    return [("规则", alert.rule), ("分组", alert.key or "全部"), ("级别", alert.severity_label),
            ("时间窗", _window(alert)), ("数量", f"{alert.count} 条"),
            ("基线", f"{alert.baseline:.1f} 条"), ("倍数", f"{alert.ratio:.1f}×"),
            ("p 值", f"{alert.p_value:.2g}")]


def _clip(text: str) -> str:
    # People read the comment as text: Weibo HTML becomes its emoji alt text and topic names
    # (the HTML part escapes the result again; nothing from the internet is rendered as markup).
    text = " ".join(strip_html(text).split())
    return text if len(text) <= MAX_SAMPLE_CHARS else text[:MAX_SAMPLE_CHARS] + "…"


def _safe_url(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("https://", "http://")) else None


def render_text(alert: Alert, link: str | None = None) -> str:
    lines = [subject_for(alert), ""]
    lines += [f"{name}：{value}" for name, value in _figures(alert)]
    lines += ["", "代表性负面评论（相似评论合并计数）："]
    for i, record in enumerate(alert.samples, 1):
        size = alert.cluster_sizes.get(record.id, 1)
        copies = f" ×{size}" if size > 1 else ""
        lines.append(f"{i}. [{to_display(record.created_at)} {record.source}{copies}] {_clip(record.text)}")
        if _safe_url(record.url):
            lines.append(f"   {record.url}")
    if not alert.samples:
        lines.append("（无）")
    lines += ["", "查看数据：" + (link or search_command(alert))]
    return "\n".join(lines) + "\n"


def _sample_html(record: Feedback, size: int) -> str:
    url = _safe_url(record.url)
    text = escape(_clip(record.text))
    if record.title:
        text = f"<b>{escape(_clip(record.title))}</b><br>{text}"
    link = f' <a href="{escape(url, quote=True)}">原文</a>' if url else ""
    copies = f' <span style="color:#b00">×{size}</span>' if size > 1 else ""
    return (f"<tr><td style=\"white-space:nowrap;color:#666\">{escape(to_display(record.created_at))}<br>"
            f"{escape(record.source)}{copies}</td><td>{text}{link}</td></tr>")


def render_html(alert: Alert, link: str | None = None) -> str:
    figures = "".join(f"<tr><th align=\"left\">{escape(n)}</th><td>{escape(v)}</td></tr>"
                      for n, v in _figures(alert))
    samples = "".join(_sample_html(r, alert.cluster_sizes.get(r.id, 1)) for r in alert.samples) \
        or "<tr><td colspan=\"2\">（无）</td></tr>"
    url = _safe_url(link)
    where = (f'<a href="{escape(url, quote=True)}">打开数据视图</a>' if url
             else f"<code>{escape(link or search_command(alert))}</code>")
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>"
        f"<h2>{escape(subject_for(alert))}</h2>"
        f"<table cellpadding=\"4\">{figures}</table>"
        "<h3>代表性负面评论（相似评论合并计数）</h3>"
        f"<table cellpadding=\"4\" border=\"1\" style=\"border-collapse:collapse\">{samples}</table>"
        f"<p>查看数据：{where}</p></body></html>"
    )
