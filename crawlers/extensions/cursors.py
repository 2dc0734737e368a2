"""Cursors: where each list's last crawl stopped, so that the next crawl stops there too.

A cursor lives in the store, namespace "cursor", key ``<spider>:<subkey>`` ("weibo:江南银行",
"appstore:<app_id>:<cc>", "site:<profile>"), as ``{"newest": ISO time, "ids": [newest first, at
most CURSOR_IDS], "updated_at": ISO time}``.

`Cursors` is one crawl's book; a spider holds it as ``spider.cursors`` and asks
``spider.cursors.should_stop(subkey, created_at, record_id)``: True for an item older than the
cursor's newest or already seen (never in a backfill, since/until given); when False the item is
noted. ``save()`` merges what was noted into the stored cursors. A book without a store (a spider
built without a crawler, in tests) reads nothing and saves nothing.

`CursorsExtension` is the Scrapy extension (EXTENSIONS in crawlers/settings.py) that ties the book
to the crawl: it opens the crawl's store when the crawl starts (`crawlers.health.crawl_store`,
shared with the item pipeline and the health report; a store that cannot be opened fails the
crawl before any request), gives it to the spider's book at spider_opened, and at spider_closed
saves the cursors when the crawl ended "finished" with no end state — a blocked crawl keeps the
old cursor, so the next run walks the same pages again instead of skipping what it never reached.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scrapy import signals

from core.record import parse_time
from crawlers.health import crawl_store

CURSOR_IDS = 200  # ids kept per cursor: enough to recognise the first page of any source


class Cursors:
    """The cursors one crawl of spider `name` reads and notes (see the module docstring)."""

    def __init__(self, name: str, store: Any = None, *, backfill: bool = False) -> None:
        self.name = name
        self.store = store
        self.backfill = backfill
        self._read: dict[str, dict[str, Any] | None] = {}
        self._noted: dict[str, list[tuple[datetime, str]]] = {}

    def key(self, subkey: str) -> str:
        return f"{self.name}:{subkey}" if subkey else self.name

    def get(self, subkey: str) -> dict[str, Any] | None:
        """The stored cursor of `subkey` (read once per crawl), or None."""
        key = self.key(subkey)
        if key not in self._read:
            self._read[key] = self.store.get_state("cursor", key) if self.store is not None else None
        return self._read[key]

    def should_stop(self, subkey: str, created_at: datetime, record_id: str) -> bool:
        """True when paging should stop here: the item is older than the newest one the last crawl
        saw, or it was seen already. Backfills (since/until given) never stop on the cursor."""
        cursor = None if self.backfill else self.get(subkey)
        if cursor:
            if record_id in set(cursor.get("ids", ())):
                return True
            newest = cursor.get("newest")
            if newest and created_at < parse_time(newest):
                return True
        self._noted.setdefault(self.key(subkey), []).append((created_at, record_id))
        return False

    def save(self) -> None:
        """Merge what this crawl noted into the stored cursors."""
        if self.store is None:
            return
        for key, noted in self._noted.items():
            old = self._read.get(key) or (self.store.get_state("cursor", key) or {})
            noted.sort(key=lambda pair: pair[0], reverse=True)
            ids = list(dict.fromkeys([rid for _, rid in noted] + list(old.get("ids", ()))))[:CURSOR_IDS]
            newest = noted[0][0]
            if old.get("newest"):
                newest = max(newest, parse_time(old["newest"]))
            self.store.put_state("cursor", key, {"newest": newest.isoformat(), "ids": ids,
                                                 "updated_at": datetime.now(UTC).isoformat()})


class CursorsExtension:
    """Scrapy extension: see the module docstring."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.book: Cursors | None = None
        # The spider is built before the extensions: opening the store now, at the start of the
        # crawl, makes a broken store fail the crawl (the runner reports it) before any request.
        keeps_cursors = isinstance(getattr(crawler.spider, "cursors", None), Cursors)
        self.store = crawl_store(crawler) if keeps_cursors else None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> CursorsExtension:
        return cls(crawler)

    def spider_opened(self, spider: Any) -> None:
        book = getattr(spider, "cursors", None)
        if isinstance(book, Cursors):
            if book.store is None:
                book.store = self.store if self.store is not None else crawl_store(self.crawler)
            self.book = book

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.book is not None and reason == "finished" and getattr(spider, "end_state", None) is None:
            self.book.save()
