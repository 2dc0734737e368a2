"""Translate `Filters`, search terms and `counts` arguments into Elasticsearch query DSL, and
parse aggregation responses back into `CountRow`s.

User text only ever travels as a value inside the JSON body (a term, an escaped wildcard
pattern), never as query-string syntax. Field names come from the fixed tables below.

Search: each whitespace-separated term must occur as a substring of what a person sees of title
or text. The query is folded as the texts are (`nlp.normalize.fold_for_search`: 轉賬 → 转账,
ＡＴＭ → ATM), and the terms go to the `search_title` / `search_text` wildcard fields (`*term*`,
case-insensitive, `*`/`?`/`\\` escaped): exact substring semantics for any length and any
character, like the SQLite store. An analyzed `match_phrase` cannot do that: the `cjk` analyzer
indexes bigrams only (a lone `贷` inside `房贷利率` is no token), and every analyzer drops
punctuation (`100%`, `%`). A document indexed before `search_text` existed (or in a monthly index
created before the field was mapped) has none; for it the term goes to the stored title and text
(`*.sub`) as before, until it is indexed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.record import SEVERITIES, RecordError, as_utc
from indexer.errors import StoreQueryError
from indexer.store import GROUP_FIELDS, NONE_KEY, CountRow, Filters
from nlp.normalize import fold_for_search

# group_by name -> keyword field aggregated on (multi-valued fields count once per value)
GROUP_FIELD = {
    "source": "source",
    "kind": "kind",
    "sentiment": "sentiment.label",
    "topic": "topics",
    "risk": "risk.flag",
    "entity": "entity_names",
}
assert set(GROUP_FIELD) == set(GROUP_FIELDS)

SEARCH_FIELDS = ("search_title", "search_text")  # the visible text (indexer/_es_docs.py)
STORED_FIELDS = ("title.sub", "text.sub")  # the stored text: for documents without search_text
NEWEST_FIRST = [{"created_at": {"order": "desc"}}, {"id": {"order": "desc"}}]
MOST_NEGATIVE_FIRST = [{"neg": {"order": "desc", "missing": "_last"}}, *NEWEST_FIRST]


def iso(value: datetime, name: str) -> str:
    """A tz-aware datetime as ISO 8601 UTC text (the `created_at` field is date_nanos)."""
    if not isinstance(value, datetime):
        raise StoreQueryError(f"{name} must be a datetime, got {type(value).__name__}")
    try:
        return as_utc(value).isoformat()
    except RecordError as exc:
        raise StoreQueryError(f"{name}: {exc}") from exc


def split_query(query: str) -> list[str]:
    """The terms of a query, folded as the texts are (see the module docstring)."""
    if not isinstance(query, str):
        raise StoreQueryError(f"query must be a string, got {type(query).__name__}")
    return fold_for_search(query).split()


def wildcard_pattern(term: str) -> str:
    """`*term*` with the wildcard syntax characters of `term` escaped."""
    escaped = term.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
    return f"*{escaped}*"


def _any_wildcard(fields: Sequence[str], term: str) -> list[dict[str, Any]]:
    return [{"wildcard": {f: {"value": wildcard_pattern(term), "case_insensitive": True}}}
            for f in fields]


def term_clause(term: str) -> dict[str, Any]:
    """The visible title or text contains `term`; a document without `search_text` (indexed before
    it existed) is matched on its stored title and text instead."""
    older = {"bool": {"must_not": [{"exists": {"field": "search_text"}}],
                      "should": _any_wildcard(STORED_FIELDS, term), "minimum_should_match": 1}}
    return {"bool": {"should": [*_any_wildcard(SEARCH_FIELDS, term), older], "minimum_should_match": 1}}


def bool_query(filters: Filters, terms: Sequence[str] = (),
               window: tuple[datetime, datetime] | None = None) -> dict[str, Any]:
    """A `bool` query (filter context only: no scoring is needed anywhere)."""
    must: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    if filters.sources:
        must.append({"terms": {"source": list(filters.sources)}})
    if filters.kinds:
        must.append({"terms": {"kind": list(filters.kinds)}})
    if filters.sentiment:
        labels = [s for s in filters.sentiment if s != NONE_KEY]
        either: list[dict[str, Any]] = [{"terms": {"sentiment.label": labels}}] if labels else []
        if NONE_KEY in filters.sentiment:
            either.append({"bool": {"must_not": [{"exists": {"field": "sentiment.label"}}]}})
        must.append({"bool": {"should": either, "minimum_should_match": 1}})
    if filters.min_negative_score is not None:
        must.append({"range": {"sentiment.scores.negative": {"gte": float(filters.min_negative_score)}}})
    if filters.topics:
        must.append({"terms": {"topic_paths": list(filters.topics)}})
    if filters.risk:
        must.append({"terms": {"risk.flag": list(filters.risk)}})
    if filters.min_severity is not None:
        if filters.min_severity not in SEVERITIES:
            raise StoreQueryError(f"min_severity {filters.min_severity!r} not in {SEVERITIES}")
        must.append({"range": {"risk_level": {"gte": SEVERITIES.index(filters.min_severity)}}})
    if filters.entities:
        must.append({"terms": {"entity_names": list(filters.entities)}})
    if filters.ours is True:
        must.append({"term": {"ours": True}})
    elif filters.ours is False:
        must_not.append({"term": {"ours": True}})
    bounds: dict[str, str] = {}
    if filters.since is not None:
        bounds["gte"] = iso(filters.since, "filters.since")
    if filters.until is not None:
        bounds["lt"] = iso(filters.until, "filters.until")
    if bounds:
        must.append({"range": {"created_at": bounds}})
    if window is not None:
        must.append({"range": {"created_at": {"gte": iso(window[0], "start"),
                                              "lt": iso(window[1], "end")}}})
    if filters.distinct_clusters:
        must_not.append({"exists": {"field": "duplicate_of"}})
    must.extend(term_clause(t) for t in terms)
    body: dict[str, Any] = {"filter": must}
    if must_not:
        body["must_not"] = must_not
    return {"bool": body}


def fixed_interval(interval: timedelta) -> str:
    """A date_histogram `fixed_interval` in the largest unit that divides it (`1h`, `90m`, `1d`)."""
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise StoreQueryError(f"interval must be a positive timedelta, got {interval!r}")
    ms, rest = divmod(interval // timedelta(microseconds=1), 1000)
    if rest or not ms:
        raise StoreQueryError(f"interval must be whole milliseconds, got {interval!r}")
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def group_fields(group_by: Sequence[str], allowed: Sequence[str] = GROUP_FIELDS,
                 what: str = "group_by field") -> list[str]:
    """The group_by names, each known (in `allowed`) and given once; StoreQueryError otherwise."""
    names = [group_by] if isinstance(group_by, str) else list(group_by)
    seen: set[str] = set()
    for name in names:
        if name not in allowed:
            raise StoreQueryError(f"{what} {name!r} not in {tuple(allowed)}")
        if name in seen:
            raise StoreQueryError(f"group_by field {name!r} given twice")
        seen.add(name)
    return names


# Clusters once (Filters.distinct_clusters): a cardinality of the cluster id (the first post's id,
# `duplicate_of`, for a copy; the record's own id otherwise) under every leaf bucket. It is exact
# below `precision_threshold` (the documented maximum 40,000) distinct values per bucket.
CLUSTERS_AGG = {"clusters": {"cardinality": {
    "script": {"lang": "painless",
               "source": "doc['duplicate_of'].size() > 0 ? doc['duplicate_of'].value : doc['id'].value"},
    "precision_threshold": 40000}}}


def counts_aggs(names: Sequence[str], interval: timedelta | None, timezone: str,
                max_groups: int, clusters: bool = False) -> dict[str, Any]:
    """Nested aggregations: an optional date_histogram (buckets aligned in `timezone`), then one
    terms level per group field with `missing` = "(none)" so records without a value count too;
    with `clusters`, a cardinality of the cluster id under the innermost level."""
    aggs: dict[str, Any] = dict(CLUSTERS_AGG) if clusters else {}
    for depth in reversed(range(len(names))):
        level: dict[str, Any] = {"terms": {"field": GROUP_FIELD[names[depth]], "missing": NONE_KEY,
                                           "size": max_groups}}
        if aggs:
            level["aggs"] = aggs
        aggs = {f"g{depth}": level}
    if interval is not None:
        level = {"date_histogram": {"field": "created_at", "fixed_interval": fixed_interval(interval),
                                    "time_zone": timezone, "min_doc_count": 1}}
        if aggs:
            level["aggs"] = aggs
        aggs = {"t": level}
    return aggs


def parse_counts(response: dict[str, Any], names: Sequence[str], start: datetime,
                 interval: timedelta | None) -> tuple[list[CountRow], int]:
    """Rows ordered like the SQLite store's (bucket, count desc, keys), and the number of
    documents left out because a terms level was cut at `max_groups` (0 when complete)."""
    rows: list[CountRow] = []
    cut = 0

    def walk(aggs: dict[str, Any], depth: int, bucket: datetime, key: dict[str, str]) -> None:
        nonlocal cut
        level = aggs.get(f"g{depth}") or {}  # absent when no index was searched
        cut += int(level.get("sum_other_doc_count", 0))
        for b in level.get("buckets", []):
            here = {**key, names[depth]: str(b["key"])}
            if depth + 1 < len(names):
                walk(b, depth + 1, bucket, here)
            elif b["doc_count"]:
                rows.append(CountRow(bucket=bucket, key=here, count=_count(b)))

    aggs = response.get("aggregations") or {}
    if interval is None:
        start_utc = as_utc(start)
        if names:
            walk(aggs, 0, start_utc, {})
        else:
            total = response["hits"]["total"]
            n = total["value"] if isinstance(total, dict) else int(total)
            if "clusters" in aggs and n:
                n = int(aggs["clusters"]["value"])
            if n:
                rows.append(CountRow(bucket=start_utc, key={}, count=n))
    else:
        for b in (aggs.get("t") or {}).get("buckets", []):
            at = datetime.fromtimestamp(b["key"] / 1000, tz=UTC)
            if names:
                walk(b, 0, at, {})
            elif b["doc_count"]:
                rows.append(CountRow(bucket=at, key={}, count=_count(b)))
    rows.sort(key=lambda r: (r.bucket, -r.count, *r.key.values()))
    return rows, cut


def _count(bucket: dict[str, Any]) -> int:
    """A leaf bucket's count: its clusters when they were counted, else its documents."""
    clusters = bucket.get("clusters")
    return int(clusters["value"]) if clusters is not None else int(bucket["doc_count"])
