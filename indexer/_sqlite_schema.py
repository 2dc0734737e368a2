"""Schema and connection set-up of the SQLite store (see `indexer.sqlite`).

Layout, chosen for ~1M records in one file:
- `feedback`: one row per record; the columns filters and counts use, plus `doc`, the record as
  JSON without `title`/`text` (those live once, in `body`).
- `body`: just `title` and `text`, narrow so that the scan for 1–2 character queries reads little
  more than the text itself; `fts` is an FTS5 trigram index over it (external content, kept in step
  by triggers).
- `topic`, `risk`, `entity`: one row per (record, value) so multi-valued filters and group-by use
  indexes; each is keyed by (rid, value) for joins and has a (value, rid) index for filters.
- `state` and `alerts`: small JSON documents that must survive restarts.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from indexer.errors import StoreUnavailable

SCHEMA_VERSION = 1
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
    doc          TEXT NOT NULL
);
-- Covering index for time windows: counts() reads it without touching the wide rows.
CREATE INDEX IF NOT EXISTS feedback_time
    ON feedback (created_at, source, kind, sentiment, duplicate_of);
CREATE INDEX IF NOT EXISTS feedback_source ON feedback (source, created_at);
CREATE INDEX IF NOT EXISTS feedback_sentiment ON feedback (sentiment, created_at);

CREATE TABLE IF NOT EXISTS body (
    rid   INTEGER PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    text  TEXT NOT NULL DEFAULT ''
);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    title, text, content='body', content_rowid='rid', tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS body_ai AFTER INSERT ON body BEGIN
    INSERT INTO fts (rowid, title, text) VALUES (new.rid, new.title, new.text);
END;
CREATE TRIGGER IF NOT EXISTS body_ad AFTER DELETE ON body BEGIN
    INSERT INTO fts (fts, rowid, title, text) VALUES ('delete', old.rid, old.title, old.text);
END;
CREATE TRIGGER IF NOT EXISTS body_au AFTER UPDATE ON body BEGIN
    INSERT INTO fts (fts, rowid, title, text) VALUES ('delete', old.rid, old.title, old.text);
    INSERT INTO fts (rowid, title, text) VALUES (new.rid, new.title, new.text);
END;

CREATE TABLE IF NOT EXISTS topic (
    rid   INTEGER NOT NULL,
    topic TEXT NOT NULL,
    PRIMARY KEY (rid, topic)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS topic_value ON topic (topic, rid);

CREATE TABLE IF NOT EXISTS risk (
    rid      INTEGER NOT NULL,
    flag     TEXT NOT NULL,
    severity INTEGER NOT NULL,          -- index into voc.record.SEVERITIES
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
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating file, parent folders and schema as needed) a WAL-mode connection.

    `isolation_level=None` leaves transactions to the store (`BEGIN IMMEDIATE` ... `COMMIT`), so a
    batch is written whole or not at all."""
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StoreUnavailable(
            f"SQLite {sqlite3.sqlite_version} is too old: the FTS5 trigram tokenizer needs "
            f">= {'.'.join(map(str, MIN_SQLITE))}")
    target = str(path)
    try:
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(target, timeout=10.0, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnavailable(f"cannot open SQLite store path={target}: {exc}") from exc
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"SQLite store path={target} has schema version {version}; this code knows "
                f"<= {SCHEMA_VERSION} (upgrade voc-monitor)")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        conn.executescript(DDL)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreUnavailable(f"cannot set up SQLite store path={target}: {exc}") from exc
    except StoreUnavailable:
        conn.close()
        raise
    return conn
