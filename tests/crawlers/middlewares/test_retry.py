"""Retries with backoff (crawlers/middlewares/retry.py) against a real local HTTP server: how many
times a request is retried and how long each wait is — first with the waits recorded instead of
slept (the middleware's `pause`), then in a real crawl where the server clocks the retries."""

from __future__ import annotations

import asyncio
import http.client
import re
import socket
import threading
import time
from collections import defaultdict
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import scrapy
from scrapy.http import Request, Response
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from support.http_server import Seen, serve

from crawlers.middlewares.retry import BackoffRetryMiddleware

TEXT = {"Content-Type": "text/plain"}


class Script:
    """Answers each path from its list in turn (the last answer repeats); clocks every arrival."""

    def __init__(self, answers: dict[str, list[tuple[int, dict[str, str]]]]) -> None:
        self.answers = answers
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()

    def __call__(self, seen: Seen):
        if seen.path not in self.answers:
            return None
        with self.lock:
            self.arrivals[seen.path].append(time.monotonic())
            n = len(self.arrivals[seen.path])
        status, headers = self.answers[seen.path][min(n, len(self.answers[seen.path])) - 1]
        return status, {**TEXT, **headers}, b"ok" if status == 200 else b"busy"


def middleware(**settings: object) -> tuple[BackoffRetryMiddleware, list[float], MemoryStatsCollector]:
    crawler = SimpleNamespace(settings=Settings({"RETRY_TIMES": 2, "VOC_RETRY_BACKOFF": 1.0,
                                                 "VOC_RETRY_BACKOFF_MAX": 30.0, **settings}))
    crawler.stats = MemoryStatsCollector(crawler)
    crawler.spider = scrapy.Spider(name="retrytest")
    crawler.spider.crawler = crawler
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    return BackoffRetryMiddleware(crawler, pause=record), waits, crawler.stats


def fetch(request: Request) -> Response:
    """One real HTTP GET of `request` (what Scrapy's downloader would do)."""
    parts = urlsplit(request.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request("GET", parts.path or "/")
        answer = connection.getresponse()
        return Response(request.url, status=answer.status, headers=dict(answer.getheaders()),
                        body=answer.read(), request=request)
    finally:
        connection.close()


async def download(mw: BackoffRetryMiddleware, request: Request) -> Response:
    """Fetch `request` through the middleware as the engine does: a Request back means try again."""
    while True:
        try:
            response = fetch(request)
        except OSError as exc:
            retry = await mw.process_exception(request, exc)
            if retry is None:
                raise
            request = retry
            continue
        result = await mw.process_response(request, response)
        if not isinstance(result, Request):
            return result
        request = result


def test_503_then_200_is_retried_with_exponential_waits() -> None:
    script = Script({"/flaky": [(503, {}), (503, {}), (200, {})]})
    mw, waits, stats = middleware()
    with serve(script) as (base, _log):
        response = asyncio.run(download(mw, Request(base + "/flaky")))
    assert response.status == 200 and response.request.meta["retry_times"] == 2
    assert len(script.arrivals["/flaky"]) == 3 and waits == [1.0, 2.0]  # backoff * 2**(n-1)
    assert stats.get_value("retry/count") == 2
    assert stats.get_value("retry/reason_count/503 Service Unavailable") == 2


def test_retry_after_seconds_are_honoured_and_capped() -> None:
    script = Script({"/busy": [(429, {"Retry-After": "7"}), (200, {})],
                     "/very-busy": [(429, {"Retry-After": "600"}), (200, {})],
                     "/odd": [(429, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), (200, {})]})
    mw, waits, _ = middleware()
    with serve(script) as (base, _log):
        for path in ("/busy", "/very-busy", "/odd"):
            assert asyncio.run(download(mw, Request(base + path))).status == 200
    assert waits == [7.0, 30.0, 1.0]  # the server's seconds; capped at the maximum; a date: backoff
    assert [len(script.arrivals[p]) for p in ("/busy", "/very-busy", "/odd")] == [2, 2, 2]


def test_retries_run_out_and_dont_retry_is_obeyed() -> None:
    script = Script({"/down": [(503, {})], "/once": [(503, {})]})
    mw, waits, stats = middleware()
    with serve(script) as (base, _log):
        gave_up = asyncio.run(download(mw, Request(base + "/down")))
        left_alone = asyncio.run(download(mw, Request(base + "/once", meta={"dont_retry": True})))
        more = asyncio.run(download(mw, Request(base + "/down", meta={"max_retry_times": 3})))
    assert gave_up.status == 503 and gave_up.request.meta["retry_times"] == 2
    assert left_alone.status == 503 and len(script.arrivals["/once"]) == 1
    assert more.request.meta["retry_times"] == 3 and len(script.arrivals["/down"]) == 3 + 4
    assert waits == [1.0, 2.0, 1.0, 2.0, 4.0]
    assert stats.get_value("retry/max_reached") == 2


def test_connection_errors_are_retried_with_backoff() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mw, waits, stats = middleware(RETRY_TIMES=1, VOC_RETRY_BACKOFF=0.5)
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(download(mw, Request(f"http://127.0.0.1:{port}/x")))
    assert waits == [0.5] and stats.get_value("retry/reason_count/builtins.ConnectionRefusedError") == 1


def feed(n: int, title: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>财经</title>'
            f"<item><title>{title}</title><link>https://news.example.cn/{n}.html</link>"
            f"<description>{title}，用户投诉</description>"
            "<pubDate>Sun, 14 Jun 2026 06:22:34 +0800</pubDate></item></channel></rss>").encode()


def test_a_real_crawl_waits_before_each_retry(crawl) -> None:
    script = Script({"/a.xml": [(503, {}), (200, {})], "/b.xml": [(429, {"Retry-After": "1"}), (200, {})]})
    bodies = {"/a.xml": feed(1, "江南银行手机银行故障"), "/b.xml": feed(2, "江南银行信用卡乱收费")}

    def site(seen: Seen):
        answer = script(seen)
        if answer is None or answer[0] != 200:
            return answer
        return 200, {"Content-Type": "application/rss+xml"}, bodies[seen.path]

    tables = {"defaults": {"retry_times": 2, "backoff": 0.1},
              "rss": {"feeds": {"a": "https://news.example.cn/a.xml", "b": "https://news.example.cn/b.xml"}}}
    with serve(site) as (base, _log):
        result = crawl("rss", {"base_url": base}, tables=tables)
    assert result.status == "ok" and result.count("new") == 2, result.to_dict()
    a, b = script.arrivals["/a.xml"], script.arrivals["/b.xml"]
    assert len(a) == 2 and len(b) == 2  # one retry each, then the feed
    assert a[1] - a[0] >= 0.1 and b[1] - b[0] >= 1.0, (a, b)
    log = open(result.log_path, encoding="utf-8").read()
    logged = re.findall(r"source=rss retry=(\d+/\d+) wait=([\d.]+)s reason=(\d+) [^\n]*? url=\S+/([ab])\.xml",
                        log)
    assert sorted(logged, key=lambda w: w[3]) == [("1/2", "0.10", "503", "a"), ("1/2", "1.00", "429", "b")]
