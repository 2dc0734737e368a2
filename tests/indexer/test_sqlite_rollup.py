"""The SQLite store's hourly roll-ups give exactly the counts the records give.

The oracle is computed in Python from the records themselves, after inserts, updates that move a
record between hours / sentiments / topics / clusters, and re-upserts. Queries cover windows that
start and end inside hours (so roll-ups and record reads are combined), day and hour buckets,
each group_by the roll-ups serve, and filters they serve; a version-1 file is upgraded in place.
Cluster counts (`distinct_clusters`: each cluster with a member in the bucket once) come from the
records, and the oracle counts them the same way.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.record import Feedback, Sentiment
from indexer import SqliteStore
from indexer._sqlite_schema import SCHEMA_VERSION
from indexer.store import NONE_KEY, Filters

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
TOPICS = ["信用卡", "信用卡/催收", "手机银行", "贷款"]


def _record(rng: random.Random, i: int) -> Feedback:
    label = rng.choice(["negative", "neutral", "positive", None])
    sentiment = None if label is None else Sentiment(label, {"negative": 0.5, "neutral": 0.3,
                                                             "positive": 0.2}, "m")
    return Feedback(
        id=f"r{i}", source=rng.choice(["weibo", "tousu", "appstore"]), kind=rng.choice(["post", "review"]),
        text=f"文本{i}", created_at=T0 + timedelta(minutes=rng.randrange(0, 6 * 24 * 60)),
        sentiment=sentiment, topics=rng.sample(TOPICS, rng.choice([0, 1, 1, 2])),
        risk=[{"flag": "投诉", "severity": "warning"}] if rng.random() < 0.2 else [],
        entities=[{"type": "bank", "text": "江南银行", "canonical": "江南银行", "ours": True,
                   "start": 0, "end": 4}] if rng.random() < 0.3 else [],
        duplicate_of="r0" if rng.random() < 0.15 else None)


def _oracle(records: dict[str, Feedback], start, end, interval, group_by, filters: Filters) -> Counter:
    out: Counter = Counter()
    clusters: dict[tuple, set[str]] = {}  # distinct_clusters: each cluster once per bucket and key
    for r in records.values():
        if not start <= r.created_at < end:
            continue
        label = r.sentiment.label if r.sentiment else NONE_KEY
        if filters.sources and r.source not in filters.sources:
            continue
        if filters.sentiment and label not in filters.sentiment:
            continue
        if interval is None:
            bucket = start
        else:
            local = r.created_at.astimezone(SHANGHAI)
            floor = local.replace(minute=0, second=0, microsecond=0)
            if interval == timedelta(days=1):
                floor = floor.replace(hour=0)
            bucket = floor.astimezone(UTC)
        values = {"source": [r.source], "kind": [r.kind], "sentiment": [label],
                  "topic": sorted(set(r.topics)) or [NONE_KEY],
                  "risk": sorted({x["flag"] for x in r.risk}) or [NONE_KEY],
                  "entity": sorted({x["canonical"] for x in r.entities}) or [NONE_KEY]}
        keys = [()]
        for name in group_by:
            keys = [(*k, v) for k in keys for v in values[name]]
        for key in keys:
            if filters.distinct_clusters:
                clusters.setdefault((bucket, key), set()).add(r.duplicate_of or r.id)
            else:
                out[(bucket, key)] += 1
    out.update({k: len(v) for k, v in clusters.items()})
    return out


def _as_counter(rows) -> Counter:
    return Counter({(row.bucket, tuple(row.key.values())): row.count for row in rows})


QUERIES = [
    (None, (), Filters()),
    (None, ("topic",), Filters(sentiment=("negative",), distinct_clusters=True)),
    (None, ("source", "topic"), Filters(sentiment=("negative",))),
    (None, ("sentiment",), Filters()),
    (timedelta(hours=1), (), Filters(sentiment=("negative",), distinct_clusters=True)),
    (timedelta(hours=1), ("entity",), Filters(sources=("weibo", "tousu"))),
    (timedelta(days=1), ("kind", "risk"), Filters(sentiment=(NONE_KEY, "positive"))),
    (timedelta(days=1), ("topic", "source"), Filters()),
]


@pytest.fixture
def filled(tmp_path):
    rng = random.Random(11)
    records = {f"r{i}": _record(rng, i) for i in range(1500)}
    store = SqliteStore(tmp_path / "voc.db")
    store.upsert(list(records.values()))
    # Updates: new sentiment, topics, hour and cluster for a third of them, in two batches.
    changed = [_record(rng, i) for i in rng.sample(range(1500), 500)]
    for begin in range(0, len(changed), 50):
        store.upsert(changed[begin:begin + 50])
    records.update((r.id, r) for r in changed)
    store.upsert(list(records.values())[:300])  # unchanged re-upserts change nothing
    yield store, records
    store.close()


@pytest.mark.parametrize("interval, group_by, filters", QUERIES)
def test_counts_match_the_records(filled, interval, group_by, filters):
    store, records = filled
    start, end = T0 + timedelta(hours=5, minutes=17), T0 + timedelta(days=5, hours=3, minutes=41)
    got = _as_counter(store.counts(start, end, interval, group_by, filters))
    assert got == _oracle(records, start, end, interval, group_by, filters)
    assert sum(got.values()) > 0


def test_rollups_are_used_and_rows_are_ordered(filled):
    store, _ = filled
    start, end = T0 + timedelta(hours=1, minutes=30), T0 + timedelta(days=4, minutes=10)
    rows = store.counts(start, end, timedelta(hours=1), ("topic",), Filters(sentiment=("negative",)))
    order = [(r.bucket, -r.count, tuple(r.key.values())) for r in rows]
    assert order == sorted(order)
    held = store._conn.execute("SELECT SUM(n) FROM roll").fetchone()[0]
    assert held == store.total()


def test_version_1_file_is_upgraded_in_place(filled, tmp_path):
    store, records = filled
    path = store.path
    store.close()
    with sqlite3.connect(path) as conn:  # make it look like a version-1 file
        triggers = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE '%roll%'").fetchall()
        for (name,) in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE roll")
        conn.execute("DROP TABLE roll_side")
        for column in ("has_topic", "has_risk", "has_entity"):
            conn.execute(f"ALTER TABLE feedback DROP COLUMN {column}")
        conn.execute("PRAGMA user_version=1")
    with SqliteStore(path) as upgraded:
        start, end = T0, T0 + timedelta(days=7)
        for interval, group_by, filters in QUERIES:
            got = _as_counter(upgraded.counts(start, end, interval, group_by, filters))
            assert got == _oracle(records, start, end, interval, group_by, filters)
        assert upgraded._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
