"""Translate `Filters`, search queries and group_by fields into SQL for the SQLite store.

Everything a user typed travels as a bound parameter; only fixed column names and placeholders
are put into the SQL text. The main table is always aliased `f`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from core.record import SEVERITIES, RecordError, as_utc
from indexer.errors import StoreQueryError
from indexer.store import GROUP_FIELDS, NONE_KEY, Filters
from nlp.normalize import fold_for_search

FTS_MIN_CHARS = 3  # the trigram index cannot answer shorter substrings; those are scanned


def to_micros(value: datetime, name: str) -> int:
    """A tz-aware datetime as integer microseconds since the epoch (the `created_at` column)."""
    if not isinstance(value, datetime):
        raise StoreQueryError(f"{name} must be a datetime, got {type(value).__name__}")
    try:
        utc = as_utc(value)
    except RecordError as exc:
        raise StoreQueryError(f"{name}: {exc}") from exc
    return int(utc.timestamp()) * 1_000_000 + utc.microsecond


def severity_rank(value: str, name: str) -> int:
    if value not in SEVERITIES:
        raise StoreQueryError(f"{name} {value!r} not in {SEVERITIES}")
    return SEVERITIES.index(value)


def in_list(column: str, values: Sequence[Any], params: list[Any]) -> str:
    params.extend(values)
    return f"{column} IN ({','.join('?' * len(values))})"


def where(filters: Filters, terms: Sequence[str] = (), window: bool = False) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword; "1" when empty) and its parameters.

    Side-table and short-term conditions come in two forms. `rid IN (SELECT ...)` builds the whole
    matching set first, best when nothing else narrows the rows; in a time window (`window`, or
    since/until set) the rows come from the created_at index and a correlated `EXISTS` per row is
    far cheaper than building a set of, say, every 信用卡 record ever (bench/store.py)."""
    window = window or filters.since is not None or filters.until is not None
    sub = _correlated if window else _materialized
    clauses: list[str] = []
    params: list[Any] = []
    if filters.sources:
        clauses.append(in_list("f.source", filters.sources, params))
    if filters.kinds:
        clauses.append(in_list("f.kind", filters.kinds, params))
    if filters.sentiment:
        labels = [s for s in filters.sentiment if s != NONE_KEY]
        parts = [in_list("f.sentiment", labels, params)] if labels else []
        if NONE_KEY in filters.sentiment:
            parts.append("f.sentiment IS NULL")
        clauses.append("(" + " OR ".join(parts) + ")")
    if filters.topics:
        # '信用卡' matches itself and '信用卡/…'; the range form uses the (topic, rid) index.
        parts = []
        for name in filters.topics:
            parts.append("topic = ? OR (topic >= ? AND topic < ?)")
            params.extend([name, name + "/", name + "0"])  # '0' is the code point after '/'
        clauses.append(sub("topic", " OR ".join(parts)))
    if filters.risk:
        clauses.append(sub("risk", in_list("flag", filters.risk, params)))
    if filters.min_severity is not None:
        params.append(severity_rank(filters.min_severity, "min_severity"))
        clauses.append(sub("risk", "severity >= ?"))
    if filters.entities:
        clauses.append(sub("entity", in_list("canonical", filters.entities, params)))
    if filters.ours is not None:
        clauses.append(("" if filters.ours else "NOT ") + sub("entity", "ours = 1"))
    if filters.since is not None:
        clauses.append("f.created_at >= ?")
        params.append(to_micros(filters.since, "filters.since"))
    if filters.until is not None:
        clauses.append("f.created_at < ?")
        params.append(to_micros(filters.until, "filters.until"))
    if filters.distinct_clusters:
        clauses.append("f.duplicate_of IS NULL")
    for term in terms:
        clauses.append(_term_clause(term, params, sub))
    return (" AND ".join(clauses) or "1"), params


def _materialized(table: str, condition: str) -> str:
    return f"f.rid IN (SELECT rid FROM {table} WHERE {condition})"


def _correlated(table: str, condition: str) -> str:
    return f"EXISTS (SELECT 1 FROM {table} WHERE rid = f.rid AND ({condition}))"


def split_query(query: str) -> list[str]:
    """Whitespace separates terms that must all occur; each is a substring of what a person sees
    of title or text. The query is folded as the texts are (`fold_for_search`: 轉賬 → 转账,
    ＡＴＭ → ATM; an ideographic space separates terms too)."""
    if not isinstance(query, str):
        raise StoreQueryError(f"query must be a string, got {type(query).__name__}")
    return fold_for_search(query).split()


def _term_clause(term: str, params: list[Any], sub: Callable[[str, str], str]) -> str:
    if len(term) >= FTS_MIN_CHARS:
        # A quoted FTS5 string is a phrase; with the trigram tokenizer it is a substring match.
        params.append('"' + term.replace('"', '""') + '"')
        return "f.rid IN (SELECT rowid FROM fts WHERE fts MATCH ?)"
    # 1–2 characters: scan the narrow body table, its searched form (measured in bench/store.py).
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    params.extend([pattern, pattern])
    return sub("body_search", "title LIKE ? ESCAPE '\\' OR text LIKE ? ESCAPE '\\'")


# group_by field -> (SELECT expression, optional LEFT JOIN); `{a}` is the join alias.
_GROUPS = {
    "source": ("f.source", ""),
    "kind": ("f.kind", ""),
    "sentiment": (f"COALESCE(f.sentiment, '{NONE_KEY}')", ""),
    "topic": (f"COALESCE({{a}}.topic, '{NONE_KEY}')", "LEFT JOIN topic {a} ON {a}.rid = f.rid"),
    "risk": (f"COALESCE({{a}}.flag, '{NONE_KEY}')", "LEFT JOIN risk {a} ON {a}.rid = f.rid"),
    "entity": (f"COALESCE({{a}}.canonical, '{NONE_KEY}')",
               "LEFT JOIN entity {a} ON {a}.rid = f.rid"),
}
assert set(_GROUPS) == set(GROUP_FIELDS)


def group_parts(group_by: Sequence[str]) -> tuple[list[str], list[str]]:
    """SELECT expressions and JOIN clauses for the group_by fields, in order."""
    if isinstance(group_by, str):
        group_by = (group_by,)
    exprs: list[str] = []
    joins: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(group_by):
        if name not in _GROUPS:
            raise StoreQueryError(f"group_by field {name!r} not in {GROUP_FIELDS}")
        if name in seen:
            raise StoreQueryError(f"group_by field {name!r} given twice")
        seen.add(name)
        expr, join = _GROUPS[name]
        alias = f"g{i}"
        exprs.append(expr.format(a=alias))
        if join:
            joins.append(join.format(a=alias))
    return exprs, joins
