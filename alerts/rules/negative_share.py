"""`negative_share`: a larger share of negative feedback in the window than the baseline share.

Volume rules miss a shift in mood at steady volume (the same 100 comments an hour, but 40 negative
instead of 20); this rule tests the share. Per group (overall, or by any of source/topic/entity/
kind) it takes the classified records in [now - window, now) (near-duplicate clusters once;
unclassified records left out) and the share of negatives among them over the trailing
`baseline_days` before the window, counted in window-long buckets so a cluster weighs the same in
both. A group is tested only when both hold at least `min_total`
records, and fires when

- P(X >= negatives | Binomial(total, baseline share)) <= alpha / m   (exact binomial test; Bonferroni
                                                                       over the m groups tested;
                                                                       both counts divided by the
                                                                       group's overdispersion; times
                                                                       the check cadence's factor
                                                                       with `check_every`,
                                                                       alerts/rules/cadence.py)
- share >= min_ratio * baseline share                                  (a rise worth reading about)

The baseline share is (negatives + 0.5) / (total + 1), so a group never negative so far is not
treated as impossible to be negative. Two `counts` calls per check (window and baseline, each
grouped by the rule's fields plus sentiment).

    [[alerts.rules]]
    name = "negative_share_source"
    type = "negative_share"
    group_by = ["source"]
    window = "1h"
    min_total = 30
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration, parse_duration
from alerts.rules.cadence import CHECK_EVERY, checks_per_window
from alerts.rules.groups import GROUP_BY, SCOPE, group_filters, in_group, scope_filters
from alerts.rules.rule import Option, Rule, at_least, between_open, register_rule
from alerts.stats.series import share_series
from alerts.stats.tails import binom_sf, looks
from core.record import Feedback, as_utc
from indexer.store import NONE_KEY, CountRow, FeedbackStore, Filters

log = logging.getLogger(__name__)
CHI2_1_MEDIAN = 0.4549  # the median of a chi-square variable with one degree of freedom


@register_rule
class NegativeShare(Rule):
    type_name = "negative_share"
    OPTIONS = {
        "window": Option(str, "1h", parse_duration, "length of the window that ends now"),
        **GROUP_BY,
        "baseline_days": Option(int, 7, at_least(1), "days of trailing history for the baseline share"),
        "min_total": Option(int, 30, at_least(1), "classified records needed in window and baseline"),
        "alpha": Option(float, 0.01, between_open(0.0, 1.0), "family-wise false-alarm level"),
        "min_ratio": Option(float, 1.5, at_least(1.0), "share must be at least this times the baseline"),
        **CHECK_EVERY,
        "samples": Option(int, 5, at_least(0), "comments shown in the alert"),
        **SCOPE,
    }

    def __init__(self, name: str, severity: str, options: dict[str, Any]) -> None:
        super().__init__(name, severity, options)
        self.window: timedelta = options["window"]
        self.group_by = tuple(options["group_by"])
        self.filters = scope_filters(options, distinct_clusters=True)

    def evaluate(self, store: FeedbackStore, now: datetime) -> list[Alert]:
        end = as_utc(now)
        start = end - self.window
        fields = (*self.group_by, "sentiment")
        current = _tally(store.counts(start, end, None, fields, self.filters))
        history_start = start - timedelta(days=self.options["baseline_days"])
        # In window-long buckets: a cluster counts once per bucket, as it does in the window (over
        # one 7-day range a much-reposted text would count once against once per hour now).
        rows = store.counts(history_start, start, self.window, fields, self.filters)
        history = _tally(rows)
        spread = _dispersion(rows, history)
        floor = self.options["min_total"]
        tested = [key for key, (_, total, _) in current.items()
                  if total >= floor and history.get(key, (0, 0, {}))[1] >= floor]
        threshold = self.options["alpha"] / max(1, len(tested))
        alerts = []
        for key in tested:
            negatives, total, group = current[key]
            base_negatives, base_total, _ = history[key]
            base_share = (base_negatives + 0.5) / (base_total + 1)
            share = negatives / total
            # Overdispersion: windows vary more than a binomial would (a night of one community's
            # posts is not a random draw); the test shrinks both counts by the group's own factor.
            phi = spread.get(key, 1.0)
            k, n = round(negatives / phi), max(1, round(total / phi))
            # the check cadence: new negatives are what make a new alarm, so the factor is the
            # Poisson one of the negatives' count (alerts/rules/cadence.py)
            factor = looks(k, n * base_share, checks_per_window(self.window, self.options["check_every"]))
            p_value = min(1.0, binom_sf(k, n, base_share) * factor)
            if p_value > threshold or share < self.options["min_ratio"] * base_share:
                continue
            details = {"share": share, "baseline_share": base_share, "total": total,
                       "baseline_total": base_total, "baseline_negative": base_negatives,
                       "groups_tested": len(tested), "p_threshold": threshold, "dispersion": phi,
                       "looks": factor}
            alerts.append(self._alert(store, group, key, start, end, negatives, total, base_share,
                                      p_value, details))
        log.info("rule=%s at=%s groups=%d fired=%d", self.name, end.isoformat(), len(tested), len(alerts))
        return sorted(alerts, key=lambda a: a.p_value)

    def _alert(self, store: FeedbackStore, group: dict[str, str], key: str, start: datetime,
               end: datetime, negatives: int, total: int, base_share: float, p_value: float,
               details: dict[str, Any]) -> Alert:
        scope = replace(self.filters, **group_filters(group))
        details["series"] = share_series(store, end, scope, base_share)
        label = " · ".join(group.values()) or "全部"
        title = (f"{label} 负面占比 {negatives / total:.0%}（{negatives}/{total}，"
                 f"{describe_duration(self.window)}），基线 {base_share:.0%}")
        return Alert(rule=self.name, key=key, severity=self.severity, window_start=start, window_end=end,
                     count=negatives, baseline=base_share * total, ratio=negatives / total / base_share,
                     p_value=p_value, title=title, fired_at=end,
                     samples=self._samples(store, scope, group, start, end), group=group, details=details)

    def _samples(self, store: FeedbackStore, scope: Filters, group: dict[str, str], start: datetime,
                 end: datetime) -> list[Feedback]:
        n = self.options["samples"]
        if n == 0:
            return []
        found = store.samples(replace(scope, sentiment=("negative",), since=start, until=end), n * 4)
        return [r for r in found if in_group(r, group)][:n]


def _tally(rows: list[CountRow]) -> dict[str, tuple[int, int, dict[str, str]]]:
    """Group key -> (negatives, classified total, group mapping), summed over buckets;
    unclassified records left out."""
    out: dict[str, tuple[int, int, dict[str, str]]] = {}
    for row in rows:
        label = row.key["sentiment"]
        if label == NONE_KEY:
            continue
        group = {f: v for f, v in row.key.items() if f != "sentiment"}
        key = ",".join(f"{f}={v}" for f, v in group.items())
        negatives, total, _ = out.get(key, (0, 0, group))
        out[key] = (negatives + (row.count if label == "negative" else 0), total + row.count, group)
    return out


def _dispersion(rows: list[CountRow], history: dict[str, tuple[int, int, dict[str, str]]],
                ) -> dict[str, float]:
    """Group key -> dispersion of the baseline's window-long buckets around the baseline share
    (each bucket's Pearson chi-square, robustly averaged; at least 1): 1 for a binomial, more when
    windows vary more than chance. Buckets with fewer than 5 classified records are left out."""
    buckets: dict[tuple[str, object], list[int]] = {}
    for row in rows:
        label = row.key["sentiment"]
        if label == NONE_KEY:
            continue
        key = ",".join(f"{f}={v}" for f, v in row.key.items() if f != "sentiment")
        cell = buckets.setdefault((key, row.bucket), [0, 0])
        cell[0] += row.count if label == "negative" else 0
        cell[1] += row.count
    chi: dict[str, list[float]] = {}
    for (key, _), (negatives, total) in buckets.items():
        if total < 5 or key not in history:
            continue
        base_negatives, base_total, _ = history[key]
        p = (base_negatives + 0.5) / (base_total + 1)
        chi.setdefault(key, []).append((negatives - total * p) ** 2 / (total * p * (1 - p)))
    # The median bucket over the median of chi-square(1), not the mean: a few past incident hours
    # (a share shift is exactly what the history may hold) must not make every hour look noisy.
    return {key: max(1.0, statistics.median(v) / CHI2_1_MEDIAN) for key, v in chi.items() if len(v) > 2}
