"""site spider: a configured forum crawled over two pages; empty layout; time formats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support.http_server import serve

from core.record import RecordError
from crawlers.spiders.site import site_time

HTML = {"Content-Type": "text/html; charset=utf-8"}
PROFILE = {"start_urls": ["https://bbs.example.com/forum-1.html"], "item": "css:li.thread",
           "text": "css:.summary", "title": "css:a.subject::text", "author": "css:.author::text",
           "time": "xpath:.//span[@class='date']/text()", "link": "css:a.subject::attr(href)",
           "next": "css:a.next::attr(href)", "max_pages": 5}


def forum_page(posts: list[tuple[int, str, str]], next_href: str | None) -> bytes:
    rows = "".join(f'<li class="thread"><a class="subject" href="/t/{n}.html">帖子{n}</a>'
                   f'<span class="author">网友{n}</span><span class="date">{when}</span>'
                   f'<div class="summary"><p>{text}</p></div></li>' for n, when, text in posts)
    nxt = f'<a class="next" href="{next_href}">下一页</a>' if next_href else ""
    return f"<html><head><title>论坛</title></head><body><ul>{rows}</ul>{nxt}</body></html>".encode()


def test_site_times() -> None:
    now = datetime(2026, 6, 14, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    assert site_time("5分钟前", now) == datetime(2026, 6, 14, 3, 55, tzinfo=UTC)
    assert site_time("昨天 08:30", now) == datetime(2026, 6, 13, 0, 30, tzinfo=UTC)
    assert site_time("2026年6月1日 08:00", now) == datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    assert site_time("2026-06-01", now) == datetime(2026, 5, 31, 16, 0, tzinfo=UTC)
    assert site_time("12-30 10:00", now).year == 2025  # no year and in the future: last year
    with pytest.raises(RecordError):
        site_time("很久以前", now)


def test_forum_two_pages_then_recrawl(crawl) -> None:
    routes = {"/forum-1.html": (200, HTML, forum_page([(1, "2026-06-14 10:00", "江南银行信用卡被盗刷"),
                                                        (2, "2026-06-14 09:00", "网点排队太久")],
                                                       "/forum-2.html")),
              "/forum-2.html": (200, HTML, forum_page([(3, "2026/06/13 08:00", "江南行理财亏损"),
                                                        (4, "不知道什么时候", "时间读不出来")], None))}
    tables = {"site": {"delay": 0, "forum": PROFILE}}
    with serve(routes) as (base, log):
        first = crawl("site:forum", {"base_url": base}, tables=tables)
        again = crawl("site:forum", {"base_url": base}, tables=tables)
    assert first.status == "ok" and first.count("new") == 3 and first.count("pages") == 2, first.to_dict()
    assert first.document["dropped_reasons"] == {"unreadable time": 1}
    assert first.key == "site:forum" and first.document["sources"] == ["site:forum"]
    assert again.count("new") == 0 and again.count("pages") == 1  # page 1 all seen: no page 2
    store = crawl.store()
    try:
        [post] = store.search("盗刷").items
        assert (post.title, post.author, post.source) == ("帖子1", "网友1", "site:forum")
        assert post.url.endswith("/t/1.html") and post.created_at == datetime(2026, 6, 14, 2, 0, tzinfo=UTC)
        assert store.get_state("crawl_health", "site:forum")["status"] == "ok"
    finally:
        store.close()


def test_empty_layout_is_layout_changed(crawl) -> None:
    page = ("<html><head><title>论坛改版</title></head><body>" + "<div class='x'>新版</div>" * 400
            + "</body></html>")
    with serve({"/forum-1.html": (200, HTML, page.encode())}) as (base, _):
        result = crawl("site", {"base_url": base}, tables={"site": {"forum": PROFILE}})
    assert result.status == "layout_changed" and "li.thread" in result.reason
    store = crawl.store()
    try:
        health = store.get_state("crawl_health", "site:forum")
        assert health["status"] == "layout_changed" and health["new"] == 0
    finally:
        store.close()
