"""`VocSpider`: the base every voc spider extends — arguments, endpoints, time window, end states.

Spiders only parse: block detection is the block middleware's (crawlers/middlewares/blocks.py, on
every response before a callback sees it) and cursor bookkeeping the cursors extension's
(crawlers/extensions/cursors.py); retries with backoff are crawlers/middlewares/retry.py's.

Contract (weibo.py, tousu.py, appstore.py, rss.py and site.py rely on it; keep it stable):

- Class attributes: `name`, `default_base` (scheme + host of the default endpoints), `source` (the
  record source; a spider may set another per item, e.g. ``rss:<feed>``), `kind` (record kind),
  `default_max_pages`.
- ``__init__(base_url=None, since=None, until=None, max_pages=None, **kwargs)``: every ``-a`` argument
  arrives as a string. ``self.options`` is the spider's ``[crawl.<name>]`` table (plus
  ``[crawl.defaults]``) with the ``-a`` arguments merged over it (``-a`` wins). `from_crawler` reads
  the tables from the Scrapy setting ``VOC_CRAWL_OPTIONS`` (spider name -> options dict, set by
  crawlers/settings.py); ``__init__`` also takes ``settings_options=`` so a spider can be built without
  a crawler in tests.
- ``self.base_url`` (default_base unless given), ``self.since`` / ``self.until`` (tz-aware UTC or None;
  naive text means Asia/Shanghai), ``self.max_pages`` (int), ``self.crawl_time`` (tz-aware UTC start
  of the crawl, ``-a crawl_time=`` for tests; resolves relative times such as 5分钟前).
- ``self.url(path_and_query)``: the default endpoint with scheme + host replaced by base_url (a
  base_url with a path prefix keeps the prefix).
- ``self.in_window(dt)``: since <= dt < until. ``self.backfill``: since or until was given.
- Cursors (store namespace "cursor", key ``<name>:<subkey>``): ``self.cursors.should_stop(subkey,
  created_at, record_id)`` is True for an item older than the cursor's newest or already seen
  (never in a backfill); when False the item is noted for the cursor. ``self.cursors`` is a
  `crawlers.extensions.cursors.Cursors`; the cursors extension gives it the crawl's store and saves
  it when the crawl ends "finished" (a blocked crawl keeps the old cursor).
- End states: ``self.end_as(status, reason)`` remembers ``self.end_state`` (the first one wins) and
  logs it; ``self.block(reason, status="blocked")`` does so and raises ``CloseSpider("blocked" |
  "layout_changed")``; ``self.layout_changed(response, what)`` for selectors that matched nothing.
  A ban status (HTTP 403/418/429/456) or a captcha or login page never reaches a callback: the
  block middleware ends the crawl as blocked (``json_page_checks = False``: a JSON body is judged
  by its status only). crawlers/health.py turns the end state into the "crawl_health" document —
  never "0 new items".
- ``self.drop(reason)`` counts an item the spider could not make into a record;
  ``self.page_done(response, items)`` counts a page and logs ``source=x page=n items=m``.
- Items: spiders yield `core.record.Feedback` (id from ``make_id(source, native_id=...)``);
  crawlers/pipelines.py batches them into voc.pipeline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response

from core.record import RecordError, parse_time
from crawlers.extensions.cursors import Cursors
from crawlers.parse.errors import PageError
from crawlers.parse.page import load_json

END_STATES = ("blocked", "layout_changed")


class VocSpider(scrapy.Spider):
    """Base of every voc spider; see the module docstring for the contract."""

    name = ""
    default_base = ""
    source = ""
    kind = "post"
    default_max_pages = 10
    # False: the block middleware judges a JSON body by its HTTP status only (the spider reads
    # refusals inside the JSON, and a post may well quote "请输入验证码")
    json_page_checks = True

    def __init__(self, base_url: str | None = None, since: str | None = None, until: str | None = None,
                 max_pages: str | int | None = None, *, settings_options: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        given = {"base_url": base_url, "since": since, "until": until, "max_pages": max_pages, **kwargs}
        self.arguments = {k: v for k, v in given.items() if v is not None}  # the -a arguments
        self.options: dict[str, Any] = self.select_options(dict(settings_options or {}))
        self.options.update(self.arguments)
        self.base_url = str(self.options.get("base_url") or self.default_base).rstrip("/")
        self.since = self._time_option("since")
        self.until = self._time_option("until")
        if self.since and self.until and self.since >= self.until:
            raise ValueError(f"since {self.since.isoformat()} is not before until {self.until.isoformat()}")
        self.max_pages = self.int_option("max_pages", self.default_max_pages)
        self.crawl_time = self._time_option("crawl_time") or datetime.now(UTC)
        self.end_state: tuple[str, str] | None = None
        self.dropped: Counter[str] = Counter()
        self.pages = 0
        # no store until the cursors extension gives it the crawl's (a spider alone reads none)
        self.cursors = Cursors(self.name, backfill=self.backfill)

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        """Politeness from this spider's table: delay, concurrency, robots.txt (validated by
        crawlers/settings.py). Command-line `-s` settings still win (higher priority)."""
        super().update_settings(settings)
        tables = settings.getdict("VOC_CRAWL_OPTIONS")
        table = {**dict(tables.get("defaults", {})), **dict(tables.get(cls.name, {}))}
        if "delay" in table:
            delay = float(table["delay"])
            settings.set("DOWNLOAD_DELAY", delay, priority="spider")
            settings.set("AUTOTHROTTLE_START_DELAY", max(delay, 1.0), priority="spider")
        if "concurrency" in table:
            settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", int(table["concurrency"]), priority="spider")
        if table.get("robots") is False:  # crawlers/settings.py refused it without a robots_reason
            settings.set("ROBOTSTXT_OBEY", False, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> VocSpider:
        tables = crawler.settings.getdict("VOC_CRAWL_OPTIONS")
        merged = {**dict(tables.get("defaults", {})), **dict(tables.get(cls.name, {}))}
        return super().from_crawler(crawler, *args, settings_options=merged, **kwargs)

    # --- options --------------------------------------------------------------------------

    def select_options(self, table: dict[str, Any]) -> dict[str, Any]:
        """The settings options this crawl uses (a hook: the site spider picks its profile)."""
        return table

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def int_option(self, key: str, default: int) -> int:
        value = self.options.get(key, default)
        try:
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.name}: option {key} must be an integer, got {value!r}") from exc
        if number < 1:
            raise ValueError(f"{self.name}: option {key} must be >= 1, got {number}")
        return number

    def list_option(self, key: str) -> list[str]:
        """A list from settings, or a comma-separated -a value."""
        value = self.options.get(key)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return [str(part) for part in value]

    def _time_option(self, key: str) -> datetime | None:
        value = self.options.get(key)
        if value in (None, ""):
            return None
        try:
            return parse_time(value)
        except RecordError as exc:
            raise ValueError(f"{self.name}: option {key}: {exc}") from exc

    # --- endpoints and window -------------------------------------------------------------

    def url(self, path_and_query: str) -> str:
        """`default_base + path_and_query`, or a full default URL, with scheme + host taken from
        base_url (a base_url path prefix is kept in front of the path)."""
        target = urlsplit(path_and_query if "://" in path_and_query else self.default_base + path_and_query)
        base = urlsplit(self.base_url)
        return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + target.path,
                           target.query, ""))

    @property
    def backfill(self) -> bool:
        return self.since is not None or self.until is not None

    def in_window(self, dt: datetime) -> bool:
        return (self.since is None or dt >= self.since) and (self.until is None or dt < self.until)

    # --- end states and layout --------------------------------------------------------------

    def end_as(self, status: str, reason: str) -> None:
        """Remember how the crawl ends (the first end state wins) and log it; stops nothing."""
        if status not in END_STATES:
            raise ValueError(f"status must be one of {END_STATES}, got {status!r}")
        if self.end_state is None:
            self.end_state = (status, reason)
        self.logger.warning("source=%s status=%s reason=%s", self.name, status, reason)

    def block(self, reason: str, status: str = "blocked") -> NoReturn:
        """End the crawl from a callback: `end_as`, then CloseSpider(status)."""
        self.end_as(status, reason)
        raise CloseSpider(status)

    def api_json(self, response: Response, what: str) -> Any:
        """A JSON API body decoded, or the crawl ends: a non-JSON refusal page is `blocked`, other
        non-JSON is `layout_changed` (ban statuses and captcha/login pages never get here: the
        block middleware stopped them)."""
        try:
            return load_json(response.body, what)
        except PageError as exc:
            self.block(exc.reason, exc.status)

    def api_page(self, response: Response, what: str, parse: Callable[[Any], Any], item: str) -> Any:
        """An API page decoded and read by `parse` (a crawlers.parse function returning a result
        with `.errors`): a refusal inside the JSON ends the crawl as blocked; each entry that could
        not be read is logged and counted as dropped (`item unreadable: ...`); the result is
        returned."""
        data = self.api_json(response, what)
        try:
            result = parse(data)
        except PageError as exc:
            self.block(exc.reason, exc.status)
        for where, error in result.errors:
            self.logger.info("source=%s unreadable %s %s: %s", self.name, what, where, error)
            self.drop(f"{item} unreadable: {error}")
        return result

    def layout_changed(self, response: Response, what: str) -> NoReturn:
        """Nothing matched where data was expected: the site changed (a block page would have been
        stopped by the block middleware before the callback)."""
        self.block(f"{what} at {response.url}", status="layout_changed")

    # --- counting --------------------------------------------------------------------------

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1
        self.logger.warning("source=%s dropped reason=%s", self.name, reason)

    def page_done(self, response: Response, items: int) -> None:
        self.pages += 1
        self.logger.info("source=%s page=%d items=%d url=%s", self.name, self.pages, items, response.url)

    @property
    def health_key(self) -> str:
        """The crawl_health key (and lock name): the spider name; site spiders add the profile."""
        return self.name

    def record_sources(self) -> list[str]:
        """Record sources this crawl yields (for crawl_health)."""
        return [self.source]
