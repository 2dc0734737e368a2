"""weibo spider end to end: a real Scrapy crawl (child process) against a local HTTP server serving
m.weibo.cn-shaped answers, into a real SQLite store; blocking signs end as blocked/layout_changed."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from support.http_server import Seen, serve
from support.social import (
    EMOJI,
    body,
    card9,
    card11,
    comment,
    hotflow,
    long_text,
    mblog,
    refused,
    search_page,
    user_card,
)

from core.record import make_id

CRAWL_TIME = "2025-06-15T12:00:00+08:00"
COOKIE = "SUB=_2A25-not-a-real-session-cookie"
JSON = {"Content-Type": "application/json; charset=utf-8"}
A, B, C, D = "5100000000000001", "5100000000000002", "5100000000000003", "5100000000000004"

PAGES = {
    1: search_page(card9(mblog(A, "江南银行APP又崩了" + EMOJI, "5分钟前", comments=3)),
                   card11(mblog(B, "江南银行信用卡年费...<a href=\"/status/x\">全文</a>", "昨天 09:00",
                                long_text=True),
                          mblog(C, "网点排队两小时", "06-13"), extra=[user_card()]),
                   user_card(), next_page=2),
    2: search_page(card9(mblog(D, "理财经理推销保险", "06-12")), next_page=None),
}
REPLY = "回复<a href='/n/路人甲'>@路人甲</a>:投诉有用"
COMMENTS = {
    None: hotflow([comment("6100000000000001", "同样被扣了年费", "Sat Jun 15 11:00:00 +0800 2025",
                           replies=[comment("6100000000000002", REPLY, "刚刚", root="6100000000000001")])],
                  max_id=77, max_id_type=1),
    "77": hotflow([comment("6100000000000003", "客服电话打不通", "3小时前")], max_id=0),
}


def weibo_site(seen: Seen):
    query = {k: v[0] for k, v in seen.query.items()}
    if seen.path == "/api/container/getIndex":
        assert "q=江南银行" in query["containerid"] and query["page_type"] == "searchall"
        page = PAGES.get(int(query["page"]))
        return (200, JSON, body(page)) if page else None
    if seen.path == "/comments/hotflow" and query.get("id") == A:
        return 200, JSON, body(COMMENTS[query.get("max_id")])
    if seen.path == "/statuses/extend" and query.get("id") == B:
        return 200, JSON, body(long_text("江南银行信用卡年费<br />没开卡也扣，客服还不退" + EMOJI))
    return None


def test_search_comments_long_text_then_a_rerun_adds_nothing(crawl, monkeypatch):
    monkeypatch.setenv("VOC_WEIBO_COOKIE", COOKIE)
    args = {"keyword": "江南银行", "crawl_time": CRAWL_TIME}
    with serve(weibo_site) as (base, log):
        first = crawl("weibo", {**args, "base_url": base})
        assert first.status == "ok", first.reason
        assert (first.count("new"), first.count("dropped")) == (7, 0)
        hotflow_calls = [s.query for s in log if s.path == "/comments/hotflow"]
        assert len(hotflow_calls) == 2  # stopped at max_id 0
        assert "max_id" not in hotflow_calls[0] and hotflow_calls[1]["max_id"] == ["77"]
        assert hotflow_calls[1]["max_id_type"] == ["1"]
        assert all(s.headers.get("Cookie") == COOKIE for s in log if s.path != "/robots.txt")
        assert COOKIE not in open(first.log_path, encoding="utf-8").read()

        before = len(log)
        second = crawl("weibo", {**args, "base_url": base})
        assert second.status == "ok", second.reason
        assert second.count("new") == 0 and second.count("updated") == 0
        # the first page alone shows everything was seen: no page 2, no comments again
        assert [s.query.get("page") for s in log[before:] if s.path == "/api/container/getIndex"] == [["1"]]

    store = crawl.store()
    assert store.total() == 7
    post_b = store.get(make_id("weibo", native_id=B))
    assert post_b.text == "江南银行信用卡年费 没开卡也扣，客服还不退[怒]" and post_b.kind == "post"
    reply = store.get(make_id("weibo", native_id="6100000000000002"))
    assert reply.kind == "comment" and reply.meta["root_id"] == "6100000000000001"
    assert reply.text == "回复@路人甲:投诉有用" and reply.url == f"https://m.weibo.cn/detail/{A}"
    health = store.get_state("crawl_health", "weibo")
    assert health["status"] == "ok" and health["sources"] == ["weibo"]
    assert store.get_state("cursor", "weibo:江南银行")["ids"]


CAPTCHA = (b"<html><head><title>\xe5\xae\x89\xe5\x85\xa8\xe9\xaa\x8c\xe8\xaf\x81</title></head>"
           b"<body>\xe8\xaf\xb7\xe8\xbe\x93\xe5\x85\xa5\xe9\xaa\x8c\xe8\xaf\x81\xe7\xa0\x81</body></html>")


@pytest.mark.parametrize("answer, status, reason", [
    ((200, JSON, body(refused())), "blocked", "ok=0 msg=请求过于频繁"),
    ((200, JSON, body(refused("", ok=-100))), "blocked", "login required"),
    ((418, {"Content-Type": "text/plain"}, b"I'm a teapot"), "blocked", "HTTP 418"),
    ((200, {"Content-Type": "text/html; charset=utf-8"}, CAPTCHA), "blocked", "captcha"),
    ((200, JSON, body({"ok": 1, "data": {"cardlistInfo": {"page": 2}, "items": []}})),
     "layout_changed", "data.cards missing"),
])
def test_blocking_signs_end_the_crawl_and_the_health_says_so(crawl, answer, status, reason):
    def site(seen: Seen):
        return answer if seen.path == "/api/container/getIndex" else None

    with serve(site) as (base, _log):
        result = crawl("weibo", {"keyword": "江南银行", "base_url": base, "crawl_time": CRAWL_TIME})
    assert result.status == status and reason in result.reason, result.reason
    assert result.exit_code == 3
    health = crawl.store().get_state("crawl_health", "weibo")
    assert health["status"] == status and reason in health["reason"]
    assert health["new"] == 0


def test_refused_comments_keep_the_posts_but_report_blocked_and_keep_the_old_cursor(crawl):
    def site(seen: Seen):
        if seen.path == "/comments/hotflow":
            return 200, JSON, body(refused("网络繁忙"))
        return weibo_site(seen)

    with serve(site) as (base, _log):
        result = crawl("weibo", {"keyword": "江南银行", "base_url": base, "crawl_time": CRAWL_TIME,
                                 "max_pages": "1", "long_text": "false"})
    assert result.status == "blocked" and "comments" in result.reason
    store = crawl.store()
    assert store.get(make_id("weibo", native_id=A)) is not None  # what came before the refusal
    assert store.get_state("cursor", "weibo:江南银行") is None  # so the next run walks these pages again
    assert json.loads(json.dumps(store.get_state("crawl_health", "weibo")))["status"] == "blocked"


def test_bad_keyword_option_fails_clearly(crawl):
    result = crawl("weibo", {"search_type": "7", "keyword": "x"})
    assert result.status == "failed" and "search_type" in result.reason


def test_query_is_the_documented_search_url():
    from crawlers.spiders.weibo import WeiboSpider

    spider = WeiboSpider(keyword="江南银行", base_url="http://127.0.0.1:9")
    request = spider.search_request("江南银行", 3)
    assert request.url.startswith("http://127.0.0.1:9/api/container/getIndex?containerid=100103type%3D61%26q%3D")
    query = parse_qs(request.url.split("?", 1)[1])
    assert query["containerid"] == ["100103type=61&q=江南银行"] and query["page"] == ["3"]
    assert query["page_type"] == ["searchall"]
