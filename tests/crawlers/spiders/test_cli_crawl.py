"""`voc crawl` as a user runs it: counts printed, health stored, a second crawl refused, exit codes."""

from __future__ import annotations

import json

from support.http_server import serve

from crawlers.runner import crawl_lock
from voc.cli import main

FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>财经</title>
<item><title>江南银行手机银行故障</title><link>https://news.example.cn/1.html</link>
<description>江南银行手机银行昨晚无法转账</description>
<pubDate>Sun, 14 Jun 2026 06:22:34 +0800</pubDate></item>
<item><title>江南行信用卡新规</title><link>https://news.example.cn/2.html</link>
<description>信用卡分期费率调整</description><pubDate>Sun, 14 Jun 2026 07:00:00 +0800</pubDate></item>
</channel></rss>""".encode()


def test_voc_crawl_prints_counts_and_refuses_a_second_run(crawl, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VOC_SETTINGS", str(crawl.settings_file({"rss": {"keywords": ["信用卡"]}})))
    routes = {"/f.xml": (200, {"Content-Type": "application/rss+xml"}, FEED)}
    with serve(routes) as (base, _):
        code = main(["crawl", "rss", "-a", f"feed_url={base}/f.xml", "-a", "feed_name=cj", "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 0 and out["status"] == "ok" and out["new"] == 2, out
        code = main(["crawl", "rss", "-a", f"feed_url={base}/f.xml", "-a", "feed_name=cj"])
        text = capsys.readouterr().out
        assert code == 0 and "rss" in text and "ok" in text, text  # the human summary
        code = main(["crawl", "rss", "-a", f"feed_url={base}/f.xml", "-a", "feed_name=cj", "--json"])
        again = json.loads(capsys.readouterr().out)
        assert code == 0 and again["new"] == 0 and again["items"] == 0, again  # the cursor stops it
        with crawl_lock(crawl.root / "var", "rss"):
            code = main(["crawl", "rss", "-a", f"feed_url={base}/f.xml"])
        assert code == 4 and "already running" in capsys.readouterr().err
    store = crawl.store()
    try:
        assert store.total() == 2 and store.get_state("crawl_health", "rss")["status"] == "ok"
    finally:
        store.close()


def test_voc_crawl_blocked_exits_3(crawl, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VOC_SETTINGS", str(crawl.settings_file({})))
    with serve({"/f.xml": (456, {"Content-Type": "text/html"}, b"<html>blocked</html>")}) as (base, _):
        code = main(["crawl", "rss", "-a", f"feed_url={base}/f.xml"])
    captured = capsys.readouterr()
    assert code == 3 and "blocked" in captured.out + captured.err
