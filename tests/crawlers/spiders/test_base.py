"""VocSpider contract: arguments over settings, endpoints, the time window, end states, the cursor book."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scrapy.exceptions import CloseSpider
from scrapy.http import TextResponse

from crawlers.extensions.cursors import Cursors
from crawlers.spiders.base import VocSpider


class Demo(VocSpider):
    name = "demo"
    default_base = "https://m.example.cn"


def test_arguments_override_settings_and_url_keeps_prefix() -> None:
    sp = Demo(base_url="http://127.0.0.1:8080/mirror/", max_pages="3",
              settings_options={"max_pages": 7, "keyword": "江南银行"}, keyword="江南行")
    assert sp.max_pages == 3 and sp.option("keyword") == "江南行"
    assert sp.url("/api/container/getIndex?page=2") == "http://127.0.0.1:8080/mirror/api/container/getIndex?page=2"
    assert sp.url("https://m.example.cn/x?a=1") == "http://127.0.0.1:8080/mirror/x?a=1"
    assert Demo().url("/a?b=1") == "https://m.example.cn/a?b=1"


def test_window_naive_means_shanghai() -> None:
    sp = Demo(since="2026-06-14", until="2026-06-15T00:00:00Z")
    assert sp.since == datetime(2026, 6, 13, 16, 0, tzinfo=UTC)
    assert sp.in_window(datetime(2026, 6, 13, 16, 0, tzinfo=UTC))
    assert not sp.in_window(datetime(2026, 6, 15, 0, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="max_pages"):
        Demo(max_pages="many")


def test_layout_changed_and_block_end_the_crawl_and_the_first_end_state_wins() -> None:
    sp = Demo()
    with pytest.raises(CloseSpider) as raised:
        sp.layout_changed(TextResponse("https://m.example.cn/p", body=b"{}"), "no cards")
    assert raised.value.reason == "layout_changed" and sp.end_state == ("layout_changed",
                                                                       "no cards at https://m.example.cn/p")
    with pytest.raises(CloseSpider) as raised:
        sp.block("HTTP 456 at https://m.example.cn/q")
    assert raised.value.reason == "blocked" and sp.end_state[0] == "layout_changed"
    fresh = Demo()
    fresh.end_as("blocked", "captcha")  # what the block middleware calls: nothing raised
    assert fresh.end_state == ("blocked", "captcha")
    with pytest.raises(ValueError, match="status must be one of"):
        fresh.end_as("ok", "fine")


def test_a_spider_alone_has_a_cursor_book_without_a_store() -> None:
    t = datetime(2026, 6, 14, tzinfo=UTC)
    sp = Demo()
    assert isinstance(sp.cursors, Cursors) and sp.cursors.store is None and not sp.cursors.backfill
    assert not sp.cursors.should_stop("kw", t, "a") and not sp.cursors.should_stop("kw", t, "a")
    sp.cursors.save()  # no store: nothing to write, no error
    assert Demo(since="2026-01-01").cursors.backfill
