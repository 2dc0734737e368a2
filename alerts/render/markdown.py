"""Markdown for the chat robots (WeCom, DingTalk): an alert as a short message, untrusted text defused.

Comments come from the internet and the robots render markdown and mentions, so `md_text` makes a
comment inert rather than "escaped": it becomes one line of plain text (HTML → text, whitespace
folded, so no heading, quote or list can start), and every character that could open markup, a link
or a mention (`[ ] ( ) < > * _ ` # @ | ~ ! \\ $ &`) is replaced by its full-width twin, which reads
the same to a Chinese reader and which no markdown parser treats as syntax. `://` and `www.` get a
full-width colon/dot, so bare URLs are not auto-linked either. Only our own `[原文](url)` links, with
http(s) URLs percent-encoded so they cannot close the link early, are real links.

Size: WeCom takes at most 4096 bytes of markdown content, DingTalk about 20000; `fit` keeps the
head (what fired, the figures) and the tail (where to look) and drops comments from the end until
the message fits, saying how many were left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from alerts.alert import Alert
from alerts.render.text import clip, safe_url
from alerts.render.view import comment_notes, message_view
from core.record import display_tz, zone_label

WECOM_LIMIT = 4096
DINGTALK_LIMIT = 20000
SAMPLE_CHARS = 120
MAX_FIRING_LINES = 5  # the other firings of the incident listed in a chat message; the email has all
FLAVORS = ("wecom", "dingtalk")
# kept as they are in a link target; everything else (spaces, brackets, parentheses, quotes, <>) is
# percent-encoded so it cannot end the link
_URL_SAFE = ":/?#&=%+,;.-_~$'*@!"

_FULL_WIDTH = str.maketrans({
    "[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "*": "＊", "_": "＿",
    "`": "｀", "#": "＃", "@": "＠", "|": "｜", "~": "～", "!": "！", "\\": "＼", "$": "＄", "&": "＆",
})


def md_text(text: str, limit: int = SAMPLE_CHARS) -> str:
    """Untrusted text as one inert markdown line (see the module docstring)."""
    text = clip(text, limit).translate(_FULL_WIDTH)
    return text.replace("://", "：//").replace("www.", "www．").replace("WWW.", "WWW．")


def md_link(label: str, url: str | None) -> str | None:
    """`[label](url)` for an http(s) URL, with anything that could end the link percent-encoded."""
    url = safe_url(url)
    if url is None:
        return None
    return f"[{md_text(label)}]({quote(url, safe=_URL_SAFE)})"


def md_code(text: str) -> str:
    """A code span (commands); backticks and line breaks cannot occur in it."""
    return "`" + " ".join(text.replace("`", "'").split()) + "`"


def heading(text: str, severity: str, kind: str, flavor: str) -> str:
    """The first line; WeCom colours it (its three built-in colours), DingTalk shows it bold."""
    if flavor == "wecom":
        color = "info" if kind == "recovery" else "warning" if severity != "info" else "comment"
        return f'### <font color="{color}">{text}</font>'
    return f"### {text}"


def fit(head: Sequence[str], body: Sequence[str], tail: Sequence[str], limit: int, sep: str,
        more: str = "…另有 {n} 条未列出") -> str:
    """head + as many body lines as fit + tail, at most `limit` UTF-8 bytes."""
    def join(lines: Sequence[str]) -> str:
        return sep.join(lines)

    for keep in range(len(body), -1, -1):
        dropped = len(body) - keep
        lines = [*head, *body[:keep], *([more.format(n=dropped)] if dropped else []), *tail]
        text = join(lines)
        if len(text.encode("utf-8")) <= limit:
            return text
    # even head and tail do not fit (an absurd title): cut at a character boundary
    return text.encode("utf-8")[: limit - 3].decode("utf-8", "ignore") + "…"


def _md_comment(i: int, row: dict[str, Any]) -> str:
    note = comment_notes(row)
    source_link = md_link("原文", row["url"])
    return (f"{i}. {row['time'][5:16]} {md_text(row['source'], 40)}{note}：{md_text(row['text'])}"
            + (f" {source_link}" if source_link else ""))


def alert_markdown(alert: Alert, link: str | None, flavor: str, limit: int,
                   link_object: object = None) -> str:
    """The alert as robot markdown of at most `limit` bytes. `link` is already resolved (from
    `link_object`, which gives the feedback links when it is the console's). The same content as
    the email (`alerts.render.view`); comments are dropped from the end when it does not fit.
    Group robots have no threads: an escalation or recovery names its incident instead."""
    if flavor not in FLAVORS:
        raise ValueError(f"flavor {flavor!r} not in {list(FLAVORS)}")
    v = message_view(alert, link, link_object)
    sep = "\n" if flavor == "wecom" else "\n\n"  # DingTalk joins single-newline lines into one
    window = (f"{alert.window_start.astimezone(display_tz()):%m-%d %H:%M} – "
              f"{alert.window_end.astimezone(display_tz()):%m-%d %H:%M}（{zone_label()}）")
    head = [heading(md_text(v.subject, 200), alert.severity, alert.kind, flavor),
            f"**{md_text(v.summary, 400)}**"]
    if v.banner:
        head.append(f"> {v.banner}")
    if v.incident_line:
        head.append(md_text(v.incident_line, 200))
    if not v.recovery:
        head.append(f"**数量** {alert.count} 条 ｜ **基线** {alert.baseline:.1f} 条 ｜ "
                    f"**倍数** {alert.ratio:.1f}×")
    head += [f"**时间窗** {window} ｜ **规则** {md_text(alert.rule, 100)}"]
    if not v.recovery:
        coverage = [f"**数据覆盖** {md_text(line, 200)}" for line in v.coverage]
        head += coverage or ["**数据覆盖** 各来源采集正常"]
    body = []
    if v.clusters:
        body.append("**转发最多的帖子**")
        body += [_md_comment(i, row) for i, row in enumerate(v.clusters, 1)]
    if v.originals:
        body.append(f"**{v.comments_heading}**")
        body += [_md_comment(i, row) for i, row in enumerate(v.originals, 1)]
    body += [f"**{name}** {md_text(value, 200)}" for name, value in v.contributions]
    if v.firings:
        body.append(f"**同一事件的其他信号**（{len(v.firings)} 个）")
        body += [f"- {md_text(line, 200)}" for line in v.firings[:MAX_FIRING_LINES]]
        if len(v.firings) > MAX_FIRING_LINES:
            body.append(f"- …另有 {len(v.firings) - MAX_FIRING_LINES} 个，见邮件或 `voc alerts list`")
    url_link = md_link("查看数据", v.link)
    tail = [url_link if url_link else "查看数据：" + md_code(v.command),
            "暂停通知：" + md_code(v.silence),
            "反馈：" + " ｜ ".join((md_link(label, target) or label) if is_url
                                  else f"{label} {md_code(target)}" for label, target, is_url in v.feedback)]
    return fit(head, body, tail, limit, sep)
