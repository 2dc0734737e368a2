"""`case_overdue`: a case (工单) past its SLA deadline while still being worked, told to its team's lead.

Cases live in the store as state documents (namespace "case", written by `care.cases`; this rule
reads them as `source_silent` reads crawl health, so the alerts package never imports `care`). A
case is overdue when its status is open or in_progress (waiting for the customer stops the clock)
and `due_at` has passed. Each overdue case is one alert (key `case=<id>`), raised **once** per
deadline: the rule remembers the deadline it escalated (state "rule_cursor", key = rule name,
written by `commit` once the alert is in the send journal, as `risk_term` does), so later checks
stay quiet; a deadline that moves (the case waited for the customer, or was reopened) and passes
again escalates again.

The alert goes to the team's lead: `details["audience"] = "team_lead"` and `details["recipients"]`
the lead addresses stored on the case (`[cases.teams.NAME] lead`); the email notifiers route on
them (`alerts.notify.recipients.route`), falling back to the severity's recipients when the team
has no lead. It never joins a complaint incident.

    [[alerts.rules]]
    name = "case_overdue"
    type = "case_overdue"
    severity = "warning"
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from alerts.alert import Alert
from alerts.rules.rule import Option, Rule, at_least, register_rule
from core.record import RecordError, as_utc, parse_time, to_display
from indexer.store import FeedbackStore, Filters
from nlp.mask import mask_pii

log = logging.getLogger(__name__)

CASES = "case"  # care.cases.NAMESPACE
CURSOR = "rule_cursor"
TEAM_LEAD = "team_lead"  # the audience alerts.notify.recipients routes to details["recipients"]


@register_rule
class CaseOverdue(Rule):
    type_name = "case_overdue"
    suppress_repeats = False  # once per case and deadline, by the rule's own memory
    recovers = False  # a case that is dealt with needs no 已恢复 notice
    joins_incidents = False  # a service deadline, not a rise in complaints
    OPTIONS = {
        "statuses": Option(list, ["open", "in_progress"], None, "case statuses whose deadline runs"),
        "teams": Option(list, [], None, "only these teams ([] = all)"),
        "samples": Option(int, 3, at_least(0), "the case's records shown in the alert"),
    }

    def __init__(self, name: str, severity: str, options: dict[str, Any]) -> None:
        super().__init__(name, severity, options)
        self.write_cursor = True
        self._cursor: dict[str, Any] | None = None

    def key_fields(self) -> tuple[str, ...]:
        return ("case",)

    def evidence_query(self, alert: Alert) -> tuple[str, Filters] | None:
        return None  # the case's own records (the samples) are the evidence

    def evaluate(self, store: FeedbackStore, now: datetime) -> list[Alert]:
        end = as_utc(now)
        escalated: dict[str, str] = dict((store.get_state(CURSOR, self.name) or {}).get("escalated", {}))
        cases = store.list_state(CASES)
        alerts, keep = [], {}
        for case_id, doc in sorted(cases.items()):
            try:
                due = parse_time(doc["due_at"], naive_tz=None)
                created = parse_time(doc["created_at"], naive_tz=None)
            except (KeyError, TypeError, RecordError):
                log.warning("rule=%s case=%s skipped=no_deadline", self.name, case_id)
                continue
            if doc.get("status") not in self.options["statuses"] or due >= end:
                continue
            if self.options["teams"] and doc.get("team") not in self.options["teams"]:
                continue
            if created > end:  # a replay of a time before the case existed
                continue
            keep[case_id] = doc["due_at"]
            if escalated.get(case_id) == doc["due_at"]:  # told already
                continue
            alerts.append(self._alert(store, doc, created, due, end))
        self._cursor = None
        if self.write_cursor:
            self._cursor = {"escalated": keep, "checked_at": end.isoformat()}
        log.info("rule=%s at=%s cases=%d overdue=%d new=%d", self.name, end.isoformat(), len(cases),
                 len(keep), len(alerts))
        return alerts

    def commit(self, store: FeedbackStore) -> None:
        if self._cursor is not None:
            store.put_state(CURSOR, self.name, self._cursor)
            self._cursor = None

    def _alert(self, store: FeedbackStore, doc: dict[str, Any], created: datetime, due: datetime,
               end: datetime) -> Alert:
        case_id, team = str(doc.get("id", "")), str(doc.get("team", ""))
        ids = list(doc.get("records", []))[:self.options["samples"]]
        found = store.get_many(ids) if ids else {}
        hours = (end - due).total_seconds() / 3600
        who = f"，处理人 {doc['assignee']}" if doc.get("assignee") else "，尚未指派"
        title = (f"工单 {case_id} 已超时：{mask_pii(str(doc.get('title', '')))}（{team}{who}，"
                 f"截止 {to_display(due)}）")
        details = {"audience": TEAM_LEAD, "recipients": [str(a) for a in doc.get("lead", [])],
                   "case": {"id": case_id, "team": team, "status": doc.get("status"),
                            "assignee": doc.get("assignee", ""), "severity": doc.get("severity"),
                            "due_at": due.isoformat(), "hours_overdue": round(hours, 1)}}
        return Alert(rule=self.name, key=f"case={case_id}", severity=self.severity, window_start=created,
                     window_end=end, count=1, baseline=0.0, ratio=0.0, p_value=0.0, title=title,
                     fired_at=end, samples=[found[i] for i in ids if i in found], group={"case": case_id},
                     details=details)
