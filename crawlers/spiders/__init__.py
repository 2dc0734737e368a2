"""The spiders, registered by name in `SPIDERS`; `RegistryLoader` is Scrapy's spider loader over it.

An explicit map instead of Scrapy's module walking: `scrapy list` shows exactly these, and a spider
module is imported only when its spider runs (one broken module cannot stop the others).

    scrapy list                       appstore rss site tousu weibo
    scrapy crawl appstore -a app_id=1234567890 -a country=cn
"""

from __future__ import annotations

import builtins
import importlib
from typing import Any

from scrapy import Spider

SPIDERS: dict[str, str] = {
    "appstore": "crawlers.spiders.appstore:AppStoreSpider",
    "rss": "crawlers.spiders.rss:RssSpider",
    "site": "crawlers.spiders.site:SiteSpider",
    "tousu": "crawlers.spiders.tousu:TousuSpider",
    "weibo": "crawlers.spiders.weibo:WeiboSpider",
}


def spider_class(name: str) -> type[Spider]:
    """The spider class registered as `name`; KeyError when there is none."""
    module, _, attr = SPIDERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


class RegistryLoader:
    """Scrapy SPIDER_LOADER_CLASS reading `SPIDERS`."""

    def __init__(self, names: list[str]) -> None:
        self._names = names

    @classmethod
    def from_settings(cls, settings: Any) -> RegistryLoader:
        return cls(sorted(SPIDERS))

    def load(self, spider_name: str) -> type[Spider]:
        if spider_name not in SPIDERS:
            raise KeyError(f"Spider not found: {spider_name} (known: {', '.join(self._names)})")
        return spider_class(spider_name)

    def list(self) -> builtins.list[str]:  # Scrapy's SpiderLoader API names this method `list`
        return list(self._names)

    def find_by_request(self, request: Any) -> builtins.list[str]:
        return [name for name in self._names if self.load(name).handles_request(request)]
