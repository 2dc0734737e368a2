"""Incidents: the firings that share evidence become one incident, told in one message.

A 手机银行 outage fires the topic spike, the volume spike, a source spike per source, the negative
share and an emerging term in the same check. Each is right, and together they are one thing to a
PR reader. This module decides which firings belong together and what message, if any, goes out.

**Evidence.** A firing's evidence is the set of records it counted (`Rule.evidence_query`: the
rule's scope, the alert's window and group, copies included; a `term` group is the text query) and
the first posts of their clusters, capped at `MAX_IDS`; a cluster alert's samples are its evidence.

**Grouping one check** (`group_firings`). Two specific firings (they name a topic, term, entity or
cluster) belong together when they name the same top-level topic (手机银行 and 手机银行/闪退), or
when at least `LINK_OVERLAP` of the smaller one's records are also the other's. A broad firing (the
overall share, one source's spike) joins the one group it overlaps most by that measure (the
largest on a tie), so an overall share shift never fuses two unrelated incidents; broad firings
that overlap no group group among themselves. A source health firing (`Rule.joins_incidents`
False) is always its own incident. A group that matches an incident opened or escalated in the
same check is carried in that message.

**Across checks** (`IncidentBook`, state namespace "incident"). A group joins the open incident that
already holds one of its keys (`rule:key`), else one whose last firing is at most `JOIN_WITHIN`
ago and that shares its evidence by the same test. Then:

- no open incident: a new one, and a message of kind "alert" led by the strongest firing
  (severity, then p-value), the others carried in `Alert.related`;
- an open incident: its lead rule (the rule of its first message's lead) counting at least twice
  what the incident's last message told (`Incident.told`), or a key of a higher severity than the
  incident's, sends an escalation (升级) in the incident's mail thread (`Alert.thread`: the first
  message's id) — a sub-topic or one source doubling on its own is an update, not a message; and
  a firing of a rule whose every firing is news (risk_term: records never reported) sends a
  follow-up (kind "alert") in the same thread;
  anything else updates the incident silently (`voc alerts list` shows it);
- an incident whose every key has recovered (the rule's quiet period passed without firing) gets one
  recovery notice (已恢复正常) and is closed; an incident of event rules only (terms, risk) that
  never "recover" closes silently once its keys were quiet for their quiet period.

The incident document is written after its message is in the send journal, and written again from
the journal entry when the message is recorded (`apply_message`), so a crash in between neither loses
the incident nor opens a second one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.rules.rule import Rule
from alerts.state import counted_as
from core.record import SEVERITIES, as_utc, parse_time
from indexer.store import NONE_KEY, FeedbackStore

INCIDENT = "incident"
LINK_OVERLAP = 0.3
MAX_IDS = 500
KEPT_IDS = 1000  # evidence ids an incident document keeps for matching later firings
JOIN_WITHIN = timedelta(hours=6)
SPECIFIC_FIELDS = ("topic", "term", "entity", "cluster")
STATUS_LABELS = {"open": "进行中", "recovered": "已恢复", "closed": "已结束"}


@dataclass
class Firing:
    """One alert of a check, with what the runner decided for its key and its evidence."""

    alert: Alert
    outcome: str  # "alert" | "escalation" | "suppressed" (still firing, held back for its key)
    ids: frozenset[str] = frozenset()
    joins: bool = True
    recovers: bool = True
    quiet: timedelta = timedelta(hours=1)
    news: bool = False  # every firing carries records never reported before (risk_term)

    @property
    def broad(self) -> bool:
        return not any(self.alert.group.get(f, NONE_KEY) != NONE_KEY for f in SPECIFIC_FIELDS)

    @property
    def topic_root(self) -> str | None:
        topic = self.alert.group.get("topic", NONE_KEY)
        return None if topic == NONE_KEY else topic.split("/")[0]


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


# Which firing leads a message when severities tie: a level of negative comments says most to a PR
# reader; a cluster's or a risk term's p-value is no test statistic (they report events).
LEAD_ORDER = ("negative_spike", "negative_share", "volume_spike", "emerging_term", "cluster_growth",
              "risk_term", "source_silent")


def strength(alert: Alert) -> tuple[int, int, bool, float, float]:
    """Sort key, strongest first: severity, rule type (`LEAD_ORDER`), a named topic or term before
    a broad key, then the smallest p-value, then the largest ratio."""
    kind = alert.details.get("rule_type", "")
    order = LEAD_ORDER.index(kind) if kind in LEAD_ORDER else len(LEAD_ORDER)
    broad = not any(alert.group.get(f, NONE_KEY) != NONE_KEY for f in SPECIFIC_FIELDS)
    return (-severity_rank(alert.severity), order, broad, alert.p_value, -alert.ratio)


def evidence_ids(rule: Rule, alert: Alert, store: FeedbackStore) -> frozenset[str]:
    """The records `alert` counted and their clusters' first posts (see the module docstring)."""
    ids = {r.id for r in alert.samples} | {r.duplicate_of for r in alert.samples if r.duplicate_of}
    ids |= {f"cluster:{alert.group['cluster']}"} if "cluster" in alert.group else set()
    query = rule.evidence_query(alert)
    if query is not None:
        text, filters = query
        for record in store.search(text, filters, size=MAX_IDS).items:
            ids.add(record.id)
            if record.duplicate_of:
                ids.add(record.duplicate_of)
    return frozenset(ids)


def overlap(a: Iterable[str], b: Iterable[str]) -> float:
    """|a ∩ b| / min(|a|, |b|): 1.0 when one set lies inside the other."""
    first, second = set(a), set(b)
    if not first or not second:
        return 0.0
    return len(first & second) / min(len(first), len(second))


def linked(a: Firing, b: Firing) -> bool:
    if a.topic_root is not None and a.topic_root == b.topic_root:
        return True
    return overlap(a.ids, b.ids) >= LINK_OVERLAP


def group_firings(firings: Sequence[Firing]) -> list[list[Firing]]:
    """The firings of one check, grouped by shared evidence (see the module docstring); each group
    strongest first, groups in the order of their strongest firing."""
    alone = [[f] for f in firings if not f.joins]
    specific = [f for f in firings if f.joins and not f.broad]
    broad = [f for f in firings if f.joins and f.broad]
    groups = _components(specific)
    leftover = []
    for f in broad:
        scores = [(overlap(f.ids, _ids(g)), len(_ids(g)), i) for i, g in enumerate(groups)]
        best = max(scores, default=(0.0, 0, -1))
        if best[0] >= LINK_OVERLAP:
            groups[best[2]].append(f)
        else:
            leftover.append(f)
    out = groups + _components(leftover) + alone
    out = [sorted(g, key=lambda f: strength(f.alert)) for g in out]
    return sorted(out, key=lambda g: strength(g[0].alert))


def _ids(group: Sequence[Firing]) -> set[str]:
    return set().union(*(f.ids for f in group)) if group else set()


def _components(firings: Sequence[Firing]) -> list[list[Firing]]:
    parent = list(range(len(firings)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(firings)):
        for j in range(i + 1, len(firings)):
            if linked(firings[i], firings[j]):
                parent[root(i)] = root(j)
    out: dict[int, list[Firing]] = {}
    for i, f in enumerate(firings):
        out.setdefault(root(i), []).append(f)
    return list(out.values())


@dataclass
class Incident:
    """One incident: its keys (`rule:key` -> what its firings said), evidence and messages."""

    id: str
    opened_at: datetime
    updated_at: datetime
    title: str
    severity: str
    lead: str  # the state key of the first message's lead firing
    status: str = "open"  # open | recovered | closed
    thread: str = ""  # the first message's id: the mail thread of every later message
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # {"id", "kind", "at"}
    closed_at: datetime | None = None
    acknowledged_by: str = ""  # who took it on (the console's 确认), and when
    acknowledged_at: datetime | None = None
    told: int = 0  # the lead rule's largest count in the last message (escalation needs twice it)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def topic_roots(self) -> set[str]:
        return {t.split("/")[0] for k in self.keys.values()
                if (t := k.get("group", {}).get("topic", NONE_KEY)) != NONE_KEY}

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def shares_evidence(self, group: Sequence[Firing]) -> bool:
        roots = {f.topic_root for f in group if f.topic_root}
        return bool(roots & self.topic_roots) or overlap(_ids(group), self.ids) >= LINK_OVERLAP

    def note(self, firing: Alert, now: datetime, *, recovers: bool = True,
             quiet: timedelta = timedelta(hours=1), joins: bool = True) -> None:
        """Record that `firing` (an alert or a key's recovery) happened at `now`."""
        entry = self.keys.setdefault(firing.state_key, {
            "rule": firing.rule, "key": firing.key, "group": dict(firing.group),
            "first_fired": as_utc(now).isoformat(), "peak": 0, "firings": 0})
        if firing.kind == "recovery":
            entry["status"] = "recovered"
            entry["recovered_at"] = as_utc(now).isoformat()
            return
        entry.update(counted_as(firing.details))
        entry.update({"title": firing.title, "severity": firing.severity, "count": firing.count,
                      "baseline": firing.baseline, "last_fired": as_utc(now).isoformat(),
                      "status": "firing", "recovers": recovers, "joins": joins,
                      "quiet_minutes": quiet / timedelta(minutes=1)})
        entry["peak"] = max(int(entry.get("peak", 0)), firing.count)
        entry["firings"] = int(entry.get("firings", 0)) + 1
        if severity_rank(firing.severity) > severity_rank(self.severity):
            self.severity = firing.severity
        self.updated_at = max(self.updated_at, as_utc(now))

    def add_ids(self, ids: Iterable[str]) -> None:
        merged = list(dict.fromkeys([*self.ids, *sorted(ids)]))
        self.ids = merged[-KEPT_IDS:]

    def add_message(self, message: Alert, now: datetime) -> None:
        if any(m["id"] == message.id for m in self.messages):
            return
        self.messages.append({"id": message.id, "kind": message.kind, "at": as_utc(now).isoformat(),
                              "title": message.title})
        if not self.thread:
            self.thread = message.id

    def settled(self, now: datetime) -> bool:
        """Every key has recovered, or (event rules) was quiet for its quiet period."""
        for entry in self.keys.values():
            if entry.get("status") == "recovered":
                continue
            if entry.get("recovers", True):
                return False
            last = parse_time(entry.get("last_fired", self.updated_at.isoformat()), naive_tz=None)
            if as_utc(now) < last + timedelta(minutes=float(entry.get("quiet_minutes", 60))):
                return False
        return True

    def waits_for_recovery(self) -> bool:
        """Whether a recovery notice is due when it settles (some key is a level that recovers)."""
        return any(entry.get("recovers", True) for entry in self.keys.values())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "opened_at": self.opened_at.isoformat(),
                "updated_at": self.updated_at.isoformat(), "title": self.title,
                "severity": self.severity, "lead": self.lead, "status": self.status,
                "thread": self.thread, "keys": self.keys, "ids": self.ids,
                "messages": self.messages,
                "closed_at": self.closed_at.isoformat() if self.closed_at else None,
                "acknowledged_by": self.acknowledged_by, "told": self.told,
                "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        closed, acked = data.get("closed_at"), data.get("acknowledged_at")
        return cls(id=data["id"], opened_at=parse_time(data["opened_at"], naive_tz=None),
                   updated_at=parse_time(data["updated_at"], naive_tz=None), title=data["title"],
                   severity=data.get("severity", "warning"), lead=data.get("lead", ""),
                   status=data.get("status", "open"), thread=data.get("thread", ""),
                   keys=dict(data.get("keys", {})), ids=list(data.get("ids", [])),
                   messages=list(data.get("messages", [])),
                   closed_at=parse_time(closed, naive_tz=None) if closed else None,
                   acknowledged_by=data.get("acknowledged_by", ""), told=int(data.get("told", 0)),
                   acknowledged_at=parse_time(acked, naive_tz=None) if acked else None)

    @classmethod
    def opened_by(cls, message: Alert, now: datetime) -> Incident:
        incident = cls(id=incident_id(message), opened_at=as_utc(now), updated_at=as_utc(now),
                       title=message.title, severity=message.severity, lead=message.state_key)
        return incident


def incident_id(first: Alert) -> str:
    """Stable id of the incident a message opens (its lead's rule, key and window end)."""
    raw = f"incident\x1f{first.rule}\x1f{first.key}\x1f{first.window_end.isoformat()}"
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:12]


class IncidentBook:
    """The incidents kept in the store (namespace "incident")."""

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store

    def get(self, incident: str) -> Incident | None:
        doc = self.store.get_state(INCIDENT, incident)
        return Incident.from_dict(doc) if doc else None

    def all(self) -> list[Incident]:
        """Every incident kept, newest first."""
        found = [Incident.from_dict(doc) for doc in self.store.list_state(INCIDENT).values()]
        return sorted(found, key=lambda i: i.opened_at, reverse=True)

    def open(self) -> list[Incident]:
        return [i for i in self.all() if i.is_open]

    def save(self, incident: Incident) -> None:
        self.store.put_state(INCIDENT, incident.id, incident.to_dict())

    def holding(self, state_key: str, incidents: Sequence[Incident]) -> Incident | None:
        for incident in incidents:
            if state_key in incident.keys:
                return incident
        return None

    def match(self, group: Sequence[Firing], incidents: Sequence[Incident],
              now: datetime) -> Incident | None:
        """The open incident `group` belongs to, or None (see the module docstring)."""
        for f in group:
            held = self.holding(f.alert.state_key, incidents)
            if held is not None:
                return held
        if not group[0].joins:
            return None
        recent = [i for i in incidents if as_utc(now) - i.updated_at <= JOIN_WITHIN
                  and all(k.get("joins", True) for k in i.keys.values())]
        for incident in sorted(recent, key=lambda i: i.updated_at, reverse=True):
            if incident.shares_evidence(group):
                return incident
        return None

    def apply_message(self, message: Alert, now: datetime) -> Incident:
        """Make sure the incident `message` belongs to holds it (idempotent; see the docstring)."""
        incident = self.get(message.incident) if message.incident else None
        if incident is None:
            incident = Incident.opened_by(message, now)
            incident.id = message.incident or incident.id
        if not any(m["id"] == message.id for m in incident.messages):
            for firing in message.firings:
                incident.note(firing, firing.fired_at)
            incident.add_ids(message.evidence.get("ids", []))
            incident.add_message(message, now)
            if message.kind == "recovery":
                incident.status, incident.closed_at = "recovered", as_utc(now)
        self.save(incident)
        return incident



@dataclass
class Plan:
    """What one check sends and writes: messages (each a lead alert carrying its related firings),
    the incidents to save, firings that update an open incident without a message, and key
    recoveries that do not close their incident."""

    messages: list[Alert] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)
    quiet_updates: list[Alert] = field(default_factory=list)
    key_recoveries: list[Alert] = field(default_factory=list)
    carried: list[Alert] = field(default_factory=list)  # every firing an open incident took quietly


def plan_check(firings: Sequence[Firing], recoveries: Sequence[Alert], book: IncidentBook,
               incidents: Sequence[Incident], now: datetime,
               stale_after: timedelta = JOIN_WITHIN) -> Plan:
    """Group this check's firings into incidents and decide the messages (module docstring).
    `recoveries` are the keys that came back to normal this check (kind "recovery"). An open
    incident that has not fired for `stale_after` and will not settle by itself (recovery notices
    are off) is closed quietly, so a rise weeks later opens a new one."""
    now = as_utc(now)
    plan = Plan()
    known = []
    for kept in incidents:
        if now - kept.updated_at >= stale_after and not kept.settled(now):
            kept.status, kept.closed_at = "closed", now  # see the docstring
            plan.incidents[kept.id] = kept
        else:
            known.append(kept)
    incident: Incident | None
    for group in group_firings(firings):
        incident = book.match(group, known, now)
        live = [f for f in group if f.outcome != "suppressed"]
        if incident is None:
            if not live:  # held back for its key and in no incident (state from before incidents)
                continue
            incident = Incident.opened_by(live[0].alert, now)
            known.append(incident)
            _note(incident, group, now)
            plan.messages.append(_message(live[0], group, incident, "alert", now))
        elif (told := next((m for m in plan.messages if m.incident == incident.id), None)) is not None:
            _note(incident, group, now)  # the incident's message of this very check carries it
            for f in group:
                if f.outcome == "suppressed":
                    f.alert.kind = "update"
            told.related += [f.alert for f in group]
            told.evidence["ids"] = sorted({*told.evidence.get("ids", []), *_ids(group)})[:MAX_IDS]
        else:
            rising = _rising(incident, group)
            news = [f for f in group if f.news and f.outcome != "suppressed"]
            _note(incident, group, now)
            if rising is not None:
                rising.alert.details["previous_count"] = incident.told
                plan.messages.append(_message(rising, group, incident, "escalation", now))
            elif news:  # new records to report (risk_term): a follow-up in the incident's thread
                plan.messages.append(_message(news[0], group, incident, "alert", now))
            else:
                plan.quiet_updates += [f.alert for f in live]
                plan.carried += [f.alert for f in group]
        plan.incidents[incident.id] = incident
    back: dict[str, list[Alert]] = {}
    for alert in recoveries:
        holder = book.holding(alert.state_key, known)
        if holder is None:  # a key that alerted before incidents existed: its own notice
            plan.messages.append(alert)
            continue
        holder.note(alert, now)
        alert.incident = holder.id
        back.setdefault(holder.id, []).append(alert)
        plan.incidents[holder.id] = holder
    for incident in known:
        if not incident.is_open or not incident.settled(now):
            plan.key_recoveries += back.get(incident.id, [])
            continue
        incident.closed_at = now
        plan.incidents[incident.id] = incident
        notices = back.get(incident.id, [])
        if not incident.waits_for_recovery():
            incident.status = "closed"
            plan.key_recoveries += notices
            continue
        incident.status = "recovered"
        first_key = incident.lead
        notices.sort(key=lambda a: a.state_key != first_key)
        notice = notices[0] if notices else _closing_notice(incident, now)
        notice.related = notices[1:]
        notice.incident, notice.thread = incident.id, incident.thread
        notice.title = f"已恢复正常：{incident.title}"
        incident.add_message(notice, now)
        plan.messages.append(notice)
    return plan


def _note(incident: Incident, group: Sequence[Firing], now: datetime) -> None:
    for f in group:
        f.alert.incident = incident.id
        incident.note(f.alert, now, recovers=f.recovers, quiet=f.quiet, joins=f.joins)
    incident.add_ids(_ids(group))


def _rising(incident: Incident, group: Sequence[Firing]) -> Firing | None:
    """The firing an escalation leads with, or None: the incident's lead rule counts at least twice
    what its last message told (`Incident.told`), or a key new to the incident has a higher severity
    than the incident. One sub-topic or source doubling while the incident as a whole does not is
    an update, not a message: a PR reader gets one escalation per doubling of the incident."""
    lead_rule = incident.lead.split(":", 1)[0]
    counted = sorted((f for f in group if f.alert.rule == lead_rule and not f.news),  # news: no level
                     key=lambda f: -f.alert.count)
    if counted and incident.told > 0 and counted[0].alert.count >= 2 * incident.told:
        return counted[0]
    worse = [f for f in group if f.alert.state_key not in incident.keys
             and severity_rank(f.alert.severity) > severity_rank(incident.severity)]
    return worse[0] if worse else None


def _message(lead: Firing, group: Sequence[Firing], incident: Incident, kind: str,
             now: datetime) -> Alert:
    lead_rule = incident.lead.split(":", 1)[0]
    incident.told = max([incident.told if kind != "alert" or incident.messages else 0,
                         *(f.alert.count for f in group if f.alert.rule == lead_rule)])
    message = lead.alert
    message.kind = kind
    message.related = [f.alert for f in group if f is not lead]
    for f in group:
        if f is not lead and f.outcome == "suppressed":
            f.alert.kind = "update"  # carried as evidence; its own key's state stays as it was
    message.incident, message.thread = incident.id, incident.thread
    message.evidence = {"ids": sorted(_ids(group))[:MAX_IDS]}
    incident.add_message(message, now)
    return message


def _closing_notice(incident: Incident, now: datetime) -> Alert:
    """A recovery notice for an incident whose keys recovered in earlier checks."""
    entry = incident.keys.get(incident.lead) or next(iter(incident.keys.values()))
    return Alert(rule=entry["rule"], key=entry["key"], severity=incident.severity,
                 window_start=incident.opened_at, window_end=now, count=0,
                 baseline=float(entry.get("baseline", 0.0)), ratio=0.0, p_value=1.0,
                 title=incident.title, fired_at=now, group=dict(entry.get("group", {})),
                 kind="recovery", details={"previous_count": int(entry.get("peak", 0)),
                                           "alerted_at": incident.opened_at.isoformat(),
                                           **counted_as(entry)})
