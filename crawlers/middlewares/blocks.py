"""Block detection: a ban, a captcha or a login page ends the crawl as "blocked", before any callback.

`BlockMiddleware` is a Scrapy downloader middleware (DOWNLOADER_MIDDLEWARES in crawlers/settings.py,
engine side of the retry middleware, so it sees each response after its retries and redirects). It
checks every response a voc spider's callback would read:

- HTTP 403 / 418 / 429 (what is left after the retries) / 456;
- a URL that is a login, captcha or visitor page (where a redirect ended);
- a <title> that says captcha, login or access denied;
- a body asking for a captcha or a login, on a short page only (< SHORT_PAGE characters): block
  pages are small, and a real post may well talk about a 验证码 (SMS code fraud).

A JSON body is judged by its status alone when the spider says so (`VocSpider.json_page_checks =
False`: weibo and tousu read refusals inside the JSON themselves, and a post there may quote
"请输入验证码"). Responses that go to no callback (robots.txt) are not judged.

On a block it records the spider's end state (`VocSpider.end_as`; the first one wins, and
crawlers/health.py reports it — never "0 new items"), closes the spider with reason "blocked" and
drops the response by raising `Blocked` (an IgnoreRequest: the request's errback, if any, sees it;
the callback does not). `detect_block(response)` is the check alone: the reason, or None.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response, TextResponse
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import deferred_from_coro

log = logging.getLogger(__name__)

BLOCK_STATUSES = {403: "forbidden", 418: "anti-bot (418)", 429: "rate limited (429 after retries)",
                  456: "anti-crawl ban (456)"}

# Where a block page shows itself. Titles and URLs are strong signs; body markers are only
# trusted on short pages, because a real post may well talk about a 验证码 (SMS code fraud).
_URL_MARKERS = re.compile(r"passport|/login|signin|captcha|verify|sec[-_]?check|visitor", re.I)
_TITLE_MARKERS = re.compile(r"安全验证|人机验证|访问验证|请输入验证码|验证码校验|"
                            r"通行证|用户登录|账号登录|请登录|"
                            r"captcha|verify you are human|access denied|attention required|"
                            r"visitor system|访问过于频繁", re.I)
_BODY_MARKERS = re.compile(r"请输入验证码|滑动验证|拖动滑块|安全验证|人机验证|请先登录|登录后查看|"
                           r"访问过于频繁|captcha|geetest|sina visitor system", re.I)
SHORT_PAGE = 6000  # characters; block pages are small, article pages are not


class Blocked(IgnoreRequest):
    """The response was a ban, captcha or login page; the crawl is closing as blocked."""


def is_json_body(body: bytes) -> bool:
    return body.lstrip()[:1] in (b"{", b"[")


def detect_block(response: Response, *, page_checks: bool = True) -> str | None:
    """Why `response` is a ban, a captcha or a login page, or None when it is not one.

    `page_checks=False` looks at the HTTP status only (URL, title and body are not read)."""
    if response.status in BLOCK_STATUSES:
        return f"HTTP {response.status} {BLOCK_STATUSES[response.status]} at {response.url}"
    if not page_checks:
        return None
    parts = urlsplit(response.url)
    if _URL_MARKERS.search(parts.netloc.split(".")[0] + parts.path):
        return f"redirected to a login/captcha page {response.url}"
    if not isinstance(response, TextResponse):
        return None
    text = response.text
    title = re.search(r"<title[^>]*>(.*?)</title>", text[:8000], re.I | re.S)
    if title and _TITLE_MARKERS.search(title.group(1)):
        return f"captcha/login page (title {title.group(1).strip()[:60]!r}) at {response.url}"
    if len(text) < SHORT_PAGE and (hit := _BODY_MARKERS.search(text)):
        return f"captcha/login page ({hit.group(0)!r}) at {response.url}"
    return None


class BlockMiddleware:
    """Scrapy downloader middleware: see the module docstring."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.closing: Any = None  # the close in progress (a Deferred), kept so it is not lost

    @classmethod
    def from_crawler(cls, crawler: Any) -> BlockMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        spider = self.crawler.spider
        if request.callback is NO_CALLBACK or not hasattr(spider, "end_as"):
            return response  # robots.txt and the like; a spider that is not a VocSpider
        page_checks = getattr(spider, "json_page_checks", True) or not is_json_body(response.body)
        reason = detect_block(response, page_checks=page_checks)
        if reason is None:
            return response
        spider.end_as("blocked", reason)
        if self.closing is None:
            self.closing = deferred_from_coro(self.crawler.engine.close_spider_async(reason="blocked"))
            self.closing.addErrback(lambda failure: log.error("closing the blocked crawl failed: %s",
                                                              failure.getErrorMessage()))
        raise Blocked(reason)
