"""Records for the store tests, built with terse arguments (`build_record`); imported by name
(`from support.store_records import ...`) because a `conftest` module name is shared by every test folder."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.record import Feedback, Sentiment, make_id

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=SH)

_SCORES = {"negative": (0.9, 0.05, 0.05), "neutral": (0.1, 0.8, 0.1), "positive": (0.05, 0.05, 0.9)}


def build_record(text: str, *, at: datetime = T0, source: str = "appstore", kind: str = "review",
                 title: str | None = None, label: str | None = None, neg: float | None = None,
                 topics: Sequence[str] = (), risk: Sequence[tuple[str, str]] = (),
                 entities: Sequence[tuple[str, bool]] = (), duplicate_of: str | None = None,
                 key: str | None = None, **extra: Any) -> Feedback:
    """A record; `label`/`neg` set the sentiment, `risk` is (flag, severity), `entities` is
    (canonical, ours). The id derives from `key` (default: the text) and the source."""
    sentiment = None
    if label is not None or neg is not None:
        label = label or "negative"
        n, u, p = _SCORES[label]
        if neg is not None:
            n, u, p = neg, (1 - neg) / 2, (1 - neg) / 2
        sentiment = Sentiment(label, {"negative": n, "neutral": u, "positive": p}, model="test-v1")
    return Feedback(
        id=make_id(source, native_id=key or text), source=source, kind=kind, text=text,
        created_at=at, title=title, sentiment=sentiment, topics=list(topics),
        risk=[{"flag": f, "severity": s} for f, s in risk],
        entities=[{"type": "bank", "text": c, "canonical": c, "ours": o, "start": 0, "end": len(c)}
                  for c, o in entities],
        duplicate_of=duplicate_of, **extra)
