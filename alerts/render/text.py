"""The words of an alert that every format shares: subject, banner, figures, comments, where to look.

The email (`alerts.render.message`), the robot markdown (`alerts.render.markdown`) and the digest
build on these, so an alert reads the same wherever it arrives:

- `one_line(text)`: untrusted text made one line of plain characters (headers, chat titles);
- `subject_for(alert)` / `banner_for(alert)`: the subject (`[警告] ...`, `[已恢复正常] ...`, a
  `·升级` tag for escalations) and the one sentence saying why an alert is not an ordinary one;
- `figures(alert)`: the (name, value) rows of the figures table, times in Asia/Shanghai;
- `clip(text)`: a comment as people read it (HTML → text, controls stripped, personal numbers
  masked, at most MAX_SAMPLE_CHARS); `safe_url(url)`: only http(s) URLs become links;
- `representative(alert)`: the rule's cluster heads, identical texts from different clusters merged
  and their cluster sizes added;
- `search_command(alert)`: the `voc search` command listing the alert's records, the "where to
  look" line when there is no link to a data view.
"""

from __future__ import annotations

import shlex
import unicodedata

from alerts.alert import Alert
from core.record import Feedback, display_tz, to_display, zone_label
from nlp.mask import mask_pii
from nlp.normalize import strip_controls, strip_html

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
    """The `voc search` command that lists the alert's records (naive times mean the display timezone)."""
    fmt = "%Y-%m-%dT%H:%M"
    score = alert.details.get("negative_score")  # the rule counted likely negatives too
    which = ["--min-negative", repr(float(score))] if score else ["--sentiment", "negative"]
    parts = ["voc", "search", "", *which,
             "--since", alert.window_start.astimezone(display_tz()).strftime(fmt),
             "--until", alert.window_end.astimezone(display_tz()).strftime(fmt)]
    for field, flag in (("source", "--source"), ("topic", "--topic")):
        if field in alert.group and alert.group[field] != "(none)":
            parts += [flag, alert.group[field]]
    return " ".join(shlex.quote(p) for p in parts)


def _window(alert: Alert) -> str:
    return f"{to_display(alert.window_start)} – {to_display(alert.window_end)}（{zone_label()}）"


def figures(alert: Alert) -> list[tuple[str, str]]:
    """The rows of the alert's figures table: (name, value)."""
    return [("规则", alert.rule), ("分组", alert.key or "全部"), ("级别", alert.severity_label),
            ("时间窗", _window(alert)), ("数量", f"{alert.count} 条"),
            ("基线", f"{alert.baseline:.1f} 条" + _floored(alert)), ("倍数", f"{alert.ratio:.1f}×"),
            ("p 值", f"{alert.p_value:.2g}")]


def _floored(alert: Alert) -> str:
    used = alert.details.get("baseline_used")
    if isinstance(used, int | float) and used > alert.baseline + 1e-9:
        return f"（检验按 {used:.1f} 条计，倍数 = 数量 ÷ {used:.1f}）"
    return ""


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
