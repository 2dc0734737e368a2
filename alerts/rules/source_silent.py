"""`source_silent`: a source that normally yields records has gone quiet, or its crawler says why.

A monitor that goes quiet when a crawler is blocked is worse than none: everyone reads the silence
as "all is well". Two independent signs, one alert per source (key `source=<name>`):

- **silence**: no record from the source in [now - window, now) although its seasonal baseline
  (alerts.stats.baseline: same hour-of-week over `baseline_weeks`, blended with the trailing
  `baseline_days`) expects at least `min_expected` (P(0 | Poisson(5)) = 0.7 %, so a quiet night
  of a small source does not page anyone); where both parts exist the lower one is the
  expectation, so a holiday's low volume is not read as a silence; and it is scaled down by the
  source's **level before the silence**: the records of the 24 hours up to the source's last record
  (`level_hours`), against what the baseline expects of those hours. Only a fall beyond chance counts
  (the level is taken as high as count + 2 sqrt(count) + 1) and the level never scales up. The first
  days of a holiday, when the trailing days still hold the normal week, then expect the holiday's
  volume; a source that died keeps the level it had before it died, so it stays silent for as long
  as it is dead and never reads as recovered. (bench/alerts_real.py with checks every 5 minutes, as
  `voc run` checks: the small forum's holiday week gave 4 silences, 1.12 a week, without it.)
- **crawl health**: the spider's last crawl (state namespace "crawl_health", written by
  crawlers/health.py: {"sources", "status", "reason", "finished_at", ...}) ended with a status in
  `statuses` (blocked, layout_changed). Documents finished after `now` (a replay of the past) or
  more than `health_max_age` before it are ignored.

The alert goes to the operators, not the PR team: `details["audience"]` carries the `audience`
option (default "operators") for the notifiers to route on; default severity is warning.

    [[alerts.rules]]
    name = "source_silent"
    type = "source_silent"
    window = "3h"
    audience = "operators"
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration, parse_duration
from alerts.rules.negative_spike import format_baseline
from alerts.rules.rule import Option, Rule, at_least, register_rule
from alerts.stats.baseline import Baseline, seasonal_baseline
from alerts.stats.series import HOUR, hourly_series
from core.record import RecordError, as_utc, parse_time
from indexer.store import FeedbackStore, Filters

log = logging.getLogger(__name__)

HEALTH = "crawl_health"
STATUS_WORDS = {"blocked": "被封禁", "layout_changed": "页面结构变化", "failed": "失败"}


@register_rule
class SourceSilent(Rule):
    type_name = "source_silent"
    joins_incidents = False  # crawl health: coverage in the other messages, the operators' own alert
    OPTIONS = {
        "window": Option(str, "3h", parse_duration, "how long a source may yield nothing"),
        "baseline_weeks": Option(int, 4, at_least(0), "weeks of same hour-of-week history"),
        "baseline_days": Option(int, 7, at_least(1), "days of trailing history"),
        "min_expected": Option(float, 5.0, at_least(0.1), "records the baseline must expect in the window"),
        "level_hours": Option(int, 24, at_least(0), "hours before the last record that measure the source's "
                              "recent level against its baseline (0 = the baseline alone)"),
        "statuses": Option(list, ["blocked", "layout_changed"], None, "crawl statuses that fire"),
        "health_max_age": Option(str, "3d", parse_duration, "ignore crawl_health documents older than this"),
        "sources": Option(list, [], None, "only these sources ([] = all)"),
        "ignore_sources": Option(list, [], None, "never these sources"),
        "audience": Option(str, "operators", None, "who the alert is for; notifiers route on it"),
    }

    def __init__(self, name: str, severity: str, options: dict[str, Any]) -> None:
        super().__init__(name, severity, options)
        self.window: timedelta = options["window"]
        self.filters = Filters(sources=tuple(options["sources"]))

    def _wanted(self, source: str) -> bool:
        only = self.options["sources"]
        return (not only or source in only) and source not in self.options["ignore_sources"]

    def key_fields(self) -> tuple[str, ...]:
        return ("source",)

    def evaluate(self, store: FeedbackStore, now: datetime) -> list[Alert]:
        end = as_utc(now)
        start = end - self.window
        current = {row.key["source"]: row.count
                   for row in store.counts(start, end, None, ("source",), self.filters)}
        baseline = seasonal_baseline(store, start, end, ("source",), self.filters,
                                     self.options["baseline_weeks"], self.options["baseline_days"])
        expected: dict[str, float] = {}
        if baseline is not None:
            expected = {group["source"]: _expected(baseline, key) for key, group in baseline.keys.items()}
        quiet = [source for source, value in expected.items()
                 if value >= self.options["min_expected"] and not current.get(source)
                 and self._wanted(source)]
        levels = {source: self._level(store, source, start) for source in quiet}
        for source, (ratio, _info) in levels.items():
            expected[source] *= ratio
        silent = {source for source in quiet if expected[source] >= self.options["min_expected"]}
        broken = self._health(store, end)
        alerts = [self._alert(store, source, start, end, current.get(source, 0), expected.get(source, 0.0),
                              source in silent, broken.get(source), levels.get(source, (1.0, {}))[1])
                  for source in sorted(silent | set(broken))]
        log.info("rule=%s at=%s sources=%d silent=%d broken=%d", self.name, end.isoformat(),
                 len(expected), len(silent), len(broken))
        return alerts

    def _level(self, store: FeedbackStore, source: str, start: datetime) -> tuple[float, dict[str, Any]]:
        """(factor <= 1 on the expectation, details): the source's records in the `level_hours` up to
        its last record before `start` against the baseline of those hours (module docstring)."""
        hours = self.options["level_hours"]
        if not hours:
            return 1.0, {}
        span = timedelta(hours=hours)
        lookback = start - timedelta(days=self.options["baseline_days"])
        only = Filters(sources=(source,))
        rows = [r for r in store.counts(lookback, start, HOUR, ("source",), only) if r.count]
        if not rows:
            return 1.0, {}  # nothing for days: no level to scale by
        last_end = min(max(as_utc(r.bucket) for r in rows) + HOUR, start)
        ref_start = last_end - span
        seen = sum(r.count for r in rows if as_utc(r.bucket) >= ref_start)
        base = seasonal_baseline(store, ref_start, last_end, ("source",), only,
                                 self.options["baseline_weeks"], self.options["baseline_days"])
        usual = _expected(base, f"source={source}") if base is not None else 0.0
        if usual <= 0:
            return 1.0, {}
        ratio = min(1.0, (seen + 2.0 * math.sqrt(seen) + 1.0) / usual)
        return ratio, {"level_ratio": ratio, "level_records": seen, "level_expected": usual,
                       "level_until": last_end.isoformat()}

    def _health(self, store: FeedbackStore, end: datetime) -> dict[str, dict[str, Any]]:
        """Source -> the latest crawl_health document that reports it broken."""
        oldest = end - self.options["health_max_age"]
        broken: dict[str, dict[str, Any]] = {}
        for spider, doc in store.list_state(HEALTH).items():
            if doc.get("status") not in self.options["statuses"]:
                continue
            try:
                finished = parse_time(doc.get("finished_at") or doc["started_at"], naive_tz=None)
            except (KeyError, TypeError, RecordError):
                log.warning("rule=%s crawl_health=%s skipped=no_time", self.name, spider)
                continue
            if not oldest <= finished <= end:
                continue
            info = {"spider": spider, "status": doc["status"], "reason": str(doc.get("reason", "")),
                    "finished_at": finished.isoformat()}
            sources = doc.get("sources") or [spider]
            for source in [sources] if isinstance(sources, str) else sources:
                if self._wanted(source) and (source not in broken
                                             or broken[source]["finished_at"] < info["finished_at"]):
                    broken[source] = info
        return broken

    def _alert(self, store: FeedbackStore, source: str, start: datetime, end: datetime, count: int,
               expected: float, silent: bool, health: dict[str, Any] | None,
               level: dict[str, Any]) -> Alert:
        parts = []
        if health is not None:
            word = STATUS_WORDS.get(health["status"], health["status"])
            parts.append(f"抓取{word}" + (f"（{health['reason']}）" if health["reason"] else ""))
        if silent:
            parts.append(f"{describe_duration(self.window)}无新数据，基线 {format_baseline(expected)} 条")
        details = {"audience": self.options["audience"], "silent": silent, "expected": expected,
                   "crawl_health": health, **level,
                   "series": hourly_series(store, end, Filters(sources=(source,)))}
        return Alert(rule=self.name, key=f"source={source}", severity=self.severity, window_start=start,
                     window_end=end, count=count, baseline=expected,
                     ratio=count / expected if expected else 0.0,
                     p_value=math.exp(-expected) if silent else 0.0,
                     title=f"来源 {source} " + "，".join(parts), fired_at=end, group={"source": source},
                     details=details)


def _expected(baseline: Baseline, key: str) -> float:
    """The lower of the seasonal and the trailing expectation where both exist: after a week-long
    holiday at a third of the volume, the weeks before do not make a quiet night a silence."""
    if baseline.weeks_with_data and baseline.trailing_windows >= 1:
        return min(baseline.seasonal.get(key, 0.0), baseline.trailing.get(key, 0.0))
    return baseline.get(key)
