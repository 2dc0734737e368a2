"""tousu spider end to end: a real Scrapy crawl against a local server that checks every request's
signature, with ≥ 2 s between requests; HTTP 456 and refusals end the crawl as blocked."""

from __future__ import annotations

import hashlib
import threading
import time

from support.http_server import Seen, serve
from support.social import body, complaint, tousu_page

from core.record import make_id

SALT = "$d6eb7ff91ee257475%"
JSON = {"Content-Type": "application/json; charset=utf-8"}
NOW = int(time.time())


def signed_ok(seen: Seen) -> bool:
    """The site's check, written independently: sha256 of the sorted values plus the salt."""
    values = [v[0] for k, v in seen.query.items() if k != "signature"]
    expected = hashlib.sha256("".join(sorted([SALT, *values])).encode("utf-8")).hexdigest()
    return seen.query.get("signature") == [expected] and len(seen.query["rs"][0]) == 16


class Site:
    """Routes by path and page; remembers when each API request arrived."""

    def __init__(self, pages: dict[tuple[str, str], tuple[int, dict[str, str], bytes]]) -> None:
        self.pages = pages
        self.arrivals: list[float] = []
        self.bad_signatures: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, seen: Seen):
        if not seen.path.startswith("/api/"):
            return None
        with self.lock:
            self.arrivals.append(time.monotonic())
            if not signed_ok(seen):
                self.bad_signatures.append(seen.target)
        return self.pages.get((seen.path, seen.query.get("page", ["?"])[0]))


def test_keyword_search_signed_polite_paging_then_a_rerun_adds_nothing(crawl):
    page1 = [complaint("17390000101", '<span class="code-red">江南银行</span>乱扣年费', "未开卡被扣年费",
                       NOW - 600),
             complaint("17390000102", "江南银行暴力催收", "每天十几个电话", NOW - 3600)]
    page2 = [complaint("17390000103", "江南银行理财亏损", "经理承诺保本", NOW - 7200)]
    site = Site({("/api/index/s", "1"): (200, JSON, body(tousu_page(page1, page_amount=2))),
                 ("/api/index/s", "2"): (200, JSON, body(tousu_page(page2, page_amount=2)))})
    with serve(site) as (base, log):
        first = crawl("tousu", {"keyword": "江南银行", "base_url": base})
        assert first.status == "ok", first.reason
        assert first.count("new") == 3
        api = [s for s in log if s.path.startswith("/api/")]
        assert [s.query["page"] for s in api] == [["1"], ["2"]]
        assert all(s.query["keywords"] == ["江南银行"] and s.query["page_size"] == ["10"] for s in api)
        second = crawl("tousu", {"keyword": "江南银行", "base_url": base})
        assert second.status == "ok", second.reason
        assert second.count("new") == 0
        assert [s.query["page"] for s in log if s.path.startswith("/api/")][2:] == [["1"]]  # seen: stop
    assert site.bad_signatures == []
    # settings ask for no delay (FAST); the spider keeps its 2 s floor anyway
    gap = site.arrivals[1] - site.arrivals[0]  # pages 1 and 2 of the first crawl
    assert gap >= 1.9, gap
    store = crawl.store()
    assert store.total() == 3
    record = store.get(make_id("tousu", native_id="17390000101"))
    assert (record.kind, record.title, record.text) == ("complaint", "江南银行乱扣年费", "未开卡被扣年费")
    assert record.url == "https://tousu.sina.com.cn/complaint/view/17390000101/"
    assert store.get_state("crawl_health", "tousu")["status"] == "ok"
    assert store.get_state("cursor", "tousu:search:江南银行")["ids"]


def test_http_456_ends_the_feed_crawl_blocked_keeping_page_one(crawl):
    feed = [complaint("17390000201", "江南银行信用卡盗刷", "客服推诿", NOW - 60),
            complaint("17390000202", "某外卖平台退款难", "不退款", NOW - 120, cotitle="某外卖")]
    site = Site({("/api/index/feed", "1"): (200, JSON, body(tousu_page(feed))),
                 ("/api/index/feed", "2"): (456, {"Content-Type": "text/html"}, b"<html>456</html>")})
    with serve(site) as (base, log):
        result = crawl("tousu", {"base_url": base, "max_pages": "3"})
    assert result.status == "blocked" and "HTTP 456" in result.reason, result.reason
    assert result.exit_code == 3
    assert [s.query["type"] for s in log if s.path == "/api/index/feed"] == [["2"], ["2"]]
    store = crawl.store()
    # the feed is filtered to complaints naming the bank ([bank] name / aliases)
    assert store.get(make_id("tousu", native_id="17390000201")) is not None
    assert store.get(make_id("tousu", native_id="17390000202")) is None
    health = store.get_state("crawl_health", "tousu")
    assert health["status"] == "blocked" and "456" in health["reason"]
    assert store.get_state("cursor", "tousu:feed") is None


def test_company_list_refused_by_status_code_is_blocked(crawl):
    refused = tousu_page([], key="complaints", code=-1, msg="签名错误")
    site = Site({("/api/company/received_complaints", "1"): (200, JSON, body(refused))})
    with serve(site) as (base, log):
        result = crawl("tousu", {"company": "5659894235", "base_url": base})
    assert result.status == "blocked" and "code=-1 msg=签名错误" in result.reason, result.reason
    call = next(s for s in log if s.path.startswith("/api/"))
    assert call.query["couid"] == ["5659894235"] and call.query["type"] == ["1"]
    assert crawl.store().get_state("crawl_health", "tousu")["status"] == "blocked"
