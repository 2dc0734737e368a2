"""`site`: a forum or news list described in settings.toml, crawled without writing code.

    [crawl.site.example_forum]                 # one profile; records get source "site:example_forum"
    start_urls = ["https://bbs.example.com/forum-12-1.html"]
    item = "css:li.thread"                     # required: one element per post
    text = "css:.summary"                      # required: text (an element's HTML is made text later)
    title = "css:a.subject::text"              # optional fields: title, author, time, link, id
    author = "css:.author::text"
    time = "xpath:.//span[@class='date']/text()"
    link = "css:a.subject::attr(href)"
    next = "css:a.next::attr(href)"            # the next page (page-level selector)
    keywords = ["信用卡"]                        # keep items mentioning these or the bank; [] keeps all
    kind = "post"

    scrapy crawl site -a profile=example_forum      (voc crawl site:example_forum)

Selectors are `css:...` or `xpath:...` (plain text means CSS); field selectors apply inside the
item element. Times: ISO, 2026-06-14 12:00, 2026/6/14, 2026年6月14日 12:00, 06-14 12:00, 今天/昨天
12:00, 刚刚, N分钟/小时/天前 (naive = Asia/Shanghai, relative to the crawl time). No item on a page,
or no text in any item, ends the crawl as layout_changed (blocked for a captcha/login page).
Paging stops when every item of a page was seen before (pinned old posts do not stop it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import scrapy
from parsel import Selector, SelectorList
from scrapy.http import Response

from core.record import KINDS, Feedback, RecordError, make_id, parse_time
from crawlers.spiders.base import VocSpider

FIELDS = ("text", "title", "author", "time", "link", "id")
SHANGHAI = ZoneInfo("Asia/Shanghai")
_RELATIVE = re.compile(r"(\d+)\s*(秒|分钟|小时|天)前")
_UNITS = {"秒": "seconds", "分钟": "minutes", "小时": "hours", "天": "days"}
_FULL = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                   r"(?:\s*(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_SHORT = re.compile(r"^(\d{1,2})[-/月](\d{1,2})日?(?:\s+(\d{1,2}):(\d{2}))?$")
_CLOCK = re.compile(r"(今天|昨天|前天)\s*(\d{1,2}):(\d{2})")


def select(node: Selector | Response, query: str) -> SelectorList:
    kind, _, expr = query.partition(":") if query.startswith(("css:", "xpath:")) else ("css", "", query)
    return node.xpath(expr) if kind == "xpath" else node.css(expr)


def site_time(text: str, now: datetime) -> datetime:
    """A forum's date text as UTC; `now` (tz-aware) resolves relative forms. RecordError if unreadable."""
    text = text.strip()
    local = now.astimezone(SHANGHAI)
    if text == "刚刚":
        return now
    if m := _RELATIVE.search(text):
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if m := _CLOCK.search(text):
        back = {"今天": 0, "昨天": 1, "前天": 2}[m.group(1)]
        day = local - timedelta(days=back)
        return parse_time(day.replace(hour=int(m.group(2)), minute=int(m.group(3)), second=0, microsecond=0))
    try:
        return parse_time(text)
    except RecordError:
        pass
    if m := _FULL.search(text):
        y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
        return parse_time(datetime(y, mo, d, h, mi, s))
    if m := _SHORT.match(text):  # no year: this year, unless that is in the future
        mo, d, h, mi = (int(g) if g else 0 for g in m.groups())
        guess = datetime(local.year, mo, d, h, mi, tzinfo=SHANGHAI)
        return parse_time(guess if guess <= local else guess.replace(year=local.year - 1))
    raise RecordError(f"unreadable time {text[:40]!r}")


class SiteSpider(VocSpider):
    name = "site"
    default_base = ""
    source = "site"
    kind = "post"
    default_max_pages = 5

    def select_options(self, table: dict[str, Any]) -> dict[str, Any]:
        profiles = {k: v for k, v in table.items() if isinstance(v, dict)}
        profile = self.arguments.get("profile")
        if not profile and len(profiles) == 1:
            profile = next(iter(profiles))
        if not profile:
            known = ", ".join(profiles) or "none"
            raise ValueError(f"site: say which profile (-a profile=NAME; known: {known})")
        if profile not in profiles:
            raise ValueError(f"site: no profile {profile!r} under [crawl.site] "
                             f"(known: {', '.join(profiles) or 'none'})")
        self.profile = str(profile)
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        return {**scalars, **profiles[profile]}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source = f"site:{self.profile}"
        self.kind = str(self.option("kind", "post"))
        if self.kind not in KINDS:
            raise ValueError(f"crawl.site.{self.profile}.kind: {self.kind!r} not in {KINDS}")
        self.start_urls = self.list_option("start_urls")
        for key in ("item", "text"):
            if not self.option(key):
                raise ValueError(f"crawl.site.{self.profile}.{key}: a selector is required")
        if not self.start_urls:
            raise ValueError(f"crawl.site.{self.profile}.start_urls: at least one URL is required")
        self.keywords = [*self.list_option("keywords"), *self.list_option("bank_names")] \
            if self.list_option("keywords") else []

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        """Per-domain delay/concurrency of each profile's hosts (DOWNLOAD_SLOTS)."""
        super().update_settings(settings)
        site = settings.getdict("VOC_CRAWL_OPTIONS").get("site", {})
        slots = dict(settings.getdict("DOWNLOAD_SLOTS"))
        for profile in (v for v in site.values() if isinstance(v, dict)):
            polite = {k: profile[k] for k in ("delay", "concurrency") if k in profile}
            if polite:
                for url in profile.get("start_urls", []):
                    slots[urlsplit(url).hostname or ""] = polite
        settings.set("DOWNLOAD_SLOTS", slots, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> SiteSpider:
        names = ",".join(crawler.settings.getlist("VOC_BANK_NAMES"))
        spider = super().from_crawler(crawler, *args, bank_names=kwargs.pop("bank_names", names), **kwargs)
        assert isinstance(spider, SiteSpider)  # VocSpider.from_crawler builds cls
        return spider

    @property
    def health_key(self) -> str:
        return self.source

    def record_sources(self) -> list[str]:
        return [self.source]

    async def start(self) -> Any:
        for url in self.start_urls:
            yield scrapy.Request(self.url(url) if self.option("base_url") else url, callback=self.parse,
                                 cb_kwargs={"page": 1})

    def field(self, node: Selector, name: str) -> str:
        query = self.option(name)
        if not query:
            return ""
        parts = [p.strip() for p in select(node, str(query)).getall()]
        return ("\n" if name == "text" else " ").join(p for p in parts if p)

    def parse(self, response: Response, page: int) -> Iterator[Any]:
        nodes = select(response, str(self.option("item")))
        if not nodes:
            self.layout_changed(response, f"item selector {self.option('item')!r} matched nothing")
        values = [{name: self.field(node, name) for name in FIELDS} for node in nodes]
        if not any(v["text"] for v in values):
            self.layout_changed(response, f"text selector {self.option('text')!r} matched nothing "
                                          f"in {len(nodes)} item(s)")
        count = stops = older = 0
        for value in values:
            record = self.record(value, response)
            if record is None:
                continue
            if self.since is not None and record.created_at < self.since:
                older += 1
                continue
            if not self.in_window(record.created_at):
                continue
            if self.cursors.should_stop(self.profile, record.created_at, record.id):
                stops += 1
                continue
            if self.keywords and not any(k in f"{record.title or ''}\n{record.text}" for k in self.keywords):
                continue
            count += 1
            yield record
        self.page_done(response, count)
        next_query = self.option("next")
        if not next_query or page >= self.max_pages or stops + older >= len(values):
            return
        link = select(response, str(next_query)).get()
        if link:
            yield response.follow(link.strip(), callback=self.parse, cb_kwargs={"page": page + 1})

    def record(self, value: dict[str, str], response: Response) -> Feedback | None:
        if not value["text"]:
            self.drop("item without text")
            return None
        created_at = self.crawl_time
        if self.option("time"):
            try:
                created_at = site_time(value["time"], self.crawl_time)
            except RecordError as exc:
                self.logger.warning("source=%s %s", self.source, exc)
                self.drop("unreadable time")
                return None
        link = response.urljoin(value["link"]) if value["link"] else None
        record_id = make_id(self.source, native_id=value["id"] or None, url=link,
                            created_at=created_at, text=value["text"])
        return Feedback(id=record_id, source=self.source, kind=self.kind, text=value["text"],
                        title=value["title"] or None, author=value["author"] or None, url=link,
                        created_at=created_at, fetched_at=self.crawl_time,
                        meta={"profile": self.profile, "page_url": response.url})
