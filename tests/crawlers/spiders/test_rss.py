"""rss spider: RSS 2.0 in GB2312/GBK, Atom, keyword filter, and real crawls (ok, layout_changed, blocked)."""

from __future__ import annotations

from scrapy.http import Response
from support.http_server import serve

from core.record import Feedback
from crawlers.spiders.rss import RssSpider, feed_items, parse_feed

RSS_TYPE = {"Content-Type": "application/rss+xml"}


def gb_rss() -> bytes:
    items = [("江南银行手机银行崩溃 用户无法转账", "http://news.example.cn/cj/2026/06-14/1.shtml",
              "　　记者获悉，江南银行手机银行昨日出现故障，喆字在GBK里。", "Sun, 14 Jun 2026 06:22:34 +0800"),
             ("股市收盘", "http://news.example.cn/cj/2026/06-14/2.shtml", "　　沪指微涨。",
              "Sun, 14 Jun 2026 07:00:00 +0800"),
             ("江南行信用卡新规", "http://news.example.cn/cj/2026/06-13/3.shtml", "　　信用卡分期费率调整。",
              "Sat, 13 Jun 2026 09:00:00 +0800")]
    body = "".join(f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
                   f"<pubDate>{p}</pubDate></item>" for t, link, d, p in items)
    text = ('<?xml version="1.0" encoding="gb2312"?>\n<?xml-stylesheet href="rsstyle.css"?>'
            f"<rss version=\"2.0\"><channel><title>财经</title><language>zh-cn</language>{body}"
            "</channel></rss>")
    return text.encode("gb18030")  # 喆 is GBK-only: a strict GB2312 decoder would fail


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>论坛</title>
<entry><id>tag:example.org,2026:42</id><title>江南银行客服态度差</title>
<link rel="alternate" href="https://example.org/p/42"/><author><name>小王</name></author>
<updated>2026-06-14T10:00:00+08:00</updated><summary>排队两小时，江南银行网点只开一个窗口</summary></entry>
</feed>""".encode()


def test_gb2312_feed_decodes_gbk_characters() -> None:
    items = feed_items(parse_feed(gb_rss()))
    assert items is not None and len(items) == 3
    assert items[0]["title"] == "江南银行手机银行崩溃 用户无法转账" and "喆" in items[0]["text"]


def test_atom_fields() -> None:
    [item] = feed_items(parse_feed(ATOM))
    assert (item["guid"], item["link"], item["author"]) == ("tag:example.org,2026:42",
                                                            "https://example.org/p/42", "小王")
    assert item["time"] == "2026-06-14T10:00:00+08:00"


def test_keyword_filter_and_times() -> None:
    sp = RssSpider(settings_options={"feeds": {"cn": "http://x/f.xml"}, "keywords": ["信用卡"]},
                   bank_names="江南银行")
    response = Response(url="http://x/f.xml", body=gb_rss())
    records = [r for r in sp.parse(response, feed="cn") if isinstance(r, Feedback)]
    assert [r.title for r in records] == ["江南银行手机银行崩溃 用户无法转账", "江南行信用卡新规"]
    assert records[0].created_at.isoformat() == "2026-06-13T22:22:34+00:00"
    assert records[0].source == "rss:cn" and records[0].kind == "news"


def test_crawl_two_feeds_then_recrawl(crawl) -> None:
    routes = {"/cj.xml": (200, RSS_TYPE, gb_rss()),
              "/atom.xml": (200, {"Content-Type": "application/atom+xml"}, ATOM)}
    tables = {"rss": {"keywords": ["信用卡"], "feeds": {"cn": "https://www.example.cn/cj.xml",
                                                        "forum": "https://example.org/atom.xml"}}}
    with serve(routes) as (base, log):
        first = crawl("rss", {"base_url": base}, tables=tables)
        again = crawl("rss", {"base_url": base}, tables=tables)
    assert first.status == "ok" and first.count("new") == 3, first.to_dict()
    assert sorted(first.document["sources"]) == ["rss:cn", "rss:forum"]
    assert again.status == "ok" and again.count("new") == 0
    store = crawl.store()
    try:
        assert store.total() == 3
        assert "喆" in store.search("喆").items[0].text
    finally:
        store.close()


def test_html_instead_of_feed_is_layout_changed(crawl) -> None:
    page = "<html><head><title>首页</title></head><body>" + "新闻" * 4000 + "</body></html>"
    with serve({"/f.xml": (200, {"Content-Type": "text/html; charset=utf-8"}, page.encode())}) as (base, _):
        result = crawl("rss", {"feed_url": base + "/f.xml", "feed_name": "moved"})
    assert result.status == "layout_changed" and result.exit_code == 3
    store = crawl.store()
    try:
        assert store.get_state("crawl_health", "rss")["status"] == "layout_changed"
    finally:
        store.close()


def test_captcha_page_is_blocked(crawl) -> None:
    page = "<html><head><title>安全验证</title></head><body>请输入验证码</body></html>".encode()
    with serve({"/f.xml": (200, {"Content-Type": "text/html; charset=utf-8"}, page)}) as (base, _):
        result = crawl("rss", {"feed_url": base + "/f.xml"})
    assert result.status == "blocked" and "captcha" in result.reason
