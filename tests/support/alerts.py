"""Helpers for the alerts tests: records with a given time/topic/sentiment, and hourly history."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from core.record import DISPLAY_TZ, Feedback, Sentiment
from indexer.store import FeedbackStore

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
           url: str | None = None, topics: list[str] | None = None) -> Feedback:
    n = next(_serial)
    return Feedback(
        id=f"r{n:07d}", source=source, kind="review", text=text or f"第{n}条：登录不了，一直转圈",
        created_at=at, url=url, sentiment=Sentiment(label, _SCORES[label], "test"),
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
