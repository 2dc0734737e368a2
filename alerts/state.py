"""Alert state kept in the store, so a restart neither repeats nor loses an alert.

Three namespaces of `FeedbackStore` state documents:

- "alert_state", key `rule:groupkey`: the last alert sent for that key (when, what count, which id),
  read by the runner for the realert window and escalation.
- "silence", key `rule:groupkey`: `{"until": ISO time, "reason": ...}`; alerts for the key are held
  back until then (`voc alerts silence RULE:KEY --for 24h`).
- "send_journal", key alert id: `{"status": "pending" | "sent" | "failed", "alert": {...}, ...}`.
  An alert is journaled as pending *before* anything else happens to it and marked sent after every
  notifier has it, so a crash in between leaves a pending entry that the next run finishes.
  `delivered` lists the notifiers that already have it, so a retry does not send twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from core.record import as_utc, parse_time
from indexer.store import FeedbackStore

ALERT_STATE = "alert_state"
SILENCE = "silence"
SEND_JOURNAL = "send_journal"


@dataclass(frozen=True)
class LastAlert:
    fired_at: datetime
    count: int
    alert_id: str
    kind: str = "alert"
    doc: dict[str, Any] | None = None  # the whole state document (title, severity, baseline, ...)

    @property
    def recovered(self) -> bool:
        return self.kind == "recovery"


class AlertState:
    """Last alert per `rule:groupkey`."""

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store

    def last(self, state_key: str) -> LastAlert | None:
        doc = self.store.get_state(ALERT_STATE, state_key)
        if doc is None:
            return None
        return LastAlert(parse_time(doc["fired_at"], naive_tz=None), int(doc["count"]),
                         doc.get("alert_id", ""), doc.get("kind", "alert"), doc)

    def open_keys(self, rule: str) -> dict[str, LastAlert]:
        """`rule:key` -> last alert, for the rule's keys whose last message was not a recovery."""
        out = {}
        for state_key in self.store.list_state(ALERT_STATE):
            if state_key.startswith(f"{rule}:"):
                last = self.last(state_key)
                if last is not None and not last.recovered:
                    out[state_key] = last
        return out

    def record(self, alert: Alert) -> None:
        """Remember `alert` as the key's last one, unless a later one is already recorded
        (a retried journal entry must not roll the state back)."""
        last = self.last(alert.state_key)
        if last is not None and last.fired_at > alert.fired_at:
            return
        self.store.put_state(ALERT_STATE, alert.state_key, {
            "fired_at": alert.fired_at.isoformat(), "count": alert.count, "alert_id": alert.id,
            "kind": alert.kind, "severity": alert.severity, "title": alert.title,
            "baseline": alert.baseline, "group": dict(alert.group), "key": alert.key,
            "window_minutes": (alert.window_end - alert.window_start) / timedelta(minutes=1),
            **counted_as(alert.details),
        })


def counted_as(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The `negative_score` of an alert's details, a state document or an incident's key entry, to
    carry into the next one: a recovery notice's links must select what the alert counted."""
    score = doc.get("negative_score")
    return {"negative_score": float(score)} if score else {}


def silence(store: FeedbackStore, state_key: str, until: datetime, reason: str = "") -> None:
    """Hold back alerts for `rule:groupkey` until `until` (tz-aware)."""
    if ":" not in state_key:
        raise ValueError(f"silence key {state_key!r} is not RULE:KEY (e.g. negative_spike:topic=信用卡)")
    store.put_state(SILENCE, state_key, {"until": as_utc(until).isoformat(), "reason": reason})


def silenced_until(store: FeedbackStore, state_key: str, now: datetime) -> datetime | None:
    """The end of the silence covering `state_key` at `now`, or None."""
    doc = store.get_state(SILENCE, state_key)
    if doc is None:
        return None
    until = parse_time(doc["until"], naive_tz=None)
    return until if until > as_utc(now) else None


class SendJournal:
    """Pending/sent/failed entries by alert id (see the module docstring)."""

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store

    def get(self, alert_id: str) -> dict[str, Any] | None:
        return self.store.get_state(SEND_JOURNAL, alert_id)

    def open(self, alert: Alert, now: datetime) -> dict[str, Any]:
        entry = {"status": "pending", "alert": alert.to_dict(), "recorded": False, "delivered": [],
                 "attempts": 0, "last_error": None, "decided_at": as_utc(now).isoformat(),
                 "updated_at": as_utc(now).isoformat()}
        self.save(alert.id, entry, now)
        return entry

    def save(self, alert_id: str, entry: dict[str, Any], now: datetime) -> None:
        entry["updated_at"] = as_utc(now).isoformat()
        self.store.put_state(SEND_JOURNAL, alert_id, entry)

    def pending(self) -> dict[str, dict[str, Any]]:
        """Entries still to deliver, oldest decision first."""
        entries = self.store.list_state(SEND_JOURNAL)
        pending = {k: v for k, v in entries.items() if v.get("status") == "pending"}
        return dict(sorted(pending.items(), key=lambda item: item[1].get("decided_at", "")))

    def prune(self, now: datetime, keep: timedelta = timedelta(days=14)) -> int:
        """Forget sent entries older than `keep` (failed and pending ones stay for `voc alerts list`)."""
        cutoff = as_utc(now) - keep
        removed = 0
        for alert_id, entry in self.store.list_state(SEND_JOURNAL).items():
            if entry.get("status") == "sent" and parse_time(entry["updated_at"], naive_tz=None) < cutoff:
                self.store.delete_state(SEND_JOURNAL, alert_id)
                removed += 1
        return removed
