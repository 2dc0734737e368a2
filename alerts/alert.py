"""`Alert`: what a rule decided, in one value that the runner journals and every notifier renders.

An alert names its rule and group key (`topic=信用卡`, `source=appstore,topic=手机银行`, "" for
overall), the window it looked at, what it counted against which baseline, and the comments that
show why. `to_dict`/`from_dict` round-trip it through JSON so the send journal can hold it until it
is delivered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.record import Feedback, parse_time

SEVERITY_LABELS = {"info": "提示", "warning": "警告", "critical": "严重"}
# Why an alert was sent: a first alert for its key, a repeat because the count at least doubled, or
# a notice that a key which alerted is back to normal; "update": a firing carried in another's
# message as evidence, held back for its own key (alerts.incidents).
KINDS = ("alert", "escalation", "recovery", "update")


@dataclass
class Alert:
    rule: str
    key: str
    severity: str
    window_start: datetime
    window_end: datetime
    count: int
    baseline: float
    ratio: float
    p_value: float
    title: str
    fired_at: datetime
    samples: list[Feedback] = field(default_factory=list)
    cluster_sizes: dict[str, int] = field(default_factory=dict)  # sample id -> records in its cluster
    group: dict[str, str] = field(default_factory=dict)  # the key as a mapping, e.g. {"topic": "信用卡"}
    kind: str = "alert"
    details: dict[str, Any] = field(default_factory=dict)  # rule-specific figures (baseline parts, tests)
    # As a message (alerts.incidents): the other firings of the same check that share this one's
    # evidence, the incident it opens or updates, the incident's first message id (the mail thread),
    # and the evidence gathered for the reader (alerts.evidence): clusters, sources, coverage.
    related: list[Alert] = field(default_factory=list)
    incident: str = ""
    thread: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def state_key(self) -> str:
        """The (rule, group key) identity used for suppression and silences: `rule:key`."""
        return f"{self.rule}:{self.key}"

    @property
    def id(self) -> str:
        """Stable id of this decision (rule, key, window end): the send journal's key."""
        raw = f"{self.rule}\x1f{self.key}\x1f{self.window_end.isoformat()}"
        return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:20]

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS.get(self.severity, self.severity)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO 8601 UTC; samples as record dicts)."""
        return {
            "id": self.id,
            "rule": self.rule,
            "key": self.key,
            "severity": self.severity,
            "kind": self.kind,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "count": self.count,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "p_value": self.p_value,
            "title": self.title,
            "fired_at": self.fired_at.isoformat(),
            "samples": [record.to_dict() for record in self.samples],
            "cluster_sizes": dict(self.cluster_sizes),
            "group": dict(self.group),
            "details": dict(self.details),
            "related": [other.to_dict() for other in self.related],
            "incident": self.incident,
            "thread": self.thread,
            "evidence": dict(self.evidence),
        }

    def history_entry(self) -> dict[str, Any]:
        """The smaller form kept in the store's alert history: sample ids instead of records."""
        entry = self.to_dict()
        entry["sample_ids"] = [record.id for record in self.samples]
        entry["related"] = [other.id for other in self.related]
        del entry["samples"], entry["evidence"]
        return entry

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        return cls(
            rule=data["rule"],
            key=data["key"],
            severity=data["severity"],
            kind=data.get("kind", "alert"),
            window_start=parse_time(data["window_start"], naive_tz=None),
            window_end=parse_time(data["window_end"], naive_tz=None),
            count=int(data["count"]),
            baseline=float(data["baseline"]),
            ratio=float(data["ratio"]),
            p_value=float(data["p_value"]),
            title=data["title"],
            fired_at=parse_time(data["fired_at"], naive_tz=None),
            samples=[Feedback.from_dict(item) for item in data.get("samples", [])],
            cluster_sizes={k: int(v) for k, v in data.get("cluster_sizes", {}).items()},
            group=dict(data.get("group", {})),
            details=dict(data.get("details", {})),
            related=[cls.from_dict(item) for item in data.get("related", [])],
            incident=data.get("incident", ""),
            thread=data.get("thread", ""),
            evidence=dict(data.get("evidence", {})),
        )

    @property
    def firings(self) -> list[Alert]:
        """This alert and the related firings it carries, lead first."""
        return [self, *self.related]
