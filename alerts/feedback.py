"""What readers said of an alert (有用 / 误报), kept per alert, and each rule's precision from it.

State namespace "alert_feedback", key the alert id (`Alert.id`, shown in every message):
`{"verdict": "useful" | "false_alarm", "rule", "key", "by", "at", "note"}`. A later verdict on the
same alert replaces the earlier one (a reader who clicked the wrong link corrects it). The alert's
rule and key come from the alert history, so a verdict on an id nobody was sent is refused.

`rule_precision(store)` is what `voc alerts list --stats` prints: per rule, the alerts judged, how
many were useful, and useful / judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.record import as_utc
from indexer.store import FeedbackStore

FEEDBACK = "alert_feedback"
VERDICTS = {"useful": "有用", "false_alarm": "误报"}
HISTORY_SCAN = 5000  # alerts read from the history to find the one a verdict is about


class UnknownAlert(LookupError):
    """No alert with that id in the history."""


def find_alert(store: FeedbackStore, alert_id: str) -> dict[str, Any] | None:
    """The history entry of `alert_id` (a message's lead or any firing it carried), or None."""
    for entry in store.alerts(limit=HISTORY_SCAN):
        if entry.get("id") == alert_id:
            return entry
    return None


def give_feedback(store: FeedbackStore, alert_id: str, verdict: str, *, by: str, now: datetime,
                  note: str = "") -> dict[str, Any]:
    """Store `verdict` ("useful" or "false_alarm") for `alert_id`; returns the stored document."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {sorted(VERDICTS)}")
    entry = find_alert(store, alert_id)
    if entry is None:
        raise UnknownAlert(f"no alert {alert_id!r} in the alert history (`voc alerts list` shows the ids)")
    doc = {"verdict": verdict, "rule": entry.get("rule", ""), "key": entry.get("key", ""),
           "incident": entry.get("incident", ""), "by": by, "at": as_utc(now).isoformat(), "note": note}
    store.put_state(FEEDBACK, alert_id, doc)
    return doc


@dataclass(frozen=True)
class RulePrecision:
    rule: str
    judged: int
    useful: int

    @property
    def precision(self) -> float | None:
        return self.useful / self.judged if self.judged else None


def rule_precision(store: FeedbackStore) -> dict[str, RulePrecision]:
    """Per rule with any verdict: judged, useful, precision (useful / judged)."""
    counts: dict[str, list[int]] = {}
    for doc in store.list_state(FEEDBACK).values():
        judged_useful = counts.setdefault(doc.get("rule", "?"), [0, 0])
        judged_useful[0] += 1
        judged_useful[1] += doc.get("verdict") == "useful"
    return {rule: RulePrecision(rule, judged, useful) for rule, (judged, useful) in sorted(counts.items())}
