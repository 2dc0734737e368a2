"""How a crawl ended, written as the source's "crawl_health" state document (alerts read it).

`CrawlHealth` is a Scrapy extension: at spider close it turns the close reason, the spider's end
state (`VocSpider.end_as`) and the pipeline's counters into one document under namespace
"crawl_health", key `spider.health_key` ("appstore", "site:<profile>", ...):

    {"spider", "sources", "status": ok|blocked|layout_changed|failed, "reason", "started_at",
     "finished_at", "pages", "items", "new", "updated", "duplicates", "dropped",
     "dropped_reasons": {reason: n}, "near_duplicates", "spooled", "run_id"}

A blocked or changed source is never reported as "ok, 0 new items"; a crawl that fetched no page
at all, or whose callbacks raised, is "failed". With the Scrapy setting VOC_RESULT_FILE the same
document is also written there as JSON (crawlers.runner reads it). `crawl_store(crawler)` opens the
configured store once per crawl, shared by the cursors extension, the item pipeline and this.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import signals

log = logging.getLogger(__name__)

STATUSES = ("ok", "blocked", "layout_changed", "failed")
LIMIT_REASONS = ("closespider_pagecount", "closespider_itemcount", "closespider_timeout",
                 "closespider_errorcount")


def crawl_store(crawler: Any) -> Any:
    """The configured FeedbackStore, opened once per crawler."""
    store = getattr(crawler, "_voc_store", None)
    if store is None:
        from core.settings import load_settings
        from indexer import open_settings_store

        store = open_settings_store(load_settings())
        crawler._voc_store = store
    return store


def judge(reason: str, end_state: tuple[str, str] | None, stats: dict[str, Any], pages: int,
          items: int) -> tuple[str, str]:
    """(status, reason text) of a finished crawl."""
    if end_state is not None:
        return end_state
    errors = {k.split("/", 2)[-1]: v for k, v in stats.items() if k.startswith("spider_exceptions/")}
    if errors:
        names = ", ".join(f"{name} x{n}" for name, n in sorted(errors.items()))
        return "failed", f"spider errors: {names}"
    if reason == "shutdown":
        return "failed", "interrupted (shutdown)"
    if reason not in ("finished", *LIMIT_REASONS):
        return "failed", f"closed: {reason}"
    download_errors = stats.get("downloader/exception_count", 0)
    http_errors = sum(v for k, v in stats.items() if k.startswith("httperror/response_ignored_status_count/"))
    if pages == 0 and (download_errors or http_errors or stats.get("robotstxt/forbidden", 0)):
        kinds = [k.rsplit("/", 1)[-1] for k in stats if k.startswith(("downloader/exception_type_count/",
                 "httperror/response_ignored_status_count/"))]
        if stats.get("robotstxt/forbidden", 0):
            kinds.append("forbidden by robots.txt")
        return "failed", "no page fetched: " + ", ".join(kinds or ["errors"])
    if pages == 0 and stats.get("response_received_count", 0) == 0:
        return "failed", "no page fetched"
    if download_errors or http_errors:
        return "ok", f"{pages} page(s), {items} item(s); {download_errors + http_errors} request(s) failed"
    note = "" if reason == "finished" else f" (stopped by {reason})"
    return "ok", f"{pages} page(s), {items} item(s){note}"


class CrawlHealth:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.started_at = datetime.now(UTC)
        self.result_file = crawler.settings.get("VOC_RESULT_FILE") or None
        self.run_id = crawler.settings.get("VOC_RUN_ID") or ""
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> CrawlHealth:
        return cls(crawler)

    def spider_opened(self, spider: Any) -> None:
        self.started_at = datetime.now(UTC)

    def spider_closed(self, spider: Any, reason: str) -> None:
        doc = self.document(spider, reason)
        store = None
        try:
            store = crawl_store(self.crawler)
            store.put_state("crawl_health", doc["key"], {k: v for k, v in doc.items() if k != "key"})
        finally:  # the runner still learns the outcome when the store cannot be written
            if self.result_file:
                Path(self.result_file).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            if store is not None:
                store.close()
        log.info("source=%s status=%s new=%d updated=%d duplicates=%d dropped=%d reason=%s",
                 doc["key"], doc["status"], doc["new"], doc["updated"], doc["duplicates"],
                 doc["dropped"], doc["reason"])

    def document(self, spider: Any, reason: str) -> dict[str, Any]:
        stats = self.crawler.stats.get_stats()
        dropped: Counter[str] = Counter(getattr(spider, "dropped", {}))
        for key, value in stats.items():
            if key.startswith("voc/dropped/"):
                dropped[key[len("voc/dropped/"):]] += value
        pages = getattr(spider, "pages", 0) or 0
        items = stats.get("voc/items", 0)
        status, text = judge(reason, getattr(spider, "end_state", None), stats, pages, items)
        sources = spider.record_sources() if hasattr(spider, "record_sources") else [spider.name]
        return {"key": getattr(spider, "health_key", spider.name), "spider": spider.name,
                "sources": list(sources), "status": status, "reason": text,
                "started_at": self.started_at.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
                "pages": pages, "items": items, "new": stats.get("voc/new", 0),
                "updated": stats.get("voc/updated", 0), "duplicates": stats.get("voc/duplicates", 0),
                "dropped": sum(dropped.values()), "dropped_reasons": dict(dropped),
                "near_duplicates": stats.get("voc/near_duplicates", 0),
                "spooled": stats.get("voc/spooled", 0), "run_id": self.run_id}


def failed_document(key: str, spider: str, reason: str, started_at: datetime) -> dict[str, Any]:
    """A crawl_health document for a crawl that died before its spider could report (runner)."""
    return {"spider": spider, "sources": [], "status": "failed", "reason": reason,
            "started_at": started_at.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
            "pages": 0, "items": 0, "new": 0, "updated": 0, "duplicates": 0, "dropped": 0,
            "dropped_reasons": {}}
