"""`counts` from the hourly roll-ups the SQLite store keeps on every write (see `_sqlite_schema`).

An alert check asks for weeks of history (same hour of week, trailing days) every five minutes; at
1M records reading those rows each time costs about a second per rule (bench/alerts_sim.py). The
roll-ups answer the whole hours of a window from a few thousand rows; the partial hours at either
end (a window ending at 10:37 starts at 09:37) still come from the records, so results are exact.

The roll-ups know each record's source, kind, sentiment, whether it is a near-duplicate, and its
topic / risk / entity values one at a time, not its scores. So they serve `counts` when the
filters use only sources, kinds, sentiment and since/until (not `min_negative_score`, and not
distinct_clusters: a cluster counts once per bucket however many hours its members span, which
per-hour sums cannot tell), when at most one multi-valued field is grouped on, and when buckets
are whole hours in a timezone whose offset is whole hours (Asia/Shanghai). Anything else reads
the records as before.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from indexer import _sqlite_query as q
from indexer._sqlite_schema import HOUR_MICROS
from indexer.store import NONE_KEY, Filters

SIDE_FIELDS = {"topic", "risk", "entity"}
_PLAIN = {"source": "{t}.source", "kind": "{t}.kind",
          "sentiment": f"CASE WHEN {{t}}.sentiment = '' THEN '{NONE_KEY}' ELSE {{t}}.sentiment END"}

Row = tuple[Any, ...]  # (bucket micros, key values..., count)


def whole_hours(lo: int, hi: int, group_by: Sequence[str], filters: Filters,
                step: int | None, offset: int) -> tuple[int, int] | None:
    """The hour-aligned middle [h1, h2) of [lo, hi) the roll-ups can answer, or None."""
    if (filters.topics or filters.risk or filters.min_severity is not None or filters.entities
            or filters.ours is not None or filters.distinct_clusters
            or filters.min_negative_score is not None):
        return None
    if sum(1 for name in group_by if name in SIDE_FIELDS) > 1:
        return None
    if step is not None and (step % HOUR_MICROS or offset % HOUR_MICROS):
        return None
    h1 = -(-lo // HOUR_MICROS) * HOUR_MICROS
    h2 = hi // HOUR_MICROS * HOUR_MICROS
    return (h1, h2) if h2 > h1 else None


def query(h1: int, h2: int, group_by: Sequence[str], filters: Filters, bucket_lo: int,
          step: int | None, offset: int) -> tuple[str, list[Any]]:
    """SQL and parameters giving (bucket, key values..., count) rows for [h1, h2) from the roll-ups."""
    side = next((name for name in group_by if name in SIDE_FIELDS), None)
    parts: list[str] = []
    params: list[Any] = []
    for table in (("roll_side", "roll") if side else ("roll",)):
        keys = []
        for name in group_by:
            if name in _PLAIN:
                keys.append(_PLAIN[name].format(t="r"))
            else:  # the one multi-valued field: its value, or "(none)" from records without one
                keys.append("r.value" if table == "roll_side" else f"'{NONE_KEY}'")
        if step is None:
            bucket = "?"
            params.append(bucket_lo)
        else:
            bucket = f"((r.hour * {HOUR_MICROS} + ?) / ?) * ? - ?"
            params.extend([offset, step, step, offset])
        clauses = ["r.hour >= ?", "r.hour < ?"]
        params.extend([h1 // HOUR_MICROS, h2 // HOUR_MICROS])
        if table == "roll_side":
            clauses.append("r.field = ?")
            params.append(side)
        elif side:
            clauses.append(f"r.has_{side} = 0")
        clauses.extend(_filter_clauses(filters, params))
        positions = ", ".join(str(i + 1) for i in range(len(keys) + 1))
        parts.append(f"SELECT {', '.join([bucket, *keys])}, SUM(r.n) FROM {table} r "
                     f"WHERE {' AND '.join(clauses)} GROUP BY {positions}")
    return " UNION ALL ".join(parts), params


def _filter_clauses(filters: Filters, params: list[Any]) -> list[str]:
    clauses = []
    if filters.sources:
        clauses.append(q.in_list("r.source", filters.sources, params))
    if filters.kinds:
        clauses.append(q.in_list("r.kind", filters.kinds, params))
    if filters.sentiment:
        labels = ["" if s == NONE_KEY else s for s in filters.sentiment]
        clauses.append(q.in_list("r.sentiment", labels, params))
    return clauses


def total(conn: sqlite3.Connection, filters: Filters) -> int:
    """How many records meet `filters` — sources, kinds, sentiment and distinct_clusters only (first
    posts: the roll-ups' `dup` = 0), no since/until — summed over every hour of the roll-ups."""
    params: list[Any] = []
    clauses = _filter_clauses(filters, params)
    if filters.distinct_clusters:
        clauses.append("r.dup = 0")
    sql = f"SELECT COALESCE(SUM(r.n), 0) FROM roll r WHERE {' AND '.join(clauses) or '1'}"
    return int(conn.execute(sql, params).fetchone()[0])


def merge(parts: Iterable[Iterable[Row]]) -> list[Row]:
    """Add up rows with the same bucket and key; order like the record query: bucket, count
    descending, key values."""
    totals: dict[tuple[Any, ...], int] = {}
    for rows in parts:
        for row in rows:
            key = tuple(row[:-1])
            totals[key] = totals.get(key, 0) + row[-1]
    merged = [(*key, n) for key, n in totals.items() if n > 0]
    merged.sort(key=lambda row: (row[0], -row[-1], *row[1:-1]))
    return merged


ROLL_UPSERT = ("INSERT INTO roll VALUES (?,?,?,?,?,?,?,?,?) "
               "ON CONFLICT DO UPDATE SET n = n + excluded.n")
SIDE_UPSERT = ("INSERT INTO roll_side VALUES (?,?,?,?,?,?,?,?) "
               "ON CONFLICT DO UPDATE SET n = n + excluded.n")


def deltas(rows: Iterable[tuple[Any, ...]], sides: Iterable[tuple[str, Any, Iterable[str]]],
           ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Roll-up increments for records written in one batch, summed per key.

    `rows`: each new record's (source, kind, created_at, sentiment, neg, duplicate_of, doc,
    has_topic, has_risk, has_entity) — `Prepared.row`; `sides`: (field, that row, values) for every
    record whose side rows are (re)inserted."""
    roll: Counter[tuple[Any, ...]] = Counter()
    for source, kind, created, sentiment, _, dup, _, ht, hr, he in rows:
        roll[(created // HOUR_MICROS, source, kind, sentiment or "", int(dup is not None), ht, hr, he)] += 1
    side: Counter[tuple[Any, ...]] = Counter()
    for name, row, values in sides:
        source, kind, created, sentiment, dup = row[0], row[1], row[2], row[3] or "", int(row[5] is not None)
        hour = created // HOUR_MICROS
        for value in values:
            side[(name, hour, value, source, kind, sentiment, dup)] += 1
    return [(*k, n) for k, n in roll.items()], [(*k, n) for k, n in side.items()]
