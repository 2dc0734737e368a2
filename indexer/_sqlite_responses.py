"""Survey responses in the SQLite store (`FeedbackStore.put_responses`, `rating_counts`,
`iter_responses`; the document is `core.response`'s).

`response` holds one row per response key: the columns `rating_counts` groups and filters on, and
the document as JSON. One covering index (created_at first, then every grouped column) answers
`rating_counts` without reading the documents: `voc csat --by branch --by month` over 1M responses
is one index scan and one GROUP BY (bench/csat.py). Weeks and months are cut at the display
timezone's boundaries, computed here for the range the responses span and looked up in SQL by a
binary CASE over the bucket starts (exact in any timezone, DST included).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core import response as resp
from indexer import _sqlite_query as q
from indexer.errors import StoreQueryError
from indexer.store import NONE_KEY, RESPONSE_GROUPS, Filters, RatingCount

DDL = """
CREATE TABLE IF NOT EXISTS response (
    key          TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    survey_id    TEXT,
    created_at   INTEGER NOT NULL,      -- microseconds since the epoch, UTC
    rating       REAL NOT NULL,
    low          INTEGER NOT NULL,      -- the scale
    high         INTEGER NOT NULL,
    branch       TEXT,
    channel      TEXT,
    product      TEXT,
    customer_type TEXT,
    city         TEXT,
    doc          TEXT NOT NULL          -- the document (core.response.check form)
);
CREATE INDEX IF NOT EXISTS response_time ON response (created_at, source, survey_id, low, high,
    rating, branch, channel, product, customer_type, city);
"""
SEGMENT_COLUMNS = resp.SEGMENT_KEYS  # one column each, named as the segment
UPSERT = ("INSERT INTO response (key, source, survey_id, created_at, rating, low, high, "
          f"{', '.join(SEGMENT_COLUMNS)}, doc) VALUES ({','.join('?' * (8 + len(SEGMENT_COLUMNS)))}) "
          "ON CONFLICT (key) DO UPDATE SET source=excluded.source, survey_id=excluded.survey_id, "
          "created_at=excluded.created_at, rating=excluded.rating, low=excluded.low, high=excluded.high, "
          + ", ".join(f"{c}=excluded.{c}" for c in SEGMENT_COLUMNS) + ", doc=excluded.doc")


def row(doc: dict[str, Any]) -> tuple[Any, ...]:
    """The `response` row of a checked document."""
    at = q.to_micros(datetime.fromisoformat(doc["created_at"]), "created_at")
    segments = doc["segments"]
    return (doc["key"], doc["source"], doc["survey_id"], at, doc["rating"], doc["scale"][0],
            doc["scale"][1], *(segments.get(c) for c in SEGMENT_COLUMNS),
            json.dumps(doc, ensure_ascii=False, sort_keys=True))


def rows(docs: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows of documents not yet checked; StoreQueryError names the first one refused."""
    out = []
    for doc in docs:
        try:
            out.append(row(resp.check(doc)))
        except (TypeError, ValueError, KeyError) as exc:
            raise StoreQueryError(f"survey response refused: {exc}") from exc
    return out


def _where(filters: Filters, params: list[Any]) -> str:
    clauses = []
    if filters.sources:
        clauses.append(q.in_list("source", filters.sources, params))
    if filters.since is not None:
        clauses.append("created_at >= ?")
        params.append(q.to_micros(filters.since, "since"))
    if filters.until is not None:
        clauses.append("created_at < ?")
        params.append(q.to_micros(filters.until, "until"))
    return " AND ".join(clauses) or "1"


def iter_docs(conn: sqlite3.Connection, filters: Filters) -> Iterator[dict[str, Any]]:
    params: list[Any] = []
    sql = f"SELECT doc FROM response WHERE {_where(filters, params)} ORDER BY created_at, key"
    for (doc,) in conn.execute(sql, params):
        yield json.loads(doc)


def buckets(name: str, lo: int, hi: int, tz: ZoneInfo) -> tuple[list[int], list[str]]:
    """Starts (micros) and labels of the weeks or months covering [lo, hi] in `tz`."""
    first = datetime.fromtimestamp(lo / 1e6, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if name == "month":
        at = first.replace(day=1)
    else:
        at = (first - timedelta(days=first.weekday()))
    starts: list[int] = []
    labels: list[str] = []
    while True:
        start = at.replace(tzinfo=tz)  # wall-clock midnight, whatever the offset that day
        micros = int(start.timestamp() * 1_000_000)
        if micros > hi:
            return starts, labels
        starts.append(micros)
        if name == "month":
            labels.append(start.strftime("%Y-%m"))
            at = at.replace(year=at.year + at.month // 12, month=at.month % 12 + 1)
        else:
            year, week, _ = start.isocalendar()
            labels.append(f"{year}-W{week:02d}")
            at = (at + timedelta(days=7)).replace(hour=0)


def _case(starts: list[int], lo: int, hi: int) -> str:
    """SQL giving the index of the last start <= created_at, by binary search."""
    if hi - lo == 1:
        return str(lo)
    mid = (lo + hi) // 2
    below, above = _case(starts, lo, mid), _case(starts, mid, hi)
    return f"CASE WHEN created_at < {starts[mid]} THEN {below} ELSE {above} END"


def rating_counts(conn: sqlite3.Connection, group_by: Sequence[str], filters: Filters,
                  tz: ZoneInfo) -> list[RatingCount]:
    unknown = [g for g in group_by if g not in RESPONSE_GROUPS]
    if unknown:
        raise StoreQueryError(f"cannot group responses by {unknown[0]!r}: use {', '.join(RESPONSE_GROUPS)}")
    params: list[Any] = []
    where = _where(filters, params)
    labels: dict[str, list[str]] = {}
    keys: list[str] = []
    for name in group_by:
        if name in ("week", "month"):
            lo, hi = conn.execute(f"SELECT MIN(created_at), MAX(created_at) FROM response WHERE {where}",
                                  params).fetchone()
            if lo is None:
                return []
            starts, labels[name] = buckets(name, lo, hi, tz)
            keys.append(_case(starts, 0, len(starts)))
        else:
            keys.append(f"COALESCE({name}, '{NONE_KEY}')")
    columns = [*keys, "low", "high", "rating"]
    positions = ", ".join(str(i + 1) for i in range(len(columns)))
    sql = (f"SELECT {', '.join(columns)}, COUNT(*) FROM response WHERE {where} GROUP BY {positions}")
    out = []
    for found in conn.execute(sql, params):
        key = {}
        for i, name in enumerate(group_by):
            key[name] = labels[name][found[i]] if name in labels else found[i]
        low, high, rating, n = found[len(group_by):]
        out.append(RatingCount(key=key, scale=(low, high), rating=rating, count=n))
    return out
