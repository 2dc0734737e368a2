"""`SqliteStore`: the embedded default `FeedbackStore` — one SQLite file, WAL mode, FTS5 indexes.

Usage::

    store = SqliteStore("var/voc.db")          # creates the file (and its folder) when missing
    store.upsert(records)                      # idempotent by id; a later version replaces
    store.search("闪退", Filters(sources=("appstore",)))

Search reads what a person sees of title and text (HTML read as text; texts and query folded
alike: traditional → simplified, full-width → half-width; see `_sqlite_schema`), never the
stored markup. Terms of three or more characters use the FTS5 trigram index, one- and
two-character terms (`贷`, `闪退`) the bigram index (`_sqlite_grams`); a search counts to
`COUNT_CAP` and pages newest first without reading every match (`_sqlite_search`; bench/web.py
measures it at 1M records). An upsert writes only what is new or changed, and says which
(`UpsertResult.created`, `updated`, `unchanged`). Counts bucket by the display timezone's UTC
offset at `start` (exact for Asia/Shanghai, which has no DST).

Threads: each thread gets its own connection to the file (made on its first call), so readers
run side by side (WAL: a reader sees the last commit and never waits for a writer) and a quick
search never queues behind a slow one. Writes take a lock in the process and SQLite's write lock
(`BEGIN IMMEDIATE`) across processes, so they stay one at a time. A `:memory:` store, where each
connection would be a database of its own, keeps one connection under a lock. Schema:
`_sqlite_schema`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.record import Feedback, RecordError, parse_time
from indexer import _sqlite_grams as grams
from indexer import _sqlite_query as q
from indexer import _sqlite_responses as responses
from indexer import _sqlite_rollup as rollup
from indexer import _sqlite_search as plan
from indexer._sqlite_rows import RECORD_COLS, Prepared, dumps, from_micros, load, searched
from indexer._sqlite_schema import connect
from indexer.errors import StoreError, StoreQueryError, StoreUnavailable
from indexer.store import LOCKS, CountRow, Filters, RatingCount, SearchPage, UpsertResult

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per `IN (...)` lookup
# The feedback columns of `Prepared.row`, in its order: an upsert compares them with what is stored.
_ROW_COLS = ("f.source, f.kind, f.created_at, f.sentiment, f.neg, f.duplicate_of, f.doc, f.has_topic, "
             "f.has_risk, f.has_entity")
_ANY = Filters()  # frozen, so one shared default is safe


class SqliteStore:
    """`FeedbackStore` over one SQLite file; `timezone` aligns count buckets (hours, days)."""

    def __init__(self, path: str | Path, timezone: str = "Asia/Shanghai") -> None:
        self.path = str(path)
        try:
            self._tz = ZoneInfo(timezone)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise StoreQueryError(f"unknown timezone {timezone!r}") from exc
        self._write_lock = threading.Lock()  # one writer at a time in this process
        self._shared = threading.RLock() if self.path == ":memory:" else None
        self._registry = threading.Lock()  # guards _conns and _closed
        self._local = threading.local()
        self._conns: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._closed = False
        first = connect(path)  # creates or upgrades the schema, once
        self._conns.append((weakref.ref(threading.current_thread()), first))
        self._local.conn = first
        zone = first.execute("SELECT zone FROM response_roll_zone").fetchone()
        if zone is None or zone[0] != self._tz.key:  # the survey roll-ups are kept per timezone
            with self._db("response roll-ups", write=True) as conn:
                if responses.ensure_roll(conn, self._tz) and zone is not None:
                    log.warning("SQLite store path=%s: survey roll-ups rebuilt for timezone %s (were %s)",
                                self.path, self._tz.key, zone[0])

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (made on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        with self._registry:
            if self._closed:
                raise StoreUnavailable(f"SQLite store path={self.path} is closed")
            if self._shared is not None:
                return self._conns[0][1]
            for ref, old in [c for c in self._conns if not _alive(c[0])]:  # threads that ended
                old.close()
                self._conns.remove((ref, old))
            conn = connect(self.path, setup=False)
            self._conns.append((weakref.ref(threading.current_thread()), conn))
        self._local.conn = conn
        return conn

    @contextmanager
    def _db(self, what: str, write: bool = False, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
        """This thread's connection; a write runs in one IMMEDIATE transaction under the write
        lock, a `snapshot` read in one transaction (its statements see the same commit)."""
        conn = self._conn
        guard: AbstractContextManager[Any] = (self._shared if self._shared is not None else
                                              self._write_lock if write else nullcontext())
        with guard:
            try:
                if write:
                    conn.execute("BEGIN IMMEDIATE")
                elif snapshot:
                    conn.execute("BEGIN")
                yield conn
                if conn.in_transaction:
                    conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreUnavailable(f"SQLite {what} failed path={self.path}: {exc}") from exc
                raise

    # -- records -------------------------------------------------------------------------------

    def upsert(self, batch: Sequence[Feedback]) -> UpsertResult:
        """Store a batch in one transaction; a record that cannot be stored is listed in `failed`."""
        prepared: dict[str, Prepared] = {}
        failed: list[tuple[str, str]] = []
        for record in batch:
            try:
                p = Prepared(record)
            except (TypeError, ValueError, AttributeError) as exc:
                failed.append((str(getattr(record, "id", "?")), str(exc)))
                continue
            prepared.pop(p.id, None)  # the later copy of an id in one batch wins
            prepared[p.id] = p
        counts = (0, 0, 0)
        if prepared:
            with self._db("upsert", write=True) as conn:
                counts = self._write(conn, list(prepared.values()))
        return UpsertResult(received=len(batch), stored=len(prepared), failed=failed,
                            refused=frozenset(rid for rid, _ in failed), created=counts[0],
                            updated=counts[1], unchanged=counts[2])

    def _write(self, conn: sqlite3.Connection, items: list[Prepared]) -> tuple[int, int, int]:
        """Write the records that are new or differ from what is stored; (created, updated,
        unchanged). A record stored exactly so already (every column and its body) is not touched."""
        old: dict[str, tuple[Any, ...]] = {}
        ids = [p.id for p in items]
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            rows = conn.execute(
                f"SELECT f.id, f.rid, {_ROW_COLS}, b.title, b.text, b.search_title, b.search_text "
                f"FROM feedback f JOIN body b ON b.rid = f.rid WHERE f.id IN ({','.join('?' * len(chunk))})",
                chunk)
            old.update((r[0], r[1:]) for r in rows)
        next_rid = conn.execute("SELECT COALESCE(MAX(rid), 0) + 1 FROM feedback").fetchone()[0]
        new_rows: list[tuple[Any, ...]] = []
        new_body: list[tuple[Any, ...]] = []
        upd_rows: list[tuple[Any, ...]] = []
        upd_body: list[tuple[Any, ...]] = []
        gone_grams: list[tuple[int, str]] = []  # (rid, tokens) of texts replaced, then the new ones
        new_grams: list[tuple[int, str]] = []
        side: tuple[list[tuple[Any, ...]], ...] = ([], [], [])
        written: list[Prepared] = []
        for p in items:
            if p.id in old:
                rid, *row = old[p.id]
                stored_row, body = tuple(row[:len(p.row)]), tuple(row[len(p.row):])
                if stored_row == p.row and body == (p.title, p.text, *p.search):
                    continue  # stored exactly so: nothing to write
                upd_rows.append((*p.row, rid))
                if body != (p.title, p.text, *p.search):  # re-indexing text is the costly part
                    upd_body.append((p.title, p.text, *p.search, rid))
                    title, text, search_title, search_text = body
                    gone_grams.append((rid, grams.tokens(searched(title, search_title),
                                                         searched(text, search_text))))
                    new_grams.append((rid, p.grams()))
            else:
                rid, next_rid = next_rid, next_rid + 1
                new_rows.append((rid, p.id, *p.row))
                new_body.append((rid, p.title, p.text, *p.search))
                new_grams.append((rid, p.grams()))
            written.append(p)
            side[0].extend((rid, t) for t in p.topics)
            side[1].extend((rid, f, s) for f, s in p.risks)
            side[2].extend((rid, c, o) for c, o in p.entities)
        if upd_rows:
            # Side rows go first and come back last: their roll-up triggers read the record's
            # columns, so they must leave under the old values and return under the new ones.
            rids = [(r[-1],) for r in upd_rows]
            for table in ("topic", "risk", "entity"):
                conn.executemany(f"DELETE FROM {table} WHERE rid=?", rids)
            conn.executemany(
                "UPDATE feedback SET source=?, kind=?, created_at=?, sentiment=?, neg=?, "
                "duplicate_of=?, doc=?, has_topic=?, has_risk=?, has_entity=? WHERE rid=?", upd_rows)
            conn.executemany("UPDATE body SET title=?, text=?, search_title=?, search_text=? "
                             "WHERE rid=?", upd_body)
        conn.executemany(
            "INSERT INTO feedback (rid, id, source, kind, created_at, sentiment, neg, duplicate_of,"
            " doc, has_topic, has_risk, has_entity) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", new_rows)
        conn.executemany("INSERT INTO body (rid, title, text, search_title, search_text) "
                         "VALUES (?,?,?,?,?)", new_body)
        conn.executemany(grams.DELETE, gone_grams)
        conn.executemany(grams.INSERT, new_grams)
        conn.executemany("INSERT INTO topic (rid, topic) VALUES (?,?)", side[0])
        conn.executemany("INSERT INTO risk (rid, flag, severity) VALUES (?,?,?)", side[1])
        conn.executemany("INSERT INTO entity (rid, canonical, ours) VALUES (?,?,?)", side[2])
        # Roll-ups: new records and every (re)inserted side row, summed per key in Python (an update's
        # old values were taken off by the triggers above).
        roll, roll_side = rollup.deltas(
            (r[2:] for r in new_rows),
            ((name, p.row, values) for p in written
             for name, values in (("topic", p.topics), ("risk", [f for f, _ in p.risks]),
                                  ("entity", [c for c, _ in p.entities])) if values))
        conn.executemany(rollup.ROLL_UPSERT, roll)
        conn.executemany(rollup.SIDE_UPSERT, roll_side)
        responses.write(conn, [p.response for p in written if p.response is not None], self._tz)
        return len(new_rows), len(upd_rows), len(items) - len(written)

    def _record(self, row: tuple[str, str, str]) -> Feedback:
        try:
            return load(row)
        except (ValueError, RecordError) as exc:
            raise StoreError(f"stored record unreadable path={self.path}: {exc}") from exc

    def get(self, record_id: str) -> Feedback | None:
        return self.get_many([record_id]).get(record_id)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Feedback]:
        ids = list(dict.fromkeys(record_ids))
        found: dict[str, Feedback] = {}
        with self._db("get_many") as conn:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i:i + _CHUNK]
                rows = conn.execute(f"SELECT f.id, {RECORD_COLS} FROM feedback f JOIN body b "
                                    f"ON b.rid = f.rid WHERE f.id IN ({','.join('?' * len(chunk))})",
                                    chunk).fetchall()
                found.update((row[0], self._record(row[1:])) for row in rows)
        return found

    def search(self, query: str = "", filters: Filters = _ANY, page: int = 1,
               size: int = 20) -> SearchPage:
        """Records whose visible title or text contains every whitespace-separated term (folded as
        the texts are), newest first; the total stops at COUNT_CAP (`total_capped`)."""
        if not isinstance(page, int) or page < 1 or not isinstance(size, int) or size < 1:
            raise StoreQueryError(f"page and size must be integers >= 1, got page={page} size={size}")
        terms = q.split_query(query)
        q.plain(filters)  # a bad filter is refused before anything is read
        with self._db("search", snapshot=True) as conn:
            found = plan.run(conn, terms, filters, (page - 1) * size, size)
            marks = ",".join("?" * len(found.rids))
            rows = {r[0]: r[1:] for r in conn.execute(
                f"SELECT f.rid, {RECORD_COLS} FROM feedback f JOIN body b ON b.rid = f.rid "
                f"WHERE f.rid IN ({marks})", found.rids)} if found.rids else {}
        return SearchPage(total=found.total, items=[self._record(rows[rid]) for rid in found.rids],
                          page=page, size=size, total_capped=found.capped)

    def counts(self, start: datetime, end: datetime, interval: timedelta | None = None,
               group_by: Sequence[str] = (), filters: Filters = _ANY) -> list[CountRow]:
        """Counts per bucket and group key for start <= created_at < end; empty buckets are absent.

        Whole hours come from the roll-ups where they can answer (`_sqlite_rollup`), the rest
        from the records."""
        lo, hi = q.to_micros(start, "start"), q.to_micros(end, "end")
        names = [group_by] if isinstance(group_by, str) else list(group_by)
        exprs, joins = q.group_parts(names)
        step: int | None = None
        offset = 0
        if interval is not None:
            if not isinstance(interval, timedelta) or interval <= timedelta(0):
                raise StoreQueryError(f"interval must be a positive timedelta, got {interval!r}")
            step = interval // timedelta(microseconds=1)
            # Shift to local wall time, floor to the step, shift back: days start at local midnight.
            offset = (start.astimezone(self._tz).utcoffset() or timedelta(0)) // timedelta(microseconds=1)
        bucket = (("?", [lo]) if step is None else
                  ("((f.created_at + ?) / ?) * ? - ?", [offset, step, step, offset]))
        # Clusters once: every cluster with a member in the bucket counts once, also when its first
        # post is older than the range (a repost wave of an old post is news). The roll-ups know
        # only first posts, so such counts read the records.
        clusters = filters.distinct_clusters
        clause, params = q.where(replace(filters, distinct_clusters=False) if clusters else filters,
                                 window=True)
        tally = "COUNT(DISTINCT COALESCE(f.duplicate_of, f.id))" if clusters else "COUNT(*)"
        keys = [f"k{i}" for i in range(len(exprs))]
        columns = [f"{e} AS {k}" for e, k in zip(exprs, keys, strict=True)]
        select = ", ".join([f"{bucket[0]} AS bucket", *columns])
        raw = (f"SELECT {select}, {tally} AS n FROM feedback f {' '.join(joins)} "
               f"WHERE f.created_at >= ? AND f.created_at < ? AND {clause} "
               f"GROUP BY {', '.join(['bucket', *keys])} ORDER BY bucket, n DESC, {', '.join(['1', *keys])}")
        if filters.since is not None:  # the roll-ups need the effective window
            lo = max(lo, q.to_micros(filters.since, "filters.since"))
        if filters.until is not None:
            hi = min(hi, q.to_micros(filters.until, "filters.until"))
        middle = None if clusters else rollup.whole_hours(lo, hi, names, filters, step, offset)
        with self._db("counts") as conn:
            def records(a: int, b: int) -> list[tuple[Any, ...]]:
                return conn.execute(raw, [*bucket[1], a, b, *params]).fetchall() if b > a else []

            if middle is None:
                rows = records(lo, hi)
            else:
                sql, roll_params = rollup.query(*middle, names, filters, q.to_micros(start, "start"),
                                                step, offset)
                rows = rollup.merge([records(lo, middle[0]), conn.execute(sql, roll_params).fetchall(),
                                     records(middle[1], hi)])
        return [CountRow(bucket=from_micros(r[0]), key=dict(zip(names, r[1:-1], strict=True)), count=r[-1])
                for r in rows]

    def total(self, filters: Filters = _ANY) -> int:
        clusters = filters.distinct_clusters
        clause, params = q.where(replace(filters, distinct_clusters=False) if clusters else filters)
        tally = "COUNT(DISTINCT COALESCE(f.duplicate_of, f.id))" if clusters else "COUNT(*)"
        with self._db("total") as conn:
            return int(conn.execute(f"SELECT {tally} FROM feedback f WHERE {clause}", params).fetchone()[0])

    def samples(self, filters: Filters = _ANY, n: int = 5) -> list[Feedback]:
        """Up to n matching records: highest negative score first (unclassified last), then newest."""
        clause, params = q.where(filters)
        with self._db("samples") as conn:
            rows = conn.execute(
                f"SELECT {RECORD_COLS} FROM feedback f JOIN body b ON b.rid = f.rid WHERE {clause} "
                "ORDER BY f.neg DESC, f.created_at DESC, f.rid DESC LIMIT ?", [*params, n]).fetchall()
        return [self._record(r) for r in rows]

    # -- state and alert history ---------------------------------------------------------------

    def get_state(self, namespace: str, key: str) -> dict[str, Any] | None:
        with self._db("get_state") as conn:
            row = conn.execute("SELECT value FROM state WHERE namespace = ? AND key = ?",
                               (namespace, key)).fetchone()
        return json.loads(row[0]) if row else None

    def put_state(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        """Replace one state document; datetimes inside are stored as ISO 8601 strings."""
        if not isinstance(value, dict):
            raise StoreQueryError(f"state {namespace}/{key}: value must be a dict")
        try:
            text = dumps(value)
        except (TypeError, ValueError) as exc:
            raise StoreQueryError(f"state {namespace}/{key}: {exc}") from exc
        now = q.to_micros(datetime.now(UTC), "now")
        with self._db("put_state", write=True) as conn:
            conn.execute("INSERT INTO state (namespace, key, value, updated_at) VALUES (?,?,?,?) "
                         "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at", (namespace, key, text, now))

    def delete_state(self, namespace: str, key: str) -> None:
        with self._db("delete_state", write=True) as conn:
            conn.execute("DELETE FROM state WHERE namespace = ? AND key = ?", (namespace, key))

    def lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        """Take the named lock for `owner` until now + ttl, in one IMMEDIATE transaction; False
        while another owner holds an unexpired one. Taking it again as the same owner renews it."""
        now = datetime.now(UTC)
        with self._db("lock", write=True) as conn:
            row = conn.execute("SELECT value FROM state WHERE namespace = ? AND key = ?",
                               (LOCKS, name)).fetchone()
            if row:
                held = json.loads(row[0])
                if held.get("owner") != owner and parse_time(held["until"], naive_tz=None) > now:
                    return False
            doc = {"owner": owner, "until": (now + ttl).isoformat(), "taken_at": now.isoformat()}
            conn.execute("INSERT INTO state (namespace, key, value, updated_at) VALUES (?,?,?,?) "
                         "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at",
                         (LOCKS, name, dumps(doc), q.to_micros(now, "now")))
        return True

    def unlock(self, name: str, owner: str) -> None:
        """Release the named lock if `owner` holds it."""
        with self._db("unlock", write=True) as conn:
            row = conn.execute("SELECT value FROM state WHERE namespace = ? AND key = ?",
                               (LOCKS, name)).fetchone()
            if row and json.loads(row[0]).get("owner") == owner:
                conn.execute("DELETE FROM state WHERE namespace = ? AND key = ?", (LOCKS, name))

    def list_state(self, namespace: str) -> dict[str, dict[str, Any]]:
        with self._db("list_state") as conn:
            rows = conn.execute("SELECT key, value FROM state WHERE namespace = ? ORDER BY key",
                                (namespace,)).fetchall()
        return {k: json.loads(v) for k, v in rows}

    # -- survey responses ----------------------------------------------------------------------

    def put_responses(self, docs: Sequence[dict[str, Any]]) -> int:
        rows = responses.rows(docs)  # StoreQueryError before anything is written
        if rows:
            with self._db("put_responses", write=True) as conn:
                responses.write(conn, rows, self._tz)
        return len(rows)

    def rating_counts(self, group_by: Sequence[str] = (), filters: Filters = _ANY) -> list[RatingCount]:
        with self._db("rating_counts", snapshot=True) as conn:
            return responses.rating_counts(conn, group_by, filters, self._tz)

    def iter_responses(self, filters: Filters = _ANY) -> Iterator[dict[str, Any]]:
        with self._db("iter_responses", snapshot=True) as conn:
            yield from responses.iter_docs(conn, filters)

    def add_alert(self, alert: dict[str, Any]) -> None:
        """Append to the alert history. Needs `rule`; `created_at` (datetime or ISO text, naive =
        display timezone) defaults to now. Read back as JSON: datetimes become ISO 8601 strings."""
        if not isinstance(alert, dict) or not isinstance(alert.get("rule"), str) or not alert["rule"]:
            raise StoreQueryError("alert must be a dict with a non-empty 'rule'")
        try:
            created = parse_time(alert.get("created_at") or datetime.now(UTC), naive_tz=self._tz)
            doc = dumps({**alert, "created_at": created.isoformat()})
        except (TypeError, ValueError) as exc:
            raise StoreQueryError(f"alert rule={alert['rule']}: {exc}") from exc
        with self._db("add_alert", write=True) as conn:
            conn.execute("INSERT INTO alerts (rule, created_at, doc) VALUES (?,?,?)",
                         (alert["rule"], q.to_micros(created, "created_at"), doc))

    def alerts(self, since: datetime | None = None, rule: str | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
        """Alert history, newest first."""
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(q.to_micros(since, "since"))
        if rule is not None:
            clauses.append("rule = ?")
            params.append(rule)
        sql = (f"SELECT doc FROM alerts WHERE {' AND '.join(clauses) or '1'} "
               "ORDER BY created_at DESC, id DESC LIMIT ?")
        with self._db("alerts") as conn:
            rows = conn.execute(sql, [*params, limit]).fetchall()
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        """Close every thread's connection; later calls raise StoreUnavailable. Twice is fine."""
        with self._registry:
            if self._closed:
                return
            self._closed = True
            conns, self._conns = [c for _, c in self._conns], []
        with self._shared if self._shared is not None else self._write_lock:
            try:
                conns[0].execute("PRAGMA optimize")
            except sqlite3.Error:
                pass  # only a planner hint; closing must still happen
            for conn in conns:
                conn.close()


def _alive(ref: weakref.ref[threading.Thread]) -> bool:
    thread = ref()
    return thread is not None and thread.is_alive()
