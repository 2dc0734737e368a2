"""`rss`: news feeds (RSS 2.0, RSS 1.0/RDF, Atom) kept when they mention the bank or its products.

    scrapy crawl rss                         every feed in [crawl.rss.feeds] (name = URL)
    scrapy crawl rss -a feed=chinanews       one named feed
    scrapy crawl rss -a feed_url=https://example.com/f.xml [-a feed_name=example] [-a keyword=信用卡]

Records get source `rss:<feed name>`, kind "news"; the id comes from the item's guid/id, else its
link. Kept items mention the bank's name or an alias (VOC_BANK_NAMES) or one of `keywords`
(settings, or `-a keyword=a,b`). Encodings: lxml reads the XML declaration from the bytes; feeds
declaring GB2312/GBK are decoded as GB18030 (its superset: real "GB2312" feeds hold GBK-only
characters that a strict GB2312 decoder rejects). A response that is not a feed ends the crawl as
layout_changed (or blocked, for a captcha/login page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from lxml import etree
from scrapy.http import Response

from core.record import Feedback, RecordError, make_id, parse_time
from crawlers.spiders.base import VocSpider

_DECLARED = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9_.:-]+)[\"']", re.I)
GB_NAMES = {"gb2312", "gbk", "gb_2312-80", "x-gbk", "cp936", "gb18030", "csgb2312"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)


def parse_feed(body: bytes) -> etree._Element:
    """The feed's root element, decoded as the XML declaration says (GB family via GB18030)."""
    declared = _DECLARED.match(body)
    if declared and declared.group(1).decode("ascii").lower() in GB_NAMES:
        text = body.decode("gb18030", errors="replace")
        body = _DECLARED.sub(b'<?xml version="1.0" encoding="utf-8"', text.encode("utf-8"), count=1)
    root = etree.fromstring(body, parser=_PARSER)
    if root is None:
        raise ValueError("empty or unparseable XML")
    return root


def _local(node: etree._Element, name: str) -> etree._Element | None:
    found = node.xpath(f"./*[local-name()='{name}']")
    return found[0] if found else None


def _text(node: etree._Element, *names: str) -> str:
    for name in names:
        child = _local(node, name)
        if child is not None:
            text = "".join(child.itertext()).strip()
            if text:
                return text
    return ""


def feed_items(root: etree._Element) -> list[dict[str, str]] | None:
    """Plain dicts (title, link, text, time, guid, author) for each item; None if not a feed."""
    tag = etree.QName(root).localname.lower()
    if tag == "feed":  # Atom
        nodes = root.xpath("./*[local-name()='entry']")
    elif tag in ("rss", "rdf"):
        nodes = root.xpath(".//*[local-name()='item']")
    else:
        return None
    items = []
    for node in nodes:
        link = _text(node, "link")
        if not link:  # Atom: <link rel="alternate" href="..."/>
            hrefs = node.xpath("./*[local-name()='link'][not(@rel) or @rel='alternate']/@href")
            link = hrefs[0] if hrefs else ""
        author = _text(node, "creator", "author")
        atom_author = _local(node, "author")
        if atom_author is not None and _text(atom_author, "name"):
            author = _text(atom_author, "name")
        items.append({"title": _text(node, "title"), "link": link.strip(),
                      "text": _text(node, "description", "summary", "content", "encoded"),
                      "time": _text(node, "pubDate", "published", "updated", "date", "issued"),
                      "guid": _text(node, "guid", "id"), "author": author})
    return items


def item_time(value: str) -> Any:
    """RFC 822 (RSS) or ISO 8601 (Atom, dc:date) as UTC; RecordError when neither."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return parse_time(value)
    return parse_time(parsed)


class RssSpider(VocSpider):
    name = "rss"
    default_base = ""
    source = "rss"
    kind = "news"
    default_max_pages = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feeds = self._feeds()
        self.keywords = [k for k in [*self.list_option("keyword"), *self.list_option("keywords"),
                                     *self.list_option("bank_names")] if k]
        self.skipped = 0

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> RssSpider:
        names = ",".join(crawler.settings.getlist("VOC_BANK_NAMES"))
        spider = super().from_crawler(crawler, *args, bank_names=kwargs.pop("bank_names", names), **kwargs)
        assert isinstance(spider, RssSpider)  # VocSpider.from_crawler builds cls
        return spider

    def _feeds(self) -> dict[str, str]:
        if self.option("feed_url"):
            url = str(self.option("feed_url"))
            return {str(self.option("feed_name") or urlsplit(url).hostname or "feed"): url}
        configured = self.option("feeds") or {}
        if isinstance(configured, list | tuple):  # a bare list of URLs: name them by host
            configured = {urlsplit(u).hostname or f"feed{i}": u for i, u in enumerate(configured)}
        configured = {str(k): str(v) for k, v in dict(configured).items()}
        wanted = self.list_option("feed")
        unknown = [name for name in wanted if name not in configured]
        if unknown:
            raise ValueError(f"rss: feed {unknown[0]!r} is not in [crawl.rss.feeds] "
                             f"(known: {', '.join(configured) or 'none'})")
        feeds = {name: configured[name] for name in wanted} if wanted else configured
        if not feeds:
            raise ValueError("rss: no feeds (add name = URL under [crawl.rss.feeds] or pass -a feed_url=...)")
        return feeds

    def record_sources(self) -> list[str]:
        return [f"rss:{name}" for name in self.feeds]

    async def start(self) -> Any:
        for name, url in self.feeds.items():
            target = self.url(url) if self.option("base_url") else url
            yield scrapy.Request(target, callback=self.parse, cb_kwargs={"feed": name})

    def wanted(self, item: dict[str, str]) -> bool:
        if not self.keywords:
            return True
        blob = f"{item['title']}\n{item['text']}"
        return any(keyword in blob for keyword in self.keywords)

    def parse(self, response: Response, feed: str) -> Iterator[Feedback]:
        try:
            items = feed_items(parse_feed(response.body))
        except (etree.XMLSyntaxError, ValueError):
            items = None
        if items is None:
            self.layout_changed(response, f"feed {feed} is not RSS/Atom")
        source = f"rss:{feed}"
        count = 0
        for item in items:
            if not self.wanted(item):
                self.skipped += 1
                continue
            record = self.record(item, source)
            if record is None or not self.in_window(record.created_at):
                continue
            if not self.backfill and self.cursors.should_stop(feed, record.created_at, record.id):
                continue  # feeds are not reliably sorted: skip what was seen, keep looking
            count += 1
            yield record
        self.logger.info("source=%s items=%d skipped_no_keyword=%d", source, count, self.skipped)
        self.page_done(response, count)

    def record(self, item: dict[str, str], source: str) -> Feedback | None:
        time_from = "item"
        try:
            created_at = item_time(item["time"]) if item["time"] else None
        except RecordError:
            created_at = None
            time_from = "unreadable"
        if created_at is None:
            created_at, time_from = self.crawl_time, time_from if time_from != "item" else "crawl"
        text = item["text"] or item["title"]
        if not text:
            self.drop("feed item without title or text")
            return None
        native = item["guid"] or None
        record_id = make_id(source, native_id=native, url=item["link"] or None,
                            created_at=created_at, text=text)
        return Feedback(id=record_id, source=source, kind=self.kind, text=text, title=item["title"] or None,
                        url=item["link"] or None, author=item["author"] or None, created_at=created_at,
                        fetched_at=self.crawl_time, meta={"feed": source[4:], "time_from": time_from,
                                                          "guid": item["guid"]})
