"""SQLite-specific behaviour of `SqliteStore`: file set-up, WAL, schema guard, FTS upkeep, threads."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from indexer import STORES, SqliteStore, open_store
from indexer.errors import StoreError, StoreQueryError, StoreUnavailable, UnknownBackend

SH = ZoneInfo("Asia/Shanghai")


def test_creates_missing_parent_dir_in_wal_mode(tmp_path):
    path = tmp_path / "a" / "b" / "voc.db"
    with SqliteStore(path) as store:
        assert path.exists()
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with sqlite3.connect(path) as peer:
        assert peer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_registry_and_open_store(tmp_path):
    assert STORES["sqlite"] is SqliteStore
    store = open_store("sqlite", path=tmp_path / "voc.db")
    assert isinstance(store, SqliteStore)
    store.close()
    with pytest.raises(UnknownBackend, match="'mongo'.*known: elasticsearch, sqlite"):
        open_store("mongo", path="x")
    with pytest.raises(StoreQueryError, match="bad options"):
        open_store("sqlite", path=tmp_path / "v.db", colour="red")
    with pytest.raises(StoreQueryError, match="Mars/Olympus"):
        open_store("sqlite", path=tmp_path / "v.db", timezone="Mars/Olympus")


def test_refuses_newer_schema_and_non_database(tmp_path):
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        SqliteStore(newer)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match="junk.db"):
        SqliteStore(junk)


def test_closed_store_says_so(tmp_path):
    store = SqliteStore(tmp_path / "voc.db")
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreUnavailable, match="closed"):
        store.total()
    assert issubclass(StoreUnavailable, StoreError)


def test_fts_index_stays_consistent_through_updates(tmp_path, make):
    store = SqliteStore(tmp_path / "voc.db")
    store.upsert([make("手机银行闪退三次", key=str(i)) for i in range(20)])
    store.upsert([make("信用卡还款失败", key=str(i)) for i in range(0, 20, 2)])
    store.upsert([make("信用卡还款失败", key=str(i), label="negative") for i in range(0, 20, 2)])
    store._conn.execute("INSERT INTO fts (fts, rank) VALUES ('integrity-check', 1)")
    assert store.search("闪退三次").total == 10
    assert store.search("还款失败").total == 10
    assert store.search("贷").total == 0
    store.close()


def test_a_failed_batch_writes_nothing(tmp_path, make):
    store = SqliteStore(tmp_path / "voc.db")
    store.upsert([make("第一条")])
    store._conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON topic BEGIN "
                        "SELECT RAISE(ABORT, 'disk says no'); END")
    with pytest.raises(StoreUnavailable, match="disk says no"):
        store.upsert([make("第二条"), make("第三条", topics=["贷款"])])
    assert store.total() == 1 and store.search("第二条").total == 0
    store.close()


def test_two_store_objects_and_threads_share_one_file(tmp_path, make):
    path = tmp_path / "voc.db"
    writer, reader = SqliteStore(path), SqliteStore(path)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for j in range(10):
                writer.upsert([make(f"线程{n}第{j}条", key=f"{n}-{j}-{k}") for k in range(5)])
                writer.put_state("cursor", f"t{n}", {"j": j})
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert reader.total() == 200
    assert reader.list_state("cursor") == {f"t{n}": {"j": 9} for n in range(4)}
    writer.close()
    reader.close()


def test_counts_use_the_configured_timezone(tmp_path, make):
    at = datetime(2026, 1, 2, 6, 0, tzinfo=SH)  # 2026-01-01 22:00 UTC
    start = datetime(2025, 12, 31, tzinfo=UTC)
    expected = [("UTC", datetime(2026, 1, 1, tzinfo=UTC)), ("Asia/Shanghai", datetime(2026, 1, 2, tzinfo=SH))]
    for zone, day in expected:
        store = SqliteStore(tmp_path / f"{zone.replace('/', '_')}.db", timezone=zone)
        store.upsert([make("时区", at=at)])
        [row] = store.counts(start, start + timedelta(days=4), interval=timedelta(days=1))
        assert row.bucket == day
        store.close()
