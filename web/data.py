"""What the console's pages and its JSON API show, read through the `FeedbackStore` interface only.

Every function returns plain JSON-ready values (times ISO UTC; the templates show them in the
display timezone), and every text that leaves the store is masked (`nlp.mask.mask_pii`) and read
as text (`strip_html`): a page escapes it again, the API hands it out as it is.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.evidence import source_name
from alerts.incidents import IncidentBook
from alerts.rules.source_silent import HEALTH
from core.record import Feedback, parse_time
from indexer.store import NONE_KEY, FeedbackStore, Filters
from nlp.mask import mask_pii
from nlp.normalize import strip_controls

PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
CSV_LIMIT = 10_000
FILTER_FIELDS = ("source", "kind", "topic", "sentiment", "risk", "entity")
SILENT_AFTER = timedelta(hours=6)


class BadQuery(ValueError):
    """A search parameter the console cannot use; the message names it."""


# The markup crawled Weibo/forum posts carry, read as the site shows it: an emoji image as its alt
# text, a link or span as its text, a line break as a space. Any other tag (<script>, an <img>
# without alt, an onerror attribute) is not markup of a source we know: it stays as characters,
# and the page escapes it, so a comment that says "<script>" shows exactly that.
_KNOWN_MARKUP = re.compile(
    r"<img\b[^<>]*?\balt=\"([^\"<>]*)\"[^<>]*>|</?(?:a|span)\b(?:\s[^<>]*)?>|<br\s*/?>", re.I)


def visible(text: str | None) -> str:
    """A stored text as a person reads it (known source markup as text), personal data masked."""
    cleaned = _KNOWN_MARKUP.sub(lambda m: m.group(1) or (" " if m.group(0)[:3].lower() == "<br" else ""),
                                strip_controls(text or ""))
    if "&" in cleaned and "<" not in cleaned:
        cleaned = html.unescape(cleaned)
    return " ".join(mask_pii(cleaned).split())


@dataclass(frozen=True)
class SearchQuery:
    q: str = ""
    filters: Filters = Filters()
    page: int = 1
    size: int = PAGE_SIZE

    def params(self) -> dict[str, str]:
        """The query string that asks for this search again (links, paging, CSV)."""
        out = {"q": self.q}
        f = self.filters
        for name, values in (("source", f.sources), ("kind", f.kinds), ("topic", f.topics),
                             ("sentiment", f.sentiment), ("risk", f.risk), ("entity", f.entities)):
            if values:
                out[name] = values[0]
        if f.min_negative_score is not None:
            out["min_negative"] = repr(f.min_negative_score)
        if f.since:
            out["since"] = f.since.isoformat()
        if f.until:
            out["until"] = f.until.isoformat()
        return {k: v for k, v in out.items() if v}


def parse_search(params: Mapping[str, str], tz: Any) -> SearchQuery:
    """A SearchQuery from request parameters (naive times mean the display timezone `tz`)."""
    def one(name: str) -> tuple[str, ...]:
        value = (params.get(name) or "").strip()
        return (value,) if value else ()

    def when(name: str) -> datetime | None:
        value = (params.get(name) or "").strip()
        if not value:
            return None
        try:
            return parse_time(value, naive_tz=tz)
        except ValueError as exc:
            raise BadQuery(f"{name}: {exc}") from exc

    def number(name: str, default: int, high: int) -> int:
        value = (params.get(name) or "").strip()
        if not value:
            return default
        if not value.isdigit() or not 1 <= int(value) <= high:
            raise BadQuery(f"{name} must be a whole number from 1 to {high}, got {value!r}")
        return int(value)

    def probability(name: str) -> float | None:
        value = (params.get(name) or "").strip()
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0.0 <= number <= 1.0:
            raise BadQuery(f"{name} must be a probability from 0 to 1, got {value!r}")
        return number

    sentiment = one("sentiment")
    if sentiment and sentiment[0] not in ("negative", "neutral", "positive"):
        raise BadQuery(f"sentiment must be negative, neutral or positive, got {sentiment[0]!r}")
    filters = Filters(sources=one("source"), kinds=one("kind"), topics=one("topic"),
                      sentiment=sentiment, risk=one("risk"), entities=one("entity"),
                      since=when("since"), until=when("until"),
                      min_negative_score=probability("min_negative"))
    limit = params.get("limit")
    size = number("limit" if limit else "size", PAGE_SIZE, MAX_PAGE_SIZE)
    return SearchQuery((params.get("q") or "").strip(), filters, number("page", 1, 10_000), size)


def hit(record: Feedback, copies: int = 0) -> dict[str, Any]:
    """One search hit, as `/api/search` gives it (and the page shows it)."""
    return {"id": record.id, "text": visible(record.text), "title": visible(record.title) or None,
            "source": record.source, "source_name": source_name(record.source), "kind": record.kind,
            "sentiment": record.sentiment.label if record.sentiment else None,
            "created_at": record.created_at.isoformat(), "url": record.url,
            "topics": list(record.topics), "cluster": record.duplicate_of or record.id,
            "copies": copies}


def search(store: FeedbackStore, query: SearchQuery) -> dict[str, Any]:
    """A page of hits, near-duplicate copies folded under the first hit of their cluster (with
    how many of the page's hits they are), and the total."""
    page = store.search(query.q, query.filters, page=query.page, size=query.size)
    folded: dict[str, dict[str, Any]] = {}
    for record in page.items:
        root = record.duplicate_of or record.id
        if root in folded:
            folded[root]["copies"] += 1
            continue
        folded[root] = hit(record)
    return {"total": page.total, "total_capped": bool(getattr(page, "total_capped", False)),
            "page": query.page, "size": query.size, "hits": list(folded.values()),
            "shown": len(page.items)}


def csv_rows(store: FeedbackStore, query: SearchQuery) -> list[list[str]]:
    """The current result (up to CSV_LIMIT rows) as CSV rows, header first; masked text."""
    rows = [["id", "created_at", "source", "kind", "sentiment", "topics", "title", "text", "url"]]
    page_no, size = 1, MAX_PAGE_SIZE
    while len(rows) <= CSV_LIMIT:
        page = store.search(query.q, query.filters, page=page_no, size=size)
        for r in page.items:
            rows.append([r.id, r.created_at.isoformat(), r.source, r.kind,
                         r.sentiment.label if r.sentiment else "", "|".join(r.topics),
                         visible(r.title), visible(r.text), r.url or ""])
        if len(page.items) < size:
            break
        page_no += 1
    return [[_csv_safe(cell) for cell in row] for row in rows[:CSV_LIMIT + 1]]


def _csv_safe(cell: str) -> str:
    """A spreadsheet must not read a comment as a formula (=, +, -, @ first)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def record_view(store: FeedbackStore, record_id: str) -> dict[str, Any] | None:
    record = store.get(record_id)
    if record is None:
        return None
    out = hit(record)
    out.update({"author": visible(record.author) or None, "rating": record.rating,
                "fetched_at": record.fetched_at.isoformat() if record.fetched_at else None,
                "scores": dict(record.sentiment.scores) if record.sentiment else {},
                "model": record.sentiment.model if record.sentiment else None,
                "risk": list(record.risk),
                "entities": [{"type": e.get("type"), "text": visible(str(e.get("text", ""))),
                              "canonical": e.get("canonical"), "ours": e.get("ours")}
                             for e in record.entities],
                "duplicate_of": record.duplicate_of})
    root = record.duplicate_of or record.id
    head = store.get(root) if root != record.id else record
    out["cluster_head"] = hit(head) if head is not None and head.id != record.id else None
    return out


def _by(store: FeedbackStore, start: datetime, end: datetime, field: str) -> list[dict[str, Any]]:
    totals: Counter[str] = Counter()
    negative: Counter[str] = Counter()
    for row in store.counts(start, end, None, (field, "sentiment")):
        key = row.key[field]
        totals[key] += row.count
        if row.key["sentiment"] == "negative":
            negative[key] += row.count
    out = []
    for key, total in totals.most_common():
        if key == NONE_KEY and field == "topic":
            continue
        out.append({"key": key, "name": source_name(key) if field == "source" else key,
                    "total": total, "negative": negative[key],
                    "negative_share": round(negative[key] / total, 4) if total else 0.0})
    return out[:12]


def overview(store: FeedbackStore, now: datetime | None = None) -> dict[str, Any]:
    """The last 24 h and 7 days by source and topic, open incidents, sources in trouble."""
    end = (now or datetime.now(UTC)).astimezone(UTC)
    spans = {}
    for name, length in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7))):
        start = end - length
        rows = store.counts(start, end, None, ("sentiment",))
        total = sum(r.count for r in rows)
        neg = sum(r.count for r in rows if r.key["sentiment"] == "negative")
        spans[name] = {"total": total, "negative": neg,
                       "negative_share": round(neg / total, 4) if total else 0.0,
                       "by_source": _by(store, start, end, "source"),
                       "by_topic": _by(store, start, end, "topic")}
    incidents = [{"id": i.id, "title": i.title, "severity": i.severity, "status": i.status,
                  "opened_at": i.opened_at.isoformat(), "updated_at": i.updated_at.isoformat(),
                  "signals": len(i.keys), "messages": len(i.messages)}
                 for i in IncidentBook(store).open()]
    return {"at": end.isoformat(), "spans": spans, "incidents": incidents,
            "sources": [s for s in sources(store, end) if s["trouble"]]}


def sources(store: FeedbackStore, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each source's crawl health: last run, items, status, cursor; and whether it is in trouble
    (blocked, failing, or silent for SILENT_AFTER although it yielded records in the last week)."""
    end = (now or datetime.now(UTC)).astimezone(UTC)
    week = {r.key["source"]: r.count for r in store.counts(end - timedelta(days=7), end, None, ("source",))}
    recent = {r.key["source"]: r.count for r in store.counts(end - SILENT_AFTER, end, None, ("source",))}
    cursors = store.list_state("cursor")
    health = store.list_state(HEALTH)
    names = set(week) | {s for doc in health.values() for s in (doc.get("sources") or [])}
    names |= set(health) - {k for k in health if ":" in k and k.split(":")[0] != "site"}
    out = []
    for key in sorted(names):
        doc = health.get(key) or next((d for d in health.values() if key in (d.get("sources") or [])), None)
        status = (doc or {}).get("status", "never")  # no crawl of it recorded in this store
        # a survey is imported now and then: no new answers is no silence
        silent = week.get(key, 0) > 0 and recent.get(key, 0) == 0 and not key.startswith("survey")
        cursor = {k: v for k, v in cursors.items() if k.split(":")[0] == key.split(":")[0]}
        out.append({"source": key, "name": source_name(key), "crawl": _crawl_name(key, doc),
                    "status": status, "reason": (doc or {}).get("reason", ""),
                    "last_run": (doc or {}).get("finished_at"), "items": (doc or {}).get("items"),
                    "new": (doc or {}).get("new"), "week": week.get(key, 0),
                    "last_6h": recent.get(key, 0), "silent": silent,
                    "cursor": {k: v.get("newest") for k, v in cursor.items()},
                    "trouble": status in ("blocked", "layout_changed", "failed") or silent})
    return out


def _crawl_name(source: str, doc: dict[str, Any] | None) -> str | None:
    """The `voc crawl` name that refreshes `source` (None for survey imports)."""
    if source.startswith("survey"):
        return None
    if doc and doc.get("spider"):
        spider = str(doc["spider"])
        return spider if spider != "site" else source
    prefix = source.split(":", 1)[0]
    return source if prefix == "site" else prefix


def _firings(store: FeedbackStore, history: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Alert history entries by incident ("" for none), each with its reader's verdict."""
    from alerts.feedback import FEEDBACK

    verdicts = store.list_state(FEEDBACK)
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in history:
        out.setdefault(entry.get("incident") or "", []).append(
            {**{k: entry.get(k) for k in ("id", "rule", "key", "kind", "title", "severity",
                                            "count", "created_at")},
             "verdict": verdicts.get(entry.get("id", ""), {}).get("verdict")})
    return out


def alerts_view(store: FeedbackStore, limit: int = 50) -> dict[str, Any]:
    from alerts.state import SILENCE

    by_incident = _firings(store, store.alerts(limit=500))
    return {"incidents": [{**i.to_dict(), "ids": None, "firings": by_incident.get(i.id, [])}
                          for i in IncidentBook(store).all()[:limit]],
            "loose": by_incident.get("", [])[:limit],
            "silences": store.list_state(SILENCE)}


def incident_view(store: FeedbackStore, incident_id: str) -> dict[str, Any] | None:
    """One incident with every firing the history holds for it, or None."""
    incident = IncidentBook(store).get(incident_id)
    if incident is None:
        return None
    firings = _firings(store, store.alerts(limit=5000)).get(incident.id, [])
    lead = incident.keys.get(incident.lead, {})
    # a lead rule with negative_score counted likely negatives: the page's link lists those
    return {**incident.to_dict(), "ids": None, "firings": firings,
            "negative_score": lead.get("negative_score")}
