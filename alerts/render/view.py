"""One message as its reader sees it, whatever the channel: `message_view(alert, link)`.

The email's HTML and plain text (`alerts.render.message`) and the robot markdown
(`alerts.render.markdown`) render the same `MessageView`, so the three say the same thing:

1. the subject and one summary sentence in Chinese whose every number is the number the rule
   tested (`summary_for`), e.g. 「手机银行 负面评论 3 小时 47 条（平常约 0.2 条，按 0.5 条计 94 倍），
   13:05 起上升，主要来自微博和黑猫投诉；高频词：闪退、转账失败」;
2. for an escalation or a recovery, the banner saying so; the incident line (事件编号, which message);
3. the lead firing's figures, then the other firings of the incident (each rule's own words);
4. evidence: clusters by size (copies, distinct authors), then representative originals, then what
   contributes (sources, our bank vs competitors, products, branches);
5. coverage: sources blocked, failing or silent in the window or its baseline;
6. next steps: where to look (the console, Kibana or the `voc search` command), the silence command,
   and how to say 有用 / 误报 (a link on the console, else the `voc alerts feedback` command).

Every comment is clipped and masked (`clip`: personal numbers and names never leave the store).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration
from alerts.evidence import counted_score, source_name
from alerts.render.links import feedback_links
from alerts.render.text import (
    KIND_TAGS,
    banner_for,
    clip,
    figures,
    representative,
    safe_url,
    search_command,
    subject_for,
)
from alerts.rules.negative_spike import format_baseline
from core.record import Feedback, display_tz, parse_time, to_display

CONTRIBUTION_LABELS = (("sources", "来源"), ("banks", "银行"), ("products", "业务"), ("branches", "网点"))
VERDICTS = (("useful", "有用"), ("false_alarm", "误报"))


@dataclass
class MessageView:
    subject: str
    summary: str
    banner: str | None
    incident_line: str | None
    figures: list[tuple[str, str]]
    firings: list[str]  # the other firings, one line each
    clusters: list[dict[str, Any]]  # comment rows (see `comment_row`) with `authors`
    originals: list[dict[str, Any]]
    contributions: list[tuple[str, str]]
    coverage: list[str]
    link: str | None  # an http(s) URL to the data, or None
    command: str  # the `voc search` command (shown when there is no link)
    silence: str
    feedback: list[tuple[str, str, bool]] = field(default_factory=list)  # (label, URL or command, is URL)
    recovery: bool = False
    likely: bool = False  # a firing counted records by calibrated P(negative) (negative_score)

    @property
    def comments(self) -> list[dict[str, Any]]:
        return [*self.clusters, *self.originals]

    @property
    def comments_heading(self) -> str:
        """The heading over the comments: 代表性原帖 when clusters lead, else which negatives."""
        if self.clusters:
            return "代表性原帖"
        return "代表性负面（含疑似）评论" if self.likely else "代表性负面评论"


def comment_row(record: Feedback, copies: int = 1, authors: int | None = None,
                older: bool = False) -> dict[str, Any]:
    """One comment as every format shows it (plain values; the HTML template escapes)."""
    return {"id": record.id, "time": to_display(record.created_at), "source": source_name(record.source),
            "copies": copies, "authors": authors, "older": older,
            "title": clip(record.title) if record.title else None, "text": clip(record.text),
            "url": safe_url(record.url)}


def comment_notes(row: dict[str, Any]) -> str:
    """「（×13，13 位作者，原帖早于时间窗）」 for a comment row, "" when there is nothing to say:
    the email text and the robot markdown both write it."""
    notes = []
    if row["copies"] > 1:
        notes.append(f"×{row['copies']}" + (f"，{row['authors']} 位作者" if row.get("authors") else ""))
    if row.get("older"):
        notes.append("原帖早于时间窗")
    return f"（{'，'.join(notes)}）" if notes else ""


def _label(alert: Alert) -> str:
    return " · ".join(v for k, v in alert.group.items() if k not in ("cluster",)) or "全部"


def _joined(names: Sequence[str]) -> str:
    return "和".join(names) if len(names) <= 2 else "、".join(names[:-1]) + "和" + names[-1]


def tested_figures(alert: Alert) -> str:
    """「平常约 4 条，9 倍」 with the numbers the test used (the floored baseline when it was floored)."""
    used = alert.details.get("baseline_used")
    usual = format_baseline(alert.baseline)
    if isinstance(used, int | float) and used > alert.baseline + 1e-9:
        return f"平常约 {usual} 条，按 {format_baseline(used)} 条计 {alert.ratio:.0f} 倍"
    return f"平常约 {usual} 条，{alert.ratio:.1f} 倍".replace(".0 倍", " 倍")


def measure(alert: Alert) -> str:
    """What the lead firing counted, in the rule's own terms, with its numbers."""
    kind = alert.details.get("rule_type", "")
    span = describe_duration(alert.window_end - alert.window_start)
    if kind == "negative_spike":
        words = "负面（含疑似）评论" if alert.details.get("negative_score") else "负面评论"
        return f"{_label(alert)} {words} {span} {alert.count} 条（{tested_figures(alert)}）"
    if kind == "volume_spike":
        return f"{_label(alert)} 讨论量 {span} {alert.count} 条（{tested_figures(alert)}）"
    if kind == "emerging_term":
        term = alert.group.get("term", "")
        return f"新词「{term}」负面 {span} {alert.count} 条（{tested_figures(alert)}）"
    if kind == "negative_share":
        d = alert.details
        total = int(d.get("total", 0)) or 1
        return (f"{_label(alert)} 负面占比 {alert.count / total:.0%}（{alert.count}/{total} 条，{span}；"
                f"平常约 {float(d.get('baseline_share', 0.0)):.0%}）")
    return alert.title


def summary_for(alert: Alert) -> str:
    """The one summary sentence (see the module docstring)."""
    if alert.kind == "recovery":
        when = alert.details.get("alerted_at")
        since = f"（{to_display(parse_time(when, naive_tz=None))} 起的事件）" if when else ""
        usual = format_baseline(alert.baseline)
        return f"{_label(alert)} 已恢复正常{since}：当前 {alert.count} 条，平常约 {usual} 条。"
    parts = [measure(alert)]
    onset = alert.evidence.get("onset")
    if onset:
        parts.append(f"{parse_time(onset, naive_tz=None).astimezone(display_tz()):%H:%M} 起上升")
    sources = alert.evidence.get("contributions", {}).get("sources", [])
    total = sum(n for _, n in sources)
    if sources and total:
        main, covered = [], 0
        for name, n in sources:
            main.append(name)
            covered += n
            if covered >= total / 2 or len(main) == 2:
                break
        parts.append(f"主要来自{_joined(main)}")
    sentence = "，".join(parts)
    terms = [f.group["term"] for f in alert.firings if f.group.get("term")]
    if terms:
        sentence += "；高频词：" + "、".join(dict.fromkeys(terms))
    return sentence


def incident_line(alert: Alert) -> str | None:
    if not alert.incident:
        return None
    what = {"alert": "首次通知", "escalation": "升级通知", "recovery": "恢复通知"}.get(alert.kind, alert.kind)
    if alert.kind == "alert" and alert.thread and alert.thread != alert.id:
        what = "后续通知"
    rules = len({f.rule for f in alert.firings})
    return f"事件 {alert.incident} · {what} · 涉及 {rules} 条规则"


def firing_line(alert: Alert) -> str:
    tag = f"［{KIND_TAGS[alert.kind]}］" if alert.kind in KIND_TAGS else ""
    return f"{tag}{alert.title}（规则 {alert.rule}）"


def silence_command(alert: Alert) -> str:
    target = f"incident:{alert.incident}" if alert.incident else alert.state_key
    return " ".join(shlex.quote(p) for p in ("voc", "alerts", "silence", target, "--for", "24h"))


def feedback_steps(alert: Alert, link: object) -> list[tuple[str, str, bool]]:
    urls = feedback_links(link, alert)
    if urls:
        return [(label, urls[verdict], True) for verdict, label in VERDICTS if verdict in urls]
    return [(label, f"voc alerts feedback {alert.id} {verdict.replace('_', '-')}", False)
            for verdict, label in VERDICTS]


def _clusters(alert: Alert) -> list[dict[str, Any]]:
    rows = []
    for c in alert.evidence.get("clusters", []):
        record = Feedback.from_dict(c["head"])
        rows.append(comment_row(record, int(c["copies"]), int(c["authors"]),
                                older=not c.get("head_in_window", True)))
    return rows


def message_view(alert: Alert, link: str | None = None, link_object: object = None) -> MessageView:
    """The view of `alert` as a message; `link` is the resolved data link (URL or None),
    `link_object` what it was resolved from (a console link also gives feedback links)."""
    clusters = _clusters(alert)
    listed = {row["id"] for row in clusters}
    if "originals" in alert.evidence:
        originals = [comment_row(Feedback.from_dict(r)) for r in alert.evidence["originals"]]
    else:  # no evidence gathered (an old journal entry, a failure): the rule's own samples
        originals = [comment_row(r, size) for r, size in representative(alert)]
    originals = [row for row in originals if row["id"] not in listed]
    contributions = [(label, " · ".join(f"{name} {n}" for name, n in rows))
                     for key, label in CONTRIBUTION_LABELS
                     if (rows := alert.evidence.get("contributions", {}).get(key))]
    return MessageView(
        subject=subject_for(alert), summary=summary_for(alert), banner=banner_for(alert),
        incident_line=incident_line(alert), figures=figures(alert),
        firings=[firing_line(f) for f in alert.related],
        clusters=clusters, originals=originals, contributions=contributions,
        coverage=list(alert.evidence.get("coverage", [])), link=safe_url(link),
        command=link or search_command(alert), silence=silence_command(alert),
        feedback=feedback_steps(alert, link_object), recovery=alert.kind == "recovery",
        likely=counted_score(alert) is not None)

