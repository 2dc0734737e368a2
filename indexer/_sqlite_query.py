"""Translate `Filters`, search queries and group_by fields into SQL for the SQLite store.

Everything a user typed travels as a bound parameter; only fixed column names and placeholders
are put into the SQL text. The main table is always aliased `f`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.record import SEVERITIES, RecordError, as_utc
from indexer.errors import StoreQueryError
from indexer.store import GROUP_FIELDS, NONE_KEY, Filters
from nlp.normalize import fold_for_search


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


@dataclass(frozen=True)
class Side:
    """A condition on one side table (topic, risk, entity) that a record must have a row meeting
    (`negate`: must not)."""

    table: str
    condition: str
    params: tuple[Any, ...]
    negate: bool = False

    def correlated(self) -> str:
        """The condition on the record `f`, one index probe per record."""
        found = f"EXISTS (SELECT 1 FROM {self.table} WHERE rid = f.rid AND ({self.condition}))"
        return "NOT " + found if self.negate else found

    def rows(self) -> str | None:
        """The rids meeting it, from the side table's (value, rid) index; None for a negation."""
        return None if self.negate else f"SELECT DISTINCT rid FROM {self.table} WHERE {self.condition}"


def plain(filters: Filters) -> tuple[list[str], list[Any]]:
    """The conditions on the record's own columns (source, kind, sentiment, negative score, time,
    first posts)."""
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
    if filters.min_negative_score is not None:
        clauses.append("f.neg >= ?")
        params.append(float(filters.min_negative_score))
    if filters.since is not None:
        clauses.append("f.created_at >= ?")
        params.append(to_micros(filters.since, "filters.since"))
    if filters.until is not None:
        clauses.append("f.created_at < ?")
        params.append(to_micros(filters.until, "filters.until"))
    if filters.distinct_clusters:
        clauses.append("f.duplicate_of IS NULL")
    return clauses, params


def sides(filters: Filters) -> list[Side]:
    """The side-table conditions of `filters`, in a fixed order."""
    out: list[Side] = []
    if filters.topics:
        # '信用卡' matches itself and '信用卡/…'; the range form uses the (topic, rid) index.
        params: list[Any] = []
        for name in filters.topics:
            params.extend([name, name + "/", name + "0"])  # '0' is the code point after '/'
        condition = " OR ".join(["topic = ? OR (topic >= ? AND topic < ?)"] * len(filters.topics))
        out.append(Side("topic", condition, tuple(params)))
    if filters.risk:
        params = []
        out.append(Side("risk", in_list("flag", filters.risk, params), tuple(params)))
    if filters.min_severity is not None:
        out.append(Side("risk", "severity >= ?",
                        (severity_rank(filters.min_severity, "min_severity"),)))
    if filters.entities:
        params = []
        out.append(Side("entity", in_list("canonical", filters.entities, params), tuple(params)))
    if filters.ours is not None:
        out.append(Side("entity", "ours = 1", (), negate=not filters.ours))
    return out


def where(filters: Filters, window: bool = False) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword; "1" when empty) and its parameters, for counts,
    totals and samples (`search` plans its own: `_sqlite_search`).

    Side-table conditions come in two forms. `rid IN (SELECT ...)` builds the whole matching set
    first, best when nothing else narrows the rows; in a time window (`window`, or since/until
    set) the rows come from the created_at index and a correlated `EXISTS` per row is far cheaper
    than building a set of, say, every 信用卡 record ever (bench/store.py)."""
    window = window or filters.since is not None or filters.until is not None
    clauses, params = plain(filters)
    for side in sides(filters):
        rows = None if window else side.rows()
        clauses.append(f"f.rid IN ({rows})" if rows else side.correlated())
        params.extend(side.params)
    return (" AND ".join(clauses) or "1"), params


def split_query(query: str) -> list[str]:
    """Whitespace separates terms that must all occur; each is a substring of what a person sees
    of title or text. The query is folded as the texts are (`fold_for_search`: 轉賬 → 转账,
    ＡＴＭ → ATM; an ideographic space separates terms too)."""
    if not isinstance(query, str):
        raise StoreQueryError(f"query must be a string, got {type(query).__name__}")
    return fold_for_search(query).split()


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
