"""Cases (工单): one complaint (its records, or an incident) followed to its 回访 and closed.

    book = CaseBook.from_settings(settings, store)
    case = book.open("手机银行转账失败", team="电子银行部", severity="warning", by="li", now=now,
                     records=[record_id])
    book.move(case.id, "in_progress", by="li", now=now)
    book.callback(case.id, channel="phone", outcome="reached", satisfaction=4, by="li", now=now)
    book.close(case.id, code="fixed", by="li", now=now)

A case holds a title, team, assignee, severity and status; its SLA deadline (`due_at`, working
hours from `care.sla`, per severity from `[cases] sla_hours`); notes, 回访 entries (when, how,
outcome, the customer's satisfaction afterwards, 1-5) and a resolution code. Every change is in
`history` with who and when.

Status: open → in_progress → waiting_customer → resolved → closed; `reopen` (to open, with a
fresh deadline) from resolved or closed. The SLA clock stops while a case waits for the customer:
leaving waiting_customer moves the deadline by the working time that was left when it started to
wait. `sla_met` is decided at the first resolution (resolved by the deadline in force then).

Storage: `FeedbackStore` state documents, namespace "case", key = case id (on Elasticsearch in the
index `<prefix>-cases`); each change is a read-modify-write under the store lock `case:<id>`, so
the console, the CLI and `voc run` never lose each other's changes. Personal contact data
(`contact`: name, phone, email) is shown whole only on the case's own page (`to_dict(masked=False)`);
everywhere else `to_dict()` masks it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from care.sla import WorkingCalendar
from core.errors import VocError
from core.record import SEVERITIES, parse_time
from indexer.store import FeedbackStore
from nlp.mask import mask_pii

NAMESPACE = "case"
STATUSES = ("open", "in_progress", "waiting_customer", "resolved", "closed")
STATUS_NAMES = {"open": "待处理", "in_progress": "处理中", "waiting_customer": "等待客户",
                "resolved": "已解决", "closed": "已关闭"}
TRANSITIONS = {"open": ("in_progress", "waiting_customer", "resolved"),
               "in_progress": ("waiting_customer", "resolved"),
               "waiting_customer": ("in_progress", "resolved"),
               "resolved": ("closed", "open"), "closed": ("open",)}
ACTIVE = ("open", "in_progress")  # the SLA clock runs (waiting_customer stops it)
CHANNELS = {"phone": "电话", "sms": "短信", "wechat": "微信", "email": "邮件", "visit": "上门",
            "branch": "网点面谈"}
OUTCOMES = {"reached": "已联系", "no_answer": "未接通", "declined": "拒绝回访", "wrong_number": "号码有误"}
CONTACT_FIELDS = ("name", "phone", "email")
LOCK_TTL = timedelta(seconds=30)
MAX_RECORDS = 200  # records linked to one case (a viral post's copies beyond this add nothing)


class CaseError(VocError):
    """A case cannot be found or cannot do what was asked; the message says why."""


@dataclass
class Case:
    id: str
    title: str
    team: str
    severity: str
    status: str
    created_at: datetime
    created_by: str
    due_at: datetime
    assignee: str = ""
    records: list[str] = field(default_factory=list)
    incident: str = ""
    clusters: list[str] = field(default_factory=list)  # what routing deduplicates on (care.routing)
    route: str = ""  # the route that opened it; "" = by hand
    lead: list[str] = field(default_factory=list)  # the team lead's addresses (case_overdue mails them)
    contact: dict[str, str] = field(default_factory=dict)
    rating_before: float | None = None  # the survey rating that opened it (before 回访)
    notes: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    resolution_code: str = ""
    resolved_at: datetime | None = None
    first_resolved_at: datetime | None = None
    sla_met: bool | None = None
    closed_at: datetime | None = None
    paused_at: datetime | None = None
    updated_at: datetime | None = None

    def overdue(self, now: datetime) -> bool:
        return self.status in ACTIVE and now > self.due_at

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, self.status)

    @property
    def satisfaction_after(self) -> float | None:
        """The customer's satisfaction at the latest 回访 that recorded one."""
        rated = [c["satisfaction"] for c in self.callbacks if c.get("satisfaction") is not None]
        return float(rated[-1]) if rated else None

    def to_dict(self, masked: bool = True) -> dict[str, Any]:
        """JSON-ready (times ISO 8601 UTC); `masked` hides the contact and numbers in notes."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        if masked:
            out["contact"] = mask_contact(self.contact)
            out["notes"] = [{**n, "text": mask_pii(n["text"])} for n in self.notes]
            out["callbacks"] = [{**c, "note": mask_pii(c.get("note", ""))} for c in self.callbacks]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("created_at", "due_at", "resolved_at", "first_resolved_at", "closed_at", "paused_at",
                    "updated_at"):
            if values.get(key):
                values[key] = parse_time(values[key], naive_tz=None)
        return cls(**values)


def mask_contact(contact: dict[str, str]) -> dict[str, str]:
    """张先生 → 张**, 13812345678 → 138****5678, li.wei@example.com → l***@example.com."""
    out = {}
    for key, value in contact.items():
        if not value:
            continue
        if key == "email" and "@" in value:
            user, _, domain = value.partition("@")
            out[key] = f"{user[:1]}***@{domain}"
        elif key == "phone":
            digits = sum(c.isdigit() for c in value)
            masked = mask_pii(value)
            out[key] = masked if masked != value else (value[:3] + "*" * max(len(value) - 5, 1) + value[-2:]
                                                       if digits > 5 else "*" * len(value))
        else:
            out[key] = value[:1] + "*" * max(len(value) - 1, 1)
    return out


def case_id_for(key: str) -> str:
    """The id a routed case gets from its dedup key: routing the same records again finds it."""
    return hashlib.sha1(f"case\x1f{key}".encode()).hexdigest()[:10]


class CaseBook:
    """Every case operation, over the store's "case" state documents (see the module docstring)."""

    def __init__(self, store: FeedbackStore, calendar: WorkingCalendar, sla_hours: dict[str, float],
                 resolution_codes: Sequence[str] = (), leads: dict[str, Sequence[str]] | None = None) -> None:
        self.store, self.calendar = store, calendar
        self.sla_hours = dict(sla_hours)
        self.codes = tuple(resolution_codes)
        self.leads = {team: list(addresses) for team, addresses in (leads or {}).items()}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    @classmethod
    def from_settings(cls, settings: Any, store: FeedbackStore) -> CaseBook:
        conf = settings.cases
        return cls(store, WorkingCalendar(conf.working_hours, settings.display_tz), dict(conf.sla_hours),
                   conf.resolution_codes, {team: t["lead"] for team, t in conf.teams.items()})

    # -- reading ------------------------------------------------------------------------------

    def all(self) -> list[Case]:
        """Every case, newest first."""
        cases = [Case.from_dict(doc) for doc in self.store.list_state(NAMESPACE).values()]
        return sorted(cases, key=lambda c: c.created_at, reverse=True)

    def get(self, case_id: str) -> Case | None:
        doc = self.store.get_state(NAMESPACE, case_id)
        return Case.from_dict(doc) if doc else None

    def find(self, ref: str) -> Case:
        """The case with id `ref`, or the one case whose id starts with it (CaseError otherwise)."""
        found = self.get(ref) if ref else None
        if found is not None:
            return found
        matches = [c for c in self.all() if ref and c.id.startswith(ref)]
        if len(matches) != 1:
            raise CaseError(f"no case {ref!r}" if not matches else
                            f"{ref!r} matches {len(matches)} cases: {', '.join(c.id for c in matches[:5])}")
        return matches[0]

    # -- changing -----------------------------------------------------------------------------

    def due(self, start: datetime, severity: str) -> datetime:
        return self.calendar.add(start, self.sla_hours[severity])

    def open(self, title: str, *, team: str, severity: str, by: str, now: datetime,
             records: Sequence[str] = (), incident: str = "", assignee: str = "",
             contact: dict[str, str] | None = None, route: str = "", clusters: Sequence[str] = (),
             rating_before: float | None = None, case_id: str | None = None) -> Case:
        if severity not in SEVERITIES:
            raise CaseError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
        if not title.strip() or not team.strip():
            raise CaseError("a case needs a title and a team")
        unknown = set(contact or {}) - set(CONTACT_FIELDS)
        if unknown:
            raise CaseError(f"contact fields are {', '.join(CONTACT_FIELDS)}, not {sorted(unknown)}")
        case_id = case_id or secrets.token_hex(5)
        if self.store.get_state(NAMESPACE, case_id) is not None:
            raise CaseError(f"case {case_id} exists already")
        case = Case(id=case_id, title=" ".join(title.split())[:120], team=team, severity=severity,
                    status="open", created_at=now, created_by=by, due_at=self.due(now, severity),
                    assignee=assignee, records=list(dict.fromkeys(records))[:MAX_RECORDS], incident=incident,
                    clusters=list(clusters), route=route, lead=list(self.leads.get(team, [])),
                    contact={k: v for k, v in (contact or {}).items() if v}, rating_before=rating_before,
                    updated_at=now)
        case.history.append({"at": now.isoformat(), "by": by, "action": "open", "to": "open",
                             "note": f"route {route}" if route else ""})
        self.store.put_state(NAMESPACE, case.id, case.to_dict(masked=False))
        return case

    @contextmanager
    def _editing(self, ref: str) -> Iterator[Case]:
        """The case under its lock; saved when the block ends without an exception."""
        case_id = self.find(ref).id
        name = f"case:{case_id}"
        deadline = time.monotonic() + 5
        while not self.store.lock(name, self.owner, LOCK_TTL):
            if time.monotonic() > deadline:
                raise CaseError(f"case {case_id} is being changed by someone else; try again")
            time.sleep(0.05)
        try:
            case = self.find(case_id)
            yield case
            self.store.put_state(NAMESPACE, case.id, case.to_dict(masked=False))
        finally:
            self.store.unlock(name, self.owner)

    def _change(self, ref: str, by: str, now: datetime, fn: Callable[[Case], dict[str, Any]]) -> Case:
        with self._editing(ref) as case:
            entry = fn(case)
            case.history.append({"at": now.isoformat(), "by": by, **entry})
            case.updated_at = now
        return case

    def assign(self, ref: str, *, by: str, now: datetime, assignee: str | None = None,
               team: str | None = None) -> Case:
        def change(case: Case) -> dict[str, Any]:
            entry: dict[str, Any] = {"action": "assign"}
            if team is not None and team != case.team:
                entry["team"] = [case.team, team]
                case.team, case.lead = team, list(self.leads.get(team, []))
            if assignee is not None:
                entry["assignee"] = [case.assignee, assignee]
                case.assignee = assignee
            return entry
        return self._change(ref, by, now, change)

    def note(self, ref: str, text: str, *, by: str, now: datetime) -> Case:
        if not text.strip():
            raise CaseError("a note needs text")

        def change(case: Case) -> dict[str, Any]:
            case.notes.append({"at": now.isoformat(), "by": by, "text": text.strip()[:4000]})
            return {"action": "note"}
        return self._change(ref, by, now, change)

    def move(self, ref: str, status: str, *, by: str, now: datetime, note: str = "", code: str = "") -> Case:
        """One status transition (`open` from resolved or closed is a reopen)."""
        if status not in STATUSES:
            raise CaseError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        if code and self.codes and code not in self.codes:
            raise CaseError(f"resolution code must be one of {', '.join(self.codes)}, got {code!r}")

        def change(case: Case) -> dict[str, Any]:
            if status not in TRANSITIONS[case.status]:
                allowed = ", ".join(TRANSITIONS[case.status])
                raise CaseError(f"case {case.id} is {case.status}: it can go to {allowed}, not {status}")
            if status == "closed" and not (code or case.resolution_code):
                raise CaseError(f"closing case {case.id} needs a resolution code ({', '.join(self.codes)})")
            entry: dict[str, Any] = {"action": "reopen" if status == "open" else "status",
                                     "from": case.status, "to": status, "note": note.strip()[:1000]}
            if case.status == "waiting_customer" and case.paused_at is not None:
                left = self.calendar.between(case.paused_at, case.due_at)
                if left > 0:  # the clock stopped while we waited: the deadline moves by that much
                    case.due_at = self.calendar.add(now, left)
                case.paused_at = None
            if status == "waiting_customer":
                case.paused_at = now
            if status == "resolved":
                case.resolved_at = now
                if case.first_resolved_at is None:
                    case.first_resolved_at, case.sla_met = now, now <= case.due_at
            if status == "closed":
                case.closed_at = now
            if status == "open":  # reopened: a fresh deadline, the earlier resolution stays on record
                case.due_at, case.resolved_at, case.closed_at = self.due(now, case.severity), None, None
            if code:
                case.resolution_code = entry["code"] = code
            case.status = status
            return entry
        return self._change(ref, by, now, change)

    def close(self, ref: str, *, by: str, now: datetime, code: str = "", note: str = "") -> Case:
        """Resolve (when not resolved yet) and close, with a resolution code."""
        case = self.find(ref)
        if case.status == "closed":
            raise CaseError(f"case {case.id} is closed already")
        if not (code or case.resolution_code):
            raise CaseError(f"closing case {case.id} needs a resolution code ({', '.join(self.codes)})")
        if case.status != "resolved":
            self.move(case.id, "resolved", by=by, now=now, note=note, code=code)
            note = ""
        return self.move(case.id, "closed", by=by, now=now, note=note, code=code)

    def callback(self, ref: str, *, channel: str, outcome: str, by: str, now: datetime,
                 satisfaction: float | None = None, note: str = "", at: datetime | None = None) -> Case:
        """A 回访: when (`at`, default now), how, its outcome and the satisfaction said (1-5)."""
        if channel not in CHANNELS:
            raise CaseError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
        if outcome not in OUTCOMES:
            raise CaseError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        if satisfaction is not None and not 1 <= satisfaction <= 5:
            raise CaseError(f"satisfaction is 1-5, got {satisfaction}")
        if satisfaction is not None and outcome != "reached":
            raise CaseError("only a 回访 that reached the customer records a satisfaction")

        def change(case: Case) -> dict[str, Any]:
            case.callbacks.append({"at": (at or now).isoformat(), "by": by, "channel": channel,
                                   "outcome": outcome, "satisfaction": satisfaction,
                                   "note": note.strip()[:1000]})
            return {"action": "callback", "outcome": outcome}
        return self._change(ref, by, now, change)

    def link(self, ref: str, records: Sequence[str], clusters: Sequence[str], *, by: str,
             now: datetime) -> Case:
        """More records (and their dedup keys) on an existing case (routing links later copies)."""
        def change(case: Case) -> dict[str, Any]:
            new = [r for r in records if r not in case.records]
            case.records = (case.records + new)[:MAX_RECORDS]
            case.clusters = list(dict.fromkeys([*case.clusters, *clusters]))
            return {"action": "link", "records": len(new)}
        return self._change(ref, by, now, change)

    def refresh_lead(self, case: Case) -> None:
        """Store the team's lead addresses from settings when they changed (no history entry)."""
        lead = list(self.leads.get(case.team, []))
        if lead != case.lead:
            with self._editing(case.id) as fresh:
                fresh.lead = lead
