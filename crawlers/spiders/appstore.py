"""`appstore`: App Store customer reviews of the bank's apps (Apple's customer-reviews RSS JSON).

    scrapy crawl appstore [-a app_id=1234567890] [-a country=cn] [-a max_pages=3]

Endpoint `{base}/{cc}/rss/customerreviews/page={n}/id={app_id}/sortby=mostrecent/json`, 50 reviews
a page, at most 10 pages (page 11 answers a plain-text error, which ends paging quietly). Past the
last page the feed has no `entry`; a single review comes as an object, not a list; entries without
`im:rating` are app metadata and skipped. Rating, version, title and votes are kept. Entries of
older feeds carry no time of their own: the feed's `updated` stands in (meta.time_from = "feed").
Paging stops at a review the last crawl saw (cursor `appstore:<app_id>:<cc>`) or before `since`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from core.record import Feedback, RecordError, make_id, parse_time
from crawlers.spiders.base import VocSpider

PAGE_LIMIT = 10  # Apple serves no deeper page
DEPTH_ERROR = "page depth is limited"


def label(node: Any, *path: str) -> str | None:
    """node[path...]["label"] as text, or None (the feed nests every value as {"label": ...})."""
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    if isinstance(node, dict):
        node = node.get("label")
    return None if node is None else str(node)


def feed_entries(feed: dict[str, Any]) -> list[dict[str, Any]]:
    """The review entries of one page: a lone object becomes a list; app metadata is left out."""
    entries = feed.get("entry")
    if entries is None:
        return []
    if isinstance(entries, dict):
        entries = [entries]
    return [e for e in entries if isinstance(e, dict) and "im:rating" in e]


class AppStoreSpider(VocSpider):
    name = "appstore"
    default_base = "https://itunes.apple.com"
    source = "appstore"
    kind = "review"
    default_max_pages = PAGE_LIMIT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_pages = min(self.max_pages, PAGE_LIMIT)
        self.app_ids = self.list_option("app_id") or self.list_option("app_ids")
        self.countries = self.list_option("country") or self.list_option("countries") or ["cn"]
        if not self.app_ids:
            raise ValueError("appstore: no app ids (set [crawl.appstore] app_ids or -a app_id=...)")

    def page_url(self, app_id: str, country: str, page: int) -> str:
        return self.url(f"/{country}/rss/customerreviews/page={page}/id={app_id}/sortby=mostrecent/json")

    async def start(self) -> Any:
        for app_id in self.app_ids:
            for country in self.countries:
                yield scrapy.Request(self.page_url(app_id, country, 1), callback=self.parse,
                                     cb_kwargs={"app_id": app_id, "country": country, "page": 1})

    def parse(self, response: Response, app_id: str, country: str, page: int) -> Iterator[Any]:
        text = response.text.strip()
        if DEPTH_ERROR in text[:200]:
            self.logger.info("source=appstore app=%s cc=%s page=%d end=depth_limit", app_id, country, page)
            return
        try:
            feed = json.loads(text)["feed"]
        except (ValueError, KeyError, TypeError):
            self.layout_changed(response, "not a customer-reviews feed (no JSON 'feed')")
        entries = feed_entries(feed)
        stopped = False
        count = 0
        for entry in entries:
            record = self.review(entry, feed, app_id, country)
            if record is None:
                continue
            if self.until is not None and record.created_at >= self.until:
                continue
            if (self.since is not None and record.created_at < self.since) or self.cursors.should_stop(
                    f"{app_id}:{country}", record.created_at, record.meta["review_id"]):
                stopped = True
                break
            count += 1
            yield record
        self.page_done(response, count)
        if entries and not stopped and page < self.max_pages:
            yield scrapy.Request(self.page_url(app_id, country, page + 1), callback=self.parse,
                                 cb_kwargs={"app_id": app_id, "country": country, "page": page + 1})

    def review(self, entry: dict[str, Any], feed: dict[str, Any], app_id: str,
               country: str) -> Feedback | None:
        review_id = label(entry, "id")
        if not review_id:
            self.drop("review without id")
            return None
        when, time_from = label(entry, "updated"), "entry"
        if not when:
            when, time_from = label(feed, "updated"), "feed"
        try:
            created_at = parse_time(when) if when else self.crawl_time
        except RecordError:
            self.drop("review with an unreadable time")
            return None
        link = entry.get("link")
        href = link.get("attributes", {}).get("href") if isinstance(link, dict) else None
        try:
            rating = float(label(entry, "im:rating") or "")
        except ValueError:
            rating = None
        return Feedback(
            id=make_id(self.source, native_id=review_id), source=self.source, kind=self.kind,
            text=label(entry, "content") or "", title=label(entry, "title"),
            author=label(entry, "author", "name"), created_at=created_at, fetched_at=self.crawl_time,
            url=href, rating=rating,
            meta={"review_id": review_id, "app_id": app_id, "country": country,
                  "version": label(entry, "im:version"), "vote_sum": label(entry, "im:voteSum"),
                  "vote_count": label(entry, "im:voteCount"), "time_from": time_from})
