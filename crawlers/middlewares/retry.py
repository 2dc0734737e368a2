"""Retries on 429/5xx and connection errors with exponential backoff (Scrapy retries at once).

The wait before retry n is `VOC_RETRY_BACKOFF * 2**(n-1)` seconds, or the server's `Retry-After`
when it gives seconds, capped at `VOC_RETRY_BACKOFF_MAX`; each wait is logged
(``source=<spider> retry=n/N wait=S.SSs reason=... url=...``). A request that still fails after
RETRY_TIMES retries goes on as it is (a 429 then ends the crawl as blocked, see
crawlers/middlewares/blocks.py).

It takes the place of Scrapy's RetryMiddleware (crawlers/settings.py disables that one) and reads
the same settings (RETRY_ENABLED, RETRY_TIMES, RETRY_HTTP_CODES, RETRY_EXCEPTIONS,
RETRY_PRIORITY_ADJUST, RETRY_GIVE_UP_LOG_LEVEL) and request meta (`dont_retry`, `max_retry_times`,
`priority_adjust`, `give_up_log_level`). The retry request itself comes from Scrapy's public
`get_retry_request` (retry count in meta, retry stats, the give-up log line). `pause` is how it
waits: the reactor's clock, without holding up other requests; tests put a recorder there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object
from scrapy.utils.response import response_status_message

log = logging.getLogger(__name__)


async def reactor_pause(seconds: float) -> None:
    """Wait `seconds` on the Twisted reactor's clock (the crawl goes on meanwhile)."""
    if seconds > 0:
        from twisted.internet import reactor  # the one Scrapy installed; never at import
        from twisted.internet.task import deferLater

        await maybe_deferred_to_future(deferLater(reactor, seconds, lambda: None))


class BackoffRetryMiddleware:
    """Scrapy downloader middleware: see the module docstring."""

    def __init__(self, crawler: Any, pause: Callable[[float], Awaitable[None]] = reactor_pause) -> None:
        settings = crawler.settings
        if not settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.max_retry_times = settings.getint("RETRY_TIMES")
        self.retry_http_codes = {int(code) for code in settings.getlist("RETRY_HTTP_CODES")}
        self.exceptions_to_retry = tuple(load_object(e) if isinstance(e, str) else e
                                         for e in settings.getlist("RETRY_EXCEPTIONS"))
        self.priority_adjust = settings.getint("RETRY_PRIORITY_ADJUST")
        self.give_up_log_level = settings.get("RETRY_GIVE_UP_LOG_LEVEL")
        self.backoff = settings.getfloat("VOC_RETRY_BACKOFF", 2.0)
        self.backoff_max = settings.getfloat("VOC_RETRY_BACKOFF_MAX", 120.0)
        self.pause = pause

    @classmethod
    def from_crawler(cls, crawler: Any) -> BackoffRetryMiddleware:
        return cls(crawler)

    def wait_for(self, request: Request, response: Response | None = None) -> float:
        """Seconds to wait before retrying `request` (its retry count is in meta)."""
        attempt = request.meta.get("retry_times", 0) + 1
        wait = self.backoff * 2 ** (attempt - 1)
        if response is not None:
            header = (response.headers.get("Retry-After") or b"").decode("latin-1").strip()
            if header.isdigit():
                wait = float(header)
        return min(wait, self.backoff_max)

    def retry_request(self, request: Request, reason: str | Exception) -> Request | None:
        """The next try of `request`, or None when its retries are used up."""
        return get_retry_request(
            request, spider=self.crawler.spider, reason=reason,
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
            give_up_log_level=request.meta.get("give_up_log_level", self.give_up_log_level))

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        reason = response_status_message(response.status)
        retry = self.retry_request(request, reason)
        if retry is None:
            return response
        await self._wait(retry, self.wait_for(request, response), reason)
        return retry

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry", False):
            return None
        retry = self.retry_request(request, exception)
        if retry is not None:
            await self._wait(retry, self.wait_for(request), type(exception).__name__)
        return retry

    async def _wait(self, retry: Request, seconds: float, reason: str) -> None:
        spider = self.crawler.spider
        limit = retry.meta.get("max_retry_times", self.max_retry_times)
        log.info("source=%s retry=%d/%d wait=%.2fs reason=%s url=%s", getattr(spider, "name", "?"),
                 retry.meta["retry_times"], limit, seconds, reason, retry.url)
        await self.pause(seconds)
