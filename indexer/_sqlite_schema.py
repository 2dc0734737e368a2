"""Schema and connection set-up of the SQLite store (see `indexer.sqlite`).

Layout, chosen for ~1M records in one file:
- `feedback`: one row per record; the columns filters and counts use, plus `doc`, the record as
  JSON without `title`/`text` (those live once, in `body`).
- `body`: `title` and `text` as the record has them, and `search_title` / `search_text`, what a
  person sees of them in the form search compares (`nlp.normalize.search_text`: HTML read as text,
  traditional → simplified, full-width → half-width), NULL where that is the stored value itself
  (most rows). The view `body_search` gives the searched form of every row; the scan for 1–2
  character queries reads it (`body` stays narrow, so that reads little more than the text
  itself), and `fts` is an FTS5 trigram index over it (external content, kept in step by
  triggers). `grams` indexes the same text by pairs of characters, for one- and two-character
  terms (`_sqlite_grams`; contentless, kept in step by the store's writes).
- `topic`, `risk`, `entity`: one row per (record, value) so multi-valued filters and group-by use
  indexes; each is keyed by (rid, value) for joins and has a (value, rid) index for filters.
- `roll` and `roll_side`: hourly roll-ups kept on every write, so the alert rules' counts over
  weeks read a few thousand rows instead of every record (`_sqlite_rollup`). New rows are added up
  per batch by the store (`_sqlite_rollup.deltas`: one upsert per distinct key, not per record);
  updates and deletes are taken off by triggers, which see the old values. `roll`
  counts records per (UTC hour, source, kind, sentiment, is-duplicate, has topic/risk/entity);
  `roll_side` counts (record, value) pairs per (field, hour, value, source, kind, sentiment,
  is-duplicate). A missing sentiment is '' there (primary-key columns cannot be NULL).
- `state` and `alerts`: small JSON documents that must survive restarts.
- `response`, `response_value`, `response_roll`, `response_roll_zone`: survey responses, their
  grouped values and their daily roll-ups (`_sqlite_responses`).

Versions: 1 had no roll-ups; 2 indexed the stored title and text as written, markup included
(`voc search sinaimg` found every Weibo post with an image); 3 scanned every body for one- and
two-character terms and had no (source, sentiment, created_at) index. Opening an older file
upgrades it in place, in one transaction, once (logged): from 1 it adds the `has_*` columns and
builds the roll-ups from the records; from 1 or 2 it adds the `search_*` columns, fills them from
the stored texts and rebuilds the full-text index over the visible text (`_upgrade_search`; about a
minute per million records); from 1, 2 or 3 it builds `grams` from the visible text
(`_fill_grams`) and the new index (together about a minute per million records); from 1–4 it
builds `response` (`_sqlite_responses`) from the stored survey answers and the response documents
version 4 kept in the state namespace "survey_response" (`_fill_responses`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

from indexer import _sqlite_grams as grams
from indexer import _sqlite_responses as responses
from indexer._sqlite_rows import search_form
from indexer.errors import StoreUnavailable

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5
HOUR_MICROS = 3_600_000_000
MIN_SQLITE = (3, 34, 0)  # the FTS5 trigram tokenizer arrived in 3.34

DDL = """
CREATE TABLE IF NOT EXISTS feedback (
    rid          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    source       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,      -- microseconds since the epoch, UTC
    sentiment    TEXT,                  -- label, NULL when not classified
    neg          REAL,                  -- negative score, for samples()
    duplicate_of TEXT,
    doc          TEXT NOT NULL,
    has_topic    INTEGER NOT NULL DEFAULT 0,  -- 1 when the record has a topic (roll-ups' "(none)")
    has_risk     INTEGER NOT NULL DEFAULT 0,
    has_entity   INTEGER NOT NULL DEFAULT 0
);
-- Covering index for time windows: counts() reads it without touching the wide rows.
CREATE INDEX IF NOT EXISTS feedback_time
    ON feedback (created_at, source, kind, sentiment, duplicate_of);
CREATE INDEX IF NOT EXISTS feedback_source ON feedback (source, created_at);
CREATE INDEX IF NOT EXISTS feedback_sentiment ON feedback (sentiment, created_at);
-- The console's lists: one source and one sentiment, newest first, without a sort.
CREATE INDEX IF NOT EXISTS feedback_source_sentiment ON feedback (source, sentiment, created_at);

CREATE TABLE IF NOT EXISTS body (
    rid          INTEGER PRIMARY KEY,
    title        TEXT NOT NULL DEFAULT '',
    text         TEXT NOT NULL DEFAULT '',
    search_title TEXT,                  -- what search reads of title; NULL = title itself
    search_text  TEXT                   -- ... of text; NULL = text itself
);
CREATE VIEW IF NOT EXISTS body_search AS
    SELECT rid, COALESCE(search_title, title) AS title, COALESCE(search_text, text) AS text FROM body;
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    title, text, content='body_search', content_rowid='rid', tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS body_ai AFTER INSERT ON body BEGIN
    INSERT INTO fts (rowid, title, text)
        VALUES (new.rid, COALESCE(new.search_title, new.title), COALESCE(new.search_text, new.text));
END;
CREATE TRIGGER IF NOT EXISTS body_ad AFTER DELETE ON body BEGIN
    INSERT INTO fts (fts, rowid, title, text) VALUES ('delete', old.rid,
        COALESCE(old.search_title, old.title), COALESCE(old.search_text, old.text));
END;
CREATE TRIGGER IF NOT EXISTS body_au AFTER UPDATE ON body BEGIN
    INSERT INTO fts (fts, rowid, title, text) VALUES ('delete', old.rid,
        COALESCE(old.search_title, old.title), COALESCE(old.search_text, old.text));
    INSERT INTO fts (rowid, title, text)
        VALUES (new.rid, COALESCE(new.search_title, new.title), COALESCE(new.search_text, new.text));
END;
{grams};

CREATE TABLE IF NOT EXISTS topic (
    rid   INTEGER NOT NULL,
    topic TEXT NOT NULL,
    PRIMARY KEY (rid, topic)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS topic_value ON topic (topic, rid);

CREATE TABLE IF NOT EXISTS risk (
    rid      INTEGER NOT NULL,
    flag     TEXT NOT NULL,
    severity INTEGER NOT NULL,          -- index into core.record.SEVERITIES
    PRIMARY KEY (rid, flag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS risk_value ON risk (flag, rid);
CREATE INDEX IF NOT EXISTS risk_severity ON risk (severity, rid);

CREATE TABLE IF NOT EXISTS entity (
    rid       INTEGER NOT NULL,
    canonical TEXT NOT NULL,
    ours      INTEGER NOT NULL,
    PRIMARY KEY (rid, canonical)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_value ON entity (canonical, rid);
CREATE INDEX IF NOT EXISTS entity_ours ON entity (ours, rid);

CREATE TABLE IF NOT EXISTS state (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS alerts (
    id         INTEGER PRIMARY KEY,
    rule       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_created ON alerts (created_at);
CREATE INDEX IF NOT EXISTS alerts_rule ON alerts (rule, created_at);
""".replace("{grams}", grams.DDL)


SIDE_TABLES = (("topic", "topic"), ("risk", "flag"), ("entity", "canonical"))


def _roll_key(row: str) -> str:
    return (f"{row}.created_at / {HOUR_MICROS}, {row}.source, {row}.kind, "
            f"COALESCE({row}.sentiment, ''), {row}.duplicate_of IS NOT NULL, "
            f"{row}.has_topic, {row}.has_risk, {row}.has_entity")


def _side_triggers(table: str, column: str) -> str:
    # Deleting a side row takes it off the roll-up under the record's current columns, so a record's
    # side rows are deleted before the record changes (SqliteStore._write keeps that order). Side
    # rows are only inserted by `_write`, which adds them to the roll-up itself (`rollup.deltas`).
    key = (f"f.created_at / {HOUR_MICROS}, {{v}}, f.source, f.kind, COALESCE(f.sentiment, ''), "
           "f.duplicate_of IS NOT NULL")
    return f"""
CREATE TRIGGER IF NOT EXISTS {table}_roll_ad AFTER DELETE ON {table} BEGIN
    UPDATE roll_side SET n = n - 1
        WHERE (field, hour, value, source, kind, sentiment, dup) =
              (SELECT '{table}', {key.format(v="old." + column)} FROM feedback f WHERE f.rid = old.rid);
END;"""


_ROLL_TAKE_OLD = (f"UPDATE roll SET n = n - 1 WHERE (hour, source, kind, sentiment, dup, has_topic, "
                  f"has_risk, has_entity) = ({_roll_key('old')});")

ROLLUP_DDL = f"""
CREATE TABLE IF NOT EXISTS roll (
    hour INTEGER NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL, sentiment TEXT NOT NULL,
    dup INTEGER NOT NULL, has_topic INTEGER NOT NULL, has_risk INTEGER NOT NULL,
    has_entity INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (hour, source, kind, sentiment, dup, has_topic, has_risk, has_entity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS roll_side (
    field TEXT NOT NULL, hour INTEGER NOT NULL, value TEXT NOT NULL, source TEXT NOT NULL,
    kind TEXT NOT NULL, sentiment TEXT NOT NULL, dup INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (field, hour, value, source, kind, sentiment, dup)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS feedback_roll_ad AFTER DELETE ON feedback BEGIN
    {_ROLL_TAKE_OLD}
END;
CREATE TRIGGER IF NOT EXISTS feedback_roll_au AFTER UPDATE ON feedback BEGIN
    {_ROLL_TAKE_OLD}
    INSERT INTO roll VALUES ({_roll_key("new")}, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;
{"".join(_side_triggers(table, column) for table, column in SIDE_TABLES)}
"""

# Opening a version-1 file: the columns the roll-ups key on, then (after the DDL) the roll-ups.
_V1_COLUMNS = [
    statement
    for table, _ in SIDE_TABLES
    for statement in (
        f"ALTER TABLE feedback ADD COLUMN has_{table} INTEGER NOT NULL DEFAULT 0",
        f"UPDATE feedback SET has_{table} = EXISTS (SELECT 1 FROM {table} s WHERE s.rid = feedback.rid)")]
_BACKFILL = [
    "DELETE FROM roll",
    "DELETE FROM roll_side",
    f"INSERT INTO roll SELECT {_roll_key('f')}, COUNT(*) FROM feedback f GROUP BY 1, 2, 3, 4, 5, 6, 7, 8",
    *(f"INSERT INTO roll_side SELECT '{table}', f.created_at / {HOUR_MICROS}, s.{column}, f.source, "
      f"f.kind, COALESCE(f.sentiment, ''), f.duplicate_of IS NOT NULL, COUNT(*) FROM {table} s "
      f"JOIN feedback f ON f.rid = s.rid GROUP BY 1, 2, 3, 4, 5, 6, 7"
      for table, column in SIDE_TABLES),
]


def connect(path: str | Path, setup: bool = True) -> sqlite3.Connection:
    """Open a WAL-mode connection; `setup` (the store's first) creates the file, parent folders and
    schema as needed, or upgrades an older schema. Further connections to the same file (one per
    thread, see `indexer.sqlite`) pass setup=False.

    `isolation_level=None` leaves transactions to the store (`BEGIN IMMEDIATE` ... `COMMIT`), so a
    batch is written whole or not at all."""
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StoreUnavailable(
            f"SQLite {sqlite3.sqlite_version} is too old: the FTS5 trigram tokenizer needs "
            f">= {'.'.join(map(str, MIN_SQLITE))}")
    target = str(path)
    try:
        if setup and target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(target, timeout=10.0, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnavailable(f"cannot open SQLite store path={target}: {exc}") from exc
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0] if setup else SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"SQLite store path={target} has schema version {version}; this code knows "
                f"<= {SCHEMA_VERSION} (upgrade voc-monitor)")
        if setup:
            conn.execute("PRAGMA journal_mode=WAL")  # kept by the file: later connections have it
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        # Checkpoint the WAL every ~40 MB instead of ~4 MB: pages rewritten by consecutive batches
        # (FTS segments, index interiors) are copied back once; upserts ~15 % faster (bench/indexer.py).
        conn.execute("PRAGMA wal_autocheckpoint=10000")
        if version < SCHEMA_VERSION:
            _create(conn, target, version)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreUnavailable(f"cannot set up SQLite store path={target}: {exc}") from exc
    except StoreUnavailable:
        conn.close()
        raise
    return conn


def _create(conn: sqlite3.Connection, target: str, version: int) -> None:
    """Create the schema (`version` 0), or bring an older file up to date, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if version:
            work = {1: "building hourly roll-ups and re-indexing the visible text",
                    2: "re-indexing the visible text", 3: "indexing the visible text by character pairs",
                    4: "keeping one row per survey response"}
            log.warning("SQLite store path=%s: upgrading schema %d -> %d (%s once; this can take a "
                        "minute on a large store)", target, version, SCHEMA_VERSION, work[version])
        if version == 1:
            for statement in _V1_COLUMNS:
                conn.execute(statement)
        if version in (1, 2):
            _upgrade_search(conn)
        for statement in _statements(DDL + ROLLUP_DDL + responses.DDL):
            conn.execute(statement)
        if version == 1:
            for statement in _BACKFILL:
                conn.execute(statement)
        if version in (1, 2):  # the full-text index, from `body_search` (the visible text)
            conn.execute("INSERT INTO fts (fts) VALUES ('rebuild')")
        if version in (1, 2, 3):
            _fill_grams(conn)
        if version in (1, 2, 3, 4):
            _fill_responses(conn)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


_UPGRADE_CHUNK = 2_000  # body rows read per step while filling the search columns


def _upgrade_search(conn: sqlite3.Connection) -> None:
    """Version 1 or 2 -> 3: drop the full-text index over the stored texts (its triggers first,
    so filling the new columns does not re-index row by row), add `search_title` / `search_text`
    and fill them where the visible text differs; the DDL then makes the view, index and
    triggers, and `_create` rebuilds the index from the view."""
    for name in ("body_ai", "body_ad", "body_au"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute("DROP TABLE IF EXISTS fts")
    conn.execute("DROP VIEW IF EXISTS body_search")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(body)")}
    for column in ("search_title", "search_text"):
        if column not in columns:
            conn.execute(f"ALTER TABLE body ADD COLUMN {column} TEXT")
    last = 0
    while True:
        rows = conn.execute("SELECT rid, title, text FROM body WHERE rid > ? ORDER BY rid LIMIT ?",
                            (last, _UPGRADE_CHUNK)).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        changed = []
        for rid, title, text in rows:
            forms = (search_form(title), search_form(text))
            if forms != (None, None):
                changed.append((*forms, rid))
        conn.executemany("UPDATE body SET search_title = ?, search_text = ? WHERE rid = ?", changed)


def _fill_grams(conn: sqlite3.Connection) -> None:
    """Version 1, 2 or 3 -> 4: the bigram index over the visible text (the DDL made the table)."""
    conn.execute("INSERT INTO grams (grams) VALUES ('delete-all')")  # contentless: no DELETE
    last = 0
    while True:
        rows = conn.execute("SELECT rid, title, text FROM body_search WHERE rid > ? ORDER BY rid LIMIT ?",
                            (last, _UPGRADE_CHUNK * 10)).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        conn.executemany(grams.INSERT, [(rid, grams.tokens(title, text)) for rid, title, text in rows])


def _fill_responses(conn: sqlite3.Connection) -> None:
    """Version 1–4 -> 5: the responses of the stored rated survey answers, then the documents
    older versions kept in the state namespace "survey_response" (responses with no open answer),
    which move to the table."""
    from core.response import check, from_record
    from indexer._sqlite_rows import load

    last = 0
    while True:
        found = conn.execute(
            "SELECT f.rid, f.doc, b.title, b.text FROM feedback f JOIN body b ON b.rid = f.rid "
            "WHERE f.kind = 'survey' AND f.rid > ? ORDER BY f.rid LIMIT ?", (last, _UPGRADE_CHUNK)).fetchall()
        if not found:
            break
        last = found[-1][0]
        docs = [from_record(load(r[1:])) for r in found]
        responses.write(conn, [responses.row(d) for d in docs if d is not None], None)
    kept = conn.execute("SELECT key, value FROM state WHERE namespace = 'survey_response'").fetchall()
    for key, value in kept:
        try:
            responses.write(conn, [responses.row(check(json.loads(value)))], None)
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("survey response %s not moved: %s", key, exc)
    conn.execute("DELETE FROM state WHERE namespace = 'survey_response'")


def _statements(script: str) -> list[str]:
    """Split a script into statements (the `;` inside a trigger body stays with its trigger)."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    return out
