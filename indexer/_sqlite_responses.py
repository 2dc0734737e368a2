"""Survey responses in the SQLite store (`FeedbackStore.put_responses`, `rating_counts`,
`iter_responses`; the document is `core.response`'s).

- `response`: one row per response key: time, rating, scale, the grouped text fields (source,
  survey, branch, channel, …) as ids into `response_value` (one row per distinct (field, value)),
  and the document as JSON; a covering index (created_at first) serves time ranges and any
  grouping without reading the documents (one GROUP BY: ~1.3 s at 1M responses on 2 cores).
- `response_roll`: daily roll-ups, one row per (grouped field, its value, local date, scale,
  rating) with a count, kept in step by every write (old values taken off, new ones added, in
  Python per batch) in the timezone named in `response_roll_zone`. `rating_counts` grouped by at
  most one text field (plus week or month), bounded at local midnights or not at all, reads them:
  `voc csat --by branch --by month` over 1M responses reads ~110k rows (bench/csat.py). A store
  opened in another timezone rebuilds them (logged); a write by a process in another timezone marks
  them stale, and counts go to the response rows until the next open rebuilds them.
- Weeks (ISO, from Monday) and months are cut at the timezone's local midnight: from the local date
  in the roll-ups, and in the response rows by a binary CASE over the bucket starts computed for
  the range the responses span (exact in any timezone, DST included).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core import response as resp
from indexer import _sqlite_query as q
from indexer.errors import StoreQueryError
from indexer.store import NONE_KEY, RESPONSE_GROUPS, Filters, RatingCount

CODED = ("source", "survey_id", *resp.SEGMENT_KEYS)  # the grouped text fields, as response_value ids
DDL = f"""
CREATE TABLE IF NOT EXISTS response_value (
    id    INTEGER PRIMARY KEY,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (field, value)
);
CREATE TABLE IF NOT EXISTS response (
    key          TEXT PRIMARY KEY,
    created_at   INTEGER NOT NULL,      -- microseconds since the epoch, UTC
    rating       REAL NOT NULL,
    low          INTEGER NOT NULL,      -- the scale
    high         INTEGER NOT NULL,
    {", ".join(f"{c} INTEGER" for c in CODED)},  -- response_value ids; NULL: not answered
    doc          TEXT NOT NULL          -- the document (core.response.check form)
);
CREATE INDEX IF NOT EXISTS response_time ON response (created_at, {", ".join(CODED)}, low, high, rating);
CREATE TABLE IF NOT EXISTS response_roll (
    field  INTEGER NOT NULL,            -- index into CODED
    value  INTEGER NOT NULL,            -- response_value id; 0: not answered
    day    INTEGER NOT NULL,            -- the local date's ordinal in response_roll_zone's timezone
    low    INTEGER NOT NULL,
    high   INTEGER NOT NULL,
    rating REAL NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (field, value, day, low, high, rating)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS response_roll_zone (zone TEXT NOT NULL);
"""
ROLL_UPSERT = ("INSERT INTO response_roll VALUES (?,?,?,?,?,?,?) "
               "ON CONFLICT DO UPDATE SET n = n + excluded.n")
UPSERT = (f"INSERT INTO response (key, created_at, rating, low, high, {', '.join(CODED)}, doc) "
          f"VALUES ({','.join('?' * (6 + len(CODED)))}) ON CONFLICT (key) DO UPDATE SET "
          + ", ".join(f"{c}=excluded.{c}" for c in ("created_at", "rating", "low", "high", *CODED, "doc")))

FACTS = f"key, created_at, rating, low, high, {', '.join(CODED)}"  # what the roll-ups count by
Row = tuple[Any, ...]  # key, created_at, rating, low, high, the CODED texts, doc


def row(doc: dict[str, Any]) -> Row:
    """The `response` row of a checked document, its grouped fields still as text."""
    at = q.to_micros(datetime.fromisoformat(doc["created_at"]), "created_at")
    texts = [doc["source"], doc["survey_id"], *(doc["segments"].get(c) for c in resp.SEGMENT_KEYS)]
    return (doc["key"], at, doc["rating"], doc["scale"][0], doc["scale"][1], *texts,
            json.dumps(doc, ensure_ascii=False, sort_keys=True))


def rows(docs: Sequence[dict[str, Any]]) -> list[Row]:
    """Rows of documents not yet checked; StoreQueryError names the first one refused."""
    out = []
    for doc in docs:
        try:
            out.append(row(resp.check(doc)))
        except (TypeError, ValueError, KeyError) as exc:
            raise StoreQueryError(f"survey response refused: {exc}") from exc
    return out


def write(conn: sqlite3.Connection, found: Sequence[Row], tz: ZoneInfo | None) -> None:
    """Upsert rows (in the caller's transaction), their grouped texts turned into ids, and keep
    the daily roll-ups in step (`tz`: the store's timezone; a roll-up kept in another one, or
    `tz` None, is marked stale and rebuilt by the next `ensure_roll`)."""
    if not found:
        return
    wanted = {(field, text) for r in found for field, text in zip(CODED, r[5:-1], strict=True)
              if text is not None}
    conn.executemany("INSERT OR IGNORE INTO response_value (field, value) VALUES (?, ?)", sorted(wanted))
    ids: dict[tuple[str, str], int] = {}
    pairs = sorted(wanted)
    for start in range(0, len(pairs), 400):
        chunk = pairs[start:start + 400]
        sql = ("SELECT field, value, id FROM response_value WHERE (field, value) IN (VALUES "
               + ",".join("(?, ?)" for _ in chunk) + ")")
        ids.update(((f, v), i) for f, v, i in conn.execute(sql, [x for pair in chunk for x in pair]))
    coded = {r[0]: (*r[:5], *(None if text is None else ids[(field, text)]
                              for field, text in zip(CODED, r[5:-1], strict=True)), r[-1]) for r in found}
    zone = conn.execute("SELECT zone FROM response_roll_zone").fetchone()
    if tz is not None and zone is not None and zone[0] == tz.key:
        keys = list(coded)
        old: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            old += conn.execute(f"SELECT {FACTS} FROM response WHERE key IN ({','.join('?' * len(chunk))})",
                                chunk).fetchall()
        delta: Counter[tuple[Any, ...]] = Counter()
        _tally(delta, old, tz, -1)
        _tally(delta, [r[:-1] for r in coded.values()], tz, 1)
        conn.executemany(ROLL_UPSERT, [(*k, n) for k, n in delta.items() if n])
    elif zone is not None:
        conn.execute("DELETE FROM response_roll_zone")  # stale: rebuilt at the next open
    conn.executemany(UPSERT, list(coded.values()))


def _tally(delta: Counter[tuple[Any, ...]], found: Sequence[tuple[Any, ...]], tz: ZoneInfo,
           sign: int) -> None:
    """Add `sign` per coded field for each (key, created_at, rating, low, high, ids...) row."""
    days: dict[int, int] = {}  # by quarter hour: every UTC offset in use is whole quarter hours
    for _, at, rating, low, high, *values in found:
        quarter = at // 900_000_000
        day = days.get(quarter)
        if day is None:
            day = days[quarter] = datetime.fromtimestamp(quarter * 900, tz).toordinal()
        for field, value in enumerate(values):
            delta[(field, value or 0, day, low, high, rating)] += sign


def ensure_roll(conn: sqlite3.Connection, tz: ZoneInfo) -> bool:
    """Make the daily roll-ups those of `tz`, rebuilding them from the responses when they were
    kept in another timezone or marked stale. True when it rebuilt."""
    zone = conn.execute("SELECT zone FROM response_roll_zone").fetchone()
    if zone is not None and zone[0] == tz.key:
        return False
    conn.execute("DELETE FROM response_roll")
    conn.execute("DELETE FROM response_roll_zone")
    delta: Counter[tuple[Any, ...]] = Counter()
    cursor = conn.execute(f"SELECT {FACTS} FROM response")
    while True:
        chunk = cursor.fetchmany(50_000)
        if not chunk:
            break
        _tally(delta, chunk, tz, 1)
    conn.executemany(ROLL_UPSERT, [(*k, n) for k, n in delta.items()])
    conn.execute("INSERT INTO response_roll_zone VALUES (?)", (tz.key,))
    return True


def _where(conn: sqlite3.Connection, filters: Filters, params: list[Any]) -> str:
    clauses = []
    if filters.sources:
        found = [i for (i,) in conn.execute(
            "SELECT id FROM response_value WHERE field = 'source' AND value IN "
            f"({','.join('?' * len(filters.sources))})", list(filters.sources))]
        clauses.append(q.in_list("source", found, params) if found else "0")
    if filters.since is not None:
        clauses.append("created_at >= ?")
        params.append(q.to_micros(filters.since, "since"))
    if filters.until is not None:
        clauses.append("created_at < ?")
        params.append(q.to_micros(filters.until, "until"))
    return " AND ".join(clauses) or "1"


def iter_docs(conn: sqlite3.Connection, filters: Filters) -> Iterator[dict[str, Any]]:
    params: list[Any] = []
    sql = f"SELECT doc FROM response WHERE {_where(conn, filters, params)} ORDER BY created_at, key"
    for (doc,) in conn.execute(sql, params):
        yield json.loads(doc)


def buckets(name: str, lo: int, hi: int, tz: ZoneInfo) -> tuple[list[int], list[str]]:
    """Starts (micros) and labels of the weeks or months covering [lo, hi] in `tz`."""
    first = datetime.fromtimestamp(lo / 1e6, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    at = first.replace(day=1) if name == "month" else first - timedelta(days=first.weekday())
    starts: list[int] = []
    labels: list[str] = []
    while True:  # `at` is a wall-clock midnight, whatever the offset that day
        micros = int(at.timestamp() * 1_000_000)
        if micros > hi:
            return starts, labels
        starts.append(micros)
        if name == "month":
            labels.append(at.strftime("%Y-%m"))
            at = at.replace(year=at.year + at.month // 12, month=at.month % 12 + 1)
        else:
            year, week, _ = at.isocalendar()
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
    names = dict(((i, v) for i, v in conn.execute("SELECT id, value FROM response_value")))
    rolled = _from_roll(conn, group_by, filters, tz, names)
    if rolled is not None:
        return rolled
    params: list[Any] = []
    where = _where(conn, filters, params)
    labels: dict[str, list[str]] = {}
    keys: list[str] = []  # one integer expression per group field (0: not answered)
    sizes: list[int] = []
    top = max(names, default=0) + 1
    for name in group_by:
        if name in ("week", "month"):
            lo, hi = conn.execute(f"SELECT MIN(created_at), MAX(created_at) FROM response WHERE {where}",
                                  params).fetchone()
            if lo is None:
                return []
            starts, labels[name] = buckets(name, lo, hi, tz)
            keys.append(_case(starts, 0, len(starts)))
            sizes.append(len(starts))
        else:
            keys.append(f"COALESCE({name}, 0)")
            sizes.append(top)
    packed, span = "0", 1
    for expr, size in zip(keys, sizes, strict=True):  # one integer key: an integer sort, not a text one
        packed = f"({packed}) * {size} + {expr}"
        span *= size
    if span * 121 >= 2 ** 62:
        raise StoreQueryError(f"too many groups to count at once ({' x '.join(map(str, sizes))})")
    sql = (f"SELECT ({packed}) * 121 + low * 11 + high, rating, COUNT(*) FROM response WHERE {where} "
           "GROUP BY 1, 2")
    out = []
    for code, rating, n in conn.execute(sql, params):
        code, scale = divmod(code, 121)
        values: list[int] = []
        for size in reversed(sizes):
            code, value = divmod(code, size)
            values.append(value)
        key = {}
        for name, value in zip(group_by, reversed(values), strict=True):
            key[name] = labels[name][value] if name in labels else names.get(value, NONE_KEY)
        out.append(RatingCount(key=key, scale=divmod(scale, 11), rating=rating, count=n))
    return out


def _local_day(moment: datetime | None, tz: ZoneInfo) -> int | None | bool:
    """The local date ordinal of a bound at local midnight, None for no bound, False otherwise."""
    if moment is None:
        return None
    local = moment.astimezone(tz)
    if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
        return False
    return local.toordinal()


def _from_roll(conn: sqlite3.Connection, group_by: Sequence[str], filters: Filters, tz: ZoneInfo,
               names: dict[int, str]) -> list[RatingCount] | None:
    """`rating_counts` from the daily roll-ups, or None where they cannot answer: more than one
    grouped text field, a source filter on another field, bounds not at local midnight, or
    roll-ups not kept in `tz`."""
    coded = [name for name in group_by if name in CODED]
    field = coded[0] if coded else "source"
    lo, hi = _local_day(filters.since, tz), _local_day(filters.until, tz)
    if (len(coded) > 1 or lo is False or hi is False or (filters.sources and field != "source")):
        return None
    zone = conn.execute("SELECT zone FROM response_roll_zone").fetchone()
    if zone is None or zone[0] != tz.key:
        return None
    clauses, params = ["field = ?"], [CODED.index(field)]
    if lo is not None:
        clauses.append("day >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append("day < ?")
        params.append(hi)
    if filters.sources:
        wanted = [i for i, v in names.items() if v in filters.sources]
        clauses.append(q.in_list("value", wanted, params) if wanted else "0")
    sql = (f"SELECT value, day, low, high, rating, SUM(n) FROM response_roll WHERE {' AND '.join(clauses)} "
           "GROUP BY value, day, low, high, rating HAVING SUM(n) > 0")
    labels: dict[tuple[str, int], str] = {}
    totals: Counter[tuple[tuple[str, ...], int, int, float]] = Counter()
    for value, day, low, high, rating, n in conn.execute(sql, params):
        key = []
        for name in group_by:
            if name in ("week", "month"):
                label = labels.get((name, day))
                if label is None:
                    date = datetime.fromordinal(day)
                    year, week, _ = date.isocalendar()
                    label = labels[(name, day)] = (date.strftime("%Y-%m") if name == "month"
                                                   else f"{year}-W{week:02d}")
                key.append(label)
            else:
                key.append(names.get(value, NONE_KEY))
        totals[(tuple(key), low, high, rating)] += n
    return [RatingCount(key=dict(zip(group_by, key, strict=True)), scale=(low, high), rating=rating, count=n)
            for (key, low, high, rating), n in totals.items()]
