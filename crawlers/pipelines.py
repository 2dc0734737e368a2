"""The one item pipeline: batches of `Feedback` from any spider go through the record pipeline
(`voc.pipeline`, reached through the `VOC_PIPELINE_FACTORY` setting).

Before a batch runs, each record is looked up in the store by id, which tells a crawl's outcome:

    new         the id was not stored
    updated     stored, but text/title/rating/author/url/time changed (re-classified and replaced);
                a time that moved by at most TIME_SLACK is not a change (relative times)
    duplicates  stored and unchanged, or yielded twice in this crawl (not run again: the stored
                sentiment stays, and no model time is spent on it)
    dropped     not a Feedback record, or rejected by voc.pipeline (reason kept per record)

Spooled records (the store refused the batch) are counted apart: they are kept on disk, not lost.
Counts go to the crawler's stats as voc/new, voc/updated, ... (crawlers/health.py reads them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from scrapy.exceptions import DropItem
from scrapy.utils.misc import load_object

from core.record import Feedback

log = logging.getLogger(__name__)

COMPARED = ("text", "title", "rating", "author", "url", "created_at", "kind")
# A re-crawl that moves a record's time by no more than this keeps the stored time: relative times
# ("5分钟前", "今天 12:00") resolve against each crawl's clock, and a post must neither count as
# updated for that nor move to another month's Elasticsearch index.
TIME_SLACK = timedelta(hours=1)


def settle_time(old: Feedback, new: Feedback) -> None:
    """Keep `old`'s created_at on `new` when they differ by at most TIME_SLACK."""
    if abs(new.created_at - old.created_at) <= TIME_SLACK:
        new.created_at = old.created_at


def changed(old: Feedback, new: Feedback) -> bool:
    return any(getattr(old, name) != getattr(new, name) for name in COMPARED)


class FeedbackPipeline:
    """Scrapy item pipeline around a `voc.pipeline.Pipeline` made by `make_pipeline()`."""

    def __init__(self, make_pipeline: Callable[[], Any], stats: Any, batch_size: int = 100) -> None:
        self.make_pipeline = make_pipeline
        self.stats = stats
        self.batch_size = batch_size
        self.pipeline: Any = None
        self.buffer: list[Feedback] = []
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Any) -> FeedbackPipeline:
        """The record pipeline comes from the object the Scrapy setting `VOC_PIPELINE_FACTORY`
        names (a callable taking the crawl's store): the application provides it, as it provides
        ITEM_PIPELINES, so this package never imports the application."""
        factory = load_object(crawler.settings.get("VOC_PIPELINE_FACTORY"))

        def make() -> Any:
            from crawlers.health import crawl_store

            return factory(crawl_store(crawler))

        return cls(make, crawler.stats, crawler.settings.getint("VOC_BATCH_SIZE", 100))

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Feedback):
            self._drop(f"not a Feedback record: {type(item).__name__}")
            raise DropItem(f"not a Feedback record: {type(item).__name__}")
        self.stats.inc_value("voc/items")
        if item.id in self.seen:
            self.stats.inc_value("voc/duplicates")
            return item
        self.seen.add(item.id)
        self.buffer.append(item)
        if len(self.buffer) >= self.batch_size:
            self.flush()
        return item

    def close_spider(self, spider: Any = None) -> None:
        self.flush()

    def flush(self) -> None:
        batch, self.buffer = self.buffer, []
        if not batch:
            return
        if self.pipeline is None:  # the model loads on the first batch, not for a crawl that finds nothing
            self.pipeline = self.make_pipeline()
        fresh, updated = [], set()
        stored = self.pipeline.store.get_many([r.id for r in batch])  # one round trip per batch
        for record in batch:
            old = stored.get(record.id)
            if old is not None:
                settle_time(old, record)
            if old is None:
                fresh.append(record)
            elif changed(old, record):
                fresh.append(record)
                updated.add(record.id)
            else:
                self.stats.inc_value("voc/duplicates")
        if not fresh:
            return
        report = self.pipeline.run(fresh)
        rejected = {rid for rid, _ in report.rejected}
        for rid, reason in report.rejected:
            self._drop(reason)
            log.warning("crawl dropped id=%s reason=%s", rid, reason)
        kept = [r for r in fresh if r.id not in rejected]
        self.stats.inc_value("voc/updated", sum(1 for r in kept if r.id in updated))
        self.stats.inc_value("voc/new", sum(1 for r in kept if r.id not in updated))
        self.stats.inc_value("voc/near_duplicates", report.duplicates)
        self.stats.inc_value("voc/spooled", len(report.spooled))

    def _drop(self, reason: str) -> None:
        self.stats.inc_value("voc/dropped/" + reason.replace("/", "|")[:120])
