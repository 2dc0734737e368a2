"""The crawl item pipeline's bookkeeping against a real SQLite store and the tiny model: new,
updated, duplicates, and relative times that move a little between crawls."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.record import Feedback
from crawlers.pipelines import FeedbackPipeline
from indexer import SqliteStore
from nlp.dedup import Deduper
from nlp.sentiment import SentimentClassifier, build_tiny_model
from nlp.tagging import Tagger
from voc.pipeline import Pipeline

T0 = datetime(2026, 6, 30, 23, 50, tzinfo=UTC)  # ten minutes before a month ends (UTC)


class Stats:
    def __init__(self) -> None:
        self.values: Counter = Counter()

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] += count


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory):
    return SentimentClassifier.load(build_tiny_model(tmp_path_factory.mktemp("tiny")))


def crawl(store: SqliteStore, classifier, tmp_path: Path, records: list[Feedback]) -> Counter:
    stats = Stats()
    tagger = Tagger.from_file(None, bank_name="江南银行")
    make = lambda: Pipeline(classifier, tagger, Deduper(), store, progress=False,  # noqa: E731
                            spool_dir=tmp_path / "spool")
    items = FeedbackPipeline(make, stats, batch_size=10)
    for record in records:
        items.process_item(record)
    items.close_spider()
    return stats.values


def post(key: str, text: str, at: datetime) -> Feedback:
    return Feedback(id=f"weibo-{key}", source="weibo", kind="post", text=text, created_at=at)


def test_recrawl_counts_and_relative_time_drift(classifier, tmp_path):
    with SqliteStore(tmp_path / "voc.db") as store:
        first = crawl(store, classifier, tmp_path,
                      [post("1", "江南银行手机银行又闪退了", T0), post("2", "转账失败三次", T0)])
        assert first["voc/new"] == 2 and first["voc/items"] == 2
        # The next crawl an hour later: "5分钟前" now resolves 20 minutes later (past the month's
        # end), post 2 was edited, post 3 is new.
        again = crawl(store, classifier, tmp_path,
                      [post("1", "江南银行手机银行又闪退了", T0 + timedelta(minutes=20)),
                       post("2", "转账失败三次，客服也不管", T0 + timedelta(minutes=20)),
                       post("3", "网点排队太久", T0 + timedelta(hours=2))])
        assert again["voc/duplicates"] == 1 and again["voc/updated"] == 1 and again["voc/new"] == 1
        assert store.get("weibo-1").created_at == T0  # kept: no move to July
        assert store.get("weibo-2").created_at == T0 and "客服" in store.get("weibo-2").text
        moved = crawl(store, classifier, tmp_path, [post("3", "网点排队太久", T0 + timedelta(hours=5))])
        assert moved["voc/updated"] == 1  # three hours is a real change of time
        assert store.get("weibo-3").created_at == T0 + timedelta(hours=5)
