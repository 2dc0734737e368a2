"""Helpers for the alerts tests: records with a given time/topic/sentiment, hourly history, and the
checks of a delivered alert email (`check_message`) shared by the render and notify tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from core.record import DISPLAY_TZ, Feedback, Sentiment
from indexer.store import FeedbackStore, Filters

# Monday 2024-05-06 10:00 in Beijing: every test's "now".
NOW = datetime(2024, 5, 6, 10, 0, tzinfo=DISPLAY_TZ)
HOUR = timedelta(hours=1)
_serial = itertools.count()

_SCORES = {
    "negative": {"negative": 0.9, "neutral": 0.07, "positive": 0.03},
    "neutral": {"negative": 0.1, "neutral": 0.8, "positive": 0.1},
    "positive": {"negative": 0.02, "neutral": 0.08, "positive": 0.9},
}


def record(at: datetime, *, label: str = "negative", topic: str | None = "手机银行",
           source: str = "appstore", text: str | None = None, duplicate_of: str | None = None,
           url: str | None = None, topics: list[str] | None = None,
           scores: dict[str, float] | None = None) -> Feedback:
    n = next(_serial)
    return Feedback(
        id=f"r{n:07d}", source=source, kind="review", text=text or f"第{n}条：登录不了，一直转圈",
        created_at=at, url=url, sentiment=Sentiment(label, scores or _SCORES[label], "test"),
        topics=topics if topics is not None else [topic] if topic else [], duplicate_of=duplicate_of,
    )


def spread(start: datetime, count: int, **kwargs) -> list[Feedback]:
    """`count` records spread evenly over the hour starting at `start`."""
    step = HOUR / max(count, 1)
    return [record(start + i * step, **kwargs) for i in range(count)]


def hourly_history(end: datetime, hours: int, per_hour: int, **kwargs) -> Iterable[Feedback]:
    """`per_hour` records in each of the `hours` hours before `end` (plus one neutral record per hour,
    so the store shows the system was running)."""
    for h in range(1, hours + 1):
        start = end - h * HOUR
        yield from spread(start, per_hour, **kwargs)
        yield record(start + HOUR / 2, label="neutral", topic=None, source="weibo")


def fill(store: FeedbackStore, records: Iterable[Feedback]) -> int:
    batch = list(records)
    result = store.upsert(batch)
    assert result.stored == len(batch), result.failed
    return len(batch)


def spike_store(store: Any) -> None:
    """A week of 4 negatives an hour, then 36 in the last hour: one `spike_rules()` alert."""
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 4))
    fill(store, spread(NOW - HOUR, 36))


def spike_rules() -> list[Any]:
    from alerts import build_rule

    return [build_rule({"name": "spike", "type": "negative_spike", "baseline_weeks": 1})]


# The alert email (tests/alerts/conftest.py's `alert` fixture carries these).
EVIL = "<script>alert('x')</script> 客服态度差 & 不退款"
# The digest's day (NOW is 10:00 on it) and a hostile alert title in its history (the `day` fixture).
DAY = datetime(2024, 5, 6, tzinfo=DISPLAY_TZ)
EVIL_TITLE = "<script>x()</script> 理财 负面"
ROUTES = {"warning": ["pr@bank.example", "duty@bank.example"], "critical": ["cto@bank.example"]}


def series(store: FeedbackStore, hours: int = 48, baseline: float = 4.0) -> list[dict[str, Any]]:
    """What the rules put in details["series"]: the group's hourly negative counts, from the store."""
    filters = Filters(sentiment=("negative",), topics=("手机银行",), distinct_clusters=True)
    rows = store.counts(NOW - hours * HOUR, NOW, HOUR, ["topic"], filters)
    counts = {row.bucket: row.count for row in rows}
    return [{"t": (NOW - h * HOUR).astimezone(UTC).isoformat(), "count": counts.get(NOW - h * HOUR, 0),
             "baseline": baseline} for h in range(hours, 0, -1)]


def parts(msg: EmailMessage) -> dict[str, Any]:
    return {part.get_content_type(): part.get_content() for part in msg.walk()
            if not part.is_multipart()}


def check_chart(msg: EmailMessage, html: str) -> None:
    """The PNG is an inline part of a multipart/related beside the HTML, and the HTML shows it by cid."""
    [text_part, related] = msg.get_payload()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    [html_part, image] = related.get_payload()
    assert html_part.get_content_type() == "text/html" and image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline"
    png = image.get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 2_000 < len(png) < 60_000
    cid = image["Content-ID"].strip("<>")
    assert f'<img src="cid:{cid}"' in html


def check_message(raw: bytes, alert: Any) -> EmailMessage:
    """Everything the `alert` fixture's email must be, checked on its bytes as delivered."""
    assert b"<script>" not in raw
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head.lower()  # the Chinese subject is RFC 2047-encoded
    msg = message_from_bytes(raw, policy=default)
    assert msg["Subject"] == "[警告] 手机银行 负面 1 小时 38 条，基线 4"
    assert msg.get_content_type() == "multipart/alternative"
    content = parts(msg)
    assert set(content) == {"text/plain", "text/html", "image/png"}
    html, text = content["text/html"], content["text/plain"]
    check_chart(msg, html)
    assert "alert(&#x27;x&#x27;) 客服态度差 &amp; 不退款" in html  # tags dropped, the rest escaped
    assert '<span style="color:#b00">×3</span>' in html  # its cluster size
    assert "App Store]（×3） alert('x')" in text  # the source as a reader calls it, its cluster size
    assert "<script>" not in html
    assert 'href="https://tousu.example/c/1?a=1&amp;b=&lt;2&gt;"' in html
    assert "javascript:alert" not in html.split("看看 javascript 链接")[1].split("</tr>")[0]
    assert "alert('x') 客服态度差 & 不退款" in text  # plain text: tags dropped, nothing escaped
    # times in Beijing: the window 09:00-10:00 on 2024-05-06 (01:00-02:00 UTC)
    assert "2024-05-06 09:00 – 2024-05-06 10:00（北京时间）" in text
    assert "2024-05-06 09:00" in html and "+0800" in msg["Date"]
    assert "voc search '' --sentiment negative --since 2024-05-06T09:00" in text
    assert msg["X-VOC-Alert-Id"] == alert.id
    return msg
