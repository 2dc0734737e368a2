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
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration, parse_duration
from alerts.rules.rule import Option, Rule, at_least, between_open, one_of, register_rule
from care.satisfaction import Response, responses, top_box
from core.record import as_utc
from core.response import SEGMENT_KEYS
from indexer.store import FeedbackStore


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
        end = as_utc(now)
        window: timedelta = self.options["window"]
        start = end - window
        rs = responses(store, since=start - window * self.options["baseline_weeks"], until=end)
        by = tuple(self.options["group_by"])
        current: dict[tuple[str, ...], list[Response]] = defaultdict(list)
        before: dict[tuple[str, ...], list[Response]] = defaultdict(list)
        for r in rs:
            if any(name not in r.segments for name in by):
                continue
            key = tuple(r.segments[name] for name in by)
            (current if r.created_at >= start else before)[key].append(r)
        min_n = self.options["min_n"]
        tested = [k for k in current if len(current[k]) >= min_n and len(before.get(k, [])) >= min_n]
        alerts = []
        for key in tested:
            now_rs, old_rs = current[key], before[key]
            n1, n0 = len(now_rs), len(old_rs)
            k1, k0 = sum(map(top_box, now_rs)), sum(map(top_box, old_rs))
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
            alerts.append(self._alert(store, key, by, now_rs, start, end, n1, n0, p1, p0, z, p_value,
                                      threshold))
        return sorted(alerts, key=lambda a: a.p_value)

    def _alert(self, store: FeedbackStore, key: tuple[str, ...], by: tuple[str, ...],
               now_rs: list[Response], start: datetime, end: datetime, n1: int, n0: int, p1: float,
               p0: float, z: float, p_value: float, threshold: float) -> Alert:
        group = dict(zip(by, key, strict=True))
        label = " · ".join(key) or "全部"
        unhappy = n1 - round(p1 * n1)
        expected = n1 * (1 - p0)
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
