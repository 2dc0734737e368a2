"""Retries on 429/5xx and connection errors with exponential backoff (Scrapy retries at once).

The wait before retry n is `VOC_RETRY_BACKOFF * 2**(n-1)` seconds, or the server's `Retry-After`
when it gives seconds, capped at `VOC_RETRY_BACKOFF_MAX`. A request that still fails after
RETRY_TIMES retries reaches the spider (429 then ends the crawl as blocked, see VocSpider).
"""

from __future__ import annotations

from typing import Any

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.response import response_status_message
from twisted.internet import reactor
from twisted.internet.task import deferLater


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.backoff = settings.getfloat("VOC_RETRY_BACKOFF", 2.0)
        self.backoff_max = settings.getfloat("VOC_RETRY_BACKOFF_MAX", 120.0)

    def wait_for(self, request: Request, response: Response | None = None) -> float:
        attempt = request.meta.get("retry_times", 0) + 1
        wait = self.backoff * 2 ** (attempt - 1)
        if response is not None:
            header = (response.headers.get("Retry-After") or b"").decode("latin-1").strip()
            if header.isdigit():
                wait = float(header)
        return min(wait, self.backoff_max)

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            await maybe_deferred_to_future(deferLater(reactor, seconds, lambda: None))

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        await self._pause(self.wait_for(request, response))
        return retry

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:  # type: ignore[override]
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry", False):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            await self._pause(self.wait_for(request))
        return retry
