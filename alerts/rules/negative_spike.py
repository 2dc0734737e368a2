"""`negative_spike`: more negative feedback in the last window than the seasonal baseline explains.

Per group (overall, or by any of source/topic/entity/kind) it counts negative records in
[now - window, now), near-duplicate clusters once, and compares with `alerts.stats.baseline`. A group
fires only when all three hold, so "3 vs 1" never pages anyone:

- count >= min_count                              (a volume floor)
- P(X >= count) <= alpha / m                      (Bonferroni over the m groups and windows tested:
                                                   every key seen in the window or its baseline)
  where X follows the predictive distribution of a count whose Poisson mean is the baseline
  estimated from n past windows (`alerts.stats.tails.predictive_sf`, a negative binomial): close to
  Poisson(baseline) over weeks of history, far more cautious when the baseline rests on one or two
  windows (a young installation, the day after a holiday whose days are left out)
- count >= min_ratio * baseline                   (a rise people care about, not just a significant one)

With `check_every` (off in settings.toml) the tail is multiplied by the new
chance alarms that many looks per window raise (`alerts/rules/cadence.py`, `alerts.stats.tails.looks`):
a 1 h window checked every 5 minutes is not twelve independent tests, and not one either.

The baseline is floored at `baseline_floor` so a group that was silent so far needs real volume: the
ratio is taken against the floored baseline, and the tail is the larger of the predictive tail of the
baseline as estimated and the Poisson tail of the floor. (Feeding the floor into the predictive tail
as if the history had held that mean would widen the tail of a group silent over many windows more
than its history warrants: 6 against a history of 0 over 9 windows would score 1.5e-4, not
Poisson(0.5)'s 1.4e-5. A young history stays cautious: its predictive tail is the wide one.)
With `robust_baseline` (the default) a history window that was itself an incident is replaced by the
ordinary windows' mean, so a second outage in a week is not judged against the first.

With `volume_adjusted` (the default) the expectation also grows with the group's positive records:
when they exceed their own seasonal baseline b by E beyond chance (E = count - b - 2 sqrt(b), two
Poisson deviations, so an ordinary hour's wobble changes nothing), the negatives' baseline rises by
E x the group's usual negatives per positive record, at most `volume_share_cap`. The classifier
calls some praise negative (the shipped model 4 of bank dev's 52 positive comments,
nlp/model/MODEL_CARD.md), so a promotion going viral brings a few "negatives" with it; without the
adjustment a small forum's positive burst read as a negative spike. Only positives count: the
negatives a model misses are read as neutral (59 of bank dev's 143, against 2 as positive), so a
negative incident raises the neutral records, and adjusting for them would hide part of the
incident it is meant to find.

    [[alerts.rules]]
    name = "negative_by_topic"
    type = "negative_spike"
    group_by = ["topic"]      # [] = overall; any of source, topic, entity, kind
    window = "1h"             # "30m", "1h", "2d"
    severity = "warning"
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration, parse_duration
from alerts.errors import RuleConfigError
from alerts.rules.cadence import CHECK_EVERY, checks_per_window
from alerts.rules.groups import GROUP_BY, SCOPE, group_filters, in_group, scope_filters
from alerts.rules.rule import Option, Rule, at_least, between_open, register_rule
from alerts.stats.baseline import Baseline, seasonal_baseline
from alerts.stats.series import hourly_series
from alerts.stats.tails import looks, poisson_sf, predictive_sf
from core.record import Feedback, as_utc
from indexer.store import FeedbackStore, Filters

log = logging.getLogger(__name__)

RAW_SAMPLE_CAP = 2000  # records read to measure cluster sizes; larger clusters are shown as ">= size"


def score_threshold(value: Any) -> Any:
    """0 (count the label) or a probability in (0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"must be 0 (the label) or a probability below 1, got {value}")
    return value


@dataclass(frozen=True)
class GroupTest:
    """One group's count in a window and the figures the rule tests it by."""

    key: str
    group: dict[str, str]
    count: int
    expected: float    # the seasonal baseline, as the title says it
    adjustment: float  # what the group's positive records add to it (volume_adjusted)
    used: float        # the expectation the tests use: baseline + adjustment, floored
    ratio: float
    p_value: float     # the tail, times `looks` (the check cadence's new-alarm factor)
    looks: float = 1.0


@dataclass(frozen=True)
class WindowTests:
    """Every group of one window, and the threshold a p-value must beat there."""

    rows: list[GroupTest]
    baseline: Baseline
    groups: int        # groups tested (Bonferroni)
    threshold: float   # alpha / (groups x windows)


@register_rule
class NegativeSpike(Rule):
    type_name = "negative_spike"
    counts_negatives = True  # volume_spike counts every record: no volume adjustment there
    OPTIONS = {
        "window": Option(str, "1h", parse_duration, "length of the window that ends now"),
        "long_window": Option(str, "", lambda v: parse_duration(v) if v else None,
                              "a second, longer window tested too (\"3h\"; \"\" = none): a climb "
                              "or a burst spread over hours"),
        **GROUP_BY,
        "baseline_weeks": Option(int, 4, at_least(0), "weeks of same hour-of-week history"),
        "baseline_days": Option(int, 7, at_least(0), "days of trailing history for short histories"),
        "min_count": Option(int, 10, at_least(1), "volume floor"),
        "alpha": Option(float, 0.01, between_open(0.0, 1.0), "family-wise false-alarm level"),
        "min_ratio": Option(float, 2.0, at_least(1.0), "count must be at least this times the baseline"),
        "baseline_floor": Option(float, 0.5, at_least(0.01), "smallest baseline used in the tests"),
        "robust_baseline": Option(bool, True, None, "history windows that were incidents themselves "
                                  "are replaced by the ordinary windows' mean (alerts.stats.baseline)"),
        "volume_adjusted": Option(bool, True, None, "positive records above their baseline raise the "
                                  "negatives' baseline by the group's usual negatives per positive "
                                  "record (a positive burst is not a negative spike)"),
        "volume_share_cap": Option(float, 0.2, between_open(0.0, 1.0), "the most negatives per extra "
                                   "positive record the adjustment assumes"),
        "negative_score": Option(float, 0.0, score_threshold, "count a record as negative when its "
                                 "calibrated P(negative) is at least this, whatever its label (0 = "
                                 "the label; `python -m alerts.stats.detection` suggests one from the "
                                 "model's PR table)"),
        **CHECK_EVERY,
        "samples": Option(int, 5, at_least(0), "comments shown in the alert"),
        **SCOPE,
    }

    def __init__(self, name: str, severity: str, options: dict[str, Any]) -> None:
        super().__init__(name, severity, options)
        if not options["baseline_weeks"] and not options["baseline_days"]:
            raise RuleConfigError(name, "baseline_weeks", "baseline_weeks and baseline_days are both 0")
        self.window = options["window"]
        self.group_by = tuple(options["group_by"])
        self.filters = self.negatives(scope_filters(options, distinct_clusters=True))

    def negatives(self, base: Filters) -> Filters:
        """`base` narrowed to what this rule counts as negative: the label, or with `negative_score`
        every record whose calibrated P(negative) reaches it."""
        score = self.options["negative_score"]
        if score:
            return replace(base, sentiment=(), min_negative_score=score)
        return replace(base, sentiment=("negative",), min_negative_score=None)

    def negative_words(self) -> str:
        """What the title calls the counted records: 负面, or 负面（含疑似） with `negative_score`."""
        return "负面（含疑似）" if self.options["negative_score"] else "负面"

    def quiet_period(self) -> timedelta:
        """The longest window tested: a key is calm only when that window has passed too."""
        longest: timedelta = max(self.window, self.options["long_window"] or self.window)
        return longest

    def evaluate(self, store: FeedbackStore, now: datetime) -> list[Alert]:
        end = as_utc(now)
        windows = [self.window] + ([self.options["long_window"]] if self.options["long_window"] else [])
        best: dict[str, Alert] = {}  # per group, the window with the smallest p-value that fires
        tested = 0
        for window in windows:
            fired, groups = self._window(store, end, window, len(windows))
            tested = max(tested, groups)
            for alert in fired:
                if alert.key not in best or alert.p_value < best[alert.key].p_value:
                    best[alert.key] = alert
        log.info("rule=%s at=%s groups=%d fired=%d", self.name, end.isoformat(), tested, len(best))
        alerts = sorted(best.values(), key=lambda a: a.p_value)
        for alert in alerts:
            self._finish(store, alert)
        return alerts

    def _window(self, store: FeedbackStore, end: datetime, window: timedelta,
                windows: int) -> tuple[list[Alert], int]:
        """The groups that fire in [end - window, end) (Bonferroni over groups and windows)."""
        tested = self.group_tests(store, end, window, windows)
        if tested is None:
            log.info("rule=%s at=%s skipped=no_history", self.name, end.isoformat())
            return [], 0
        start = end - window
        alerts = []
        for t in tested.rows:
            fires = (t.count >= self.options["min_count"] and t.p_value <= tested.threshold
                     and t.ratio >= self.options["min_ratio"])
            if not fires:
                continue
            details = _details(tested.baseline, t.key, tested.groups, tested.threshold)
            details["baseline_used"] = t.used  # the expectation the test used (the baseline, floored)
            details["volume_adjustment"] = t.adjustment
            details["looks"] = t.looks  # the check cadence's new-alarm factor in p_value
            if self.options["negative_score"]:
                details["negative_score"] = self.options["negative_score"]
            label = " · ".join(t.group.values()) or "全部"
            title = (f"{label} {self.negative_words()} {describe_duration(window)} {t.count} 条，"
                     f"基线 {format_baseline(t.expected)}")
            alerts.append(Alert(rule=self.name, key=t.key, severity=self.severity, window_start=start,
                                window_end=end, count=t.count, baseline=t.expected, ratio=t.ratio,
                                p_value=t.p_value, title=title, fired_at=end, group=dict(t.group),
                                details=details))
        return alerts, tested.groups

    def group_tests(self, store: FeedbackStore, end: datetime, window: timedelta,
                    windows: int) -> WindowTests | None:
        """Every group's count in [end - window, end) with the figures the rule tests it by (None
        without history): what `evaluate` decides on, and what `python -m alerts.probe` prints."""
        start = end - window
        current = store.counts(start, end, None, self.group_by, self.filters)
        baseline = seasonal_baseline(store, start, end, self.group_by, self.filters,
                                     self.options["baseline_weeks"], self.options["baseline_days"],
                                     skip_quiet_days=True, robust=self.options["robust_baseline"])
        if baseline is None:
            return None
        keys = {row.key_str() for row in current} | set(baseline.keys)
        groups = max(1, len(keys))
        adjusted = (self._volume_adjustment(store, start, end, self.group_by, self.filters, baseline)
                    if self.counts_negatives else {})
        rows = []
        for row in current:
            key = row.key_str()
            expected = baseline.get(key)  # the usual level, as the title says it
            adjustment = adjusted.get(key, 0.0)
            mean = expected + adjustment
            used = max(mean, self.options["baseline_floor"])
            # the estimate's own uncertainty, but never a thinner tail than the floor's Poisson
            tail = max(predictive_sf(row.count, mean, baseline.windows),
                       poisson_sf(row.count, self.options["baseline_floor"]))
            factor = looks(row.count, used, checks_per_window(window, self.options["check_every"]))
            rows.append(GroupTest(key, dict(row.key), row.count, expected, adjustment, used,
                                  row.count / used, min(1.0, tail * factor), factor))
        return WindowTests(rows, baseline, groups, self.options["alpha"] / (groups * windows))

    def _volume_adjustment(self, store: FeedbackStore, start: datetime, end: datetime,
                           group_by: tuple[str, ...], negatives: Filters,
                           baseline: Baseline) -> dict[str, float]:
        """Per key, how much the negatives' baseline rises with the group's positive records (see the
        module docstring): E x min(negatives / positives in the baseline, `volume_share_cap`), where
        E is how far the window's positive records exceed their own baseline b beyond two Poisson
        deviations (2 sqrt(b))."""
        if not self.options["volume_adjusted"]:
            return {}
        others = replace(negatives, sentiment=("positive",), min_negative_score=None)
        now = store.counts(start, end, None, group_by, others)
        usual = seasonal_baseline(store, start, end, group_by, others, self.options["baseline_weeks"],
                                  self.options["baseline_days"], skip_quiet_days=True,
                                  robust=self.options["robust_baseline"])
        if usual is None:
            return {}
        out = {}
        for row in now:
            key = row.key_str()
            other = usual.get(key)
            extra = row.count - other - 2.0 * math.sqrt(other)
            if extra > 0 and other > 0:
                out[key] = extra * min(baseline.get(key) / other, self.options["volume_share_cap"])
        return out

    def _finish(self, store: FeedbackStore, alert: Alert) -> None:
        """Samples, cluster sizes and the 48 h series, only for the alerts that fire."""
        samples, sizes, capped = self._samples(store, alert.group, alert.window_start, alert.window_end)
        alert.samples, alert.cluster_sizes = samples, sizes
        if capped:
            alert.details["cluster_sizes_capped_at"] = RAW_SAMPLE_CAP
        alert.details["series"] = hourly_series(store, alert.window_end,
                                                replace(self.filters, **group_filters(alert.group)))

    def _samples(self, store: FeedbackStore, group: dict[str, str], start: datetime,
                 end: datetime) -> tuple[list[Feedback], dict[str, int], bool]:
        """The group's clusters as their first posts, biggest cluster first (then most negative,
        newest), and each one's size in the window. A repost wave of an older post counts once
        (`distinct_clusters`), so its first post is read from the store and shown, with the number
        of its copies in the window."""
        n = self.options["samples"]
        if n == 0:
            return [], {}, False
        filters = replace(self.filters, since=start, until=end, **group_filters(group))
        # the store cannot express "(none)" or an exact topic, so read more and filter here
        raw = [r for r in store.samples(replace(filters, distinct_clusters=False), RAW_SAMPLE_CAP)
               if in_group(r, group)]
        sizes: dict[str, int] = {}
        for r in raw:
            root = r.duplicate_of or r.id
            sizes[root] = sizes.get(root, 0) + 1
        heads = {r.id: r for r in raw if r.duplicate_of is None}
        for r in store.samples(filters, n * 4):  # heads the capped read may have missed
            if in_group(r, group):
                heads.setdefault(r.id, r)
        older = sorted((root for root in sizes if root not in heads), key=lambda k: -sizes[k])[:n]
        heads.update(store.get_many(older))  # first posts older than the window

        def rank(r: Feedback) -> tuple[Any, ...]:
            negative = r.sentiment.scores.get("negative", 0.0) if r.sentiment else 0.0
            return (-sizes.get(r.id, 1), -negative, -r.created_at.timestamp())

        chosen = sorted(heads.values(), key=rank)[:n]
        return chosen, {r.id: sizes.get(r.id, 1) for r in chosen}, len(raw) >= RAW_SAMPLE_CAP


def format_baseline(value: float) -> str:
    """4.0 -> "4", 3.46 -> "3.5", 12.4 -> "12"."""
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}".rstrip("0").rstrip(".") or "0"


def _details(baseline: Baseline, key: str, tested: int, threshold: float) -> dict[str, Any]:
    return {
        "seasonal": baseline.seasonal.get(key, 0.0),
        "trailing": baseline.trailing.get(key, 0.0),
        "seasonal_weight": baseline.weight,
        "weeks_with_data": baseline.weeks_with_data,
        "history_outliers": baseline.outliers.get(key, 0),
        "trailing_windows": baseline.trailing_windows,
        "groups_tested": tested,
        "p_threshold": threshold,
    }
