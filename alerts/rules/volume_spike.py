"""`volume_spike`: far more mentions of a topic, entity or source than its seasonal baseline, whatever
their sentiment.

The model finds about half of the real negatives in bank text (nlp/model/MODEL_CARD.md), so a level
rule on negative labels alone sees half of an incident. This rule counts every record (near-duplicate
clusters once, as `negative_spike` does) and fires on the same tests: count >= `min_count`, Poisson
tail <= `alpha` over the groups and windows tested, count >= `min_ratio` x the baseline. Its words
say what rose: "讨论量". They claim negative feedback only when the group's negatives rose too
(negatives >= `min_count` and >= `min_ratio` x their own seasonal baseline, raised with the positive
records' rise as `negative_spike`'s `volume_adjusted` says); otherwise the title
gives the negative share and says it did not rise (a promotion going viral is news, not a
complaint). `details["claims_negative"]` carries that decision for notifiers and benchmarks.

    [[alerts.rules]]
    name = "volume_spike_topic"
    type = "volume_spike"
    group_by = ["topic"]
    window = "1h"
    long_window = "3h"
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration
from alerts.rules.groups import group_filters, scope_filters
from alerts.rules.negative_spike import NegativeSpike, format_baseline
from alerts.rules.rule import register_rule
from alerts.stats.baseline import seasonal_baseline
from indexer.store import FeedbackStore


@register_rule
class VolumeSpike(NegativeSpike):
    type_name = "volume_spike"
    counts_negatives = False

    def __init__(self, name: str, severity: str, options: dict[str, Any]) -> None:
        super().__init__(name, severity, options)
        self.filters = scope_filters(options, distinct_clusters=True)  # every sentiment

    def _finish(self, store: FeedbackStore, alert: Alert) -> None:
        super()._finish(store, alert)
        negative = self.negatives(replace(self.filters, **group_filters(alert.group)))
        start, end = alert.window_start, alert.window_end
        rows = store.counts(start, end, None, (), negative)
        now = rows[0].count if rows else 0
        baseline = seasonal_baseline(store, start, end, (), negative, self.options["baseline_weeks"],
                                     self.options["baseline_days"], skip_quiet_days=True,
                                     robust=self.options["robust_baseline"])
        expected, adjustment = 0.0, 0.0
        if baseline is not None:
            expected = baseline.get("")
            adjustment = self._volume_adjustment(store, start, end, (), negative, baseline).get("", 0.0)
        rose = (now >= self.options["min_count"] and now >= self.options["min_ratio"]
                * max(expected + adjustment, self.options["baseline_floor"]))
        label = " · ".join(alert.group.values()) or "全部"
        head = (f"{label} 讨论量 {describe_duration(end - start)} {alert.count} 条，"
                f"基线 {format_baseline(alert.baseline)}")
        share = now / alert.count if alert.count else 0.0
        if rose:
            alert.title = (f"{head}；其中{self.negative_words()} {now} 条"
                           f"（平常约 {format_baseline(expected)} 条）")
        else:
            alert.title = f"{head}；{self.negative_words()}占比 {share:.0%}，未见上升"
        alert.details.update({"claims_negative": rose, "negative_count": now,
                              "negative_expected": expected, "negative_volume_adjustment": adjustment,
                              "negative_share": share})
