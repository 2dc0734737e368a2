"""`tousu`: 黑猫投诉 (tousu.sina.com.cn) complaints — latest feed, keyword search, one company.

    scrapy crawl tousu                          # 最新投诉 feed (optionally filtered, see `match`)
    scrapy crawl tousu -a keyword=江南银行       # keyword search (the site may want a login cookie)
    scrapy crawl tousu -a company=5659894235    # complaints received by one company (its couid)

Options (``[crawl.tousu]``, each overridable with ``-a``): ``keyword``/``keywords`` and
``company``/``companies`` (lists or comma-separated; when neither is given the latest feed is read),
``match`` (feed only: keep complaints whose title, text or company names one of these words — by
default the bank's names; ``*`` keeps all), ``page_size`` (10), ``max_pages`` (default 5; the
site serves ~50), ``delay`` (seconds between requests, never below 2).

Every list call is signed (crawlers/parse/tousu_sign.py) with the current clock. The site bans
crawlers at ~40–50 requests/minute with HTTP 456, so this spider waits at least `MIN_DELAY`
seconds between requests, one at a time, whatever the settings say. HTTP 456/403, a login or
captcha page, or a non-zero ``result.status.code`` end the crawl as ``blocked``; a JSON answer of an
unknown shape as ``layout_changed``. The cookie, when needed, comes only from ``VOC_TOUSU_COOKIE``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response
from scrapy.settings import SETTINGS_PRIORITIES

from core.record import Feedback
from crawlers.parse.page import cookie_dict
from crawlers.parse.tousu import ENDPOINTS, list_params, parse_complaints
from crawlers.parse.tousu_sign import random_rs, signed_query
from crawlers.settings import crawl_secret
from crawlers.spiders.base import VocSpider

MIN_DELAY = 2.0  # seconds; the site's ban threshold is ~40-50 requests a minute


class TousuSpider(VocSpider):
    """黑猫投诉 lists; see the module docstring."""

    name = "tousu"
    default_base = "https://tousu.sina.com.cn"
    source = "tousu"
    kind = "complaint"
    default_max_pages = 5
    json_page_checks = False  # API answers: a JSON body is judged by its status (see VocSpider)

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        """The politeness floor, applied over any priority: ≥ MIN_DELAY between requests, one
        request at a time, and no jitter that could shorten a delay below the floor."""
        super().update_settings(settings)

        def force(name: str, value: Any) -> None:
            priority = max(settings.getpriority(name) or 0, SETTINGS_PRIORITIES["spider"])
            settings.set(name, value, priority=priority)

        delay = max(MIN_DELAY, settings.getfloat("DOWNLOAD_DELAY"))
        force("DOWNLOAD_DELAY", delay)
        force("DOWNLOAD_DELAY_JITTER", min(settings.getfloat("DOWNLOAD_DELAY_JITTER"), 1 - MIN_DELAY / delay))
        force("CONCURRENT_REQUESTS_PER_DOMAIN", 1)
        force("AUTOTHROTTLE_START_DELAY", max(delay, settings.getfloat("AUTOTHROTTLE_START_DELAY")))

    def __init__(self, keyword: str | None = None, company: str | None = None, **kwargs: Any) -> None:
        super().__init__(keyword=keyword, company=company, **kwargs)
        self.keywords = list(dict.fromkeys(self.list_option("keyword") or self.list_option("keywords")))
        self.companies = list(dict.fromkeys(self.list_option("company") or self.list_option("companies")))
        self.page_size = self.int_option("page_size", 10)
        self.match = self.list_option("match")
        self._yielded: set[str] = set()
        # VOC_TOUSU_COOKIE, through the settings (crawlers.settings.crawl_secret); never logged
        jar = cookie_dict(crawl_secret("tousu_cookie"))
        self.cookies: dict[str | bytes, Any] = {k: v for k, v in jar.items()}

    # --- requests -------------------------------------------------------------------------

    def lists(self) -> list[tuple[str, str]]:
        """(mode, value) of every list this crawl reads; the cursor subkey derives from it."""
        wanted = [("search", k) for k in self.keywords] + [("company", c) for c in self.companies]
        return wanted or [("feed", "")]

    def list_request(self, mode: str, value: str, page: int) -> scrapy.Request:
        params = list_params(mode, page=page, page_size=self.page_size,
                             keyword=value if mode == "search" else None,
                             couid=value if mode == "company" else None)
        query = signed_query(params, ts_ms=int(time.time() * 1000), rs=random_rs())
        headers = {"Accept": "application/json, text/javascript, */*; q=0.01",
                   "X-Requested-With": "XMLHttpRequest", "Referer": self.default_base + "/"}
        return scrapy.Request(self.url(f"{ENDPOINTS[mode]}?{urlencode(query)}"), callback=self.parse_list,
                              headers=headers, cookies=self.cookies,
                              cb_kwargs={"mode": mode, "value": value, "page": page})

    async def start(self) -> AsyncIterator[Any]:
        for mode, value in self.lists():
            yield self.list_request(mode, value, 1)

    # --- callbacks ------------------------------------------------------------------------

    def parse_list(self, response: Response, mode: str, value: str, page: int) -> Iterator[Any]:
        what = f"{mode}{'=' + value if value else ''} page={page}"
        result = self.api_page(response, f"tousu {what}",
                               lambda data: parse_complaints(data, self.crawl_time, what=what), "complaint")
        subkey = f"{mode}:{value}" if value else mode
        reached_old = False
        kept = unrelated = 0
        for complaint in result.complaints:
            if self.until is not None and complaint.created_at >= self.until:
                continue
            if self.since is not None and complaint.created_at < self.since:
                reached_old = True
                continue
            if self.cursors.should_stop(subkey, complaint.created_at, complaint.id):
                reached_old = True
                continue
            if complaint.id in self._yielded:
                continue
            if mode == "feed" and not self._matches(complaint):
                unrelated += 1
                continue
            self._yielded.add(complaint.id)
            kept += 1
            yield complaint
        self.page_done(response, kept)
        if unrelated:
            self.logger.info("source=tousu page=%d unrelated=%d (feed items not naming %s)", page, unrelated,
                             "the match words")
        more = bool(result.complaints) and (result.page_count is None or page < result.page_count)
        if more and not reached_old and page < self.max_pages:
            yield self.list_request(mode, value, page + 1)

    def _matches(self, complaint: Feedback) -> bool:
        words = self.match or self.settings_bank_names()
        if not words or words == ["*"]:
            return True
        haystack = " ".join([complaint.title or "", complaint.text, str(complaint.meta.get("cotitle", ""))])
        return any(word in haystack for word in words)

    def settings_bank_names(self) -> list[str]:
        crawler = getattr(self, "crawler", None)
        return list(crawler.settings.getlist("VOC_BANK_NAMES")) if crawler is not None else []
