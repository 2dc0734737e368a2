"""The daily digest's words: its subject, the email (text + HTML) and the robot markdown.

    digest_subject(digest)      "[日报] 昨日（2024-05-06）舆情事件 1 个，告警 2 条，负面反馈 78 条"
    digest_email(digest, sender, recipients)    text/plain + text/html (templates/digest_email.html)
    digest_markdown(digest, flavor, limit)      WeCom / DingTalk markdown within `limit` bytes

The digest itself (`alerts.digest.Digest`) is data; these render it the way the alert email and
the alert markdown are rendered (`alerts.render.message`, `alerts.render.markdown`): the same
headers, the same defused markdown, the HTML escaped by the template environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

from alerts.alert import SEVERITY_LABELS
from alerts.digest import MAX_ALERTS, Digest, DigestRow
from alerts.incidents import Incident
from alerts.render.markdown import fit, heading, md_text
from alerts.render.message import new_message
from alerts.render.templates import render
from alerts.render.text import KIND_TAGS
from core.record import SEVERITIES

KIND_LABELS = {"alert": "告警", **KIND_TAGS}
COLUMNS = ("时间", "级别", "类型", "规则", "分组", "数量", "基线", "标题")


INCIDENT_COLUMNS = ("事件", "状态", "级别", "开始", "最近", "消息", "信号", "标题")


def digest_subject(digest: Digest) -> str:
    return (f"[日报] {digest.day_label}舆情事件 {len(digest.incidents)} 个，告警 {digest.fired} 条，"
            f"负面反馈 {digest.negative} 条")


def incident_cells(digest: Digest, incident: Incident) -> list[str]:
    """One incident of the day as the cells of INCIDENT_COLUMNS (its state as the digest is sent)."""
    fmt = "%m-%d %H:%M"
    return [incident.id, incident.status_label, SEVERITY_LABELS.get(incident.severity, incident.severity),
            incident.opened_at.astimezone(digest.tz).strftime(fmt),
            incident.updated_at.astimezone(digest.tz).strftime(fmt), str(len(incident.messages)),
            str(len(incident.keys)), incident.title]


def _span(digest: Digest) -> str:
    fmt = "%Y-%m-%d %H:%M"
    tz = digest.tz
    return (f"{digest.day_start.astimezone(tz):{fmt}} – {digest.day_end.astimezone(tz):{fmt}}"
            f"（{'北京时间' if tz.key == 'Asia/Shanghai' else tz.key}）")


def summary(digest: Digest) -> list[tuple[str, str]]:
    """The (name, value) rows at the top of every form of the digest."""
    by_severity = digest.by_severity
    severities = " ｜ ".join(f"{SEVERITY_LABELS[s]} {by_severity[s]}" for s in reversed(SEVERITIES))
    kinds = " ｜ ".join(f"{KIND_LABELS.get(k, k)} {n}" for k, n in sorted(digest.by_kind.items()))
    rules = " ｜ ".join(f"{rule} {n}" for rule, n in digest.by_rule.most_common()) or "—"
    return [("时间", _span(digest)), ("告警级别", severities), ("类型", kinds or "无告警"),
            ("按规则", rules),
            ("负面反馈", f"{digest.negative} 条 / 全部 {digest.total} 条"
                         f"（前一日负面 {digest.negative_before} 条）")]


def row_cells(digest: Digest, row: DigestRow) -> list[str]:
    """One alert of the day as the cells of COLUMNS."""
    return [row.at.astimezone(digest.tz).strftime("%H:%M"), SEVERITY_LABELS.get(row.severity, row.severity),
            KIND_LABELS.get(row.kind, row.kind), row.rule, row.key or "全部", str(row.count),
            f"{row.baseline:.1f}", row.title]


def digest_text(digest: Digest) -> str:
    """The text/plain part."""
    lines = [digest_subject(digest), ""] + [f"{name}：{value}" for name, value in summary(digest)]
    lines += ["", f"事件（{' '.join(INCIDENT_COLUMNS)}）："]
    lines += ["  ".join(incident_cells(digest, i)) for i in digest.incidents] or ["（无事件）"]
    for section in digest.sections:
        lines += ["", f"{section.title}（{' '.join(section.columns)}）：{section.note}"]
        lines += ["  ".join(row) for row in section.rows] or ["（无）"]
    lines += ["", "负面最多的话题（当日 / 前一日）："]
    lines += [f"{i}. {t}：{n} / {b}" for i, (t, n, b) in enumerate(digest.topics, 1)] or ["（无）"]
    lines += ["", f"当日告警（{' '.join(COLUMNS)}）："]
    lines += ["  ".join(row_cells(digest, r)) for r in digest.rows] or ["（无告警）"]
    if digest.truncated:
        lines.append(f"（只列出最近 {MAX_ALERTS} 条）")
    return "\n".join(lines) + "\n"


def digest_html(digest: Digest) -> str:
    """The text/html part (`templates/digest_email.html`)."""
    return render("digest_email.html", subject=digest_subject(digest), summary=summary(digest),
                  incident_columns=INCIDENT_COLUMNS, sections=digest.sections,
                  incidents=[incident_cells(digest, i) for i in digest.incidents],
                  topics=list(digest.topics), columns=COLUMNS,
                  rows=[row_cells(digest, r) for r in digest.rows], truncated=digest.truncated,
                  max_alerts=MAX_ALERTS)


def digest_email(digest: Digest, sender: str, recipients: Sequence[str] = ()) -> EmailMessage:
    """The digest email (deterministic Message-ID: one per day)."""
    msg = new_message(digest_subject(digest), sender, recipients, digest.day_end,
                      f"<digest.{digest.day:%Y%m%d}@voc-monitor>")
    msg["X-VOC-Digest"] = f"{digest.day:%Y-%m-%d}"
    msg.set_content(digest_text(digest))
    msg.add_alternative(digest_html(digest), subtype="html")
    return msg


def digest_markdown(digest: Digest, flavor: str, limit: int) -> str:
    """Robot markdown of at most `limit` bytes: summary and topics always, alerts as room allows."""
    sep = "\n" if flavor == "wecom" else "\n\n"
    head = [heading(md_text(digest_subject(digest), 200), "info", "digest", flavor)]
    head += [f"**{name}** {md_text(value, 300)}" for name, value in summary(digest)]
    for section in digest.sections:
        head.append(f"**{md_text(section.title, 60)}**")
        head += [f"- {md_text(' '.join(row), 200)}" for row in section.rows[:8]] or ["（无）"]
    head.append("**事件**")
    head += [f"- {md_text(i.title, 80)}（{i.status_label}，{len(i.keys)} 个信号）" for i in digest.incidents]
    head += [] if digest.incidents else ["（无事件）"]
    if digest.topics:
        head.append("**负面最多的话题**（当日 / 前一日）")
        head += [f"{i}. {md_text(t, 60)}：{n} / {b}" for i, (t, n, b) in enumerate(digest.topics, 1)]
    body = [f"- {r.at.astimezone(digest.tz):%H:%M} {KIND_LABELS.get(r.kind, r.kind)}·"
            f"{SEVERITY_LABELS.get(r.severity, r.severity)} {md_text(r.title, 80)}"
            for r in reversed(digest.rows)]
    if body:
        head.append("**当日告警**（新的在前）")
    return fit(head, body, [], limit, sep)
