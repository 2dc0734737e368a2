"""Backtest: replay every alert check of a past period over the stored history, writing nothing.

A PR team tunes a rule on last month before enabling it (`voc alerts backtest --since ...`). The
backtest calls the live decision code, `alerts.runner.run_rules`, at every check time from `since`
to `until` (one `step` apart, the `[alerts] interval_minutes` of `voc run` by default), so the
realert window, escalations, recoveries and the risk_term cursor behave exactly as they would
have live. Nothing is sent and nothing is written to the store:

- the rules read records from the real store through `StateOverlay`, which keeps every state
  document (`get_state`/`put_state`/`delete_state`/`list_state`) and the alert history
  (`add_alert`/`alerts`) in memory, and refuses `upsert`;
- the only notifier is a `RecordingNotifier`, which keeps what a live run would have delivered.

What the overlay starts from: the namespaces that describe the present of a live run — the last
alert per key ("alert_state"), silences ("silence"), the send journal ("send_journal") and the
risk_term cursors ("rule_cursor") — start empty, as if the rules had been switched on at `since`:
a live last alert or cursor from today would hold back (or skip) everything in the past, and a
silence set today (only its end is stored) would hide the whole period. Every other namespace
(e.g. emerging_term's per-day "term_baseline" tables, "crawl_health" documents, which carry their
own times) is read once from the real store, then kept and changed in memory only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from alerts.alert import Alert
from alerts.errors import AlertError
from alerts.incidents import INCIDENT
from alerts.notify.base import Notifier
from alerts.rules.risk_term import CURSOR
from alerts.rules.rule import Rule
from alerts.runner import DEFAULT_REALERT, run_rules
from alerts.state import ALERT_STATE, SEND_JOURNAL, SILENCE
from core.record import Feedback, as_utc, display_tz, parse_time
from indexer.store import CountRow, FeedbackStore, Filters, RatingCount, SearchPage, UpsertResult

log = logging.getLogger(__name__)

# state namespaces that describe "now" in a live run; a backtest starts them empty
FRESH_NAMESPACES = frozenset({ALERT_STATE, SILENCE, SEND_JOURNAL, CURSOR, INCIDENT})
MAX_CHECKS = 100_000  # ~ a year at 5 minutes; more than this asks for a coarser step
WEEK = timedelta(days=7)
_ANY = Filters()
KIND_NAMES = {"alert": "new", "escalation": "escalation", "recovery": "recovery"}


def _dumps(value: Any) -> str:
    """The SQLite store's serialisation, so a document read back is what a live run reads back."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                      default=lambda v: v.isoformat() if isinstance(v, datetime) else _unserialisable(v))


def _unserialisable(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class StateOverlay:
    """A `FeedbackStore` that reads records from `store` and keeps state and alert history in memory.

    Namespaces in `fresh` start empty; any other namespace is copied from `store` on first use.
    Nothing is ever written to `store`; `close()` leaves it open (its owner closes it)."""

    def __init__(self, store: FeedbackStore, fresh: frozenset[str] = FRESH_NAMESPACES) -> None:
        self.store = store
        self.fresh = frozenset(fresh)
        self._state: dict[str, dict[str, str]] = {}  # namespace -> key -> JSON text
        self._alerts: list[tuple[datetime, int, str]] = []  # (created_at, order, JSON text)
        self._locks: dict[str, str] = {}  # lock name -> owner

    # -- records: read from the real store ------------------------------------------------------

    def upsert(self, batch: Sequence[Feedback]) -> UpsertResult:
        raise AlertError("the backtest store is read-only: records cannot be stored during a backtest")

    def get(self, record_id: str) -> Feedback | None:
        return self.store.get(record_id)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Feedback]:
        return self.store.get_many(record_ids)

    def search(self, query: str = "", filters: Filters = _ANY, page: int = 1,
               size: int = 20) -> SearchPage:
        return self.store.search(query, filters, page, size)

    def counts(self, start: datetime, end: datetime, interval: timedelta | None = None,
               group_by: Sequence[str] = (), filters: Filters = _ANY) -> list[CountRow]:
        return self.store.counts(start, end, interval, group_by, filters)

    def total(self, filters: Filters = _ANY) -> int:
        return self.store.total(filters)

    def samples(self, filters: Filters = _ANY, n: int = 5) -> list[Feedback]:
        return self.store.samples(filters, n)

    def rating_counts(self, group_by: Sequence[str] = (), filters: Filters = _ANY) -> list[RatingCount]:
        return self.store.rating_counts(group_by, filters)

    def iter_responses(self, filters: Filters = _ANY) -> Iterator[dict[str, Any]]:
        return self.store.iter_responses(filters)

    def put_responses(self, docs: Sequence[dict[str, Any]]) -> int:
        """A backtest writes nothing to the store: responses are never kept."""
        return 0

    # -- state: in memory ----------------------------------------------------------------------

    def _namespace(self, namespace: str) -> dict[str, str]:
        docs = self._state.get(namespace)
        if docs is None:
            seed = {} if namespace in self.fresh else self.store.list_state(namespace)
            docs = self._state[namespace] = {k: _dumps(v) for k, v in seed.items()}
        return docs

    def get_state(self, namespace: str, key: str) -> dict[str, Any] | None:
        text = self._namespace(namespace).get(key)
        return None if text is None else json.loads(text)

    def put_state(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise AlertError(f"state {namespace}/{key}: value must be a dict")
        self._namespace(namespace)[key] = _dumps(value)

    def delete_state(self, namespace: str, key: str) -> None:
        self._namespace(namespace).pop(key, None)

    def list_state(self, namespace: str) -> dict[str, dict[str, Any]]:
        docs = self._namespace(namespace)
        return {k: json.loads(docs[k]) for k in sorted(docs)}

    def add_alert(self, alert: dict[str, Any]) -> None:
        if not isinstance(alert, dict) or not isinstance(alert.get("rule"), str) or not alert["rule"]:
            raise AlertError("alert must be a dict with a non-empty 'rule'")
        created = parse_time(alert["created_at"], naive_tz=display_tz())
        self._alerts.append((created, len(self._alerts),
                             _dumps({**alert, "created_at": created.isoformat()})))

    def alerts(self, since: datetime | None = None, rule: str | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
        """The backtest's own alert history (never the real store's), newest first."""
        rows = sorted(self._alerts, key=lambda row: (row[0], row[1]), reverse=True)
        docs = [json.loads(text) for created, _, text in rows if since is None or created >= as_utc(since)]
        return [d for d in docs if rule is None or d["rule"] == rule][:limit]

    def lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        """Locks live in memory too: a backtest never takes (or waits on) the live check lock."""
        holder = self._locks.setdefault(name, owner)
        return holder == owner

    def unlock(self, name: str, owner: str) -> None:
        if self._locks.get(name) == owner:
            del self._locks[name]

    def close(self) -> None:
        """Nothing to close: the real store belongs to the caller."""


class RecordingNotifier(Notifier):
    """Takes every alert and keeps it: what a live run would have handed to its notifiers."""

    name = "backtest"

    def __init__(self) -> None:
        self.received: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.received.append(alert)

    def take(self) -> list[Alert]:
        out, self.received = self.received, []
        return out


@dataclass(frozen=True)
class BacktestItem:
    """One firing the live history would hold (or, in `BacktestReport.messages`, one message a
    reader would have received): `kind` is new, escalation or recovery."""

    at: datetime
    rule: str
    key: str
    title: str
    kind: str
    severity: str
    count: int
    incident: str = ""


@dataclass
class RuleResult:
    name: str
    severity: str
    items: list[BacktestItem] = field(default_factory=list)
    suppressed: int = 0  # repeats held back by the realert window
    error: str | None = None  # the rule failed here and was left out of the later checks
    error_at: datetime | None = None

    def kinds(self) -> dict[str, int]:
        return {kind: sum(1 for i in self.items if i.kind == kind) for kind in KIND_NAMES.values()}


@dataclass
class BacktestReport:
    since: datetime
    until: datetime
    step: timedelta
    checks: int
    rules: dict[str, RuleResult]
    messages: list[BacktestItem] = field(default_factory=list)  # what a reader would have received

    @property
    def incidents(self) -> int:
        return len({m.incident or f"{m.rule}:{m.key}:{m.at}" for m in self.messages})

    @property
    def ok(self) -> bool:
        return all(r.error is None for r in self.rules.values())

    def weeks(self) -> list[tuple[datetime, datetime]]:
        """7-day slices from `since` (the last one ends at `until`, so it may be shorter)."""
        out, start = [], self.since
        while start < self.until:
            out.append((start, min(start + WEEK, self.until)))
            start += WEEK
        return out

    def per_week(self, rule: str) -> list[int]:
        """Messages of `rule` in each slice of `weeks()` (a check at `until` counts in the last)."""
        counts = [0] * len(self.weeks())
        for item in self.rules[rule].items:
            counts[min(int((item.at - self.since) / WEEK), len(counts) - 1)] += 1
        return counts

    def to_dict(self, tz: tzinfo | None = None) -> dict[str, Any]:
        zone = tz or display_tz()

        def iso(t: datetime) -> str:
            return t.astimezone(zone).isoformat()

        weeks = self.weeks()
        rules = {}
        for name, result in self.rules.items():
            rules[name] = {
                "alerts": len(result.items), "kinds": result.kinds(), "suppressed": result.suppressed,
                "severity": result.severity,
                "per_week": [{"start": iso(a), "end": iso(b), "alerts": n}
                             for (a, b), n in zip(weeks, self.per_week(name), strict=True)],
                "items": [{"at": iso(i.at), "key": i.key, "title": i.title, "kind": i.kind,
                           "severity": i.severity, "count": i.count} for i in result.items],
                "error": result.error, "error_at": iso(result.error_at) if result.error_at else None,
            }
        return {"since": iso(self.since), "until": iso(self.until),
                "step_minutes": self.step / timedelta(minutes=1), "checks": self.checks, "rules": rules,
                "incidents": self.incidents,
                "messages": [{"at": iso(m.at), "rule": m.rule, "key": m.key, "title": m.title,
                              "kind": m.kind, "severity": m.severity, "incident": m.incident}
                             for m in self.messages]}


def count_checks(since: datetime, until: datetime, step: timedelta) -> int:
    """Checks at since, since + step, ... up to and including until."""
    if step <= timedelta(0):
        raise ValueError(f"step must be positive, got {step}")
    if as_utc(since) > as_utc(until):
        return 0
    return (as_utc(until) - as_utc(since)) // step + 1


def check_times(since: datetime, until: datetime, step: timedelta) -> Iterator[datetime]:
    start = as_utc(since)
    for k in range(count_checks(since, until, step)):
        yield start + k * step


def backtest(rules: Sequence[Rule], store: FeedbackStore, since: datetime, until: datetime,
             step: timedelta, *, realert: timedelta = DEFAULT_REALERT, recovery: bool = True,
             progress: Callable[[int, int, datetime], None] | None = None) -> BacktestReport:
    """Run `run_rules` at every check time of [since, until] on a `StateOverlay` of `store`.

    `progress(done, total, at)` is called at about every 10 % of the checks. A rule that raises is
    reported (its first error) and left out of the later checks."""
    since, until = as_utc(since), as_utc(until)
    if since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    total = count_checks(since, until, step)
    if total > MAX_CHECKS:
        raise ValueError(f"{total} checks is more than {MAX_CHECKS}; use a larger step")
    overlay = StateOverlay(store)
    recorder = RecordingNotifier()
    results = {rule.name: RuleResult(rule.name, rule.severity) for rule in rules}
    messages: list[BacktestItem] = []
    active = list(rules)
    every = max(1, total // 10)
    for done, now in enumerate(check_times(since, until, step), start=1):
        report = run_rules(active, overlay, [recorder], now, realert=realert, recovery=recovery)
        for alert in recorder.take():
            messages.append(BacktestItem(now, alert.rule, alert.key, alert.title,
                                         KIND_NAMES.get(alert.kind, alert.kind), alert.severity,
                                         alert.count, alert.incident))
        for alert in report.recorded:  # every firing the live history would hold
            result = results.setdefault(alert.rule, RuleResult(alert.rule, alert.severity))
            result.items.append(BacktestItem(now, alert.rule, alert.key, alert.title,
                                             KIND_NAMES.get(alert.kind, alert.kind), alert.severity,
                                             alert.count, alert.incident))
        for alert in report.suppressed:
            results[alert.rule].suppressed += 1
        for error in report.errors:
            for rule in active:
                if error.startswith(f"{rule.name}: "):
                    results[rule.name].error, results[rule.name].error_at = error, now
                    active.remove(rule)
                    log.warning("backtest rule=%s at=%s left out after error", rule.name, now.isoformat())
                    break
        if progress is not None and (done % every == 0 or done == total):
            progress(done, total, now)
    return BacktestReport(since, until, step, total, results, messages)
