"""`satisfaction_drop`: a segment's survey satisfaction fell this week against its previous weeks.

Per group (`group_by`: branch, channel, product, customer_type; [] = every response) the CSAT of
the responses in [now - window, now) against the `baseline_weeks` windows before it
(care.satisfaction: one response counts once, top-2-box on 1-5, the top 30 % of other scales).
It fires when both sides have at least `min_n` responses, CSAT fell by at least `min_drop`, and a
one-sided two-proportion z-test (pooled) gives p ≤ `alpha` divided by the groups tested
(Bonferroni). The alert counts the dissatisfied responses of the window against what the baseline
CSAT expects, shows the low-rated answers (masked like every sample), and goes through the same
incidents, messages, silences and journal as every rule; a satisfaction drop is its own incident
(`joins_incidents` False: survey answers are no social evidence). It registers itself in the
rule-type registry, which imports `care.rules` beside `alerts` (core.registry.PROVIDERS).

    [[alerts.rules]]
    name = "satisfaction_drop_branch"
    type = "satisfaction_drop"
    group_by = ["branch"]
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration, parse_duration
from alerts.rules.rule import Option, Rule, at_least, between_open, one_of, register_rule
from care.satisfaction import is_top, responses, top_box
from core.record import as_utc
from core.response import SEGMENT_KEYS
from indexer.store import NONE_KEY, FeedbackStore, Filters, RatingCount


def _tally(rows: list[RatingCount], by: tuple[str, ...]) -> dict[tuple[str, ...], tuple[int, int]]:
    """(responses, top-box responses) per group; responses without every segment are left out."""
    out: dict[tuple[str, ...], tuple[int, int]] = {}
    for row in rows:
        key = tuple(row.key[name] for name in by)
        if NONE_KEY in key:
            continue
        n, tops = out.get(key, (0, 0))
        out[key] = (n + row.count, tops + (row.count if is_top(row.rating, row.scale) else 0))
    return out


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


@register_rule
class SatisfactionDrop(Rule):
    type_name = "satisfaction_drop"
    joins_incidents = False
    OPTIONS = {
        "window": Option(str, "7d", parse_duration, "the recent span whose CSAT is tested"),
        "baseline_weeks": Option(int, 4, at_least(1), "windows before it that make the baseline"),
        "group_by": Option(list, ["branch"], one_of(*SEGMENT_KEYS), "segments ([] = every response)"),
        "min_n": Option(int, 30, at_least(1), "responses each side needs"),
        "min_drop": Option(float, 0.1, between_open(0.0, 1.0), "the least fall in CSAT (0.1 = 10 points)"),
        "alpha": Option(float, 0.01, between_open(0.0, 1.0), "family-wise false-alarm level"),
        "samples": Option(int, 5, at_least(0), "low-rated answers shown"),
    }

    def quiet_period(self) -> timedelta:
        window: timedelta = self.options["window"]
        return window

    def evaluate(self, store: FeedbackStore, now: datetime) -> list[Alert]:
        """Counted in the store (`rating_counts` for the window and for the baseline span), so a
        check reads no response documents unless a group fires (its low-rated answers)."""
        end = as_utc(now)
        window: timedelta = self.options["window"]
        start = end - window
        by = tuple(self.options["group_by"])
        current = _tally(store.rating_counts(by, Filters(since=start, until=end)), by)
        before = _tally(store.rating_counts(
            by, Filters(since=start - window * self.options["baseline_weeks"], until=start)), by)
        min_n = self.options["min_n"]
        tested = [k for k in current if current[k][0] >= min_n and before.get(k, (0, 0))[0] >= min_n]
        alerts = []
        for key in tested:
            (n1, k1), (n0, k0) = current[key], before[key]
            p1, p0 = k1 / n1, k0 / n0
            if p0 - p1 < self.options["min_drop"]:
                continue
            pooled = (k1 + k0) / (n1 + n0)
            se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
            z = (p0 - p1) / se if se else 0.0
            p_value = _normal_sf(z)
            threshold = self.options["alpha"] / len(tested)
            if p_value > threshold:
                continue
            alerts.append(self._alert(store, key, by, start, end, n1, n0, p1, p0, z, p_value, threshold))
        return sorted(alerts, key=lambda a: a.p_value)

    def _alert(self, store: FeedbackStore, key: tuple[str, ...], by: tuple[str, ...], start: datetime,
               end: datetime, n1: int, n0: int, p1: float, p0: float, z: float, p_value: float,
               threshold: float) -> Alert:
        group = dict(zip(by, key, strict=True))
        label = " · ".join(key) or "全部"
        unhappy = n1 - round(p1 * n1)
        expected = n1 * (1 - p0)
        now_rs = [r for r in responses(store, since=start, until=end)
                  if tuple(r.segments.get(name) for name in by) == key]
        low = sorted((r for r in now_rs if not top_box(r)), key=lambda r: r.rating)
        ids = [i for r in low for i in r.record_ids][: self.options["samples"]]
        found = store.get_many(ids) if ids else {}
        span = describe_duration(end - start)
        title = (f"{label} 满意度下降：近 {span} CSAT {p1:.0%}（{n1} 份问卷），"
                 f"此前 {self.options['baseline_weeks']} 个周期 {p0:.0%}（{n0} 份）")
        details: dict[str, Any] = {"csat": p1, "baseline_csat": p0, "n": n1, "baseline_n": n0, "z": z,
                                   "p_threshold": threshold}
        return Alert(rule=self.name, key=",".join(f"{k}={v}" for k, v in group.items()),
                     severity=self.severity, window_start=start, window_end=end, count=unhappy,
                     baseline=expected, ratio=unhappy / expected if expected else 0.0, p_value=p_value,
                     title=title, fired_at=end, samples=[found[i] for i in ids if i in found],
                     group=group, details=details)

    def key_fields(self) -> tuple[str, ...]:
        return tuple(self.options["group_by"])

    def evidence_query(self, alert: Alert) -> None:
        """Its evidence is the low-rated answers it shows (a segment is no store filter)."""
        return None
