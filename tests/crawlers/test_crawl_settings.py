"""crawlers/settings.py: [crawl.*] tables to Scrapy settings, checked before any request."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from crawlers.settings import scrapy_settings


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


def test_the_parts_are_registered_in_order() -> None:
    out = scrapy_settings({}, [])
    middlewares = out["DOWNLOADER_MIDDLEWARES"]
    assert middlewares["scrapy.downloadermiddlewares.retry.RetryMiddleware"] is None
    # process_response runs from the highest number down: blocks judge what the retries leave
    assert (middlewares["crawlers.middlewares.blocks.BlockMiddleware"]
            < middlewares["crawlers.middlewares.retry.BackoffRetryMiddleware"])
    cursors, health = (out["EXTENSIONS"][name] for name in ("crawlers.extensions.cursors.CursorsExtension",
                                                           "crawlers.health.CrawlHealth"))
    assert cursors < health  # cursors are saved at spider_closed before CrawlHealth closes the store
