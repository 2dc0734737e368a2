"""The evidence a message shows its reader, gathered from the store when the message is decided.

`gather_evidence(message, store, now)` fills `message.evidence` (plain JSON, so the send journal
holds it until delivery) from the records the message's firings counted (`evidence["ids"]`, set
by `alerts.incidents`):

- `clusters`: near-duplicate clusters with copies in the window, biggest first: the first post
  (read from the store when it is older than the window), its copies in the window and their
  distinct authors;
- `originals`: representative posts that are no copy of anything, most negative first;
- `contributions`: where the records come from: sources, our bank vs competitors (entity `ours`),
  products (top-level topics), branches; each a list of [name, count], largest first;
- `coverage`: one line per source in the rule's scope that was blocked or failing (its last crawl,
  state "crawl_health") or silent (nothing in the window though it usually yields records), e.g.
  「黑猫投诉 采集受阻（最近一次采集 12-02 09:00 被封禁），数字可能偏低」: a quiet day must never be
  a blind one;
- `onset`: when the rise began (ISO UTC): the first hour of the trailing run of hours above twice
  the expectation in the lead's 48 h series (at its first counted record when that hour is inside
  the window); else the window's first record.

Every read is capped (`MAX_RECORDS`); a failure here is logged and the message goes out with what
was gathered, never held back.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.rules.source_silent import HEALTH  # the crawl_health documents crawlers/health.py writes
from core.record import Feedback, as_utc, parse_time, to_display
from indexer.store import FeedbackStore, Filters

log = logging.getLogger(__name__)

MAX_RECORDS = 500
MAX_CLUSTERS = 5
MAX_ORIGINALS = 3
BASELINE_SPAN = timedelta(days=7)
MIN_EXPECTED_SILENT = 3.0  # records a source must usually yield in the window to call it silent
SOURCE_NAMES = {"weibo": "微博", "tousu": "黑猫投诉", "appstore": "App Store", "rss": "新闻",
                "news": "新闻", "survey": "问卷", "callback": "回访"}
HEALTH_WORDS = {"blocked": "采集受阻", "layout_changed": "页面结构变化，采集中断", "failed": "采集失败"}


def source_name(source: str) -> str:
    """What a PR reader calls the source: 微博, 黑猫投诉, App Store (configured sites by name)."""
    if source in SOURCE_NAMES:
        return SOURCE_NAMES[source]
    return source.split(":", 1)[1] if source.startswith("site:") else source


def gather_evidence(message: Alert, store: FeedbackStore, now: datetime) -> None:
    """Fill `message.evidence` (see the module docstring); never raises."""
    evidence = message.evidence
    ids = [i for i in evidence.get("ids", []) if not i.startswith("cluster:")]
    try:
        records = _records(message, store, ids)
        evidence["clusters"] = clusters(records, store, message)
        listed = {c["head"]["id"] for c in evidence["clusters"]}
        evidence["originals"] = [r.to_dict() for r in originals(records, listed,
                                                                min_score=counted_score(message))]
        evidence["contributions"] = contributions(records)
        evidence["onset"] = onset(message, records)
        evidence["coverage"] = coverage(message, store, now)
    except Exception:  # the reader still gets the alert, with its own samples
        log.exception("alert=%s evidence=failed", message.id)


def _records(message: Alert, store: FeedbackStore, ids: Sequence[str]) -> list[Feedback]:
    found = store.get_many(list(ids)[:MAX_RECORDS]) if ids else {}
    for firing in message.firings:
        for record in firing.samples:
            found.setdefault(record.id, record)
    start = min(f.window_start for f in message.firings)
    return [r for r in found.values() if r.created_at >= start or r.duplicate_of is None]


def _root(record: Feedback) -> str:
    return record.duplicate_of or record.id


def clusters(records: Sequence[Feedback], store: FeedbackStore, message: Alert) -> list[dict[str, Any]]:
    """Clusters with at least two records in the window, biggest first (see the docstring)."""
    start = min(f.window_start for f in message.firings)
    members: dict[str, list[Feedback]] = {}
    for record in records:
        if record.created_at >= start:
            members.setdefault(_root(record), []).append(record)
    big = sorted((root for root, group in members.items() if len(group) >= 2),
                 key=lambda root: (-len(members[root]), root))[:MAX_CLUSTERS]
    by_id = {r.id: r for r in records}
    missing = [root for root in big if root not in by_id]
    by_id.update(store.get_many(missing) if missing else {})
    out = []
    for root in big:
        group = members[root]
        head = by_id.get(root) or min(group, key=lambda r: r.created_at)
        out.append({"head": head.to_dict(), "copies": len(group),
                    "authors": len({r.author or r.id for r in group}),
                    "head_in_window": head.created_at >= start})
    return out


def counted_score(message: Alert) -> float | None:
    """The lowest `negative_score` among the message's firings (rules that counted records by their
    calibrated P(negative), not only by the label), or None when every one counted the label."""
    scores = [float(a.details["negative_score"]) for a in [message, *message.related]
              if a.details.get("negative_score")]
    return min(scores) if scores else None


def originals(records: Iterable[Feedback], listed: set[str], n: int = MAX_ORIGINALS,
              min_score: float | None = None) -> list[Feedback]:
    """Posts that are nobody's copy and not listed as a cluster, most negative first, then newest:
    the ones labelled negative, and with `min_score` also those whose P(negative) reaches it (what
    a rule with `negative_score` counted)."""
    def negative(record: Feedback) -> float:
        return record.sentiment.scores.get("negative", 0.0) if record.sentiment else 0.0

    def counted(record: Feedback) -> bool:
        return record.negative or (min_score is not None and negative(record) >= min_score)

    singles = [r for r in records if r.duplicate_of is None and r.id not in listed and counted(r)]
    return sorted(singles, key=lambda r: (-negative(r), -r.created_at.timestamp()))[:n]


def contributions(records: Sequence[Feedback]) -> dict[str, list[list[Any]]]:
    """Counts by source, bank (ours / competitors / none named), product and branch."""
    sources: Counter[str] = Counter()
    banks: Counter[str] = Counter()
    products: Counter[str] = Counter()
    branches: Counter[str] = Counter()
    for record in records:
        sources[source_name(record.source)] += 1
        named = [e for e in record.entities if e.get("type") == "bank"]
        if any(e.get("ours") for e in named):
            banks["本行"] += 1
        elif named:
            banks["同业"] += 1
        else:
            banks["未点名银行"] += 1
        products.update({t.split("/")[0] for t in record.topics})
        branches.update({e.get("canonical") or e.get("text") or "" for e in record.entities
                         if e.get("type") == "branch"} - {""})
    return {"sources": _top(sources), "banks": _top(banks), "products": _top(products),
            "branches": _top(branches)}


def _top(counter: Counter[str], n: int = 5) -> list[list[Any]]:
    return [[name, count] for name, count in counter.most_common(n)]


def onset(message: Alert, records: Sequence[Feedback]) -> str | None:
    """When the rise began (ISO UTC), or None (see the docstring)."""
    start = message.window_start
    inside = sorted(r.created_at for r in records if start <= r.created_at < message.window_end)
    series = message.details.get("series") or []
    rising_from = None
    for point in reversed(series):
        expected = float(point.get("baseline", 0.0))
        if int(point.get("count", 0)) > max(2.0 * expected, expected + 1.0):
            rising_from = parse_time(point["t"], naive_tz=None)
        elif rising_from is not None:
            break
    if rising_from is not None and rising_from < start:  # the rise began before the window
        return rising_from.isoformat()
    if rising_from is not None:
        after = [t for t in inside if t >= rising_from]
        return (after[0] if after else rising_from).isoformat()
    return inside[0].isoformat() if inside else None


def coverage(message: Alert, store: FeedbackStore, now: datetime) -> list[str]:
    """One line per source in scope that was blocked, failing or silent (see the docstring)."""
    start, end = message.window_start, message.window_end
    scope = message.group.get("source")
    week = store.counts(end - BASELINE_SPAN, end, None, ("source",),
                        Filters(sources=(scope,) if scope else ()))
    usual: Counter[str] = Counter()
    for row in week:
        usual[row.key["source"]] += row.count
    now_rows = store.counts(start, end, None, ("source",), Filters(sources=(scope,) if scope else ()))
    current = {row.key["source"]: row.count for row in now_rows}
    windows = BASELINE_SPAN / (end - start) if end > start else 1.0
    lines = []
    broken = _broken_sources(store, start - BASELINE_SPAN, as_utc(now))
    for source in sorted(set(usual) | set(broken)):
        if scope and source != scope:
            continue
        name = source_name(source)
        if source in broken:
            doc = broken[source]
            word = HEALTH_WORDS.get(doc["status"], "采集异常")
            when = to_display(parse_time(doc["finished_at"], naive_tz=None))
            reason = f"：{doc['reason']}" if doc.get("reason") else ""
            lines.append(f"{name} {word}（最近一次采集 {when}{reason}），数字可能偏低")
            continue
        expected = (usual[source] - current.get(source, 0)) / max(windows - 1.0, 1.0)
        if current.get(source, 0) == 0 and expected >= MIN_EXPECTED_SILENT:
            lines.append(f"{name} 时间窗内无新数据（平常约 {expected:.0f} 条），数字可能偏低")
    return lines


def _broken_sources(store: FeedbackStore, since: datetime, until: datetime) -> dict[str, dict[str, Any]]:
    """Source -> its spider's last crawl_health document, where that crawl was not ok."""
    out: dict[str, dict[str, Any]] = {}
    for spider, doc in store.list_state(HEALTH).items():
        if doc.get("status", "ok") == "ok" or not doc.get("finished_at"):
            continue
        try:
            finished = parse_time(doc["finished_at"], naive_tz=None)
        except ValueError:
            continue
        if not since <= finished <= until:
            continue
        for source in doc.get("sources") or [spider]:
            out[source] = doc
    return out
