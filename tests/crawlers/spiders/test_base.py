"""VocSpider contract, crawl settings, the runner's lock and the crawl CLI's arguments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scrapy.exceptions import CloseSpider
from scrapy.http import HtmlResponse, TextResponse

from core.errors import ConfigError
from crawlers.runner import AlreadyRunning, crawl_lock, crawl_target, run_crawl
from crawlers.settings import scrapy_settings
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


def test_cursor_stops_on_seen_or_older_and_saves_on_finish(tmp_path) -> None:
    from indexer.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "s.db")
    try:
        t = datetime(2026, 6, 14, tzinfo=UTC)
        sp = Demo(store=store)
        assert not sp.should_stop("kw", t, "a") and not sp.should_stop("kw", t.replace(hour=2), "b")
        sp.closed("blocked")
        assert store.get_state("cursor", "demo:kw") is None  # a blocked crawl keeps the old cursor
        sp.closed("finished")
        saved = store.get_state("cursor", "demo:kw")
        assert saved["ids"] == ["b", "a"] and saved["newest"] == "2026-06-14T02:00:00+00:00"
        again = Demo(store=store)
        assert again.should_stop("kw", t.replace(hour=5), "b")  # seen id
        assert again.should_stop("kw", t.replace(hour=1), "c")  # older than newest
        assert not again.should_stop("kw", t.replace(hour=3), "d")
        assert not Demo(store=store, since="2026-01-01").should_stop("kw", t, "a")  # backfill
    finally:
        store.close()


@pytest.mark.parametrize("status,body,title", [
    (456, b"", ""), (418, b"", ""), (403, b"", ""),
    (200, b"<html><head><title>Sina Visitor System</title></head></html>", ""),
    (200, "<html><body><div>请输入验证码</div></body></html>".encode(), ""),
])
def test_detect_block(status, body, title) -> None:
    sp = Demo()
    with pytest.raises(CloseSpider) as raised:
        sp.detect_block(HtmlResponse("https://m.example.cn/p", status=status, body=body))
    assert raised.value.reason == "blocked" and sp.end_state[0] == "blocked"


def test_article_about_sms_codes_is_not_a_block() -> None:
    article = "<html><head><title>警惕短信验证码诈骗</title></head><body>" + "正文" * 5000 + "</body></html>"
    sp = Demo()
    sp.detect_block(HtmlResponse("https://news.example.cn/a", body=article.encode()))
    with pytest.raises(CloseSpider) as raised:
        sp.layout_changed(TextResponse("https://m.example.cn/p", body=b"{}"), "no cards")
    assert raised.value.reason == "layout_changed" and sp.end_state == ("layout_changed",
                                                                       "no cards at https://m.example.cn/p")


def test_settings_mapping_and_robots_reason() -> None:
    defaults = {"user_agent": "voc-monitor/0.1", "contact": "ops@bank.cn", "delay": 2}
    out = scrapy_settings({"defaults": defaults},
                          ["江南银行", "江南银行", "江南行"])
    assert out["USER_AGENT"] == "voc-monitor/0.1 (+ops@bank.cn)" and out["ROBOTSTXT_OBEY"] is True
    assert out["DOWNLOAD_DELAY"] == 2.0 and out["AUTOTHROTTLE_ENABLED"] is True
    assert out["VOC_BANK_NAMES"] == ["江南银行", "江南行"] and 429 in out["RETRY_HTTP_CODES"]
    with pytest.raises(ConfigError, match="crawl.weibo.robots_reason"):
        scrapy_settings({"weibo": {"robots": False}}, [])
    with pytest.raises(ConfigError, match="crawl.site.forum.delay"):
        scrapy_settings({"site": {"forum": {"delay": "slow"}}}, [])
    ok = scrapy_settings({"weibo": {"robots": False, "robots_reason": "m.weibo.cn robots.txt disallows /api; "
                                                                     "agreed with legal, 1 req/3 s"}}, [])
    assert ok["VOC_CRAWL_OPTIONS"]["weibo"]["robots"] is False


def test_second_crawl_of_a_source_is_refused(tmp_path) -> None:
    assert crawl_target("site:forum", {}) == ("site", "site:forum", {"profile": "forum"})
    with crawl_lock(tmp_path, "appstore"):
        with pytest.raises(AlreadyRunning, match="already running"):
            run_crawl("appstore", {}, var_dir=tmp_path)
    with crawl_lock(tmp_path, "appstore"):  # released after the first
        pass


def test_cli_arguments() -> None:
    from voc.cli.common import UsageError
    from voc.cli.crawl import spider_args

    assert spider_args(["app_id=1", "q=a=b"]) == {"app_id": "1", "q": "a=b"}
    with pytest.raises(UsageError):
        spider_args(["novalue"])
