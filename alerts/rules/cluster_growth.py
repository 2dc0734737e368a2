"""`cluster_growth`: one post copied far more than posts of its source usually are (a viral post).

A 2-day-old complaint reposted 30 times by 30 authors in two hours is one voice getting loud; the
level rules see it as one cluster, so nothing else here rises. Per cluster (a first post and its
near-copies, `nlp.dedup`) with copies in [now - window, now) this rule fires when

- the copies in the window number at least `min_copies` and come from at least `min_authors`
  distinct authors (one account pasting its own text is spam, not reach), and
- they are at least `min_ratio` times the usual gain: the largest number of copies any one cluster
  of that source gained in the same window of the day on each of the `baseline_days` days before
  (at least 1), so a source where everything is reposted needs more.

Whatever the age of the first post. The copies carry the first post's sentiment where the model is
unsure of them (top score below `sure`): a repost that only says "转发微博" is as negative as what it
passes on. The alert claims negative feedback ("负面") only when the first post, or most of the
copies so read, are negative. The message shows the first post, its age, the copy count and the
distinct authors. Key `source=<source>,cluster=<first post id>`; one alert per cluster per realert
window (an escalation when the copies double).

    [[alerts.rules]]
    name = "viral_post"
    type = "cluster_growth"
    window = "2h"
    min_copies = 10
    min_authors = 8
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration, parse_duration
from alerts.rules.groups import SCOPE, scope_filters
from alerts.rules.rule import Option, Rule, at_least, between_open, register_rule
from core.record import Feedback, as_utc
from indexer.store import FeedbackStore, Filters

log = logging.getLogger(__name__)

PAGE = 500
HOUR = timedelta(hours=1)


@dataclass
class Wave:
    """The copies of one cluster in a window."""

    root: str
    source: str
    copies: list[Feedback] = field(default_factory=list)

    @property
    def authors(self) -> set[str]:
        return {r.author or r.id for r in self.copies}


def copies_in(store: FeedbackStore, start: datetime, end: datetime, scope: Filters) -> dict[str, Wave]:
    """The near-copies created in [start, end), by cluster (the first post's id)."""
    waves: dict[str, Wave] = {}
    filters = replace(scope, since=start, until=end, distinct_clusters=False)
    page = 1
    while True:
        found = store.search("", filters, page=page, size=PAGE)
        for r in found.items:
            if r.duplicate_of is not None:
                waves.setdefault(r.duplicate_of, Wave(r.duplicate_of, r.source)).copies.append(r)
        if len(found.items) < PAGE:
            return waves
        page += 1


@register_rule
class ClusterGrowth(Rule):
    type_name = "cluster_growth"
    OPTIONS = {
        "window": Option(str, "2h", parse_duration, "length of the window that ends now"),
        "min_copies": Option(int, 10, at_least(2), "copies in the window needed"),
        "min_authors": Option(int, 8, at_least(1), "distinct authors among those copies"),
        "min_ratio": Option(float, 3.0, at_least(1.0), "copies vs the source's usual largest gain"),
        "baseline_days": Option(int, 3, at_least(1), "days whose same window gives the usual gain"),
        "sure": Option(float, 0.6, between_open(0.0, 1.0),
                       "a copy whose top score is below this takes the first post's label"),
        "max_alerts": Option(int, 3, at_least(1), "alerts per check at most (largest waves first)"),
        "samples": Option(int, 3, at_least(0), "copies shown besides the first post"),
        **SCOPE,
    }
    recovers = False  # a repost wave is an event, not a level that comes back down

    def __init__(self, name: str, severity: str, options: dict[str, Any]) -> None:
        super().__init__(name, severity, options)
        self.window: timedelta = options["window"]
        self.scope = scope_filters(options)

    def key_fields(self) -> tuple[str, ...]:
        return ("source", "cluster")

    def evaluate(self, store: FeedbackStore, now: datetime) -> list[Alert]:
        end = as_utc(now)
        start = end - self.window
        waves = [w for w in copies_in(store, start, end, self.scope).values()
                 if len(w.copies) >= self.options["min_copies"]
                 and len(w.authors) >= self.options["min_authors"]]
        alerts: list[Alert] = []
        usual_by_source: dict[str, int] = {}
        for wave in sorted(waves, key=lambda w: -len(w.copies)):
            if wave.source not in usual_by_source:
                usual_by_source[wave.source] = self._usual(store, wave.source, start, end)
            usual = max(1, usual_by_source[wave.source])
            if len(wave.copies) < self.options["min_ratio"] * usual:
                continue
            first = store.get_many([wave.root]).get(wave.root)
            alerts.append(self._alert(wave, first, usual, start, end))
            if len(alerts) >= self.options["max_alerts"]:
                break
        log.info("rule=%s at=%s waves=%d fired=%d", self.name, end.isoformat(), len(waves), len(alerts))
        return alerts

    def _usual(self, store: FeedbackStore, source: str, start: datetime, end: datetime) -> int:
        """The largest gain of any one cluster of `source` in this window on the days before."""
        scope = replace(self.scope, sources=(source,))
        best = 0
        for d in range(1, self.options["baseline_days"] + 1):
            shift = timedelta(days=d)
            for wave in copies_in(store, start - shift, end - shift, scope).values():
                best = max(best, len(wave.copies))
        return best

    def _alert(self, wave: Wave, first: Feedback | None, usual: int, start: datetime,
               end: datetime) -> Alert:
        copies = sorted(wave.copies, key=lambda r: r.created_at)
        first_label = first.sentiment.label if first is not None and first.sentiment else None
        labels = [self._label(r, first_label) for r in copies]
        negatives = sum(1 for label in labels if label == "negative")
        negative = first_label == "negative" or negatives * 2 > len(copies)
        age = end - as_utc(first.created_at) if first is not None else None
        authors = len(wave.authors)
        what = "负面帖子" if negative else "帖子"
        title = (f"{wave.source} {what}转发扩散：{describe_duration(self.window)}新增 {len(copies)} 条转发"
                 f"（{authors} 位作者），原帖发布于{_age(age)}，平常单帖最多 {usual} 条")
        n = self.options["samples"]
        shown = ([first] if first is not None else []) + (copies[-n:] if n else [])
        group = {"source": wave.source, "cluster": wave.root}
        details = {"copies": len(copies), "authors": authors, "usual_gain": usual,
                   "first_post_id": wave.root, "negative_copies": negatives, "claims_negative": negative,
                   "first_post_at": first.created_at.isoformat() if first is not None else None,
                   "first_post_age_hours": round(age / HOUR, 1) if age is not None else None,
                   "series": _series(copies, end)}
        return Alert(rule=self.name, key=f"source={wave.source},cluster={wave.root}", severity=self.severity,
                     window_start=start, window_end=end, count=len(copies), baseline=float(usual),
                     ratio=len(copies) / usual, p_value=0.0, title=title, fired_at=end, samples=shown,
                     cluster_sizes={first.id: len(copies)} if first is not None else {}, group=group,
                     details=details)

    def _label(self, record: Feedback, first_label: str | None) -> str | None:
        if record.sentiment is None:
            return first_label
        if first_label is not None and max(record.sentiment.scores.values()) < self.options["sure"]:
            return first_label
        return record.sentiment.label


def _age(age: timedelta | None) -> str:
    if age is None:
        return "（原帖不在库中）"
    if age >= timedelta(days=1):
        return f" {age / timedelta(days=1):.0f} 天前"
    return f" {max(1, round(age / HOUR))} 小时前"


def _series(copies: list[Feedback], end: datetime, hours: int = 48) -> list[dict[str, Any]]:
    """Copies an hour over the window's hours (the chart's shape), baseline 0: usually none."""
    last = end.replace(minute=0, second=0, microsecond=0)
    if last == end:
        last -= HOUR
    first = last - (hours - 1) * HOUR
    by_hour: dict[datetime, int] = defaultdict(int)
    for r in copies:
        by_hour[as_utc(r.created_at).replace(minute=0, second=0, microsecond=0)] += 1
    return [{"t": (first + i * HOUR).isoformat(), "count": by_hour.get(first + i * HOUR, 0),
             "baseline": 0.0} for i in range(hours)]
