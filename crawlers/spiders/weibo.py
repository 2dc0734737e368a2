"""`weibo`: m.weibo.cn keyword search and the comments of matching posts.

    scrapy crawl weibo -a keyword=江南银行 [-a max_pages=3] [-a since=2025-06-01]
    voc crawl weibo -a keyword=江南银行,江南银行信用卡

Options (``[crawl.weibo]`` in settings.toml, each overridable with ``-a``):

- ``keyword`` / ``keywords``: what to search (a list, or comma-separated); required.
- ``search_type``: 61 = 实时 (newest first, the default: paging can stop at the first post seen
  before), 1 = 综合, 60 = 热门.
- ``comments`` (default true) and ``comment_pages`` (default 3): fetch the hotflow comments of
  each new post with comments, up to that many ``max_id`` pages.
- ``long_text`` (default true): fetch ``/statuses/extend`` for posts Weibo truncated.
- The cookie (a logged-in m.weibo.cn session; unauthenticated calls are throttled soon) comes only
  from the ``VOC_WEIBO_COOKIE`` environment variable and is never logged.

Each keyword has its own cursor (``weibo:<keyword>``). Blocking signs — HTTP 403/418/456, a login
or captcha page, ``ok`` other than 1 — end the crawl as ``blocked``; an answer in a shape the
parsers do not know ends it as ``layout_changed`` (crawlers/parse/weibo.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import scrapy
from scrapy.http import Response

from core.record import Feedback
from crawlers.middlewares.blocks import Blocked
from crawlers.parse.errors import PageError
from crawlers.parse.page import cookie_dict
from crawlers.parse.weibo import parse_comments, parse_long_text, parse_search, plain_text
from crawlers.settings import crawl_secret
from crawlers.spiders.base import VocSpider

SEARCH_TYPES = {1: "综合", 60: "热门", 61: "实时"}
_FALSE = {"0", "false", "no", "off"}


class WeiboSpider(VocSpider):
    """Keyword search over m.weibo.cn, plus comments; see the module docstring."""

    name = "weibo"
    default_base = "https://m.weibo.cn"
    source = "weibo"
    kind = "post"
    default_max_pages = 10
    json_page_checks = False  # API answers: a JSON body is judged by its status (see VocSpider)

    def __init__(self, keyword: str | None = None, **kwargs: Any) -> None:
        super().__init__(keyword=keyword, **kwargs)
        self.keywords = list(dict.fromkeys(self.list_option("keyword") or self.list_option("keywords")))
        if not self.keywords:
            raise ValueError("weibo: give -a keyword=... or keywords in [crawl.weibo]")
        self.search_type = self.int_option("search_type", 61)
        if self.search_type not in SEARCH_TYPES:
            raise ValueError(f"weibo: option search_type must be one of {sorted(SEARCH_TYPES)}, "
                             f"got {self.search_type}")
        self.with_comments = self._bool_option("comments", True)
        self.comment_pages = self.int_option("comment_pages", 3)
        self.long_text = self._bool_option("long_text", True)
        self._yielded: set[str] = set()  # mids already handled in this crawl (several keywords)
        # VOC_WEIBO_COOKIE, through the settings (crawlers.settings.crawl_secret); never logged
        jar = cookie_dict(crawl_secret("weibo_cookie"))
        self.cookies: dict[str | bytes, Any] = {k: v for k, v in jar.items()}

    def _bool_option(self, key: str, default: bool) -> bool:
        value = self.option(key, default)
        return value if isinstance(value, bool) else str(value).strip().lower() not in _FALSE

    # --- requests -------------------------------------------------------------------------

    def _headers(self, referer: str) -> dict[str, str]:
        headers = {"Accept": "application/json, text/plain, */*", "X-Requested-With": "XMLHttpRequest",
                   "MWeibo-Pwa": "1", "Referer": referer}
        return headers

    def search_request(self, keyword: str, page: int) -> scrapy.Request:
        containerid = quote(f"100103type={self.search_type}&q={keyword}", safe="")
        path = f"/api/container/getIndex?containerid={containerid}&page_type=searchall&page={page}"
        referer = f"https://m.weibo.cn/search?containerid={containerid}"
        return scrapy.Request(self.url(path), callback=self.parse_search, headers=self._headers(referer),
                              cookies=self.cookies, cb_kwargs={"keyword": keyword, "page": page},
                              dont_filter=True)

    def comments_request(self, mid: str, page: int = 1, max_id: int | None = None,
                         max_id_type: int = 0) -> scrapy.Request:
        query = {"id": mid, "mid": mid}
        if max_id is not None:
            query["max_id"] = str(max_id)
        query["max_id_type"] = str(max_id_type)
        return scrapy.Request(self.url(f"/comments/hotflow?{urlencode(query)}"), callback=self.parse_comments,
                              headers=self._headers(f"https://m.weibo.cn/detail/{mid}"),
                              cookies=self.cookies, cb_kwargs={"mid": mid, "page": page})

    async def start(self) -> AsyncIterator[Any]:
        for keyword in self.keywords:
            yield self.search_request(keyword, 1)

    # --- callbacks ------------------------------------------------------------------------

    def parse_search(self, response: Response, keyword: str, page: int) -> Iterator[Any]:
        result = self.api_page(
            response, f"weibo search q={keyword} page={page}",
            lambda data: parse_search(data, self.crawl_time, page=page, keyword=keyword), "post")
        reached_old = False
        kept = 0
        for post in result.posts:
            if self.until is not None and post.created_at >= self.until:
                continue  # newer than the backfill window: keep paging towards it
            if self.since is not None and post.created_at < self.since:
                reached_old = True
                continue
            if self.cursors.should_stop(keyword, post.created_at, post.id):
                reached_old = True
                continue
            mid = post.meta["mid"]
            if mid in self._yielded:
                continue
            self._yielded.add(mid)
            kept += 1
            yield from self._post_and_comments(post, keyword)
        self.page_done(response, kept)
        ordered = self.search_type == 61  # only the 实时 list is newest-first
        if result.next_page is not None and page < self.max_pages and not (reached_old and ordered):
            yield self.search_request(keyword, result.next_page)

    def _post_and_comments(self, post: Feedback, keyword: str) -> Iterator[Any]:
        mid = post.meta["mid"]
        if self.long_text and post.meta.get("is_long_text"):
            yield scrapy.Request(self.url(f"/statuses/extend?id={quote(mid)}"), callback=self.parse_long_text,
                                 errback=self.long_text_failed, headers=self._headers(post.url or ""),
                                 cookies=self.cookies, cb_kwargs={"post": post})
        else:
            yield post
        if self.with_comments and (post.meta.get("comments_count") or 0) > 0:
            yield self.comments_request(mid)

    def parse_long_text(self, response: Response, post: Feedback) -> Iterator[Any]:
        mid = post.meta["mid"]
        try:
            html = parse_long_text(self.api_json(response, f"weibo long text mid={mid}"))
        except PageError as exc:
            yield post.with_(meta={**post.meta, "truncated": True})  # keep what we have first
            self.block(exc.reason, exc.status)
            return
        yield post.with_(text=plain_text(html))

    def long_text_failed(self, failure: Any) -> Iterator[Any]:
        if failure.check(Blocked):
            return  # a block page: the crawl ends as blocked, and the next one reads this post again
        post: Feedback = failure.request.cb_kwargs["post"]
        self.logger.warning("source=weibo long_text_failed mid=%s error=%s", post.meta["mid"],
                            failure.getErrorMessage())
        yield post.with_(meta={**post.meta, "truncated": True})

    def parse_comments(self, response: Response, mid: str, page: int) -> Iterator[Any]:
        result = self.api_page(response, f"weibo comments mid={mid} page={page}",
                               lambda data: parse_comments(data, self.crawl_time, post_mid=mid), "comment")
        kept = 0
        for comment in result.comments:
            if self.in_window(comment.created_at):
                kept += 1
                yield comment
        self.page_done(response, kept)
        if result.max_id and page < self.comment_pages:
            yield self.comments_request(mid, page + 1, result.max_id, result.max_id_type)
