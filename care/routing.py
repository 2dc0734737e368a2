"""Routing: records that `[[cases.routes]]` say need a case get one, owned by the right team.

    report = open_routed_cases(settings, store, now)     # voc run (cases:route), the demo
    report.opened, report.linked

Each run reads the records created since the previous run (state namespace "case_routing"), and
`[cases] lookback` (6 h) behind it, so a record crawled late still opens its case. A route with
`opens = true` that a record matches opens a case for it; the team is the opening route's `team`,
else that of the first route with a team that the record matches (the routing table: topic,
product, branch ...), else `[cases] default_team`.

One case per voice, not per copy: records are keyed by their near-duplicate cluster
(`duplicate_of`, or the record's own id for a first post) and survey answers by their response
(one respondent's several open answers are one case). A record whose key already has a case is
linked to it (when the case is still being worked) instead of opening another; the routed case's
id is made from its key, so running the same records again changes nothing.

Matching (`matches`): keys left out match every record, values in a list are OR-ed; `topic`
matches sub-topics (信用卡 matches 信用卡/催收); `product` and `branch` are the tagger's entities
(canonical names) or the survey's segments (`meta["segments"]`); `risk` is the lowest flag
severity; `consent` reads `meta["consent"]`, else a survey choice question about being contacted
(回访, 联系 ...) answered yes (是, 愿意, 同意 ...); `ours` is a record naming our bank, or one of our
own survey answers or app reviews.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.duration import parse_duration
from care.cases import ACTIVE, Case, CaseBook, case_id_for
from core.record import SEVERITIES, Feedback, parse_time
from indexer.store import FeedbackStore, Filters
from nlp.mask import mask_pii

log = logging.getLogger(__name__)

CURSOR = "case_routing"
PAGE = 200
READ_CAP = 5_000  # records read per run and route (the store's result window is 10,000)
BY = "routing"
CONSENT_QUESTION = re.compile(r"回访|联系|致电|回电|联络|contact", re.IGNORECASE)
CONSENT_YES = re.compile(r"^\s*(是|愿意|同意|可以|好|接受|yes\b|y\b)", re.IGNORECASE)
CONSENT_NO = re.compile(r"不|否|拒绝|^\s*no\b", re.IGNORECASE)


@dataclass
class RoutingReport:
    opened: list[Case] = field(default_factory=list)
    linked: int = 0  # records added to cases that existed
    read: int = 0  # records looked at
    since: datetime | None = None


def dedup_key(record: Feedback) -> str:
    """What one case stands for: a survey response, or a near-duplicate cluster."""
    if record.kind == "survey" and record.author:
        return f"response:{record.meta.get('survey_id', '')}:{record.author}"
    return f"cluster:{record.duplicate_of or record.id}"


def consented(record: Feedback) -> bool:
    """Whether the respondent agreed to be contacted (see the module docstring)."""
    explicit = record.meta.get("consent")
    if isinstance(explicit, bool):
        return explicit
    for question, answer in (record.meta.get("choices") or {}).items():
        if not CONSENT_QUESTION.search(str(question)):
            continue
        answers = answer if isinstance(answer, list) else [answer]
        if any(CONSENT_YES.search(str(a)) and not CONSENT_NO.search(str(a)) for a in answers):
            return True
    return False


def _entities(record: Feedback, kind: str) -> set[str]:
    names = {str(e.get("canonical") or e.get("text")) for e in record.entities if e.get("type") == kind}
    segment = (record.meta.get("segments") or {}).get(kind)
    if isinstance(segment, str) and segment:
        names.add(segment)
    return names


def _same_branch(name: str, wanted: str) -> bool:
    """A route's 「鼓楼支行」 is the branch entity 「江南银行鼓楼支行」 too (survey branches are named
    with the bank, `voc.pipeline.branch_namer`); a route may name it either way."""
    return name == wanted or (name.endswith(wanted) and bool(_BRANCH_END.search(wanted)))


def on_five(record: Feedback) -> float:
    """The record's rating put on 1–5 from its survey's scale (meta "scale"; 1–5 when unknown), so
    `rating_max = 2` means the same on a 0–10 or 1–7 survey: (r − low) / (high − low) × 4 + 1."""
    low, high = (record.meta or {}).get("scale") or (1, 5)
    rating = float(record.rating or 0.0)
    return rating if (low, high) == (1, 5) or high <= low else (rating - low) / (high - low) * 4 + 1


def _severity_rank(record: Feedback) -> int:
    ranks = [SEVERITIES.index(r["severity"]) for r in record.risk if r.get("severity") in SEVERITIES]
    return max(ranks, default=-1)


def ours(record: Feedback) -> bool:
    """The record names our bank, or is our own survey answer or app review that names no other."""
    banks = [e for e in record.entities if e.get("type") == "bank"]
    if any(e.get("ours") for e in banks):
        return True
    return record.kind in ("survey", "review") and not banks


_BRANCH_END = re.compile(r"(支行|分行|营业部|分理处|储蓄所)$")


def matches(route: Mapping[str, Any], record: Feedback) -> bool:
    """Whether `record` meets every condition `route` states."""
    if "topic" in route and not any(t == x or t.startswith(f"{x}/") for t in record.topics
                                    for x in route["topic"]):
        return False
    if "product" in route and not _entities(record, "product") & set(route["product"]):
        return False
    if "branch" in route and not any(_same_branch(name, x) for name in _entities(record, "branch")
                                     for x in route["branch"]):
        return False
    if "source" in route and record.source not in route["source"]:
        return False
    if "kind" in route and record.kind not in route["kind"]:
        return False
    if "risk" in route and _severity_rank(record) < SEVERITIES.index(route["risk"]):
        return False
    if "flag" in route and not {r.get("flag") for r in record.risk} & set(route["flag"]):
        return False
    if "rating_max" in route and (record.rating is None or on_five(record) > route["rating_max"]):
        return False
    if "consent" in route and consented(record) != route["consent"]:
        return False
    return not ("ours" in route and ours(record) != route["ours"])


def team_for(routes: Sequence[Mapping[str, Any]], record: Feedback, opener: Mapping[str, Any],
             default: str) -> str:
    if opener.get("team"):
        return str(opener["team"])
    found = next((r for r in routes if not r.get("opens") and r.get("team") and matches(r, record)), None)
    return str(found["team"]) if found else default


def title_for(record: Feedback) -> str:
    parts = [record.topics[0] if record.topics else record.source]
    if record.rating is not None:
        parts.append(f"评分 {record.rating:g}")
    flags = [str(r.get("flag")) for r in record.risk if r.get("severity") == "critical"]
    if flags:
        parts.append("风险 " + "、".join(dict.fromkeys(flags)))
    snippet = " ".join(mask_pii(record.text).split())
    return " · ".join(parts) + "：" + (snippet[:40] + ("…" if len(snippet) > 40 else ""))


def _filters(route: Mapping[str, Any], since: datetime, until: datetime) -> Filters:
    """What of the route the store can filter on; the rest is checked by `matches`."""
    return Filters(kinds=tuple(route.get("kind", ())), sources=tuple(route.get("source", ())),
                   topics=tuple(route.get("topic", ())), min_severity=route.get("risk"),
                   since=since, until=until)


def _read(store: FeedbackStore, filters: Filters) -> list[Feedback]:
    out: list[Feedback] = []
    page = 1
    while len(out) < READ_CAP:
        result = store.search("", filters, page=page, size=PAGE)
        out += result.items
        if len(result.items) < PAGE:
            break
        page += 1
    return out


def open_routed_cases(settings: Any, store: FeedbackStore, now: datetime,
                      since: datetime | None = None) -> RoutingReport:
    """Open (or link) the cases the routes ask for, for records created in [since, now); `since`
    defaults to the previous run less `[cases] lookback` (the first run: `lookback` before now)."""
    conf = settings.cases
    routes = list(conf.routes)
    book = CaseBook.from_settings(settings, store)
    cursor = store.get_state(CURSOR, "cursor") or {}
    behind = now - parse_duration(conf.lookback)
    if since is None:
        last = parse_time(cursor["last_run"], naive_tz=None) if cursor.get("last_run") else None
        since = min(last, behind) if last is not None and last < now else behind
    report = RoutingReport(since=since)
    openers = [r for r in routes if r.get("opens")]
    if not openers:
        return report
    records: dict[str, Feedback] = {}
    for route in openers:
        for record in _read(store, _filters(route, since, now)):
            records[record.id] = record
    report.read = len(records)
    cases = book.all()
    owner = {key: case for case in cases for key in case.clusters}
    for record in sorted(records.values(), key=lambda r: (r.created_at, r.id)):
        opener = next((r for r in openers if matches(r, record)), None)
        if opener is None:
            continue
        key = dedup_key(record)
        case = owner.get(key) or book.get(case_id_for(key))
        if case is not None:
            if record.id not in case.records and case.status in (*ACTIVE, "waiting_customer"):
                case = book.link(case.id, [record.id], [key], by=BY, now=now)
                report.linked += 1
            owner[key] = case
            continue
        severity = opener.get("severity") or (SEVERITIES[_severity_rank(record)]
                                              if _severity_rank(record) >= 0 else "warning")
        case = book.open(title_for(record), team=team_for(routes, record, opener, conf.default_team),
                         severity=severity, by=BY, now=now, records=[record.id], route=str(opener["name"]),
                         clusters=[key], rating_before=record.rating, case_id=case_id_for(key))
        owner[key] = case
        report.opened.append(case)
        log.info("case=%s opened route=%s team=%s record=%s", case.id, opener["name"], case.team, record.id)
    for case in cases:
        if case.status != "closed":
            book.refresh_lead(case)
    report.opened = [book.get(case.id) or case for case in report.opened]  # with the copies linked since
    store.put_state(CURSOR, "cursor", {"last_run": now.isoformat()})
    log.info("cases routed since=%s read=%d opened=%d linked=%d", since.isoformat(), report.read,
             len(report.opened), report.linked)
    return report
