"""Block detection (crawlers/middlewares/blocks.py): the check itself, the middleware's choices, and
real crawls against a local HTTP server where a redirect to a login page, a 429 left after the
retries and a blocked long-text answer end the crawl as blocked — while robots.txt answers and
JSON API bodies quoting captcha words do not."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import scrapy
from scrapy.http import HtmlResponse, Request, TextResponse
from scrapy.http.request import NO_CALLBACK
from support.http_server import Seen, serve
from support.social import body, card9, mblog, search_page

from core.record import make_id
from crawlers.middlewares.blocks import Blocked, BlockMiddleware, detect_block
from crawlers.spiders.base import VocSpider

HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json; charset=utf-8"}


@pytest.mark.parametrize("status,body,found", [
    (456, b"", "HTTP 456 anti-crawl ban (456)"), (418, b"", "HTTP 418"), (403, b"", "HTTP 403 forbidden"),
    (429, b"", "rate limited (429 after retries)"),
    (200, b"<html><head><title>Sina Visitor System</title></head></html>", "title 'Sina Visitor System'"),
    (200, "<html><body><div>请输入验证码</div></body></html>".encode(),
     "captcha/login page ('请输入验证码')"),
])
def test_detect_block(status, body, found) -> None:
    reason = detect_block(HtmlResponse("https://m.example.cn/p", status=status, body=body))
    assert reason is not None and found in reason and reason.endswith("at https://m.example.cn/p")


def test_login_url_and_what_is_not_a_block() -> None:
    assert "login/captcha page" in detect_block(HtmlResponse("https://passport.example.cn/x", body=b"<p>hi"))
    article = "<html><head><title>警惕短信验证码诈骗</title></head><body>" + "正文" * 5000 + "</body></html>"
    assert detect_block(HtmlResponse("https://news.example.cn/a", body=article.encode())) is None
    quoting = TextResponse("https://m.example.cn/api", body='{"text": "请输入验证码"}'.encode())
    assert detect_block(quoting) is not None  # as a page: a short body asking for a captcha
    assert detect_block(quoting, page_checks=False) is None  # by status only
    assert detect_block(TextResponse("https://m.example.cn/api", status=418, body=b"{}"), page_checks=False)


class Demo(VocSpider):
    name = "demo"
    default_base = "https://m.example.cn"


class Api(Demo):
    json_page_checks = False


class Engine:
    def __init__(self) -> None:
        self.closed: list[str] = []

    async def close_spider_async(self, *, reason: str) -> None:
        self.closed.append(reason)


def middleware(spider: scrapy.Spider) -> tuple[BlockMiddleware, Engine]:
    engine = Engine()
    return BlockMiddleware(SimpleNamespace(spider=spider, engine=engine)), engine


def test_the_middleware_ends_the_crawl_once_and_drops_the_response() -> None:
    async def run() -> None:  # Scrapy schedules the close on the running loop
        spider = Demo()
        mw, engine = middleware(spider)
        page = HtmlResponse("https://m.example.cn/p", body=b"<html><p>" + "帖子".encode() * 100)
        assert mw.process_response(Request(page.url), page) is page
        for status in (456, 403):
            with pytest.raises(Blocked, match=f"HTTP {status}"):
                mw.process_response(Request(page.url), HtmlResponse(page.url, status=status, body=b""))
        await asyncio.sleep(0)
        assert spider.end_state == ("blocked", "HTTP 456 anti-crawl ban (456) at https://m.example.cn/p")
        assert engine.closed == ["blocked"]  # one close, however many block pages arrive meanwhile

    asyncio.run(run())


def test_robots_txt_other_spiders_and_api_json_pass() -> None:
    async def run() -> None:
        mw, engine = middleware(Demo())
        robots = HtmlResponse("https://m.example.cn/robots.txt", status=403, body=b"")
        assert mw.process_response(Request(robots.url, callback=NO_CALLBACK), robots) is robots
        plain, _ = middleware(scrapy.Spider(name="plain"))
        assert plain.process_response(Request(robots.url), robots) is robots
        quoting = TextResponse("https://m.example.cn/api", body='{"text": "请输入验证码"}'.encode())
        api, _ = middleware(Api())
        assert api.process_response(Request(quoting.url), quoting) is quoting
        with pytest.raises(Blocked):
            mw.process_response(Request(quoting.url), quoting)  # a spider whose JSON is read as a page
        await asyncio.sleep(0)
        assert engine.closed == ["blocked"]

    asyncio.run(run())


# --- real crawls -------------------------------------------------------------------------------

PROFILE = {"start_urls": ["https://bbs.example.com/forum-1.html"], "item": "css:li.thread",
           "text": "css:.summary", "time": "css:.date::text", "max_pages": 2}
FORUM = ('<html><head><title>论坛</title></head><body><ul><li class="thread">'
         '<span class="date">2026-06-14 10:00</span><div class="summary">江南银行信用卡被盗刷</div>'
         '</li></ul></body></html>').encode()


def test_robots_txt_403_is_not_a_block_but_a_redirect_to_a_login_page_is(crawl) -> None:
    def site(seen: Seen):
        if seen.path == "/robots.txt":
            return 403, HTML, b"<html>forbidden</html>"
        if seen.path == "/forum-1.html":
            return 200, HTML, FORUM
        if seen.path == "/forum-2.html":
            return 302, {"Location": "/member/login?from=%2Fforum-2.html"}, b""
        if seen.path == "/member/login":
            return 200, HTML, ("<html><head><title>论坛</title></head><body>" + "欢迎" * 4000
                               + "</body></html>").encode()
        return None

    tables = {"site": {"forum": PROFILE}}
    with serve(site) as (base, log):
        ok = crawl("site", {"base_url": base}, tables=tables)
        assert ok.status == "ok" and ok.count("new") == 1, ok.to_dict()  # robots.txt 403: not judged
        moved = {**PROFILE, "start_urls": ["https://bbs.example.com/forum-2.html"]}
        blocked = crawl("site", {"base_url": base}, tables={"site": {"forum": moved}})
    assert blocked.status == "blocked" and blocked.exit_code == 3, blocked.to_dict()
    assert blocked.reason.startswith("redirected to a login/captcha page"), blocked.reason
    assert "/member/login" in blocked.reason
    assert "/member/login" in [s.path for s in log]
    store = crawl.store()
    try:
        health = store.get_state("crawl_health", "site:forum")
        assert health["status"] == "blocked" and health["new"] == 0
    finally:
        store.close()


def test_429_left_after_the_retries_is_blocked(crawl) -> None:
    with serve({"/f.xml": (429, {"Content-Type": "text/plain"}, b"slow down")}) as (base, log):
        result = crawl("rss", {"feed_url": base + "/f.xml"})
    assert result.status == "blocked" and "HTTP 429 rate limited (429 after retries)" in result.reason
    assert [s.path for s in log].count("/f.xml") == 2  # retry_times = 1 in the test settings


def test_weibo_json_quoting_captcha_words_is_data_and_a_blocked_long_text_ends_the_crawl(crawl) -> None:
    quoting, long_post = "5100000000000011", "5100000000000012"
    page = search_page(card9(mblog(quoting, "短信里说请输入验证码，别信，是诈骗", "5分钟前")),
                       card9(mblog(long_post, "江南银行信用卡年费...全文", "10分钟前", long_text=True)),
                       next_page=None)
    captcha = "<html><head><title>安全验证</title></head><body>请输入验证码</body></html>".encode()

    def site(seen: Seen):
        if seen.path == "/api/container/getIndex":
            return 200, JSON, body(page)
        if seen.path == "/statuses/extend":
            return 200, HTML, captcha
        return None

    assert len(body(page)) < 6000  # short: as a page, its captcha words would count
    with serve(site) as (base, _log):
        result = crawl("weibo", {"keyword": "江南银行", "base_url": base,
                                 "crawl_time": "2025-06-15T12:00:00+08:00", "comments": "false"})
    assert result.status == "blocked" and "title '安全验证'" in result.reason, result.to_dict()
    store = crawl.store()
    try:
        assert store.get(make_id("weibo", native_id=quoting)) is not None
        assert store.get(make_id("weibo", native_id=long_post)) is None  # read again by the next crawl
        assert store.get_state("cursor", "weibo:江南银行") is None
    finally:
        store.close()
