"""`risk_term`: every new record carrying a risk flag at or above `min_severity`, one alert per check.

Risk flags (挤兑, 诈骗, 监管处罚 ... from the taxonomy) are rare and serious, so no baseline: each new
flagged record is news. "New" means created after the previous check. The previous check's time is
kept in the store (state namespace "rule_cursor", key = rule name), so a restart neither repeats
nor skips records; with no cursor yet, the rule looks back one `window` (default 5 min, the check
interval).

Crawls bring records in late (a post written at 10:01 may be fetched at 10:20, after the 10:05
check moved the cursor past it), so the rule also looks `late` (default 6 h) behind the cursor and
remembers, in the same cursor document, the ids it has already reported there; a late record fires
once, at the first check that sees it. Near-duplicate copies count once.

Every check that finds new records yields ONE alert (key "" = the whole rule), its samples the
records (most negative first), its details the flags with their severities and counts.

    [[alerts.rules]]
    name = "risk_critical"
    type = "risk_term"
    min_severity = "critical"
    severity = "critical"

Two things the runner must know (alerts/runner.py): every risk_term alert is new by construction
(`suppress_repeats = False`: a realert window must not hold the next check's records back), and
`evaluate` prepares the cursor and `commit` writes it, which the runner does only once the alert
is in the send journal (a check that fails in between finds the records again); a dry run sets
`write_cursor = False` and never commits.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration, parse_duration
from alerts.rules.rule import Option, Rule, at_least, one_of, register_rule
from alerts.stats.series import hourly_series
from core.record import SEVERITIES, Feedback, as_utc, parse_time
from indexer.store import FeedbackStore, Filters

log = logging.getLogger(__name__)

CURSOR = "rule_cursor"
READ_CAP = 2000  # records read per check; more than this in one check is reported as capped


@register_rule
class RiskTerm(Rule):
    type_name = "risk_term"
    suppress_repeats = False  # each alert holds only records never reported before
    recovers = False  # reports events, not a level that comes back down
    OPTIONS = {
        "min_severity": Option(str, "critical", one_of(*SEVERITIES), "lowest flag severity that fires"),
        "window": Option(str, "5m", parse_duration, "look-back when there is no previous check"),
        "late": Option(str, "6h", parse_duration, "how late a record may arrive and still fire"),
        "samples": Option(int, 10, at_least(0), "records shown in the alert"),
        "sources": Option(list, [], None, "only these sources ([] = all)"),
        "topics": Option(list, [], None, "only these topics and their sub-topics ([] = all)"),
        "banking_only": Option(bool, False, None, "only records that name a bank or have a banking "
                                                  "topic (a stock forum's 破产 is not ours)"),
    }

    def __init__(self, name: str, severity: str, options: dict[str, Any]) -> None:
        super().__init__(name, severity, options)
        self.window: timedelta = options["window"]
        self.late: timedelta = options["late"]
        self.min_rank = SEVERITIES.index(options["min_severity"])
        self.filters = Filters(min_severity=options["min_severity"], sources=tuple(options["sources"]),
                               topics=tuple(options["topics"]), distinct_clusters=True)
        self.write_cursor = True
        self._cursor: dict[str, Any] | None = None

    def evaluate(self, store: FeedbackStore, now: datetime) -> list[Alert]:
        end = as_utc(now)
        cursor = store.get_state(CURSOR, self.name) or {}
        last = parse_time(cursor["last_check"], naive_tz=None) if cursor.get("last_check") else None
        replay = last is not None and last >= end  # `voc alerts check --at` an earlier time
        if last is None or replay:
            since, seen = end - self.window, {}
        else:
            since, seen = last, dict(cursor.get("seen", {}))
        read_from = min(since, end - self.late)
        records = store.samples(replace(self.filters, since=read_from, until=end), READ_CAP)
        # the first check reports only its window but remembers everything it read, so the next
        # check does not take records from before the first window for late arrivals
        new = [r for r in records if r.id not in seen and (since == last or r.created_at >= since)]
        if self.options["banking_only"]:
            new = [r for r in new if r.topics or any(e.get("type") == "bank" for e in r.entities)]
        self._cursor = None
        if self.write_cursor and not replay:  # a replay must not rewind the cursor
            keep_from = end - self.late
            remembered = {r.id: r.created_at.isoformat() for r in records if r.created_at >= keep_from}
            self._cursor = {"last_check": end.isoformat(), "seen": remembered}
        log.info("rule=%s at=%s since=%s read=%d new=%d", self.name, end.isoformat(), since.isoformat(),
                 len(records), len(new))
        if not new:
            return []
        return [self._alert(store, new, since, end, capped=len(records) >= READ_CAP)]

    def commit(self, store: FeedbackStore) -> None:
        """Write the cursor the last evaluate prepared (the runner calls this after journaling)."""
        if self._cursor is not None:
            store.put_state(CURSOR, self.name, self._cursor)
            self._cursor = None

    def _alert(self, store: FeedbackStore, new: list[Feedback], since: datetime, end: datetime,
               capped: bool) -> Alert:
        flags: Counter[tuple[str, str]] = Counter()
        for record in new:
            for item in record.risk:
                severity = item.get("severity")
                if severity in SEVERITIES and SEVERITIES.index(severity) >= self.min_rank:
                    flags[(item.get("flag", "?"), severity)] += 1
        listed: list[dict[str, Any]] = [{"flag": f, "severity": s, "count": n}
                                        for (f, s), n in sorted(flags.items(), key=lambda i: (-i[1], i[0]))]
        late = sum(1 for r in new if r.created_at < since)
        named = "、".join(f"{item['flag']} {item['count']}" for item in listed[:3])
        title = f"风险信号 {len(new)} 条（{named}），{describe_duration(end - since)}内新增"
        details = {"flags": listed, "since": since.isoformat(), "late_records": late,
                   "min_severity": self.options["min_severity"], "read_capped": capped,
                   "series": hourly_series(store, end, self.filters)}
        return Alert(rule=self.name, key="", severity=self.severity, window_start=since, window_end=end,
                     count=len(new), baseline=0.0, ratio=0.0, p_value=0.0, title=title, fired_at=end,
                     samples=new[:self.options["samples"]], group={}, details=details)
