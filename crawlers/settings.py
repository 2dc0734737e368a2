"""Scrapy settings for the voc crawlers, made from settings.toml (`scrapy.cfg` points here).

Read once at import: `core.settings.load_settings()` (so `VOC_SETTINGS` and `VOC_CRAWL__...` overrides
apply), then `scrapy_settings()` maps the `[crawl.*]` tables to Scrapy's names:

    [crawl.defaults]  user_agent, contact  -> USER_AGENT "voc-monitor/0.1 (+contact)"
                      robots (true)        -> ROBOTSTXT_OBEY; false only with robots_reason = "why"
                      delay, concurrency   -> DOWNLOAD_DELAY, CONCURRENT_REQUESTS_PER_DOMAIN
                      autothrottle (true)  -> AUTOTHROTTLE_ENABLED (DOWNLOAD_DELAY stays the minimum)
                      retry_times, backoff -> RETRY_TIMES, VOC_RETRY_BACKOFF (429/5xx, exponential:
                                              crawlers/middlewares/retry.py)
                      batch_size           -> VOC_BATCH_SIZE (records per voc.pipeline run)
    [crawl.<spider>]  the same politeness keys for one spider (VocSpider.update_settings applies
                      them) plus the spider's own options, passed whole as VOC_CRAWL_OPTIONS.

Everything is checked here so a bad table stops the crawl with the key named, before any request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError
from core.settings import load_settings

DEFAULT_AGENT = "voc-monitor/0.1"
POLITENESS_NUMBERS = {"delay": float, "concurrency": int, "retry_times": int, "backoff": float,
                      "batch_size": int}


def plain(value: Any) -> Any:
    """Frozen settings (MappingProxyType, tuples) as dicts and lists: Scrapy copies its settings."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    return value


def check_table(key: str, table: Mapping[str, Any]) -> None:
    """Politeness keys of one [crawl.*] table (site profiles included); ConfigError names the key."""
    for name, kind in POLITENESS_NUMBERS.items():
        if name in table:
            value = table[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (
                    kind is int and (not isinstance(value, int) or value < 1)):
                wanted = "a positive integer" if kind is int else "a number >= 0"
                raise ConfigError(f"{key}.{name}: must be {wanted}, got {value!r}", key=f"{key}.{name}")
    if "robots" in table:
        if not isinstance(table["robots"], bool):
            raise ConfigError(f"{key}.robots: must be true or false", key=f"{key}.robots")
        reason = table.get("robots_reason", "")
        if table["robots"] is False and (not isinstance(reason, str) or not reason.strip()):
            raise ConfigError(f"{key}.robots = false needs {key}.robots_reason: say why this source's "
                              "robots.txt is not obeyed", key=f"{key}.robots_reason")


def scrapy_settings(crawl: Mapping[str, Mapping[str, Any]], bank_names: list[str],
                    timezone: str = "Asia/Shanghai") -> dict[str, Any]:
    """Scrapy settings (uppercase names) from the [crawl.*] tables and the bank's names."""
    tables = plain(crawl)
    for name, table in tables.items():
        check_table(f"crawl.{name}", table)
        for sub, profile in table.items():
            if isinstance(profile, dict) and sub != "feeds":  # site profiles
                check_table(f"crawl.{name}.{sub}", profile)
    defaults = tables.get("defaults", {})
    agent = str(defaults.get("user_agent") or DEFAULT_AGENT)
    contact = str(defaults.get("contact") or "")
    delay = float(defaults.get("delay", 1.0))
    return {
        "BOT_NAME": "voc-monitor",
        "SPIDER_LOADER_CLASS": "crawlers.spiders.RegistryLoader",
        "NEWSPIDER_MODULE": "crawlers.spiders",
        "USER_AGENT": f"{agent} (+{contact})" if contact else agent,
        "ROBOTSTXT_OBEY": defaults.get("robots", True),
        "DOWNLOAD_DELAY": delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": int(defaults.get("concurrency", 1)),
        "CONCURRENT_REQUESTS": 8,
        "AUTOTHROTTLE_ENABLED": bool(defaults.get("autothrottle", True)),
        "AUTOTHROTTLE_START_DELAY": max(delay, 1.0),
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": int(defaults.get("retry_times", 3)),
        "RETRY_HTTP_CODES": [429, 500, 502, 503, 504, 522, 524, 408],
        "VOC_RETRY_BACKOFF": float(defaults.get("backoff", 2.0)),
        "VOC_RETRY_BACKOFF_MAX": 120.0,
        # process_response runs from the highest number down: the block middleware sees what the
        # retries (550) and redirects (600) leave, before any callback
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "crawlers.middlewares.retry.BackoffRetryMiddleware": 550,
            "crawlers.middlewares.blocks.BlockMiddleware": 540,
        },
        "ITEM_PIPELINES": {"crawlers.pipelines.FeedbackPipeline": 300},
        # what builds the record pipeline for a crawl's store: the application's, named as a
        # setting (like ITEM_PIPELINES) so this package never imports it
        "VOC_PIPELINE_FACTORY": "voc.pipeline.crawl_pipeline",
        # lower numbers connect first, so at spider_closed the cursors are saved before
        # CrawlHealth writes the health document and closes the crawl's store
        "EXTENSIONS": {"crawlers.extensions.cursors.CursorsExtension": 400,
                       "crawlers.health.CrawlHealth": 500,
                       "scrapy.extensions.telnet.TelnetConsole": None},
        "VOC_CRAWL_OPTIONS": tables,
        "VOC_BANK_NAMES": [n for n in dict.fromkeys(bank_names) if n],
        "VOC_TIMEZONE": timezone,
        "VOC_BATCH_SIZE": int(defaults.get("batch_size", 100)),
        "DOWNLOAD_TIMEOUT": 30,
        "COOKIES_ENABLED": True,
        "REMOTE_CONTROL_ENABLED": False,  # a crawl opens no control port
        "LOG_LEVEL": "INFO",
        "FEED_EXPORT_ENCODING": "utf-8",
    }


def crawl_secret(name: str) -> str | None:
    """A secret a spider sends (its log-in cookie), from the settings' secrets: read from the
    environment once by the schema, never put in the Scrapy settings (Scrapy logs those)."""
    return _voc.secrets.value(name)


_voc = load_settings()
globals().update(scrapy_settings(_voc.crawl, [_voc.bank.name, *_voc.bank.aliases], _voc.app.timezone))
