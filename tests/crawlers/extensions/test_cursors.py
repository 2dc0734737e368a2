"""Cursors (crawlers/extensions/cursors.py): the book's semantics over a real SQLite store, the
extension's signals, and real crawls against a local HTTP server (a re-crawl stops at the cursor, a
backfill walks past it, a blocked crawl keeps the old one)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from scrapy import signals
from scrapy.signalmanager import SignalManager
from support.http_server import serve

from crawlers.extensions.cursors import CURSOR_IDS, Cursors, CursorsExtension
from crawlers.spiders.base import VocSpider

T = datetime(2026, 6, 14, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    from indexer.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "s.db")
    yield store
    store.close()


def test_cursor_stops_on_seen_or_older_and_saves(store) -> None:
    book = Cursors("demo", store)
    assert not book.should_stop("kw", T, "a") and not book.should_stop("kw", T.replace(hour=2), "b")
    assert store.get_state("cursor", "demo:kw") is None  # nothing written before save()
    book.save()
    saved = store.get_state("cursor", "demo:kw")
    assert saved["ids"] == ["b", "a"] and saved["newest"] == "2026-06-14T02:00:00+00:00"
    again = Cursors("demo", store)
    assert again.should_stop("kw", T.replace(hour=5), "b")  # seen id
    assert again.should_stop("kw", T.replace(hour=1), "c")  # older than newest
    assert not again.should_stop("kw", T.replace(hour=3), "d")
    assert not Cursors("demo", store, backfill=True).should_stop("kw", T, "a")  # backfill
    again.save()  # merged: the new id first, the newest time kept
    merged = store.get_state("cursor", "demo:kw")
    assert merged["ids"] == ["d", "b", "a"] and merged["newest"] == "2026-06-14T03:00:00+00:00"
    assert Cursors("demo").key("") == "demo" and Cursors("demo").key("x:cn") == "demo:x:cn"


def test_a_cursor_keeps_the_newest_ids_only(store) -> None:
    book = Cursors("demo", store)
    for i in range(CURSOR_IDS + 50):
        book.should_stop("", T.replace(minute=i % 60, second=i // 60), f"id{i}")
    book.save()
    ids = store.get_state("cursor", "demo")["ids"]
    assert len(ids) == CURSOR_IDS and ids[0] == "id239"  # 239 = 59 min 3 s, the newest


class Demo(VocSpider):
    name = "demo"


def crawl_with(spider: VocSpider, store, reason: str) -> dict | None:
    """The extension's life in one crawl: built, spider opened, one item noted, spider closed."""
    crawler = SimpleNamespace(spider=spider, signals=SignalManager(), _voc_store=store)
    extension = CursorsExtension(crawler)  # crawl_store(crawler) finds the crawl's store on the crawler
    crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
    assert spider.cursors.store is store
    spider.cursors.should_stop("kw", T, "a")
    crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason=reason)
    assert extension.book is spider.cursors  # (signals hold handlers weakly: keep the extension)
    return store.get_state("cursor", "demo:kw")


def test_the_extension_saves_only_a_finished_crawl_with_no_end_state(store) -> None:
    assert crawl_with(Demo(), store, "shutdown") is None  # interrupted
    blocked = Demo()
    blocked.end_as("blocked", "HTTP 456")
    assert crawl_with(blocked, store, "blocked") is None
    ended = Demo()
    ended.end_as("layout_changed", "no cards")
    assert crawl_with(ended, store, "finished") is None  # an end state, even at a "finished" close
    assert crawl_with(Demo(), store, "finished")["ids"] == ["a"]


# --- real crawls -------------------------------------------------------------------------------

JSON = {"Content-Type": "application/json; charset=utf-8"}
APP = "1234567890"


def review(n: int, day: int) -> dict:
    return {"id": {"label": str(9000 + n)}, "im:rating": {"label": "2"}, "title": {"label": f"标题{n}"},
            "content": {"label": f"江南银行手机银行第{n}次转账失败"},
            "author": {"name": {"label": f"用户{n}"}},
            "updated": {"label": f"2026-06-{day:02d}T08:00:00-07:00"}}


def page(*entries: dict) -> bytes:
    return json.dumps({"feed": {"updated": {"label": "2026-06-20T09:00:00-07:00"}, "entry": list(entries)}},
                      ensure_ascii=False).encode()


def path(n: int) -> str:
    return f"/cn/rss/customerreviews/page={n}/id={APP}/sortby=mostrecent/json"


def test_recrawl_stops_at_the_cursor_backfill_walks_past_it_and_a_block_keeps_it(crawl) -> None:
    routes = {path(1): (200, JSON, page(review(1, 14), review(2, 13))),
              path(2): (200, JSON, page(review(3, 12))), path(3): (200, JSON, page())}
    args = {"app_id": APP}
    with serve(routes) as (base, log):
        first = crawl("appstore", {**args, "base_url": base})
        # (a plain re-crawl stopping at page 1 is tests/crawlers/spiders/test_appstore.py's)
        backfill = crawl("appstore", {**args, "base_url": base, "since": "2026-06-01"})
    assert (first.status, first.count("new"), first.count("pages")) == ("ok", 3, 3), first.to_dict()
    # a backfill never stops on the cursor: every page again, nothing new
    assert (backfill.status, backfill.count("pages"), backfill.count("items"), backfill.count("new")) == \
        ("ok", 3, 3, 0), backfill.to_dict()
    assert [s.path for s in log].count(path(2)) == 2
    store = crawl.store()
    try:
        cursor = store.get_state("cursor", f"appstore:{APP}:cn")
        assert cursor["ids"] == ["9001", "9002", "9003"] and cursor["newest"] == "2026-06-14T15:00:00+00:00"
    finally:
        store.close()

    newer = {path(1): (200, JSON, page(review(4, 15), review(1, 14))),
             path(2): (456, {"Content-Type": "text/html"}, b"<html>banned</html>")}
    with serve(newer) as (base, _log):
        blocked = crawl("appstore", {**args, "base_url": base, "since": "2026-06-01"})
    assert blocked.status == "blocked" and blocked.count("new") == 1, blocked.to_dict()
    store = crawl.store()
    try:  # the blocked crawl saw review 4 but did not move the cursor
        assert store.get_state("cursor", f"appstore:{APP}:cn") == cursor
    finally:
        store.close()
