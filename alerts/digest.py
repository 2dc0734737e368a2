"""The daily digest: what fired during one (Beijing) day, and where the negative feedback was.

    digest = build_digest(store, day_start, day_end, tz)      # e.g. yesterday 00:00 – today 00:00
    report = send_digest(digest, notifiers)                   # alerts.notify.digest

`build_digest` reads the alert history the runner writes (`store.alerts(since=...)`), the incidents
(`alerts.incidents`: every one open during the day, with its state now) and the store's counts:
alerts by rule, severity and kind, a row for every alert of the day, the topics with the most
negative records (against the span before, so "up from 12" is visible) and the day's totals. The
digest goes out the next morning, so it names its day 「昨日」 with the date, never 「今日」. A day
without alerts still gets a digest: "nothing fired" is news the PR team wants to know is true rather
than guess from silence.

This module is the digest's data only. Its email (text + HTML) and robot markdown are
`alerts.render.digest`; handing it to the notifiers that take digests is `alerts.notify.digest`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.incidents import Incident, IncidentBook
from core.record import as_utc, display_tz, parse_time
from indexer.store import NONE_KEY, FeedbackStore, Filters

log = logging.getLogger(__name__)

TOP_TOPICS = 10
MAX_ALERTS = 5000


@dataclass
class DigestRow:
    """One alert of the day, from the history entry the runner stored."""

    at: datetime
    rule: str
    key: str
    severity: str
    kind: str
    count: int
    baseline: float
    title: str


@dataclass(frozen=True)
class DigestSection:
    title: str
    columns: tuple[str, ...]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Digest:
    """One day's alerts and negative counts, as `build_digest` found them."""

    day_start: datetime
    day_end: datetime
    tz: ZoneInfo
    rows: list[DigestRow] = field(default_factory=list)  # oldest first
    topics: list[tuple[str, int, int]] = field(default_factory=list)  # topic, negatives, before
    negative: int = 0
    total: int = 0
    negative_before: int = 0
    truncated: bool = False  # more alerts than MAX_ALERTS in the history; the table shows the newest
    incidents: list[Incident] = field(default_factory=list)  # open at some time of the day, oldest first
    # sections other packages add (the application adds satisfaction from care/): each a title, the
    # column names and rows of plain cells
    sections: list[DigestSection] = field(default_factory=list)

    @property
    def day(self) -> date:
        return self.day_start.astimezone(self.tz).date()

    @property
    def day_label(self) -> str:
        """「昨日（2024-05-06）」 for one day (the digest is read the morning after), else the dates."""
        last = (self.day_end - timedelta(microseconds=1)).astimezone(self.tz).date()
        if last == self.day:
            return f"昨日（{self.day:%Y-%m-%d}）"
        return f"{self.day:%Y-%m-%d} 至 {last:%Y-%m-%d}"

    @property
    def by_rule(self) -> Counter[str]:
        return Counter(r.rule for r in self.rows)

    @property
    def by_severity(self) -> Counter[str]:
        return Counter(r.severity for r in self.rows if r.kind != "recovery")

    @property
    def by_kind(self) -> Counter[str]:
        return Counter(r.kind for r in self.rows)

    @property
    def fired(self) -> int:
        """Alerts of the day, recoveries not counted."""
        return len(self.rows) - self.by_kind["recovery"]


def build_digest(store: FeedbackStore, day_start: datetime, day_end: datetime,
                 tz: ZoneInfo | str | None = None, *, top: int = TOP_TOPICS) -> Digest:
    """The digest of [day_start, day_end) (naive times mean `tz`)."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz or display_tz()
    start, end = parse_time(day_start, naive_tz=tz), parse_time(day_end, naive_tz=tz)
    if end <= start:
        raise ValueError(f"day_end {end.isoformat()} is not after day_start {start.isoformat()}")
    history = store.alerts(since=start, limit=MAX_ALERTS)
    rows = [_row(entry) for entry in history]
    rows = sorted((r for r in rows if r.at < end), key=lambda r: r.at)
    negative = Filters(sentiment=("negative",))
    before = start - (end - start)
    today = _by_topic(store, start, end, negative)
    previous = _by_topic(store, before, start, negative)
    topics = sorted(((t, n, previous.get(t, 0)) for t, n in today.items() if t != NONE_KEY),
                    key=lambda item: (-item[1], item[0]))[:top]
    by_sentiment = {row.key["sentiment"]: row.count
                    for row in store.counts(start, end, None, ["sentiment"])}
    negative_before = sum(r.count for r in store.counts(before, start, None, (), negative))
    incidents = [i for i in IncidentBook(store).all()
                 if i.opened_at < end and (i.closed_at is None or i.closed_at >= start)]
    digest = Digest(start, end, tz, rows, topics, by_sentiment.get("negative", 0),
                    sum(by_sentiment.values()), negative_before, len(history) >= MAX_ALERTS,
                    sorted(incidents, key=lambda i: i.opened_at))
    log.info("digest day=%s alerts=%d negative=%d topics=%d", digest.day, len(rows), digest.negative,
             len(topics))
    return digest


def _by_topic(store: FeedbackStore, start: datetime, end: datetime, filters: Filters) -> dict[str, int]:
    return {row.key["topic"]: row.count for row in store.counts(start, end, None, ["topic"], filters)}


def _row(entry: dict[str, Any]) -> DigestRow:
    try:
        return DigestRow(as_utc(parse_time(entry["created_at"], naive_tz=None)), entry["rule"],
                         entry.get("key", ""), entry.get("severity", "warning"), entry.get("kind", "alert"),
                         int(entry.get("count", 0)), float(entry.get("baseline", 0.0)),
                         entry.get("title", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"alert history entry {entry.get('id', '?')}: {type(exc).__name__}: {exc}") from exc
