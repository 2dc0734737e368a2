"""How the SQLite store answers `search` at a million records: count to a cap, page newest first.

A search is a conjunction of parts: each query term (`fts`, the trigram index, for three
characters or more; `grams`, the bigram index, for one or two; a scan of the visible text for a
short term the bigram index cannot answer), each side-table filter (topic, risk, entity) and the
record's own columns (source, kind, sentiment, time, first posts). Reading every match to count
and sort them is what made a common term or topic slow (信用卡: 204k matches, about half a
second). Instead:

1. Size up each part that can list its records (an index over the term or value), counting at
   most `COUNT_CAP` + 1 of them, and take the smallest: the driver.
2. Read the driver's records, keeping those that meet every other part (each checked per record
   by one index probe), up to `COUNT_CAP` + 1 of them. Up to the cap this is every match: the
   total is exact and the page is the newest of them.
3. Past the cap the total is the cap (`SearchPage.total_capped`), and at least one record in a
   hundred matches, so the page comes from walking the records newest first (the created_at
   indexes) and checking each part per record, until the page is full.

With no term, no side-table filter, no since/until and no score threshold (`min_negative_score`:
the roll-ups know labels, not scores) the total is exact, from the hourly roll-ups. Parts
correlated with time (a topic that stopped two months ago) make step 3 walk further: the walk
stops at the page, but a page far back costs a longer walk.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from indexer import _sqlite_grams as grams
from indexer import _sqlite_query as q
from indexer import _sqlite_rollup as rollup
from indexer.store import COUNT_CAP, Filters

FTS_MIN_CHARS = 3  # the trigram index cannot answer shorter substrings; `grams` answers those


@dataclass(frozen=True)
class Part:
    """One condition of a search: `probe` checks it on the record `f`; `rows` (when not None)
    lists the rids meeting it from an index."""

    probe: str
    params: tuple[Any, ...]
    rows: str | None = None


def term_part(term: str) -> Part:
    """The part for one (folded) query term."""
    # An index term is checked against the set of its records, built once per statement (a few
    # milliseconds per 100k records: FTS5 reads a doclist fast), not by one full-text query per
    # record (~40 µs each). The `+` keeps SQLite from reading the set in place of the created_at
    # order the walk needs.
    if len(term) >= FTS_MIN_CHARS:
        # A quoted FTS5 string is a phrase; with the trigram tokenizer it is a substring match.
        match = '"' + term.replace('"', '""') + '"'
        return Part("+f.rid IN (SELECT rowid FROM fts WHERE fts MATCH ?)", (match,),
                    "SELECT rowid AS rid FROM fts WHERE fts MATCH ?")
    gram = grams.gram_match(term)
    if gram is not None:
        return Part("+f.rid IN (SELECT rowid FROM grams WHERE grams MATCH ?)", (gram,),
                    "SELECT rowid AS rid FROM grams WHERE grams MATCH ?")
    # A short term with ASCII punctuation (`5%`): scan the searched form of title and text.
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return Part("EXISTS (SELECT 1 FROM body_search WHERE rid = f.rid AND "
                "(title LIKE ? ESCAPE '\\' OR text LIKE ? ESCAPE '\\'))", (pattern, pattern))


@dataclass(frozen=True)
class Plan:
    """What `run` found: the total (a lower bound when `capped`) and the page's rids in order."""

    total: int
    capped: bool
    rids: list[int]


def run(conn: sqlite3.Connection, terms: Sequence[str], filters: Filters, skip: int,
        size: int) -> Plan:
    """Plan and run one search (see the module docstring); call inside one read transaction."""
    own, own_params = q.plain(filters)
    parts = [term_part(t) for t in terms]
    parts += [Part(s.correlated(), s.params, s.rows()) for s in q.sides(filters)]
    if (not parts and filters.since is None and filters.until is None
            and filters.min_negative_score is None):
        total = rollup.total(conn, filters)  # exact, from a few thousand roll-up rows
        return Plan(total, False, walk(conn, own, own_params, parts, skip, size))
    driver = _driver(conn, own, own_params, parts)
    if driver is None:  # some part matches nothing
        return Plan(0, False, [])
    hits = _drive(conn, own, own_params, parts, driver)
    if len(hits) <= COUNT_CAP:
        page = heapq.nlargest(skip + size, hits)[skip:]
        return Plan(len(hits), False, [rid for _, rid in page])
    return Plan(COUNT_CAP, True, walk(conn, own, own_params, parts, skip, size))


def _capped_count(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM ({sql} LIMIT {COUNT_CAP + 1})", params).fetchone()[0])


def _driver(conn: sqlite3.Connection, own: list[str], own_params: list[Any],
            parts: list[Part]) -> int | None:
    """The index of the part to read first (-1: the record's own columns), or None when one
    lists nothing. Each is counted only up to the cap: enough to tell a rare part from a common one."""
    best, best_n = -1, None
    if own:
        best_n = _capped_count(conn, f"SELECT 1 FROM feedback f WHERE {' AND '.join(own)}", own_params)
    for i, part in enumerate(parts):
        if part.rows is None:
            continue
        n = _capped_count(conn, part.rows, part.params)
        if best_n is None or n < best_n:
            best, best_n = i, n
    if best_n == 0:
        return None
    return best


def _drive(conn: sqlite3.Connection, own: list[str], own_params: list[Any], parts: list[Part],
           driver: int) -> list[tuple[int, int]]:
    """(created_at, rid) of up to COUNT_CAP + 1 matches, read from the driver's records."""
    others = [p for i, p in enumerate(parts) if i != driver]
    clauses = [*own, *(p.probe for p in others)]
    params = [*own_params, *(v for p in others for v in p.params)]
    where = " AND ".join(clauses) or "1"
    if driver < 0:
        sql = f"SELECT f.created_at, f.rid FROM feedback f WHERE {where}"
    else:
        # CROSS JOIN keeps the driver outermost: one primary-key lookup per listed record.
        first = parts[driver]
        sql = (f"SELECT f.created_at, f.rid FROM ({first.rows}) AS d CROSS JOIN feedback f "
               f"ON f.rid = d.rid WHERE {where}")
        params = [*first.params, *params]
    return conn.execute(f"{sql} LIMIT {COUNT_CAP + 1}", params).fetchall()


def walk(conn: sqlite3.Connection, own: list[str], own_params: list[Any], parts: list[Part],
         skip: int, size: int) -> list[int]:
    """The rids of one page of matches, newest first, walking a created_at index."""
    clauses = [*own, *(p.probe for p in parts)]
    params = [*own_params, *(v for p in parts for v in p.params)]
    rows = conn.execute(f"SELECT f.rid FROM feedback f WHERE {' AND '.join(clauses) or '1'} "
                        "ORDER BY f.created_at DESC, f.rid DESC LIMIT ? OFFSET ?",
                        [*params, size, skip]).fetchall()
    return [r[0] for r in rows]
